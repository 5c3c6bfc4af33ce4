//! CEL runtime values and their conversion from and to JSON.
//!
//! CEL distinguishes `int`, `uint` and `double` where JSON has one number
//! type, and has timestamps and durations JSON lacks, so evaluation works on
//! this enum rather than on `serde_json::Value`. JSON integers become `int`
//! (as Kubernetes' unstructured objects do in cel-go), other numbers
//! `double`. Lists and maps are reference-counted so selecting a subtree
//! or binding a comprehension variable does not copy it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::time::{Duration, Timestamp};

/// A CEL map: keys are bools, integers or strings.
pub type Map = BTreeMap<Key, Value>;

/// A dynamically typed CEL value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `bool`.
    Bool(bool),
    /// `int`: signed 64-bit.
    Int(i64),
    /// `uint`: unsigned 64-bit.
    Uint(u64),
    /// `double`.
    Double(f64),
    /// `string`.
    String(Arc<str>),
    /// `list`.
    List(Arc<Vec<Value>>),
    /// `map`.
    Map(Arc<Map>),
    /// `google.protobuf.Timestamp`.
    Timestamp(Timestamp),
    /// `google.protobuf.Duration`.
    Duration(Duration),
    /// `optional_type`: a value that may be absent, from `a.?b`, `a[?k]`
    /// or `optional.of(x)`.
    Optional(Option<Box<Value>>),
}

/// A map key. CEL allows only these four types as keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    /// A `bool` key.
    Bool(bool),
    /// An `int` key.
    Int(i64),
    /// A `uint` key.
    Uint(u64),
    /// A `string` key (the only kind JSON objects have).
    String(Arc<str>),
}

impl Value {
    /// The CEL type name, as used in `no such overload` messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null_type",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Uint(_) => "uint",
            Value::Double(_) => "double",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Timestamp(_) => "google.protobuf.Timestamp",
            Value::Duration(_) => "google.protobuf.Duration",
            Value::Optional(_) => "optional_type",
        }
    }

    /// Converts back to JSON: timestamps and durations become their string
    /// forms, non-finite doubles and empty optionals `null`, since JSON
    /// cannot hold them.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Uint(u) => (*u).into(),
            Value::Double(d) => {
                serde_json::Number::from_f64(*d).map_or(serde_json::Value::Null, Into::into)
            }
            Value::String(s) => s.as_ref().into(),
            Value::List(items) => items.iter().map(Value::to_json).collect(),
            Value::Map(map) => map
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            Value::Timestamp(t) => t.to_string().into(),
            Value::Duration(d) => d.to_string().into(),
            Value::Optional(value) => value
                .as_deref()
                .map_or(serde_json::Value::Null, Value::to_json),
        }
    }

    /// A string value.
    pub(crate) fn string(s: impl Into<Arc<str>>) -> Self {
        Value::String(s.into())
    }
}

impl From<&serde_json::Value> for Value {
    fn from(json: &serde_json::Value) -> Self {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Value::Int(i),
                (None, Some(u)) => Value::Uint(u),
                _ => Value::Double(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::string(s.as_str()),
            serde_json::Value::Array(items) => {
                Value::List(Arc::new(items.iter().map(Value::from).collect()))
            }
            serde_json::Value::Object(fields) => Value::Map(Arc::new(
                fields
                    .iter()
                    .map(|(k, v)| (Key::String(k.as_str().into()), Value::from(v)))
                    .collect(),
            )),
        }
    }
}

impl From<serde_json::Value> for Value {
    fn from(json: serde_json::Value) -> Self {
        Value::from(&json)
    }
}

impl Key {
    /// The key a value stands for in a map literal, or `None` for types
    /// that cannot be keys.
    pub(crate) fn from_value(value: &Value) -> Option<Key> {
        match value {
            Value::Bool(b) => Some(Key::Bool(*b)),
            Value::Int(i) => Some(Key::Int(*i)),
            Value::Uint(u) => Some(Key::Uint(*u)),
            Value::String(s) => Some(Key::String(s.clone())),
            _ => None,
        }
    }

    /// The keys equal to `value` under CEL's heterogeneous numeric
    /// equality, so `{1: 'a'}[1u]` and `{1: 'a'}[1.0]` both find the entry.
    pub(crate) fn candidates(value: &Value) -> Vec<Key> {
        match value {
            Value::Int(i) => {
                let mut keys = vec![Key::Int(*i)];
                keys.extend(u64::try_from(*i).ok().map(Key::Uint));
                keys
            }
            Value::Uint(u) => {
                let mut keys = vec![Key::Uint(*u)];
                keys.extend(i64::try_from(*u).ok().map(Key::Int));
                keys
            }
            Value::Double(d) if d.fract() == 0.0 => {
                let mut keys = Vec::new();
                if *d >= -(2f64.powi(63)) && *d < 2f64.powi(63) {
                    keys.push(Key::Int(*d as i64));
                }
                if *d >= 0.0 && *d < 2f64.powi(64) {
                    keys.push(Key::Uint(*d as u64));
                }
                keys
            }
            other => Key::from_value(other).into_iter().collect(),
        }
    }

    /// The key as a value, for iterating over a map.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Key::Bool(b) => Value::Bool(*b),
            Key::Int(i) => Value::Int(*i),
            Key::Uint(u) => Value::Uint(*u),
            Key::String(s) => Value::String(s.clone()),
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Bool(b) => write!(f, "{b}"),
            Key::Int(i) => write!(f, "{i}"),
            Key::Uint(u) => write!(f, "{u}"),
            Key::String(s) => f.write_str(s),
        }
    }
}

/// Looks `key` up in `map` with heterogeneous numeric key equality.
pub(crate) fn lookup<'m>(map: &'m Map, key: &Value) -> Option<&'m Value> {
    Key::candidates(key).iter().find_map(|k| map.get(k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips() {
        let json = json!({"a": [1, -2, 1.5, "s", true, null], "b": {"c": 18446744073709551615u64}});
        assert_eq!(Value::from(&json).to_json(), json);
    }

    #[test]
    fn json_integers_are_ints_and_fractions_doubles() {
        assert_eq!(Value::from(json!(3)), Value::Int(3));
        assert_eq!(Value::from(json!(3.0)), Value::Double(3.0));
    }

    #[test]
    fn numeric_keys_match_across_types() {
        let map: Map = [(Key::Int(1), Value::Bool(true))].into_iter().collect();
        assert!(lookup(&map, &Value::Uint(1)).is_some());
        assert!(lookup(&map, &Value::Double(1.0)).is_some());
        assert!(lookup(&map, &Value::Double(1.5)).is_none());
    }
}
