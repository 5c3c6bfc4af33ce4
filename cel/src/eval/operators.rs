//! Unary and binary operators.
//!
//! Equality and ordering are heterogeneous across `int`, `uint` and
//! `double` (`1 == 1.0`, `1u < 2`), as cel-go does with cross-type numeric
//! comparisons; values of other differing types are simply unequal.
//! Arithmetic is not heterogeneous (`1 + 1.0` is `no such overload`) and
//! integer arithmetic fails on overflow instead of wrapping.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::error::{CelError, Result};
use crate::parser::ast::{BinaryOp, UnaryOp};
use crate::value::{Value, lookup};

pub(super) fn unary(op: UnaryOp, operand: Value) -> Result<Value> {
    match (op, operand) {
        (UnaryOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
        (UnaryOp::Negate, Value::Int(i)) => {
            i.checked_neg().map(Value::Int).ok_or(CelError::Overflow)
        }
        (UnaryOp::Negate, Value::Double(d)) => Ok(Value::Double(-d)),
        (UnaryOp::Negate, Value::Duration(d)) => Ok(Value::Duration(d.negate())),
        (UnaryOp::Not, other) => Err(CelError::overload("!_", &[other.type_name()])),
        (UnaryOp::Negate, other) => Err(CelError::overload("-_", &[other.type_name()])),
    }
}

pub(super) fn binary(op: BinaryOp, lhs: &Value, rhs: &Value) -> Result<Value> {
    let ordered = |test: fn(Ordering) -> bool| {
        compare(op, lhs, rhs).map(|ord| Value::Bool(ord.is_some_and(test)))
    };
    match op {
        BinaryOp::Eq => Ok(Value::Bool(equal(lhs, rhs))),
        BinaryOp::Ne => Ok(Value::Bool(!equal(lhs, rhs))),
        BinaryOp::Lt => ordered(Ordering::is_lt),
        BinaryOp::Le => ordered(Ordering::is_le),
        BinaryOp::Gt => ordered(Ordering::is_gt),
        BinaryOp::Ge => ordered(Ordering::is_ge),
        BinaryOp::In => contains(rhs, lhs).map(Value::Bool),
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => {
            arithmetic(op, lhs, rhs)
        }
    }
}

/// CEL equality: numbers compare by value across types, lists and maps
/// element-wise, and values of other differing types are unequal.
pub(super) fn equal(lhs: &Value, rhs: &Value) -> bool {
    if let Some(ord) = numeric_cmp(lhs, rhs) {
        return ord == Some(Ordering::Equal);
    }
    match (lhs, rhs) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Timestamp(a), Value::Timestamp(b)) => a == b,
        (Value::Duration(a), Value::Duration(b)) => a == b,
        (Value::Optional(a), Value::Optional(b)) => match (a, b) {
            (Some(a), Some(b)) => equal(a, b),
            (a, b) => a.is_none() && b.is_none(),
        },
        (Value::List(a), Value::List(b)) => {
            a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| equal(x, y))
        }
        (Value::Map(a), Value::Map(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| lookup(b, &k.to_value()).is_some_and(|w| equal(v, w)))
        }
        _ => false,
    }
}

/// Ordering for `< <= > >=`; `None` when a NaN is involved (every
/// comparison is then false).
fn compare(op: BinaryOp, lhs: &Value, rhs: &Value) -> Result<Option<Ordering>> {
    if let Some(ord) = numeric_cmp(lhs, rhs) {
        return Ok(ord);
    }
    match (lhs, rhs) {
        (Value::String(a), Value::String(b)) => Ok(Some(a.cmp(b))),
        (Value::Bool(a), Value::Bool(b)) => Ok(Some(a.cmp(b))),
        (Value::Timestamp(a), Value::Timestamp(b)) => Ok(Some(a.cmp(b))),
        (Value::Duration(a), Value::Duration(b)) => Ok(Some(a.cmp(b))),
        _ => Err(overload(op, lhs, rhs)),
    }
}

/// Compares two numbers of any numeric types exactly; `None` when either
/// value is not a number.
fn numeric_cmp(lhs: &Value, rhs: &Value) -> Option<Option<Ordering>> {
    let integer = |v: &Value| match v {
        Value::Int(i) => Some(i128::from(*i)),
        Value::Uint(u) => Some(i128::from(*u)),
        _ => None,
    };
    match (lhs, rhs) {
        (Value::Double(a), Value::Double(b)) => Some(a.partial_cmp(b)),
        (Value::Double(d), other) => {
            integer(other).map(|i| int_double_cmp(i, *d).map(Ordering::reverse))
        }
        (other, Value::Double(d)) => integer(other).map(|i| int_double_cmp(i, *d)),
        _ => Some(Some(integer(lhs)?.cmp(&integer(rhs)?))),
    }
}

