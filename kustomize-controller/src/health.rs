//! kstatus for any object (fluxcd/cli-utils' readers, in short): whether an
//! applied object has reached its desired state, is still progressing, or failed.

use serde_json::Value;

/// The health of one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Fully reconciled.
    Current,
    /// Still rolling out; the message says what is missing.
    InProgress(String),
    /// Will not get there without a change; the message says why.
    Failed(String),
}

/// Computes the health of `object` as read from the cluster.
pub fn health(object: &Value) -> Health {
    if object.pointer("/metadata/deletionTimestamp").is_some() {
        return Health::InProgress("resource is being deleted".into());
    }
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let observed = object
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    if let (Some(generation), Some(observed)) = (generation, observed)
        && observed != generation
    {
        return Health::InProgress(format!(
            "observed generation {observed} is not generation {generation}"
        ));
    }
    let group = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.rsplit_once('/').map(|(g, _)| g))
        .unwrap_or_default();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match (group, kind) {
        ("apps", "Deployment") => deployment(object),
        ("apps", "StatefulSet") => stateful_set(object),
        ("apps", "DaemonSet") => daemon_set(object),
        ("apps", "ReplicaSet") => replicas_ready(object, "/status/availableReplicas"),
        ("", "Pod") => pod(object),
        ("batch", "Job") => job(object),
        ("", "PersistentVolumeClaim") => phase(object, "Bound"),
        ("", "Namespace") => phase(object, "Active"),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            match condition(object, "Established") {
                Some("True") => Health::Current,
                _ => Health::InProgress("CRD is not established".into()),
            }
        }
        _ => conditions(object),
    }
}

fn int(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a str> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))?
        .get("status")?
        .as_str()
}

fn condition_field<'a>(object: &'a Value, type_: &str, field: &str) -> Option<&'a str> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))?
        .get(field)?
        .as_str()
}

fn desired_replicas(object: &Value) -> i64 {
    object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn deployment(object: &Value) -> Health {
    if condition_field(object, "Progressing", "reason") == Some("ProgressDeadlineExceeded") {
        return Health::Failed("progress deadline exceeded".into());
    }
    let desired = desired_replicas(object);
    let updated = int(object, "/status/updatedReplicas");
    let available = int(object, "/status/availableReplicas");
    let ready = int(object, "/status/readyReplicas");
    if updated < desired {
        return Health::InProgress(format!("updated: {updated}/{desired}"));
    }
    if ready < desired || available < desired {
        return Health::InProgress(format!("available: {available}/{desired}"));
    }
    Health::Current
}

fn stateful_set(object: &Value) -> Health {
    let desired = desired_replicas(object);
    let ready = int(object, "/status/readyReplicas");
    if ready < desired {
        return Health::InProgress(format!("ready: {ready}/{desired}"));
    }
    let current = object.pointer("/status/currentRevision");
    let update = object.pointer("/status/updateRevision");
    if update.is_some() && current != update {
        return Health::InProgress("rolling update in progress".into());
    }
    Health::Current
}

fn daemon_set(object: &Value) -> Health {
    let desired = int(object, "/status/desiredNumberScheduled");
    let available = int(object, "/status/numberAvailable");
    let updated = int(object, "/status/updatedNumberScheduled");
    if available < desired || updated < desired {
        return Health::InProgress(format!("available: {available}/{desired}"));
    }
    Health::Current
}

fn replicas_ready(object: &Value, pointer: &str) -> Health {
    let desired = desired_replicas(object);
    let have = int(object, pointer);
    if have < desired {
        Health::InProgress(format!("available: {have}/{desired}"))
    } else {
        Health::Current
    }
}

fn pod(object: &Value) -> Health {
    match object.pointer("/status/phase").and_then(Value::as_str) {
        Some("Succeeded") => Health::Current,
        Some("Failed") => Health::Failed("pod failed".into()),
        Some("Running") if condition(object, "Ready") == Some("True") => Health::Current,
        _ => Health::InProgress("pod is not ready".into()),
    }
}

fn job(object: &Value) -> Health {
    if condition(object, "Failed") == Some("True") {
        return Health::Failed("job failed".into());
    }
    if condition(object, "Complete") == Some("True") {
        return Health::Current;
    }
    Health::InProgress("job is running".into())
}

fn phase(object: &Value, wanted: &str) -> Health {
    match object.pointer("/status/phase").and_then(Value::as_str) {
        Some(phase) if phase == wanted => Health::Current,
        other => Health::InProgress(format!("phase is {}", other.unwrap_or("unknown"))),
    }
}

/// Custom resources: Flux's and kstatus' condition conventions.
fn conditions(object: &Value) -> Health {
    if condition(object, "Reconciling") == Some("True") {
        return Health::InProgress(
            condition_field(object, "Reconciling", "message")
                .unwrap_or("reconciling")
                .into(),
        );
    }
    if condition(object, "Stalled") == Some("True") {
        return Health::Failed(
            condition_field(object, "Stalled", "message")
                .unwrap_or("stalled")
                .into(),
        );
    }
    match condition(object, "Ready") {
        Some("False") => Health::InProgress(
            condition_field(object, "Ready", "message")
                .unwrap_or("not ready")
                .into(),
        ),
        _ => Health::Current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployments_are_current_when_all_replicas_are_available() {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"generation": 2},
            "spec": {"replicas": 2}, "status": {"observedGeneration": 2, "updatedReplicas": 2, "readyReplicas": 1, "availableReplicas": 1}});
        assert_eq!(health(&d), Health::InProgress("available: 1/2".into()));
        d["status"]["readyReplicas"] = json!(2);
        d["status"]["availableReplicas"] = json!(2);
        assert_eq!(health(&d), Health::Current);
        d["status"]["observedGeneration"] = json!(1);
        assert!(matches!(health(&d), Health::InProgress(_)));
        d["status"]["observedGeneration"] = json!(2);
        d["status"]["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]);
        assert!(matches!(health(&d), Health::Failed(_)));
    }

    #[test]
    fn plain_objects_and_custom_resources() {
        assert_eq!(
            health(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})),
            Health::Current
        );
        let stalled = json!({"apiVersion": "x.io/v1", "kind": "W", "metadata": {},
            "status": {"conditions": [{"type": "Stalled", "status": "True", "message": "broken"}]}});
        assert_eq!(health(&stalled), Health::Failed("broken".into()));
        let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {},
            "status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(health(&job), Health::Current);
        let terminating = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"deletionTimestamp": "x"}});
        assert!(matches!(health(&terminating), Health::InProgress(_)));
    }
}
