//! Flux's event (`event.toolkit.fluxcd.io/v1beta1`), built from a Kubernetes
//! Event or decoded from the JSON other controllers POST.
//!
//! The other controllers record events.k8s.io/v1 Events whose `regarding`
//! object is the reconciled Flux object and whose annotations carry Flux
//! metadata keyed by the object's API group (`spec/common.md` §6). This
//! module turns such an Event into the [`FluxEvent`] upstream's event server
//! works on, and cleans its metadata the way upstream does (spec §3 step 2):
//! only `event.toolkit.fluxcd.io/*` and `<involved group>/*` keys are kept,
//! without `<group>/checksum` and `<group>/digest`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

use fluxrs_runtime::events::{EVENT_ANNOTATION_PREFIX, is_forwardable};

/// Suffix of every Flux API group.
pub const FLUX_GROUP_SUFFIX: &str = ".toolkit.fluxcd.io";

/// Severity of informational events.
pub const SEVERITY_INFO: &str = "info";
/// Severity of error events.
pub const SEVERITY_ERROR: &str = "error";

/// A Flux event, serialized exactly as upstream's `eventv1.Event`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FluxEvent {
    /// The object the event is about.
    pub involved_object: ObjectReference,
    /// `info` or `error`.
    pub severity: String,
    /// When it happened, RFC 3339 with second precision.
    pub timestamp: String,
    /// Human-readable message.
    pub message: String,
    /// Machine-readable reason.
    pub reason: String,
    /// Flux metadata (revision, token, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Name of the controller that emitted it.
    pub reporting_controller: String,
    /// Pod of the controller that emitted it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reporting_instance: String,
}

impl FluxEvent {
    /// The API group of the involved object (`kustomize.toolkit.fluxcd.io`).
    pub fn group(&self) -> &str {
        group_of(
            self.involved_object
                .api_version
                .as_deref()
                .unwrap_or_default(),
        )
    }

    /// The involved object's kind.
    pub fn kind(&self) -> &str {
        self.involved_object.kind.as_deref().unwrap_or_default()
    }

    /// The involved object's name.
    pub fn name(&self) -> &str {
        self.involved_object.name.as_deref().unwrap_or_default()
    }

    /// The involved object's namespace.
    pub fn namespace(&self) -> &str {
        self.involved_object
            .namespace
            .as_deref()
            .unwrap_or_default()
    }

    /// A metadata value stored under the involved object's group
    /// (`revision` → `kustomize.toolkit.fluxcd.io/revision`).
    pub fn group_metadata(&self, key: &str) -> Option<&str> {
        self.metadata
            .get(&format!("{}/{key}", self.group()))
            .map(String::as_str)
    }

    /// Whether this is an error event.
    pub fn is_error(&self) -> bool {
        self.severity == SEVERITY_ERROR
    }

    /// Keeps only the metadata upstream forwards (module docs).
    pub fn clean_metadata(&mut self) {
        let group = format!("{}/", self.group());
        let dropped = [format!("{group}checksum"), format!("{group}digest")];
        self.metadata.retain(|key, _| {
            (key.starts_with(EVENT_ANNOTATION_PREFIX) || key.starts_with(&group))
                && !dropped.contains(key)
        });
    }
}

/// The group of an `apiVersion` (`""` for the core group).
pub fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(group, _)| group)
}

/// Whether `api_version` belongs to a Flux API group.
pub fn is_flux_api_version(api_version: &str) -> bool {
    group_of(api_version).ends_with(FLUX_GROUP_SUFFIX)
}

/// Identity of one occurrence of a Kubernetes Event: its uid and the time of
/// the occurrence (a repeat updates the Event's series, so the same uid
/// comes back with a later time).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Occurrence {
    /// When it happened.
    pub time: Timestamp,
    /// `metadata.uid` of the Event.
    pub uid: String,
}