/// Exact comparison of an integer with a double (no rounding of large
/// integers through `f64`).
fn int_double_cmp(i: i128, d: f64) -> Option<Ordering> {
    if d.is_nan() {
        return None;
    }
    let whole = d.trunc();
    // `as` saturates, and i128 covers every int and uint with room to spare.
    Some(
        i.cmp(&(whole as i128))
            .then_with(|| 0.0.partial_cmp(&(d - whole)).unwrap_or(Ordering::Equal)),
    )
}

/// `item in collection`: list membership or map key presence.
fn contains(collection: &Value, item: &Value) -> Result<bool> {
    match collection {
        Value::List(items) => Ok(items.iter().any(|x| equal(x, item))),
        Value::Map(map) => Ok(lookup(map, item).is_some()),
        other => Err(CelError::overload(
            "@in",
            &[item.type_name(), other.type_name()],
        )),
    }
}

fn arithmetic(op: BinaryOp, lhs: &Value, rhs: &Value) -> Result<Value> {
    match (lhs, rhs) {
        (Value::Int(a), Value::Int(b)) => int_arithmetic(op, *a, *b).map(Value::Int),
        (Value::Uint(a), Value::Uint(b)) => uint_arithmetic(op, *a, *b).map(Value::Uint),
        (Value::Double(a), Value::Double(b)) => double_arithmetic(op, *a, *b)
            .map(Value::Double)
            .ok_or_else(|| overload(op, lhs, rhs)),
        (Value::String(a), Value::String(b)) if op == BinaryOp::Add => {
            Ok(Value::string(format!("{a}{b}")))
        }
        (Value::List(a), Value::List(b)) if op == BinaryOp::Add => Ok(Value::List(Arc::new(
            a.iter().chain(b.iter()).cloned().collect(),
        ))),
        _ => time_arithmetic(op, lhs, rhs),
    }
}

fn int_arithmetic(op: BinaryOp, a: i64, b: i64) -> Result<i64> {
    if b == 0 && matches!(op, BinaryOp::Div | BinaryOp::Rem) {
        return Err(CelError::DivisionByZero);
    }
    match op {
        BinaryOp::Add => a.checked_add(b),
        BinaryOp::Sub => a.checked_sub(b),
        BinaryOp::Mul => a.checked_mul(b),
        BinaryOp::Div => a.checked_div(b),
        _ => a.checked_rem(b),
    }
    .ok_or(CelError::Overflow)
}

fn uint_arithmetic(op: BinaryOp, a: u64, b: u64) -> Result<u64> {
    if b == 0 && matches!(op, BinaryOp::Div | BinaryOp::Rem) {
        return Err(CelError::DivisionByZero);
    }
    match op {
        BinaryOp::Add => a.checked_add(b),
        BinaryOp::Sub => a.checked_sub(b),
        BinaryOp::Mul => a.checked_mul(b),
        BinaryOp::Div => a.checked_div(b),
        _ => a.checked_rem(b),
    }
    .ok_or(CelError::Overflow)
}

/// IEEE arithmetic; `None` for `%`, which CEL does not define on doubles.
fn double_arithmetic(op: BinaryOp, a: f64, b: f64) -> Option<f64> {
    match op {
        BinaryOp::Add => Some(a + b),
        BinaryOp::Sub => Some(a - b),
        BinaryOp::Mul => Some(a * b),
        BinaryOp::Div => Some(a / b),
        _ => None,
    }
}

fn time_arithmetic(op: BinaryOp, lhs: &Value, rhs: &Value) -> Result<Value> {
    match (op, lhs, rhs) {
        (BinaryOp::Add, Value::Timestamp(t), Value::Duration(d))
        | (BinaryOp::Add, Value::Duration(d), Value::Timestamp(t)) => {
            t.checked_add(*d).map(Value::Timestamp)
        }
        (BinaryOp::Sub, Value::Timestamp(t), Value::Duration(d)) => {
            t.checked_add(d.negate()).map(Value::Timestamp)
        }
        (BinaryOp::Sub, Value::Timestamp(a), Value::Timestamp(b)) => {
            a.since(*b).map(Value::Duration)
        }
        (BinaryOp::Add, Value::Duration(a), Value::Duration(b)) => {
            a.checked_add(*b).map(Value::Duration)
        }
        (BinaryOp::Sub, Value::Duration(a), Value::Duration(b)) => {
            a.checked_add(b.negate()).map(Value::Duration)
        }
        _ => Err(overload(op, lhs, rhs)),
    }
}

fn overload(op: BinaryOp, lhs: &Value, rhs: &Value) -> CelError {
    CelError::overload(
        &format!("_{}_", op.symbol()),
        &[lhs.type_name(), rhs.type_name()],
    )
}
