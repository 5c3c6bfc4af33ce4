//! Apply stages and order, as Flux's `ApplyAllStaged` does: cluster
//! definitions first (so the rest can be validated and created), then classes,
//! then everything else, each stage sorted by kind order, then namespace and name.

use serde_json::Value;

/// Kinds in the order Flux applies them; unlisted kinds go between
/// `PodDisruptionBudget` and the webhook configurations, by group then kind.
const KIND_ORDER: &[&str] = &[
    "CustomResourceDefinition",
    "Namespace",
    "ClusterRole",
    "ClusterClass",
    "RuntimeClass",
    "PriorityClass",
    "StorageClass",
    "VolumeSnapshotClass",
    "IngressClass",
    "GatewayClass",
    "ClusterRoleBinding",
    "ResourceQuota",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "LimitRange",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// Applied last, so webhooks never block the objects they would validate.
const LAST_KINDS: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Which stage an object is applied in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// CRDs, Namespaces and ClusterRoles, waited for before the rest.
    Definitions,
    /// Kinds whose name ends in `Class`.
    Classes,
    /// Everything else.
    Rest,
}

/// The stage of `object`.
pub fn stage(object: &Value) -> Stage {
    let kind = kind(object);
    match kind {
        "CustomResourceDefinition" | "Namespace" | "ClusterRole" => Stage::Definitions,
        k if k.ends_with("Class") => Stage::Classes,
        _ => Stage::Rest,
    }
}

fn kind(object: &Value) -> &str {
    object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn group(object: &Value) -> &str {
    object
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.rsplit_once('/').map(|(g, _)| g))
        .unwrap_or_default()
}

fn meta<'a>(object: &'a Value, field: &str) -> &'a str {
    object
        .pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Sort key: stage, kind rank, (group, kind) for unlisted kinds, namespace, name.
fn key(object: &Value) -> (Stage, usize, String, String, String, String) {
    let kind = kind(object);
    let rank = match (
        KIND_ORDER.iter().position(|k| *k == kind),
        LAST_KINDS.iter().position(|k| *k == kind),
    ) {
        (Some(i), _) => i,
        (None, Some(i)) => KIND_ORDER.len() + 1 + i,
        (None, None) => KIND_ORDER.len(),
    };
    (
        stage(object),
        rank,
        group(object).to_string(),
        kind.to_string(),
        meta(object, "namespace").to_string(),
        meta(object, "name").to_string(),
    )
}

/// Sorts objects into apply order.
pub fn sort_for_apply(objects: &mut [Value]) {
    objects.sort_by_cached_key(key);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(api_version: &str, kind: &str, namespace: &str, name: &str) -> Value {
        json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}})
    }

    #[test]
    fn definitions_then_classes_then_the_rest_in_kind_order() {
        let mut objects = vec![
            obj(
                "admissionregistration.k8s.io/v1",
                "ValidatingWebhookConfiguration",
                "",
                "hook",
            ),
            obj("apps/v1", "Deployment", "app", "web"),
            obj("example.com/v1", "Widget", "app", "w"),
            obj("v1", "Service", "app", "web"),
            obj("networking.k8s.io/v1", "IngressClass", "", "nginx"),
            obj("v1", "Namespace", "", "app"),
            obj(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "",
                "widgets.example.com",
            ),
            obj("v1", "ConfigMap", "app", "b"),
            obj("v1", "ConfigMap", "app", "a"),
        ];
        sort_for_apply(&mut objects);
        let order: Vec<String> = objects
            .iter()
            .map(|o| format!("{}/{}", kind(o), meta(o, "name")))
            .collect();
        assert_eq!(
            order,
            [
                "CustomResourceDefinition/widgets.example.com",
                "Namespace/app",
                "IngressClass/nginx",
                "ConfigMap/a",
                "ConfigMap/b",
                "Service/web",
                "Deployment/web",
                "Widget/w",
                "ValidatingWebhookConfiguration/hook",
            ]
        );
    }
}
