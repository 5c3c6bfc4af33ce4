//! Tree-walking evaluation of a parsed expression.
//!
//! Evaluation is strict (every operand is evaluated and the first error
//! wins) except where CEL says otherwise: `&&`, `||`, `?:` and the
//! `all`/`exists` macros absorb an error when another operand decides the
//! result (`false && error` is `false`, `true || error` is `true`, whatever
//! the operand order), and `has()` tests presence instead of failing.
//!
//! Optional selection (`a.?b`, `a[?k]`) yields an optional value, empty
//! when the field, key or index is absent; selecting or indexing into an
//! optional keeps the result optional, so `a.?b.c.d` is safe all along
//! the chain (cel-go's optional chaining).

mod comprehension;
mod functions;
mod operators;

use std::sync::Arc;

use crate::Activation;
use crate::error::{CelError, Result};
use crate::parser::ast::Expr;
use crate::value::{Key, Map, Value, lookup};

/// Evaluates expressions against an activation, with a stack of
/// comprehension variables that shadow the activation's.
pub(crate) struct Evaluator<'a> {
    vars: &'a Activation,
    locals: Vec<(&'a str, Value)>,
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(vars: &'a Activation) -> Self {
        Evaluator {
            vars,
            locals: Vec::new(),
        }
    }

    pub(crate) fn eval(&mut self, expr: &'a Expr) -> Result<Value> {
        match expr {
            Expr::Literal(value) => Ok(value.clone()),
            Expr::Ident(name) => self.lookup(name),
            Expr::Select(operand, field) => select(&self.eval(operand)?, field),
            Expr::OptSelect(operand, field) => optional_select(&self.eval(operand)?, field),
            Expr::Has(operand, field) => has(&self.eval(operand)?, field),
            Expr::Index(operand, index) => {
                let operand = self.eval(operand)?;
                index_into(&operand, &self.eval(index)?)
            }
            Expr::OptIndex(operand, index) => {
                let operand = self.eval(operand)?;
                optional_index(&operand, &self.eval(index)?)
            }
            Expr::Call {
                target,
                function,
                args,
            } => {
                let target = target.as_deref().map(|t| self.eval(t)).transpose()?;
                let args = args
                    .iter()
                    .map(|a| self.eval(a))
                    .collect::<Result<Vec<_>>>()?;
                functions::call(function, target.as_ref(), &args)
            }
            Expr::List(items) => {
                let items = items
                    .iter()
                    .map(|i| self.eval(i))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Value::List(Arc::new(items)))
            }
            Expr::Map(entries) => self.map_literal(entries),
            Expr::Unary(op, operand) => operators::unary(*op, self.eval(operand)?),
            Expr::Binary(op, lhs, rhs) => {
                let lhs = self.eval(lhs)?;
                operators::binary(*op, &lhs, &self.eval(rhs)?)
            }
            Expr::And(lhs, rhs) => self.logic(lhs, rhs, false),
            Expr::Or(lhs, rhs) => self.logic(lhs, rhs, true),
            Expr::Conditional(condition, then, otherwise) => match self.eval(condition)? {
                Value::Bool(true) => self.eval(then),
                Value::Bool(false) => self.eval(otherwise),
                other => Err(CelError::overload("_?_:_", &[other.type_name()])),
            },
            Expr::Comprehension(c) => self.comprehension(c),
        }
    }

    fn lookup(&self, name: &str) -> Result<Value> {
        let local = self.locals.iter().rev().find(|(n, _)| *n == name);
        local
            .map(|(_, v)| v)
            .or_else(|| self.vars.get(name))
            .cloned()
            .ok_or_else(|| CelError::NoSuchAttribute(name.to_string()))
    }

    /// `&&` (`decisive` false) and `||` (`decisive` true): the decisive
    /// value on either side wins over an error on the other.
    fn logic(&mut self, lhs: &'a Expr, rhs: &'a Expr, decisive: bool) -> Result<Value> {
        let function = if decisive { "_||_" } else { "_&&_" };
        let lhs = self.eval(lhs).and_then(|v| as_bool(function, v));
        if lhs == Ok(decisive) {
            return Ok(Value::Bool(decisive));
        }
        let rhs = self.eval(rhs).and_then(|v| as_bool(function, v));
        match (lhs, rhs) {
            (_, Ok(b)) if b == decisive => Ok(Value::Bool(decisive)),
            (Err(e), _) | (_, Err(e)) => Err(e),
            (Ok(_), Ok(_)) => Ok(Value::Bool(!decisive)),
        }
    }

    fn map_literal(&mut self, entries: &'a [(Expr, Expr)]) -> Result<Value> {
        let mut map = Map::new();
        for (key, value) in entries {
            let key = self.eval(key)?;
            let key = Key::from_value(&key).ok_or_else(|| {
                CelError::invalid(
                    "map literal",
                    format!("unsupported key type {}", key.type_name()),
                )
            })?;
            let value = self.eval(value)?;
            if map.contains_key(&key) {
                return Err(CelError::DuplicateKey(key.to_string()));
            }
            map.insert(key, value);
        }
        Ok(Value::Map(Arc::new(map)))
    }

    /// Evaluates `expr` with `var` bound to `value`.
    fn with_var(&mut self, var: &'a str, value: Value, expr: &'a Expr) -> Result<Value> {
        self.locals.push((var, value));
        let result = self.eval(expr);
        self.locals.pop();
        result
    }
}

