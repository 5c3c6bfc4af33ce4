//! The health of any Kubernetes object, computed from its status like kstatus
//! does: workload rules for the built-in kinds that have no conditions
//! worth trusting (Deployment, StatefulSet, DaemonSet, Pod, Job,
//! PersistentVolumeClaim), and for everything else (Flux kinds included)
//! `fluxrs-runtime`'s kstatus over the object's conditions, where a final
//! `Ready=False` counts as a failure.

use std::fmt;

use fluxrs_runtime::conditions::{Condition, KStatus, compute_kstatus, types};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How an object is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum HealthStatus {
    /// Reconciled and healthy.
    Current,
    /// Still converging.
    InProgress,
    /// Failed, and will not get better on its own.
    Failed,
    /// Being deleted.
    Terminating,
    /// Listed in an inventory but absent from the cluster.
    NotFound,
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            HealthStatus::Current => "Current",
            HealthStatus::InProgress => "InProgress",
            HealthStatus::Failed => "Failed",
            HealthStatus::Terminating => "Terminating",
            HealthStatus::NotFound => "NotFound",
        };
        f.write_str(text)
    }
}

/// A health status and the message that explains it (may be empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Health {
    /// The status.
    pub status: HealthStatus,
    /// Why, in the object's or our words.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Health {
    fn new(status: HealthStatus, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// The health of an object that does not exist.
    pub fn not_found() -> Self {
        Self::new(HealthStatus::NotFound, "not found in the cluster")
    }
}

