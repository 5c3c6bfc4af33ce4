//! The comprehension macros: `all`, `exists`, `exists_one`, `map` and
//! `filter` over a list's elements or a map's keys.
//!
//! `all` and `exists` follow the error-absorbing `&&`/`||` they expand to
//! in cel-go: one `false` (for `all`) or `true` (for `exists`) decides the
//! result even when the predicate fails on another element. The others
//! fail on the first error.

use std::sync::Arc;

use super::{Evaluator, as_bool};
use crate::error::{CelError, Result};
use crate::parser::ast::{Comprehension, Expr, MacroKind};
use crate::value::{Key, Value};

impl<'a> Evaluator<'a> {
    pub(super) fn comprehension(&mut self, c: &'a Comprehension) -> Result<Value> {
        let items = match self.eval(&c.range)? {
            Value::List(items) => items.as_ref().clone(),
            Value::Map(map) => map.keys().map(Key::to_value).collect(),
            other => return Err(CelError::overload(c.kind.name(), &[other.type_name()])),
        };
        let var = c.var.as_str();
        match &c.kind {
            MacroKind::All(predicate) => self.quantify(var, items, predicate, false),
            MacroKind::Exists(predicate) => self.quantify(var, items, predicate, true),
            MacroKind::ExistsOne(predicate) => self.exists_one(var, items, predicate),
            MacroKind::Filter(predicate) => self.map_filter(var, items, Some(predicate), None),
            MacroKind::Map {
                predicate,
                transform,
            } => self.map_filter(var, items, predicate.as_ref(), Some(transform)),
        }
    }

    /// `all` (`decisive` false) and `exists` (`decisive` true).
    fn quantify(
        &mut self,
        var: &'a str,
        items: Vec<Value>,
        predicate: &'a Expr,
        decisive: bool,
    ) -> Result<Value> {
        let function = if decisive { "exists" } else { "all" };
        let mut first_error = None;
        for item in items {
            match self
                .with_var(var, item, predicate)
                .and_then(|v| as_bool(function, v))
            {
                Ok(b) if b == decisive => return Ok(Value::Bool(decisive)),
                Ok(_) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(Value::Bool(!decisive)), Err)
    }

    fn exists_one(
        &mut self,
        var: &'a str,
        items: Vec<Value>,
        predicate: &'a Expr,
    ) -> Result<Value> {
        let mut count = 0;
        for item in items {
            if as_bool("exists_one", self.with_var(var, item, predicate)?)? {
                count += 1;
            }
        }
        Ok(Value::Bool(count == 1))
    }

    /// `filter(x, p)`, `map(x, t)` and `map(x, p, t)`.
    fn map_filter(
        &mut self,
        var: &'a str,
        items: Vec<Value>,
        predicate: Option<&'a Expr>,
        transform: Option<&'a Expr>,
    ) -> Result<Value> {
        let function = if transform.is_some() { "map" } else { "filter" };
        let mut out = Vec::new();
        for item in items {
            if let Some(predicate) = predicate
                && !as_bool(function, self.with_var(var, item.clone(), predicate)?)?
            {
                continue;
            }
            out.push(match transform {
                Some(transform) => self.with_var(var, item, transform)?,
                None => item,
            });
        }
        Ok(Value::List(Arc::new(out)))
    }
}
