//! Prometheus metrics with Flux's names.
//!
//! Dashboards and alerts written for Flux (fluxcd/flux2-monitoring-example)
//! query these exact names and labels (`spec/common.md` §7):
//!
//! * `gotk_reconcile_duration_seconds{kind,name,namespace}`: histogram with
//!   10 exponential buckets from 0.01s to 1800s, observed on every reconcile;
//! * `gotk_reconcile_condition{kind,name,namespace,type,status}`: gauge, 1 for
//!   the condition's current status and 0 for the other two;
//! * `gotk_suspend_status{kind,name,namespace}`: gauge 0/1;
//! * `controller_runtime_reconcile_total{controller,result}` and
//!   `controller_runtime_reconcile_errors_total{controller}`: counters;
//! * `rest_client_requests_total{code,method}`: API server requests of the
//!   process (see [`crate::client`]).
//!
//! Per-object series are deleted with [`Metrics::delete_object`] when the
//! object is deleted, so the registry does not grow with churn.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets_range};
use prometheus_client::registry::Registry;

use crate::conditions::{Condition, Status};
use crate::error::{Error, Result};
use crate::outcome::ResultLabel;

/// Histogram of reconcile durations per object.
pub const RECONCILE_DURATION: &str = "gotk_reconcile_duration_seconds";
/// Gauge of each condition's status per object.
pub const RECONCILE_CONDITION: &str = "gotk_reconcile_condition";
/// Gauge of `spec.suspend` per object.
pub const SUSPEND_STATUS: &str = "gotk_suspend_status";
/// Counter of reconciles per controller and result (the `_total` suffix is
/// added by the OpenMetrics encoder).
pub const RECONCILE_TOTAL: &str = "controller_runtime_reconcile";
/// Counter of failed reconciles per controller (`_total` added on encoding).
pub const RECONCILE_ERRORS_TOTAL: &str = "controller_runtime_reconcile_errors";

/// Counter of API server requests (`_total` added on encoding), as client-go.
pub const API_REQUESTS_TOTAL: &str = "rest_client_requests";

/// Content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the duration buckets: 10 exponential buckets from 0.01s to
/// 1800s (Prometheus' `ExponentialBucketsRange(0.01, 1800, 10)`).
pub fn duration_buckets() -> Vec<f64> {
    exponential_buckets_range(0.01, 1800.0, 10).collect()
}

fn duration_histogram() -> Histogram {
    Histogram::new(duration_buckets())
}