/// A condition as any kind writes it: only type and status are sure to be there.
#[derive(Deserialize)]
struct LooseCondition {
    #[serde(rename = "type")]
    type_: String,
    status: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Assesses an object of `kind` from its metadata and its body (`spec`,
/// `status`: a `DynamicObject`'s `data`).
pub fn assess(kind: &str, meta: &ObjectMeta, body: &Value) -> Health {
    if meta.deletion_timestamp.is_some() {
        return Health::new(HealthStatus::Terminating, "being deleted");
    }
    let spec = body.get("spec").unwrap_or(&Value::Null);
    let status = body.get("status").unwrap_or(&Value::Null);
    let observed = status.get("observedGeneration").and_then(Value::as_i64);
    if let (Some(observed), Some(generation)) = (observed, meta.generation)
        && observed != generation
    {
        return Health::new(HealthStatus::InProgress, "generation not observed yet");
    }
    match kind {
        "Deployment" | "StatefulSet" | "ReplicaSet" => replicas(spec, status),
        "DaemonSet" => daemon_set(status),
        "Pod" => pod(status),
        "Job" => job(status),
        "PersistentVolumeClaim" => claim(status),
        _ => conditions(meta, observed, status),
    }
}

fn int(status: &Value, field: &str) -> i64 {
    status.get(field).and_then(Value::as_i64).unwrap_or(0)
}

fn parse_conditions(status: &Value) -> Vec<LooseCondition> {
    status
        .get("conditions")
        .cloned()
        .and_then(|c| serde_json::from_value(c).ok())
        .unwrap_or_default()
}

fn condition_is(status: &Value, type_: &str, value: &str) -> bool {
    parse_conditions(status)
        .iter()
        .any(|c| c.type_ == type_ && c.status == value)
}

fn replicas(spec: &Value, status: &Value) -> Health {
    let desired = spec.get("replicas").and_then(Value::as_i64).unwrap_or(1);
    let updated = int(status, "updatedReplicas");
    let total = int(status, "replicas");
    let ready = int(status, "readyReplicas");
    if updated < desired {
        return Health::new(
            HealthStatus::InProgress,
            format!("Updated: {updated}/{desired}"),
        );
    }
    if total > updated {
        return Health::new(
            HealthStatus::InProgress,
            format!("Pending termination: {}", total - updated),
        );
    }
    if ready < desired {
        return Health::new(
            HealthStatus::InProgress,
            format!("Ready: {ready}/{desired}"),
        );
    }
    Health::new(
        HealthStatus::Current,
        format!("Replicas: {ready}/{desired}"),
    )
}

fn daemon_set(status: &Value) -> Health {
    let desired = int(status, "desiredNumberScheduled");
    let available = int(status, "numberAvailable");
    if available < desired {
        return Health::new(
            HealthStatus::InProgress,
            format!("Available: {available}/{desired}"),
        );
    }
    Health::new(
        HealthStatus::Current,
        format!("Available: {available}/{desired}"),
    )
}

fn pod(status: &Value) -> Health {
    let phase = status
        .get("phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending");
    match phase {
        "Succeeded" => Health::new(HealthStatus::Current, "Pod has completed successfully"),
        "Failed" => Health::new(HealthStatus::Failed, "Pod has failed"),
        "Running" if condition_is(status, "Ready", "True") => {
            Health::new(HealthStatus::Current, "Pod is Ready")
        }
        other => Health::new(HealthStatus::InProgress, format!("Pod phase: {other}")),
    }
}

fn job(status: &Value) -> Health {
    if condition_is(status, "Complete", "True") {
        Health::new(HealthStatus::Current, "Job Completed")
    } else if condition_is(status, "Failed", "True") {
        Health::new(HealthStatus::Failed, "Job Failed")
    } else {
        Health::new(HealthStatus::InProgress, "Job in progress")
    }
}

fn claim(status: &Value) -> Health {
    match status.get("phase").and_then(Value::as_str) {
        Some("Bound") => Health::new(HealthStatus::Current, "PVC is Bound"),
        phase => Health::new(
            HealthStatus::InProgress,
            format!("PVC is {}", phase.unwrap_or("Pending")),
        ),
    }
}

/// kstatus over the conditions, plus: a final `Ready=False` is a failure
/// (Flux objects that failed and are not retrying).
fn conditions(meta: &ObjectMeta, observed: Option<i64>, status: &Value) -> Health {
    let loose = parse_conditions(status);
    let strict: Vec<Condition> = loose.iter().map(strict_condition).collect();
    let message_of = |type_: &str| {
        loose
            .iter()
            .find(|c| c.type_ == type_)
            .and_then(|c| c.message.clone())
            .unwrap_or_default()
    };
    match compute_kstatus(meta, observed, &strict) {
        KStatus::Terminating => Health::new(HealthStatus::Terminating, "being deleted"),
        KStatus::InProgress => {
            Health::new(HealthStatus::InProgress, message_of(types::RECONCILING))
        }
        KStatus::Failed => Health::new(HealthStatus::Failed, message_of(types::STALLED)),
        KStatus::Current if condition_is(status, types::READY, "False") => {
            Health::new(HealthStatus::Failed, message_of(types::READY))
        }
        KStatus::Current => Health::new(HealthStatus::Current, message_of(types::READY)),
    }
}

fn strict_condition(c: &LooseCondition) -> Condition {
    Condition {
        type_: c.type_.clone(),
        status: c.status.clone(),
        reason: c.reason.clone().unwrap_or_default(),
        message: c.message.clone().unwrap_or_default(),
        observed_generation: None,
        last_transition_time: Time(Timestamp::UNIX_EPOCH),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn meta(generation: i64) -> ObjectMeta {
        ObjectMeta {
            generation: Some(generation),
            ..ObjectMeta::default()
        }
    }

    fn with_status(status: Value) -> Value {
        json!({ "status": status })
    }

    #[test]
    fn rolled_out_deployment_is_current() {
        let body = json!({"spec": {"replicas": 2}, "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}});
        assert_eq!(
            assess("Deployment", &meta(2), &body).status,
            HealthStatus::Current
        );
    }

    #[test]
    fn rolling_deployment_is_in_progress() {
        let body = json!({"spec": {"replicas": 3}, "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "readyReplicas": 2}});
        let health = assess("Deployment", &meta(2), &body);
        assert_eq!(
            health,
            Health::new(HealthStatus::InProgress, "Updated: 1/3")
        );
        let surge = json!({"spec": {}, "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "readyReplicas": 1}});
        assert_eq!(
            assess("Deployment", &meta(2), &surge),
            Health::new(HealthStatus::InProgress, "Pending termination: 1")
        );
        let stale = json!({"spec": {}, "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1}});
        assert_eq!(
            assess("Deployment", &meta(2), &stale).status,
            HealthStatus::InProgress
        );
    }

    #[test]
    fn objects_without_status_are_current() {
        assert_eq!(
            assess("ConfigMap", &meta(1), &json!({"data": {}})).status,
            HealthStatus::Current
        );
    }

    #[test]
    fn flux_objects_follow_their_conditions() {
        let ready = json!({"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True", "message": "Applied revision: main@sha1:abc"}]});
        assert_eq!(
            assess("Kustomization", &meta(1), &with_status(ready)),
            Health::new(HealthStatus::Current, "Applied revision: main@sha1:abc")
        );
        let failed = json!({"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "False", "message": "build failed"}]});
        assert_eq!(
            assess("Kustomization", &meta(1), &with_status(failed)).status,
            HealthStatus::Failed
        );
        let stalled = json!({"observedGeneration": 1, "conditions": [
            {"type": "Ready", "status": "False", "message": "bad"},
            {"type": "Stalled", "status": "True", "message": "invalid path"}
        ]});
        assert_eq!(
            assess("Kustomization", &meta(1), &with_status(stalled)),
            Health::new(HealthStatus::Failed, "invalid path")
        );
        let reconciling = json!({"observedGeneration": 1, "conditions": [
            {"type": "Reconciling", "status": "True", "message": "applying"}
        ]});
        assert_eq!(
            assess("HelmRelease", &meta(1), &with_status(reconciling)),
            Health::new(HealthStatus::InProgress, "applying")
        );
    }

    #[test]
    fn pods_jobs_and_claims() {
        let running =
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]});
        assert_eq!(
            assess("Pod", &meta(1), &with_status(running)).status,
            HealthStatus::Current
        );
        assert_eq!(
            assess("Pod", &meta(1), &with_status(json!({"phase": "Failed"}))).status,
            HealthStatus::Failed
        );
        let done = json!({"conditions": [{"type": "Complete", "status": "True"}]});
        assert_eq!(
            assess("Job", &meta(1), &with_status(done)).status,
            HealthStatus::Current
        );
        assert_eq!(
            assess(
                "PersistentVolumeClaim",
                &meta(1),
                &with_status(json!({"phase": "Pending"}))
            )
            .status,
            HealthStatus::InProgress
        );
    }

    #[test]
    fn deleting_objects_are_terminating() {
        let mut m = meta(1);
        m.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert_eq!(
            assess("ConfigMap", &m, &Value::Null).status,
            HealthStatus::Terminating
        );
    }
}
