//! Built-in functions: `size`, the string predicates, `matches`, type
//! conversions, `timestamp`/`duration`, and the common string extension
//! functions (`lowerAscii`, `upperAscii`, `trim`, `split`, `join`,
//! `replace`, `indexOf`) that cel-go's `ext.Strings()` library, enabled in
//! Flux, provides; the optional-value functions (`optional.of`,
//! `optional.none`, `optional.ofNonZeroValue`, `hasValue`, `value`,
//! `orValue`, `or`) and `ext.Sets()` (`sets.contains`, `sets.intersects`,
//! `sets.equivalent`).
//!
//! A known function called with arguments it has no overload for is
//! `no such overload`; an unknown name is `unsupported function`, so users
//! can tell a typo or type mistake from a feature flux-rs lacks.

use std::sync::Arc;

use regex::Regex;

use super::operators::equal;
use crate::error::{CelError, Result};
use crate::time::{Duration, Timestamp};
use crate::value::Value;

const KNOWN: &[&str] = &[
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "int",
    "uint",
    "double",
    "string",
    "bool",
    "dyn",
    "timestamp",
    "duration",
    "lowerAscii",
    "upperAscii",
    "trim",
    "split",
    "join",
    "replace",
    "indexOf",
    "optional.of",
    "optional.none",
    "optional.ofNonZeroValue",
    "hasValue",
    "value",
    "orValue",
    "or",
    "sets.contains",
    "sets.intersects",
    "sets.equivalent",
];

/// Calls `function` as `target.function(args)` or `function(args)`.
pub(super) fn call(function: &str, target: Option<&Value>, args: &[Value]) -> Result<Value> {
    use Value::String as S;
    match (function, target, args) {
        ("size", None, [x]) | ("size", Some(x), []) => size(x),
        ("contains", Some(S(s)), [S(sub)]) => Ok(Value::Bool(s.contains(sub.as_ref()))),
        ("startsWith", Some(S(s)), [S(prefix)]) => Ok(Value::Bool(s.starts_with(prefix.as_ref()))),
        ("endsWith", Some(S(s)), [S(suffix)]) => Ok(Value::Bool(s.ends_with(suffix.as_ref()))),
        ("matches", Some(S(s)), [S(pattern)]) | ("matches", None, [S(s), S(pattern)]) => {
            matches(s, pattern)
        }
        ("int", None, [x]) => to_int(x),
        ("uint", None, [x]) => to_uint(x),
        ("double", None, [x]) => to_double(x),
        ("string", None, [x]) => to_string(x),
        ("bool", None, [x]) => to_bool(x),
        ("dyn", None, [x]) => Ok(x.clone()),
        ("timestamp", None, [x]) => to_timestamp(x),
        ("duration", None, [x]) => to_duration(x),
        ("lowerAscii", Some(S(s)), []) => Ok(Value::string(s.to_ascii_lowercase())),
        ("upperAscii", Some(S(s)), []) => Ok(Value::string(s.to_ascii_uppercase())),
        ("trim", Some(S(s)), []) => Ok(Value::string(s.trim())),
        ("split", Some(S(s)), [S(separator)]) => Ok(split(s, separator)),
        ("join", Some(Value::List(items)), []) => join(items, ""),
        ("join", Some(Value::List(items)), [S(separator)]) => join(items, separator),
        ("replace", Some(S(s)), [S(from), S(to)]) => {
            Ok(Value::string(s.replace(from.as_ref(), to)))
        }
        ("indexOf", Some(S(s)), [S(sub)]) => Ok(index_of(s, sub)),
        ("optional.of", None, [x]) => Ok(Value::Optional(Some(Box::new(x.clone())))),
        ("optional.none", None, []) => Ok(Value::Optional(None)),
        ("optional.ofNonZeroValue", None, [x]) => {
            Ok(Value::Optional((!is_zero(x)).then(|| Box::new(x.clone()))))
        }
        ("hasValue", Some(Value::Optional(o)), []) => Ok(Value::Bool(o.is_some())),
        ("value", Some(Value::Optional(o)), []) => o
            .as_deref()
            .cloned()
            .ok_or_else(|| CelError::invalid("value", "optional.none() dereference")),
        ("orValue", Some(Value::Optional(o)), [default]) => {
            Ok(o.as_deref().unwrap_or(default).clone())
        }
        ("or", Some(Value::Optional(o)), [other @ Value::Optional(_)]) => Ok(match o {
            Some(_) => Value::Optional(o.clone()),
            None => other.clone(),
        }),
        ("sets.contains", None, [Value::List(a), Value::List(b)]) => {
            Ok(Value::Bool(b.iter().all(|x| a.iter().any(|y| equal(x, y)))))
        }
        ("sets.intersects", None, [Value::List(a), Value::List(b)]) => {
            Ok(Value::Bool(b.iter().any(|x| a.iter().any(|y| equal(x, y)))))
        }
        ("sets.equivalent", None, [Value::List(a), Value::List(b)]) => Ok(Value::Bool(
            b.iter().all(|x| a.iter().any(|y| equal(x, y)))
                && a.iter().all(|x| b.iter().any(|y| equal(x, y))),
        )),
        _ if KNOWN.contains(&function) => {
            let types: Vec<_> = target
                .into_iter()
                .chain(args)
                .map(Value::type_name)
                .collect();
            Err(CelError::overload(function, &types))
        }
        _ => Err(CelError::UnsupportedFunction(function.to_string())),
    }
}

