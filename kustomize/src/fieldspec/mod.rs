//! Field specs: "in objects of this kind, the field at this path", the way
//! kustomize's builtin transformers locate the fields they change, and the
//! traversal that visits (and optionally creates) those fields.

mod config;
mod crds;

use serde::Deserialize;
use serde_json::{Map, Value};

pub use config::{NameBackReference, TransformerConfig};
pub use crds::config_from_openapi;

use crate::resource::Gvk;

/// A field location, optionally restricted to a group/version/kind.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldSpec {
    /// API group to match (empty: any).
    #[serde(default)]
    pub group: String,
    /// API version to match (empty: any).
    #[serde(default)]
    pub version: String,
    /// Kind to match (empty: any).
    #[serde(default)]
    pub kind: String,
    /// Slash-separated path; `\/` is a literal slash, `name[]` marks a list.
    pub path: String,
    /// Create the field when missing.
    #[serde(default, rename = "create")]
    pub create: bool,
    /// Skip objects this spec matches (used by name prefix/suffix).
    #[serde(default)]
    pub skip: bool,
}

impl FieldSpec {
    /// The gvk this spec is restricted to.
    pub fn gvk(&self) -> Gvk {
        Gvk {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
        }
    }

    /// Whether this spec applies to objects of `gvk`.
    pub fn applies_to(&self, gvk: &Gvk) -> bool {
        (self.group.is_empty() || self.group == gvk.group)
            && (self.version.is_empty() || self.version == gvk.version)
            && (self.kind.is_empty() || self.kind == gvk.kind)
    }

    /// The path split into field names (escapes resolved).
    pub fn path_parts(&self) -> Vec<String> {
        split_path(&self.path)
    }
}

/// Splits a field-spec path on unescaped `/`.
pub fn split_path(path: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    parts.retain(|p| !p.is_empty());
    parts
}

/// What to create for a missing last path element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateKind {
    /// A mapping (labels, annotations).
    Map,
    /// A scalar (names, namespaces, images).
    Scalar,
}

/// Visits the node(s) at `parts` in `obj`, descending into every element of
/// sequences along the way. Missing fields are skipped, or created when
/// `create` is set (intermediate fields as mappings, the last one as
/// `create`'s kind). `visit` receives the node at the end of the path.
pub fn visit<E>(
    obj: &mut Value,
    parts: &[String],
    create: Option<CreateKind>,
    visit: &mut dyn FnMut(&mut Value) -> Result<(), E>,
) -> Result<(), E> {
    let Some((first, rest)) = parts.split_first() else {
        return visit(obj);
    };
    match obj {
        Value::Array(items) => {
            for item in items {
                self::visit(item, parts, create, visit)?;
            }
            Ok(())
        }
        Value::Object(map) => {
            let (name, is_seq) = match first.strip_suffix("[]") {
                Some(n) => (n, true),
                None => (first.as_str(), false),
            };
            let creating = create.is_some() && !is_seq;
            if !map.contains_key(name) {
                if !creating {
                    return Ok(());
                }
                let fresh = if rest.is_empty() && create == Some(CreateKind::Scalar) {
                    Value::Null
                } else {
                    Value::Object(Map::new())
                };
                map.insert(name.to_string(), fresh);
            }
            let field = map.get_mut(name).expect("present or just inserted");
            if field.is_null()
                && creating
                && !(rest.is_empty() && create == Some(CreateKind::Scalar))
            {
                *field = Value::Object(Map::new());
            }
            if field.is_null() && !rest.is_empty() {
                return Ok(());
            }
            self::visit(field, rest, create, visit)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escaped_slashes_stay_in_names() {
        assert_eq!(
            split_path("metadata/annotations/a.io\\/b"),
            vec!["metadata", "annotations", "a.io/b"]
        );
    }

    #[test]
    fn visit_descends_sequences_and_creates() {
        let mut v = json!({"spec": {"containers": [{"image": "a"}, {"image": "b"}, {}]}});
        let parts = split_path("spec/containers[]/image");
        let mut seen = Vec::new();
        visit::<()>(&mut v, &parts, None, &mut |n| {
            seen.push(n.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![json!("a"), json!("b")]);

        let mut v = json!({"metadata": {"name": "x"}});
        visit::<()>(
            &mut v,
            &split_path("metadata/labels"),
            Some(CreateKind::Map),
            &mut |n| {
                n.as_object_mut().unwrap().insert("a".into(), json!("b"));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(v, json!({"metadata": {"name": "x", "labels": {"a": "b"}}}));
    }
}
