//! JSON 6902 patches as kustomize v5 applies them (through
//! `gopkg.in/evanphx/json-patch.v4`), including that library's departures
//! from RFC 6902, each checked against `kubectl kustomize`:
//!
//! - negative list indexes count from the end (`/a/-1` is the last item; for
//!   `add`, the position after it);
//! - `replace` of a missing map key adds it;
//! - `copy` from a missing map key copies `null`, and `test` of a missing key
//!   against `null` passes;
//! - a pointer is split on `/` with its first segment ignored, so `a/b` means
//!   `/b`;
//! - `replace` of the whole document (`""`) with a scalar is ignored;
//! - the document makes a round trip through Go's `float64`, so integers
//!   beyond 2^53 lose precision.

use serde_json::{Map, Number, Value};

use super::PatchError;

/// Applies `operations` (a list of operation objects) to `target`, in order;
/// on error `target` is left unchanged.
pub(super) fn apply(target: &mut Value, operations: &Value) -> Result<(), PatchError> {
    let operations = operations
        .as_array()
        .ok_or_else(|| PatchError::Json6902NotAList(format!("found {}", type_name(operations))))?;
    let mut doc = target.clone();
    for (index, operation) in operations.iter().enumerate() {
        let operation = operation.as_object().ok_or_else(|| {
            PatchError::Json6902NotAList(format!("operation {index} is {}", type_name(operation)))
        })?;
        Operation { index, operation }.apply(&mut doc)?;
    }
    lose_integer_precision(&mut doc);
    *target = doc;
    Ok(())
}

/// Whether a patch text is a JSON 6902 patch rather than a strategic merge
/// patch, as kustomize decides for `patches` entries: a JSON list (text
/// starting with `[`) or a YAML list, whose items are all maps.
pub(super) fn is_json6902(patch_text: &str) -> bool {
    let text = patch_text.trim_start();
    let parsed = if text.starts_with('[') {
        serde_json::from_str::<Value>(text).ok()
    } else {
        serde_yaml_ng::Deserializer::from_str(text)
            .next()
            .and_then(|document| serde::Deserialize::deserialize(document).ok())
    };
    matches!(parsed, Some(Value::Array(items)) if items.iter().all(|i| i.is_object() || i.is_null()))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// One operation of the patch and its position.
struct Operation<'a> {
    index: usize,
    operation: &'a Map<String, Value>,
}

impl Operation<'_> {
    fn apply(&self, doc: &mut Value) -> Result<(), PatchError> {
        match self.op().as_str() {
            "add" => {
                let path = self.pointer("path")?;
                let (parent, key) = self.parent(doc, &path)?;
                add(parent, &key, self.value()).map_err(|e| self.error(e, &path))
            }
            "remove" => {
                let path = self.pointer("path")?;
                let (parent, key) = self.parent(doc, &path)?;
                remove(parent, &key).map_err(|e| self.error(e, &path))?;
                Ok(())
            }
            "replace" => self.replace(doc),
            "move" => {
                let from = self.pointer("from")?;
                let (parent, key) = self.parent(doc, &from)?;
                let value = remove(parent, &key).map_err(|e| self.error(e, &from))?;
                let path = self.pointer("path")?;
                let (parent, key) = self.parent(doc, &path)?;
                add(parent, &key, value).map_err(|e| self.error(e, &path))
            }
            "copy" => {
                let from = self.pointer("from")?;
                let (parent, key) = self.parent(doc, &from)?;
                let value = get(parent, &key)
                    .map_err(|e| self.error(e, &from))?
                    .cloned()
                    .unwrap_or(Value::Null);
                let path = self.pointer("path")?;
                let (parent, key) = self.parent(doc, &path)?;
                add(parent, &key, value).map_err(|e| self.error(e, &path))
            }
            "test" => self.test(doc),
            op => Err(PatchError::Json6902UnknownOp {
                index: self.index,
                op: op.to_string(),
            }),
        }
    }

    fn replace(&self, doc: &mut Value) -> Result<(), PatchError> {
        let path = self.pointer("path")?;
        if path.is_empty() {
            let value = self.value();
            if value.is_object() || value.is_array() {
                *doc = value;
            }
            return Ok(());
        }
        let (parent, key) = self.parent(doc, &path)?;
        match parent {
            Value::Array(items) => {
                let index = existing_index(items.len(), &key).map_err(|e| self.error(e, &path))?;
                items[index] = self.value();
            }
            Value::Object(map) => {
                map.insert(key, self.value());
            }
            _ => return Err(self.missing_path(&path)),
        }
        Ok(())
    }

    fn test(&self, doc: &mut Value) -> Result<(), PatchError> {
        let path = self.pointer("path")?;
        let expected = self.operation.get("value");
        let actual = if path.is_empty() {
            Some(&*doc)
        } else {
            let (parent, key) = self.parent(doc, &path)?;
            get(parent, &key).map_err(|e| self.error(e, &path))?
        };
        let passed = match (actual, expected) {
            (None, expected) => expected.is_none_or(Value::is_null),
            (Some(_), None) => false,
            (Some(actual), Some(expected)) => actual == expected,
        };
        if passed {
            Ok(())
        } else {
            Err(PatchError::Json6902TestFailed {
                index: self.index,
                path,
            })
        }
    }

    /// The `op` member; `unknown` when missing or not a string.
    fn op(&self) -> String {
        self.operation
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string()
    }

    /// The `value` member; `null` when missing.
    fn value(&self) -> Value {
        self.operation.get("value").cloned().unwrap_or(Value::Null)
    }

    fn pointer(&self, member: &'static str) -> Result<String, PatchError> {
        self.operation
            .get(member)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| PatchError::Json6902MissingMember {
                index: self.index,
                op: self.op(),
                member,
            })
    }

    /// The map or list that holds the value at `pointer`, and the value's
    /// (unescaped) key or index there.
    fn parent<'d>(
        &self,
        doc: &'d mut Value,
        pointer: &str,
    ) -> Result<(&'d mut Value, String), PatchError> {
        let segments: Vec<&str> = pointer.split('/').collect();
        let [_, parents @ .., last] = segments.as_slice() else {
            return Err(self.missing_path(pointer));
        };
        let mut container = doc;
        for segment in parents {
            let key = unescape(segment);
            let child = match container {
                Value::Object(map) => map.get_mut(&key),
                Value::Array(items) => existing_index(items.len(), &key)
                    .ok()
                    .and_then(|i| items.get_mut(i)),
                _ => None,
            };
            container = child
                .filter(|c| c.is_object() || c.is_array())
                .ok_or_else(|| self.missing_path(pointer))?;
        }
        Ok((container, unescape(last)))
    }

    fn missing_path(&self, path: &str) -> PatchError {
        PatchError::Json6902MissingPath {
            index: self.index,
            op: self.op(),
            path: path.to_string(),
        }
    }

    fn error(&self, error: ContainerError, path: &str) -> PatchError {
        let (index, op, path) = (self.index, self.op(), path.to_string());
        match error {
            ContainerError::MissingKey => PatchError::Json6902MissingKey { index, op, path },
            ContainerError::InvalidIndex => PatchError::Json6902InvalidIndex { index, op, path },
        }
    }
}