type ObjectLabels = [(&'static str, String); 3];
type ConditionLabels = [(&'static str, String); 5];
type ResultLabels = [(&'static str, String); 2];
type ControllerLabels = [(&'static str, String); 1];

fn object_labels(kind: &str, namespace: &str, name: &str) -> ObjectLabels {
    [
        ("kind", kind.to_owned()),
        ("name", name.to_owned()),
        ("namespace", namespace.to_owned()),
    ]
}

fn condition_labels(object: &ObjectLabels, type_: &str, status: Status) -> ConditionLabels {
    let [kind, name, namespace] = object.clone();
    [
        kind,
        name,
        namespace,
        ("type", type_.to_owned()),
        ("status", status.as_str().to_owned()),
    ]
}

struct Inner {
    registry: Registry,
    duration: Family<ObjectLabels, Histogram, fn() -> Histogram>,
    condition: Family<ConditionLabels, Gauge>,
    suspend: Family<ObjectLabels, Gauge>,
    reconcile_total: Family<ResultLabels, Counter>,
    reconcile_errors: Family<ControllerLabels, Counter>,
    /// Condition types recorded per object, to delete their series.
    condition_types: Mutex<HashMap<ObjectLabels, BTreeSet<String>>>,
}

/// The metrics of one controller process; cheap to clone, shared by all its
/// reconcilers and the `/metrics` endpoint.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every Flux metric registered (and no series yet).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let duration = Family::<ObjectLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        let condition = Family::<ConditionLabels, Gauge>::default();
        let suspend = Family::<ObjectLabels, Gauge>::default();
        let reconcile_total = Family::<ResultLabels, Counter>::default();
        let reconcile_errors = Family::<ControllerLabels, Counter>::default();
        registry.register(
            RECONCILE_DURATION,
            "The duration in seconds of a GitOps Toolkit resource reconciliation",
            duration.clone(),
        );
        registry.register(
            RECONCILE_CONDITION,
            "The current condition status of a GitOps Toolkit resource reconciliation",
            condition.clone(),
        );
        registry.register(
            SUSPEND_STATUS,
            "The current suspend status of a GitOps Toolkit resource",
            suspend.clone(),
        );
        registry.register(
            RECONCILE_TOTAL,
            "Total number of reconciliations per controller",
            reconcile_total.clone(),
        );
        registry.register(
            RECONCILE_ERRORS_TOTAL,
            "Total number of reconciliation errors per controller",
            reconcile_errors.clone(),
        );
        registry.register(
            API_REQUESTS_TOTAL,
            "Number of HTTP requests to the API server, partitioned by status code and method",
            crate::client::API_REQUESTS.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                duration,
                condition,
                suspend,
                reconcile_total,
                reconcile_errors,
                condition_types: Mutex::default(),
            }),
        }
    }

    /// Creates the per-controller counters at zero, so rates work from the
    /// first scrape (controller-runtime does the same).
    pub fn register_controller(&self, controller: &str) {
        for result in [
            ResultLabel::Success,
            ResultLabel::RequeueAfter,
            ResultLabel::Error,
        ] {
            self.inner.reconcile_total.get_or_create_owned(&[
                ("controller", controller.to_owned()),
                ("result", result.as_str().to_owned()),
            ]);
        }
        self.inner
            .reconcile_errors
            .get_or_create_owned(&[("controller", controller.to_owned())]);
    }

    /// Observes one reconcile's duration for the object.
    pub fn record_duration(&self, kind: &str, namespace: &str, name: &str, duration: Duration) {
        self.inner
            .duration
            .get_or_create(&object_labels(kind, namespace, name))
            .observe(duration.as_secs_f64());
    }

    /// Sets the condition gauge: 1 for the condition's status, 0 for the
    /// other two (conditions with an unknown status string set all three to 0).
    pub fn record_condition(&self, kind: &str, namespace: &str, name: &str, condition: &Condition) {
        let object = object_labels(kind, namespace, name);
        for status in Status::ALL {
            let value = i64::from(condition.status == status.as_str());
            self.inner
                .condition
                .get_or_create(&condition_labels(&object, &condition.type_, status))
                .set(value);
        }
        let mut types = self
            .inner
            .condition_types
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        types
            .entry(object)
            .or_default()
            .insert(condition.type_.clone());
    }

    /// Sets the suspend gauge to 1 when suspended, 0 otherwise.
    pub fn record_suspend(&self, kind: &str, namespace: &str, name: &str, suspended: bool) {
        self.inner
            .suspend
            .get_or_create(&object_labels(kind, namespace, name))
            .set(i64::from(suspended));
    }

    /// Counts one reconcile of `controller` with `result`; errors also count
    /// in the errors counter.
    pub fn record_result(&self, controller: &str, result: ResultLabel) {
        self.inner
            .reconcile_total
            .get_or_create(&[
                ("controller", controller.to_owned()),
                ("result", result.as_str().to_owned()),
            ])
            .inc();
        if result == ResultLabel::Error {
            self.inner
                .reconcile_errors
                .get_or_create(&[("controller", controller.to_owned())])
                .inc();
        }
    }

    /// Deletes every series of the object (duration, conditions, suspend);
    /// called once the object is gone.
    pub fn delete_object(&self, kind: &str, namespace: &str, name: &str) {
        let object = object_labels(kind, namespace, name);
        self.inner.duration.remove(&object);
        self.inner.suspend.remove(&object);
        let types = self
            .inner
            .condition_types
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&object)
            .unwrap_or_default();
        for type_ in types {
            for status in Status::ALL {
                self.inner
                    .condition
                    .remove(&condition_labels(&object, &type_, status));
            }
        }
    }

    /// The registry in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> Result<String> {
        let mut out = String::new();
        encode(&mut out, &self.inner.registry).map_err(|_| Error::EncodeMetrics)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    use super::*;

    fn encoded(m: &Metrics) -> String {
        m.encode().expect("metrics encode")
    }

    fn ready(status: &str) -> Condition {
        Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason: "Succeeded".into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: Time(Timestamp::UNIX_EPOCH),
        }
    }

    #[test]
    fn buckets_span_ten_steps_from_10ms_to_30m() {
        let b = duration_buckets();
        assert_eq!(b.len(), 10);
        assert!((b[0] - 0.01).abs() < 1e-12);
        assert!((b[9] - 1800.0).abs() < 1e-6);
        for pair in b.windows(2) {
            assert!((pair[1] / pair[0] - b[1] / b[0]).abs() < 1e-9);
        }
    }

    #[test]
    fn renders_flux_metric_names_and_buckets() {
        let m = Metrics::new();
        m.register_controller("gitrepository");
        m.record_duration(
            "GitRepository",
            "flux-system",
            "podinfo",
            Duration::from_millis(250),
        );
        m.record_suspend("GitRepository", "flux-system", "podinfo", true);
        m.record_condition("GitRepository", "flux-system", "podinfo", &ready("True"));
        m.record_result("gitrepository", ResultLabel::Error);
        let text = encoded(&m);
        let largest_bucket = format!(
            r#"gotk_reconcile_duration_seconds_bucket{{le="{}",kind="GitRepository",name="podinfo",namespace="flux-system"}} 1"#,
            duration_buckets()[9]
        );
        for needle in [
            "# TYPE gotk_reconcile_duration_seconds histogram",
            "# HELP gotk_reconcile_duration_seconds The duration in seconds of a GitOps Toolkit resource reconciliation.\n",
            r#"gotk_reconcile_duration_seconds_bucket{le="0.01",kind="GitRepository",name="podinfo",namespace="flux-system"} 0"#,
            r#"gotk_reconcile_duration_seconds_bucket{le="0.5646216173286169",kind="GitRepository",name="podinfo",namespace="flux-system"} 1"#,
            &largest_bucket,
            r#"gotk_reconcile_duration_seconds_bucket{le="+Inf",kind="GitRepository",name="podinfo",namespace="flux-system"} 1"#,
            r#"gotk_reconcile_duration_seconds_count{kind="GitRepository",name="podinfo",namespace="flux-system"} 1"#,
            r#"gotk_suspend_status{kind="GitRepository",name="podinfo",namespace="flux-system"} 1"#,
            r#"gotk_reconcile_condition{kind="GitRepository",name="podinfo",namespace="flux-system",type="Ready",status="True"} 1"#,
            r#"gotk_reconcile_condition{kind="GitRepository",name="podinfo",namespace="flux-system",type="Ready",status="False"} 0"#,
            r#"gotk_reconcile_condition{kind="GitRepository",name="podinfo",namespace="flux-system",type="Ready",status="Unknown"} 0"#,
            r#"controller_runtime_reconcile_total{controller="gitrepository",result="error"} 1"#,
            r#"controller_runtime_reconcile_total{controller="gitrepository",result="success"} 0"#,
            r#"controller_runtime_reconcile_errors_total{controller="gitrepository"} 1"#,
        ] {
            assert!(text.contains(needle), "missing {needle}\n{text}");
        }
    }

    #[test]
    fn deleting_an_object_removes_its_series() {
        let m = Metrics::new();
        m.record_duration("Kustomization", "apps", "web", Duration::from_secs(1));
        m.record_suspend("Kustomization", "apps", "web", false);
        m.record_condition("Kustomization", "apps", "web", &ready("False"));
        m.record_duration("Kustomization", "apps", "db", Duration::from_secs(1));
        m.delete_object("Kustomization", "apps", "web");
        let text = encoded(&m);
        assert!(!text.contains(r#"name="web""#), "{text}");
        assert!(text.contains(r#"name="db""#), "{text}");
    }
}
