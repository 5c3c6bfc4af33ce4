//! Managed-fields cleanup before apply, as Flux does: fields that `kubectl`
//! (`kubectl edit`, `kubectl patch`, client- and server-side `kubectl apply`)
//! or the pre-SSA `before-first-apply` manager own are handed to
//! kustomize-controller's apply entry, so the next apply removes those that
//! are not in Git. Without it a field added by hand would survive forever,
//! because server-side apply only removes fields its manager owns. Objects
//! annotated `kustomize.toolkit.fluxcd.io/ssa: Merge` are left alone.

use serde_json::{Map, Value, json};

use crate::apply::FIELD_MANAGER;

/// Annotations of older tools whose presence would keep stale state around.
const STALE_ANNOTATIONS: [&str; 3] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "kustomize.toolkit.fluxcd.io/checksum",
    "fluxcd.io/sync-checksum",
];
/// Label of Flux v1's garbage collection.
const STALE_LABEL: &str = "fluxcd.io/sync-gc-mark";

/// Whether the managed-fields entry `entry` must be handed over.
fn overridden(entry: &Value) -> bool {
    let manager = entry
        .get("manager")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let operation = entry
        .get("operation")
        .and_then(Value::as_str)
        .unwrap_or_default();
    manager.starts_with("kubectl")
        || (manager == "before-first-apply" && operation == "Update")
        || (manager == FIELD_MANAGER && operation == "Update")
}

/// Deep union of two `fieldsV1` trees.
fn union(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                union(into.entry(key.clone()).or_insert_with(|| json!({})), value);
            }
        }
        (into, from) => {
            if into.as_object().is_none_or(Map::is_empty) {
                *into = from.clone();
            }
        }
    }
}

/// The JSON merge patch that hands over fields and drops stale metadata
/// from the live object `live`, or `None` when there is nothing to clean.
/// (A merge patch replaces the managed-fields list as a whole and deletes
/// keys set to null.)
pub fn cleanup_patch(live: &Value) -> Option<Value> {
    let entries = live.pointer("/metadata/managedFields")?.as_array()?;
    let mut metadata = Map::new();
    if entries.iter().any(overridden) {
        let api_version = live.get("apiVersion").cloned().unwrap_or(Value::Null);
        let mut kept: Vec<Value> = Vec::new();
        let mut ours = json!({
            "manager": FIELD_MANAGER,
            "operation": "Apply",
            "apiVersion": api_version,
            "fieldsType": "FieldsV1",
            "fieldsV1": {},
        });
        for entry in entries {
            let is_our_apply = entry.get("manager").and_then(Value::as_str) == Some(FIELD_MANAGER)
                && entry.get("operation").and_then(Value::as_str) == Some("Apply");
            if is_our_apply {
                let fields = ours["fieldsV1"].take();
                ours = entry.clone();
                union(&mut ours["fieldsV1"], &fields);
            } else if overridden(entry) {
                if let Some(fields) = entry.get("fieldsV1") {
                    union(&mut ours["fieldsV1"], fields);
                }
            } else {
                kept.push(entry.clone());
            }
        }
        kept.push(ours);
        metadata.insert("managedFields".into(), Value::Array(kept));
    }
    for (field, keys) in [
        ("annotations", &STALE_ANNOTATIONS[..]),
        ("labels", &[STALE_LABEL][..]),
    ] {
        let present: Map<String, Value> = keys
            .iter()
            .filter(|key| {
                live.pointer(&format!("/metadata/{field}/{}", escape(key)))
                    .is_some()
            })
            .map(|key| (key.to_string(), Value::Null))
            .collect();
        if !present.is_empty() {
            metadata.insert(field.into(), Value::Object(present));
        }
    }
    (!metadata.is_empty()).then(|| json!({ "metadata": metadata }))
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(managed: Value) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "settings",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "managedFields": managed
            }
        })
    }

    #[test]
    fn kubectl_fields_move_to_our_apply_entry() {
        let object = live(json!([
            {"manager": "kustomize-controller", "operation": "Apply", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:value": {}}}},
            {"manager": "kubectl-edit", "operation": "Update", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:extra": {}}}},
            {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}}
        ]));
        let patch = cleanup_patch(&object).unwrap();
        let managed = &patch["metadata"]["managedFields"];
        assert_eq!(managed.as_array().unwrap().len(), 2);
        assert_eq!(managed[0]["manager"], "kube-controller-manager");
        assert_eq!(managed[1]["manager"], "kustomize-controller");
        assert_eq!(
            managed[1]["fieldsV1"],
            json!({"f:data": {"f:value": {}, "f:extra": {}}})
        );
        assert_eq!(
            patch["metadata"]["annotations"],
            json!({"kubectl.kubernetes.io/last-applied-configuration": null})
        );
    }

    #[test]
    fn objects_owned_by_us_and_others_only_are_left_alone() {
        let mut object = live(json!([
            {"manager": "kustomize-controller", "operation": "Apply", "fieldsV1": {}},
            {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {}}
        ]));
        object["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
        assert_eq!(cleanup_patch(&object), None);
    }

    #[test]
    fn a_missing_apply_entry_is_created() {
        let object = live(json!([
            {"manager": "before-first-apply", "operation": "Update", "fieldsV1": {"f:data": {}}}
        ]));
        let patch = cleanup_patch(&object).unwrap();
        let ours = &patch["metadata"]["managedFields"][0];
        assert_eq!(ours["manager"], "kustomize-controller");
        assert_eq!(ours["operation"], "Apply");
        assert_eq!(ours["fieldsV1"], json!({"f:data": {}}));
    }
}