/// Why an access to a map or list failed.
enum ContainerError {
    MissingKey,
    InvalidIndex,
}

/// RFC 6901 unescaping: `~1` is `/`, `~0` is `~`.
fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// The position of an existing item: `key` is an index, negative from the end.
fn existing_index(len: usize, key: &str) -> Result<usize, ContainerError> {
    let index: i64 = key.parse().map_err(|_| ContainerError::InvalidIndex)?;
    let len = i64::try_from(len).map_err(|_| ContainerError::InvalidIndex)?;
    let index = if index < 0 { index + len } else { index };
    if (0..len).contains(&index) {
        usize::try_from(index).map_err(|_| ContainerError::InvalidIndex)
    } else {
        Err(ContainerError::InvalidIndex)
    }
}

fn get<'d>(container: &'d Value, key: &str) -> Result<Option<&'d Value>, ContainerError> {
    match container {
        Value::Object(map) => Ok(map.get(key)),
        Value::Array(items) => Ok(Some(&items[existing_index(items.len(), key)?])),
        _ => Err(ContainerError::MissingKey),
    }
}

fn add(container: &mut Value, key: &str, value: Value) -> Result<(), ContainerError> {
    match container {
        Value::Object(map) => {
            map.insert(key.to_string(), value);
            Ok(())
        }
        Value::Array(items) if key == "-" => {
            items.push(value);
            Ok(())
        }
        Value::Array(items) => {
            // One past the end is a valid insertion point.
            let index = existing_index(items.len() + 1, key)?;
            items.insert(index, value);
            Ok(())
        }
        _ => Err(ContainerError::MissingKey),
    }
}

fn remove(container: &mut Value, key: &str) -> Result<Value, ContainerError> {
    match container {
        Value::Object(map) => map.remove(key).ok_or(ContainerError::MissingKey),
        Value::Array(items) => Ok(items.remove(existing_index(items.len(), key)?)),
        _ => Err(ContainerError::MissingKey),
    }
}

/// Integers beyond 2^53 as Go's `float64` holds them.
fn lose_integer_precision(value: &mut Value) {
    const EXACT: u64 = 1 << 53;
    match value {
        Value::Number(n)
            if n.as_u64().is_some_and(|u| u > EXACT)
                || n.as_i64().is_some_and(|i| i.unsigned_abs() > EXACT) =>
        {
            if let Some(float) = n.as_f64().and_then(Number::from_f64) {
                *n = float;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(lose_integer_precision),
        Value::Object(map) => map.values_mut().for_each(lose_integer_precision),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