/// A bool operand of `function`, or `no such overload`.
fn as_bool(function: &str, value: Value) -> Result<bool> {
    match value {
        Value::Bool(b) => Ok(b),
        other => Err(CelError::overload(function, &[other.type_name()])),
    }
}

/// `operand.field`: only maps have fields here.
fn select(operand: &Value, field: &str) -> Result<Value> {
    match operand {
        Value::Map(map) => map
            .get(&Key::String(field.into()))
            .cloned()
            .ok_or_else(|| CelError::NoSuchKey(field.to_string())),
        Value::Optional(_) => optional_select(operand, field),
        other => Err(no_fields(other, field)),
    }
}

/// `operand.?field`, and any selection on an optional.
fn optional_select(operand: &Value, field: &str) -> Result<Value> {
    match operand {
        Value::Map(map) => Ok(optional(map.get(&Key::String(field.into())))),
        Value::Optional(None) => Ok(Value::Optional(None)),
        Value::Optional(Some(inner)) => optional_select(inner, field),
        other => Err(no_fields(other, field)),
    }
}

/// `operand[?index]`, and any indexing of an optional.
fn optional_index(operand: &Value, index: &Value) -> Result<Value> {
    match (operand, index) {
        (Value::List(items), _) => {
            let position = list_position(index)?;
            Ok(optional(
                usize::try_from(position).ok().and_then(|i| items.get(i)),
            ))
        }
        (Value::Map(map), key) => Ok(optional(lookup(map, key))),
        (Value::Optional(None), _) => Ok(Value::Optional(None)),
        (Value::Optional(Some(inner)), _) => optional_index(inner, index),
        (operand, index) => Err(CelError::overload(
            "_[?_]",
            &[operand.type_name(), index.type_name()],
        )),
    }
}

fn optional(value: Option<&Value>) -> Value {
    Value::Optional(value.cloned().map(Box::new))
}

/// `has(operand.field)`.
fn has(operand: &Value, field: &str) -> Result<Value> {
    match operand {
        Value::Map(map) => Ok(Value::Bool(map.contains_key(&Key::String(field.into())))),
        other => Err(no_fields(other, field)),
    }
}

fn no_fields(operand: &Value, field: &str) -> CelError {
    CelError::NoSuchOverload(format!(
        "field selection '.{field}' on {}",
        operand.type_name()
    ))
}

/// `operand[index]` for lists (integral index) and maps (any key).
fn index_into(operand: &Value, index: &Value) -> Result<Value> {
    match (operand, index) {
        (Value::List(items), Value::Int(_) | Value::Uint(_) | Value::Double(_)) => {
            let position = list_position(index)?;
            usize::try_from(position)
                .ok()
                .and_then(|i| items.get(i))
                .cloned()
                .ok_or(CelError::IndexOutOfRange {
                    index: position,
                    size: items.len(),
                })
        }
        (Value::Optional(_), _) => optional_index(operand, index),
        (Value::Map(map), key) => lookup(map, key).cloned().ok_or_else(|| {
            let key =
                Key::from_value(key).map_or_else(|| key.type_name().to_string(), |k| k.to_string());
            CelError::NoSuchKey(key)
        }),
        (operand, index) => Err(CelError::overload(
            "_[_]",
            &[operand.type_name(), index.type_name()],
        )),
    }
}

/// A list index; a double must be integral (heterogeneous numbers).
fn list_position(index: &Value) -> Result<i128> {
    match index {
        Value::Int(i) => Ok(i128::from(*i)),
        Value::Uint(u) => Ok(i128::from(*u)),
        Value::Double(d) if d.fract() == 0.0 && d.abs() < 2f64.powi(63) => Ok(*d as i128),
        other => Err(CelError::overload("_[_]", &["list", other.type_name()])),
    }
}
