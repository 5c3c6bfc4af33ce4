//! `vars` (deprecated but still used): `$(NAME)` in the configured fields is
//! replaced by a field of a named object, after all other transformations.

use serde_json::Value;

use super::fieldpath;
use crate::error::{Error, Result};
use crate::fieldspec::{FieldSpec, visit};
use crate::kustomization::Var;
use crate::resmap::ResMap;
use crate::resource::ResId;

/// Resolves `vars` and expands them in the `var_reference` fields.
pub fn apply(resmap: &mut ResMap, vars: &[Var], specs: &[FieldSpec]) -> Result<()> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut values: Vec<(String, Value)> = Vec::new();
    for var in vars {
        let target = ResId::new(var.objref.gvk(), &var.objref.name, &var.objref.namespace);
        let strict_ns = !target.namespace.is_empty() || target.gvk.is_cluster_scoped();
        let matched: Vec<_> = resmap
            .resources()
            .iter()
            .filter(|r| {
                std::iter::once(r.cur_id())
                    .chain(r.prev_ids().iter().cloned())
                    .any(|id| {
                        id.gvk == target.gvk
                            && id.name == target.name
                            && (!strict_ns || id.ns_equals(&target))
                    })
            })
            .collect();
        let res = match matched.as_slice() {
            [one] => one,
            [] => {
                return Err(Error::Var {
                    name: var.name.clone(),
                    message: "cannot be mapped to a field in the set of known resources".into(),
                });
            }
            _ => {
                return Err(Error::Var {
                    name: var.name.clone(),
                    message: format!(
                        "found {} resId matches (unable to disambiguate)",
                        matched.len()
                    ),
                });
            }
        };
        let path = if var.fieldref.field_path.is_empty() {
            "metadata.name"
        } else {
            &var.fieldref.field_path
        };
        let parts: Vec<String> = fieldpath::split(path)
            .into_iter()
            .flat_map(|p| split_index(&p))
            .collect();
        let value = fieldpath::lookup(res.value(), &parts)
            .cloned()
            .ok_or_else(|| Error::Var {
                name: var.name.clone(),
                message: format!("field '{path}' not found in corresponding resource"),
            })?;
        values.push((var.name.clone(), value));
    }
    for res in resmap.resources_mut() {
        let gvk = res.gvk();
        for fs in specs {
            if fs.applies_to(&gvk) {
                visit(
                    res.value_mut(),
                    &fs.path_parts(),
                    None,
                    &mut |node: &mut Value| {
                        expand_node(node, &values);
                        Ok::<(), Error>(())
                    },
                )?;
            }
        }
    }
    Ok(())
}

/// `ports[0]` becomes `ports`, `0`.
fn split_index(part: &str) -> Vec<String> {
    match part.find('[') {
        Some(i) if i > 0 && part.ends_with(']') && !part.contains('=') => {
            vec![
                part[..i].to_string(),
                part[i + 1..part.len() - 1].to_string(),
            ]
        }
        _ => vec![part.to_string()],
    }
}

fn expand_node(node: &mut Value, vars: &[(String, Value)]) {
    match node {
        Value::String(s) => *node = expand(s, vars),
        Value::Array(items) => {
            for item in items {
                if let Value::String(s) = item {
                    *item = expand(s, vars);
                }
            }
        }
        Value::Object(m) => {
            for v in m.values_mut() {
                if let Value::String(s) = v {
                    *v = expand(s, vars);
                }
            }
        }
        _ => {}
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Kubernetes' `$(VAR)` expansion: `$$` escapes, unknown variables stay,
/// and a value that is exactly `$(VAR)` takes the variable's type.
fn expand(input: &str, vars: &[(String, Value)]) -> Value {
    let lookup = |name: &str| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let bytes = input.as_bytes();
    let mut out = String::new();
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest.as_bytes()[0] {
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match rest.find(')') {
                    Some(close) => {
                        let name = &rest[1..close];
                        match lookup(name) {
                            Some(v) if input.len() == name.len() + 3 => return v,
                            Some(v) => out.push_str(&display(&v)),
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        close + 1
                    }
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                _ => {
                    let c = rest.chars().next().unwrap_or_default();
                    out.push('$');
                    out.push(c);
                    c.len_utf8()
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    if checkpoint <= input.len() {
        out.push_str(&input[checkpoint..]);
    }
    Value::String(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expansion_follows_kubernetes_rules() {
        let vars = vec![("A".to_string(), json!("x")), ("N".to_string(), json!(3))];
        assert_eq!(expand("$(A)-$(B)-$$(A)", &vars), json!("x-$(B)-$(A)"));
        assert_eq!(expand("$(N)", &vars), json!(3));
        assert_eq!(expand("n=$(N)", &vars), json!("n=3"));
    }
}
