//! Labels and annotations: `commonLabels`, `labels`, `commonAnnotations`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::fieldspec::{CreateKind, FieldSpec, visit};
use crate::resmap::ResMap;

/// Sets every pair of `values` in the map fields `specs` locate.
pub fn apply(
    resmap: &mut ResMap,
    values: &BTreeMap<String, String>,
    specs: &[FieldSpec],
) -> Result<(), String> {
    if values.is_empty() {
        return Ok(());
    }
    for res in resmap.resources_mut() {
        let gvk = res.gvk();
        for fs in specs {
            if !fs.applies_to(&gvk) {
                continue;
            }
            let create = fs.create.then_some(CreateKind::Map);
            visit(
                res.value_mut(),
                &fs.path_parts(),
                create,
                &mut |v: &mut Value| {
                    if v.is_null() {
                        *v = Value::Object(Map::new());
                    }
                    match v.as_object_mut() {
                        Some(m) => {
                            for (k, val) in values {
                                m.insert(k.clone(), Value::String(val.clone()));
                            }
                            Ok(())
                        }
                        None => Err(format!("field '{}' is not a map", fs.path)),
                    }
                },
            )?;
        }
    }
    Ok(())
}

/// Combines field-spec lists without duplicates (kustomize's `MergeAll`).
pub fn merge_specs(base: &[FieldSpec], more: &[FieldSpec]) -> Vec<FieldSpec> {
    let mut out = base.to_vec();
    for fs in more {
        if !out.iter().any(|e| e.gvk() == fs.gvk() && e.path == fs.path) {
            out.push(fs.clone());
        }
    }
    out
}
