//! The `namespace` transformer: sets `metadata.namespace` on namespaced
//! objects, renames `Namespace` objects, sets the namespace of the
//! `default` service account in (Cluster)RoleBinding subjects, and the
//! other namespace fields of the configuration.

use std::collections::HashSet;

use serde_json::Value;

use crate::fieldspec::{CreateKind, FieldSpec, visit};
use crate::resmap::ResMap;

/// Moves every object into `namespace`.
pub fn apply(resmap: &mut ResMap, namespace: &str, specs: &[FieldSpec]) -> Result<(), String> {
    if namespace.is_empty() {
        return Ok(());
    }
    let specs: Vec<&FieldSpec> = specs
        .iter()
        .filter(|fs| fs.path != "metadata/namespace")
        .filter(|fs| !(is_role_binding(&fs.kind) && fs.path == "subjects"))
        .collect();
    for res in resmap.resources_mut() {
        if res.value().as_object().is_none_or(|m| m.is_empty()) {
            continue;
        }
        res.store_previous_id();
        let gvk = res.gvk();
        let obj = res.value_mut();
        let set = &mut |v: &mut Value| -> Result<(), String> {
            *v = Value::String(namespace.to_string());
            Ok(())
        };
        if !gvk.is_cluster_scoped() {
            visit(
                obj,
                &["metadata".into(), "namespace".into()],
                Some(CreateKind::Scalar),
                set,
            )?;
        }
        if is_role_binding(&gvk.kind)
            && let Some(subjects) = obj.get_mut("subjects").and_then(Value::as_array_mut)
        {
            for s in subjects {
                if s.get("name").and_then(Value::as_str) == Some("default")
                    && let Some(m) = s.as_object_mut()
                {
                    m.insert("namespace".into(), Value::String(namespace.into()));
                }
            }
        }
        for fs in &specs {
            if fs.applies_to(&gvk) {
                let create = fs.create.then_some(CreateKind::Scalar);
                visit(obj, &fs.path_parts(), create, set)?;
            }
        }
    }
    let mut seen = HashSet::new();
    for r in resmap.resources() {
        let id = r.cur_id();
        let key = (
            id.gvk.clone(),
            id.name.clone(),
            id.effective_namespace().to_string(),
        );
        if !seen.insert(key) {
            return Err(format!(
                "namespace transformation produces ID conflict: {}",
                id.display()
            ));
        }
    }
    Ok(())
}

fn is_role_binding(kind: &str) -> bool {
    kind == "RoleBinding" || kind == "ClusterRoleBinding"
}