/// When the Event last occurred: the series' last observation, else the
/// event time, else the deprecated core/v1 timestamps, else its creation.
pub fn occurrence_time(event: &K8sEvent) -> Option<Timestamp> {
    event
        .series
        .as_ref()
        .map(|s| s.last_observed_time.0)
        .or_else(|| event.event_time.as_ref().map(|t| t.0))
        .or_else(|| event.deprecated_last_timestamp.as_ref().map(|t| t.0))
        .or_else(|| event.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// The Flux event for a Kubernetes Event about a Flux object, with its
/// occurrence; `None` for trace events, events about other objects and
/// events lacking what a notification needs.
pub fn from_kubernetes(event: &K8sEvent) -> Option<(FluxEvent, Occurrence)> {
    if !is_forwardable(event) {
        return None;
    }
    let regarding = event.regarding.as_ref()?;
    if !is_flux_api_version(regarding.api_version.as_deref()?) {
        return None;
    }
    regarding.name.as_ref()?;
    let time = occurrence_time(event)?;
    let uid = event.metadata.uid.clone()?;
    let severity = if event.type_.as_deref() == Some("Warning") {
        SEVERITY_ERROR
    } else {
        SEVERITY_INFO
    };
    let reporting_controller = event
        .reporting_controller
        .clone()
        .or_else(|| event.deprecated_source.as_ref()?.component.clone())
        .unwrap_or_default();
    let mut flux = FluxEvent {
        involved_object: ObjectReference {
            field_path: None,
            ..regarding.clone()
        },
        severity: severity.to_owned(),
        timestamp: format_timestamp(time),
        message: event.note.clone().unwrap_or_default(),
        reason: event.reason.clone().unwrap_or_default(),
        metadata: event.metadata.annotations.clone().unwrap_or_default(),
        reporting_controller,
        reporting_instance: event.reporting_instance.clone().unwrap_or_default(),
    };
    flux.clean_metadata();
    Some((flux, Occurrence { time, uid }))
}

/// RFC 3339 with second precision in UTC, as Go's `metav1.Time` marshals.
pub fn format_timestamp(time: Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::events::v1::EventSeries;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
    use serde_json::json;

    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn kubernetes_event() -> K8sEvent {
        K8sEvent {
            metadata: ObjectMeta {
                name: Some("webapp.17a".into()),
                namespace: Some("apps".into()),
                uid: Some("uid-1".into()),
                annotations: Some(BTreeMap::from([
                    (
                        "kustomize.toolkit.fluxcd.io/revision".into(),
                        "main@sha1:abc".into(),
                    ),
                    (
                        "kustomize.toolkit.fluxcd.io/checksum".into(),
                        "deadbeef".into(),
                    ),
                    ("event.toolkit.fluxcd.io/env".into(), "prod".into()),
                    ("unrelated.io/x".into(), "y".into()),
                ])),
                ..ObjectMeta::default()
            },
            regarding: Some(ObjectReference {
                api_version: Some("kustomize.toolkit.fluxcd.io/v1".into()),
                kind: Some("Kustomization".into()),
                name: Some("webapp".into()),
                namespace: Some("apps".into()),
                uid: Some("obj-uid".into()),
                resource_version: Some("7".into()),
                field_path: None,
            }),
            type_: Some("Warning".into()),
            reason: Some("BuildFailed".into()),
            note: Some("kustomize build failed".into()),
            reporting_controller: Some("kustomize-controller".into()),
            reporting_instance: Some("kustomize-controller-abc".into()),
            event_time: Some(MicroTime(at(1_704_067_200))),
            ..K8sEvent::default()
        }
    }

    #[test]
    fn kubernetes_event_becomes_flux_event() {
        let (event, occurrence) = from_kubernetes(&kubernetes_event()).expect("a Flux event");
        assert_eq!(
            serde_json::to_value(&event).expect("serializes"),
            json!({
                "involvedObject": {
                    "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                    "kind": "Kustomization",
                    "name": "webapp",
                    "namespace": "apps",
                    "uid": "obj-uid",
                    "resourceVersion": "7"
                },
                "severity": "error",
                "timestamp": "2024-01-01T00:00:00Z",
                "message": "kustomize build failed",
                "reason": "BuildFailed",
                "metadata": {
                    "event.toolkit.fluxcd.io/env": "prod",
                    "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc"
                },
                "reportingController": "kustomize-controller",
                "reportingInstance": "kustomize-controller-abc"
            })
        );
        assert_eq!(occurrence.uid, "uid-1");
        assert_eq!(occurrence.time, at(1_704_067_200));
        assert_eq!(event.group_metadata("revision"), Some("main@sha1:abc"));
    }

    #[test]
    fn series_repeats_are_new_occurrences() {
        let mut k8s = kubernetes_event();
        k8s.series = Some(EventSeries {
            count: 2,
            last_observed_time: MicroTime(at(1_704_067_260)),
        });
        let (_, occurrence) = from_kubernetes(&k8s).expect("a Flux event");
        assert_eq!(occurrence.time, at(1_704_067_260));
    }

    #[test]
    fn only_flux_objects_and_non_trace_events() {
        let mut deployment = kubernetes_event();
        if let Some(r) = deployment.regarding.as_mut() {
            r.api_version = Some("apps/v1".into());
        }
        assert!(from_kubernetes(&deployment).is_none());

        let mut trace = kubernetes_event();
        trace.metadata.labels = Some(BTreeMap::from([(
            fluxrs_runtime::events::TRACE_LABEL.to_owned(),
            "true".to_owned(),
        )]));
        assert!(from_kubernetes(&trace).is_none());

        let mut normal = kubernetes_event();
        normal.type_ = Some("Normal".into());
        assert_eq!(
            from_kubernetes(&normal).map(|(e, _)| e.severity),
            Some("info".to_owned())
        );
    }

    #[test]
    fn posted_payload_decodes() {
        let body = json!({
            "involvedObject": {"kind": "GitRepository", "namespace": "flux-system", "name": "podinfo",
                               "apiVersion": "source.toolkit.fluxcd.io/v1"},
            "severity": "info", "timestamp": "2024-01-01T00:00:00Z",
            "message": "stored artifact", "reason": "NewArtifact",
            "reportingController": "source-controller"
        });
        let event: FluxEvent = serde_json::from_value(body).expect("decodes");
        assert_eq!(event.group(), "source.toolkit.fluxcd.io");
        assert!(event.metadata.is_empty());
    }
}