/// Whether `x` is its type's zero value, for `optional.ofNonZeroValue`.
fn is_zero(x: &Value) -> bool {
    match x {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Int(i) => *i == 0,
        Value::Uint(u) => *u == 0,
        Value::Double(d) => *d == 0.0,
        Value::String(s) => s.is_empty(),
        Value::List(items) => items.is_empty(),
        Value::Map(map) => map.is_empty(),
        Value::Timestamp(t) => t.nanos() == 0,
        Value::Duration(d) => d.nanos() == 0,
        Value::Optional(o) => o.is_none(),
    }
}

fn size(x: &Value) -> Result<Value> {
    let len = match x {
        Value::String(s) => s.chars().count(),
        Value::List(items) => items.len(),
        Value::Map(map) => map.len(),
        other => return Err(CelError::overload("size", &[other.type_name()])),
    };
    i64::try_from(len)
        .map(Value::Int)
        .map_err(|_| CelError::Overflow)
}

/// RE2-style partial match, as CEL's `matches` is unanchored.
fn matches(s: &str, pattern: &str) -> Result<Value> {
    let regex = Regex::new(pattern).map_err(|e| CelError::InvalidRegex {
        pattern: pattern.to_string(),
        message: e.to_string(),
    })?;
    Ok(Value::Bool(regex.is_match(s)))
}

fn to_int(x: &Value) -> Result<Value> {
    match x {
        Value::Int(i) => Ok(Value::Int(*i)),
        Value::Uint(u) => i64::try_from(*u)
            .map(Value::Int)
            .map_err(|_| CelError::Overflow),
        Value::Double(d) if d.is_finite() && *d >= -(2f64.powi(63)) && *d < 2f64.powi(63) => {
            Ok(Value::Int(*d as i64))
        }
        Value::Double(_) => Err(CelError::Overflow),
        Value::String(s) => s
            .parse()
            .map(Value::Int)
            .map_err(|_| CelError::invalid("int", format!("cannot parse '{s}' as an int"))),
        Value::Timestamp(t) => i64::try_from(t.seconds())
            .map(Value::Int)
            .map_err(|_| CelError::Overflow),
        other => Err(CelError::overload("int", &[other.type_name()])),
    }
}

fn to_uint(x: &Value) -> Result<Value> {
    match x {
        Value::Uint(u) => Ok(Value::Uint(*u)),
        Value::Int(i) => u64::try_from(*i)
            .map(Value::Uint)
            .map_err(|_| CelError::Overflow),
        Value::Double(d) if d.is_finite() && *d > -1.0 && *d < 2f64.powi(64) => {
            Ok(Value::Uint(*d as u64))
        }
        Value::Double(_) => Err(CelError::Overflow),
        Value::String(s) => s
            .parse()
            .map(Value::Uint)
            .map_err(|_| CelError::invalid("uint", format!("cannot parse '{s}' as a uint"))),
        other => Err(CelError::overload("uint", &[other.type_name()])),
    }
}

fn to_double(x: &Value) -> Result<Value> {
    match x {
        Value::Double(d) => Ok(Value::Double(*d)),
        Value::Int(i) => Ok(Value::Double(*i as f64)),
        Value::Uint(u) => Ok(Value::Double(*u as f64)),
        Value::String(s) => s
            .parse()
            .map(Value::Double)
            .map_err(|_| CelError::invalid("double", format!("cannot parse '{s}' as a double"))),
        other => Err(CelError::overload("double", &[other.type_name()])),
    }
}

fn to_string(x: &Value) -> Result<Value> {
    Ok(Value::string(match x {
        Value::String(s) => return Ok(Value::String(s.clone())),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Uint(u) => u.to_string(),
        Value::Double(d) => format_double(*d),
        Value::Timestamp(t) => t.to_string(),
        Value::Duration(d) => d.to_string(),
        other => return Err(CelError::overload("string", &[other.type_name()])),
    }))
}

/// Go's `%g` (what cel-go's `string(double)` prints): shortest digits,
/// exponent form below 1e-4 or from 1e6 on (`1e+06`).
fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".to_string();
    }
    if d.is_infinite() {
        return if d > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let scientific = format!("{d:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        return d.to_string();
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

fn to_bool(x: &Value) -> Result<Value> {
    match x {
        Value::Bool(b) => Ok(Value::Bool(*b)),
        Value::String(s) => match s.as_ref() {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(Value::Bool(true)),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(Value::Bool(false)),
            _ => Err(CelError::invalid(
                "bool",
                format!("cannot parse '{s}' as a bool"),
            )),
        },
        other => Err(CelError::overload("bool", &[other.type_name()])),
    }
}

fn to_timestamp(x: &Value) -> Result<Value> {
    match x {
        Value::Timestamp(t) => Ok(Value::Timestamp(*t)),
        Value::String(s) => Timestamp::parse(s).map(Value::Timestamp),
        Value::Int(seconds) => {
            Timestamp::from_nanos(i128::from(*seconds) * 1_000_000_000).map(Value::Timestamp)
        }
        other => Err(CelError::overload("timestamp", &[other.type_name()])),
    }
}

fn to_duration(x: &Value) -> Result<Value> {
    match x {
        Value::Duration(d) => Ok(Value::Duration(*d)),
        Value::String(s) => Duration::parse(s).map(Value::Duration),
        other => Err(CelError::overload("duration", &[other.type_name()])),
    }
}

fn split(s: &str, separator: &str) -> Value {
    let parts: Vec<Value> = if separator.is_empty() {
        s.chars().map(|c| Value::string(c.to_string())).collect()
    } else {
        s.split(separator).map(Value::string).collect()
    };
    Value::List(Arc::new(parts))
}

fn join(items: &[Value], separator: &str) -> Result<Value> {
    let parts = items
        .iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.as_ref()),
            other => Err(CelError::overload(
                "join",
                &[format!("list({})", other.type_name()).as_str()],
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Value::string(parts.join(separator)))
}

/// The code-point index of `sub` in `s`, or -1.
fn index_of(s: &str, sub: &str) -> Value {
    let index = s
        .find(sub)
        .map_or(-1, |byte| s[..byte].chars().count() as i64);
    Value::Int(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_like_go() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(100.0), "100");
        assert_eq!(format_double(1e6), "1e+06");
        assert_eq!(format_double(123456.0), "123456");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(0.00001), "1e-05");
        assert_eq!(format_double(-2.5e10), "-2.5e+10");
    }
}
