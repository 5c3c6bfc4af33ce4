//! Kubernetes Events with Flux's annotations, and their forwarding.
//!
//! Every Flux controller reports what it did as Kubernetes Events on the
//! reconciled object (`spec/common.md` §6): `reportingController` is the
//! controller name, and the event's annotations carry Flux metadata with keys
//! prefixed by the object's API group (`source.toolkit.fluxcd.io/revision`),
//! plus the object's own `event.toolkit.fluxcd.io/*` annotations.
//!
//! Events are written with the events.k8s.io/v1 API. Repeats of the same
//! event within [`SERIES_WINDOW`] update the existing Event's `series`
//! instead of creating a new object, like client-go's correlator.
//!
//! [`EventType::Trace`] events are recorded as Normal Kubernetes events but are
//! never forwarded: they carry the [`TRACE_LABEL`] so an event watcher can
//! skip them ([`is_forwardable`]), and they are never POSTed to
//! `--events-addr`. Non-trace events are additionally POSTed as Flux `Event`
//! JSON to `--events-addr` when it is set, as upstream controllers do.
//!
//! Recording never fails a reconcile: failures are logged and dropped. Event
//! metadata is never logged (it may carry tokens).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde::Serialize;
use tracing::{debug, warn};

use crate::conditions::truncate;
use crate::error::{Error, Result};

/// Prefix of object annotations that are copied into every event's metadata.
pub const EVENT_ANNOTATION_PREFIX: &str = "event.toolkit.fluxcd.io/";

/// Label set on Kubernetes Events recorded for [`EventType::Trace`] events.
pub const TRACE_LABEL: &str = "event.toolkit.fluxcd.io/trace";

/// `action` of every Event a Flux controller records.
pub const ACTION: &str = "Reconcile";

/// Repeats of an identical event within this window update the existing
/// Event's series instead of creating a new Event.
pub const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);

/// events.k8s.io/v1 limits the note to 1 KiB.
const MAX_NOTE_BYTES: usize = 1024;
/// events.k8s.io/v1 limits reason, action and reportingInstance to 128 bytes.
const MAX_SHORT_FIELD_BYTES: usize = 128;
/// notification-controller accepts messages up to 39000 characters.
const MAX_FORWARDED_MESSAGE_BYTES: usize = 39_000;
/// Upstream's timeout for one POST to the event server.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts per forwarded event (connection errors and 5xx are retried).
const FORWARD_ATTEMPTS: u32 = 4;

/// Flux's event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Informational (forwarded with severity `info`).
    Normal,
    /// A failure (forwarded with severity `error`).
    Warning,
    /// Recorded as a Normal Kubernetes event only; never forwarded.
    Trace,
}

impl EventType {
    /// The Kubernetes event type (`Normal` or `Warning`).
    pub fn kubernetes_type(self) -> &'static str {
        match self {
            EventType::Normal | EventType::Trace => "Normal",
            EventType::Warning => "Warning",
        }
    }

    /// The Flux event severity (`info`, `error`, `trace`).
    pub fn severity(self) -> &'static str {
        match self {
            EventType::Normal => "info",
            EventType::Warning => "error",
            EventType::Trace => "trace",
        }
    }
}

/// One event about a reconciled object.
#[derive(Clone, PartialEq, Eq)]
pub struct Event {
    /// Normal, Warning or Trace.
    pub type_: EventType,
    /// Short machine-readable reason (`NewArtifact`, a condition reason...).
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// Flux metadata; keys without a `/` get the object's API group as prefix
    /// (`revision` → `source.toolkit.fluxcd.io/revision`).
    pub metadata: BTreeMap<String, String>,
}

impl Event {
    /// An event without metadata.
    pub fn new(type_: EventType, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            type_,
            reason: reason.into(),
            message: message.into(),
            metadata: BTreeMap::new(),
        }
    }

    /// Adds one metadata entry (e.g. `("revision", "main@sha1:...")`).
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

impl fmt::Debug for Event {
    /// Shows metadata keys only: values may be tokens and must not reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("type_", &self.type_)
            .field("reason", &self.reason)
            .field("message", &self.message)
            .field("metadata_keys", &self.metadata.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Whether a watcher of Kubernetes Events should forward this one to
/// notification providers: everything except Trace events.
pub fn is_forwardable(event: &K8sEvent) -> bool {
    event
        .metadata
        .labels
        .as_ref()
        .is_none_or(|labels| !labels.contains_key(TRACE_LABEL))
}

/// The event annotations: the object's `event.toolkit.fluxcd.io/*`
/// annotations, then the event metadata with keys prefixed by `group`.
fn annotations(
    group: &str,
    object_annotations: Option<&BTreeMap<String, String>>,
    metadata: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = object_annotations
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with(EVENT_ANNOTATION_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, value) in metadata {
        let key = if key.contains('/') || group.is_empty() {
            key.clone()
        } else {
            format!("{group}/{key}")
        };
        out.insert(key, value.clone());
    }
    out
}

/// Identifies repeats of the same event for series aggregation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SeriesKey {
    regarding: (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    ),
    type_: EventType,
    reason: String,
    note: String,
    annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug)]
struct SeriesEntry {
    namespace: String,
    name: String,
    count: i32,
    last_observed: Timestamp,
}

/// Records Flux events for one controller; cheap to clone.
#[derive(Clone)]
pub struct EventRecorder {
    client: Client,
    controller: String,
    instance: String,
    series: Arc<Mutex<HashMap<SeriesKey, SeriesEntry>>>,
    forwarder: Option<Forwarder>,
}

impl EventRecorder {
    /// A recorder reporting as `controller` (e.g. `source-controller`) from
    /// this pod, forwarding to `events_addr` when it is non-empty.
    pub fn new(client: Client, controller: &str, events_addr: &str) -> Result<Self> {
        let forwarder = if events_addr.is_empty() {
            None
        } else {
            Some(Forwarder::new(events_addr)?)
        };
        let instance = crate::host::hostname().unwrap_or_else(|| controller.to_owned());
        Ok(Self {
            client,
            controller: controller.to_owned(),
            instance: truncate(&instance, MAX_SHORT_FIELD_BYTES),
            series: Arc::default(),
            forwarder,
        })
    }

    /// Records `event` on `obj`, and forwards it unless it is a Trace event.
    ///
    /// Never fails: a rejected event is logged at warn level and dropped, so a
    /// reconcile never fails because its report could not be written.
    pub async fn record<K>(&self, obj: &K, event: &Event)
    where
        K: Resource<DynamicType = ()>,
    {
        let regarding = obj.object_ref(&());
        let group = K::group(&());
        let annotations = annotations(&group, obj.meta().annotations.as_ref(), &event.metadata);
        debug!(
            event_type = event.type_.kubernetes_type(),
            reason = %event.reason,
            message = %event.message,
            "recording event"
        );
        if let Err(error) = self.publish(&regarding, &annotations, event).await {
            warn!(%error, reason = %event.reason, "unable to record event");
        }
        if let Some(forwarder) = &self.forwarder
            && event.type_ != EventType::Trace
        {
            let payload = FluxEventPayload::new(
                &regarding,
                event,
                annotations,
                &self.controller,
                &self.instance,
                Timestamp::now(),
            );
            forwarder.post(payload);
        }
    }

    async fn publish(
        &self,
        regarding: &ObjectReference,
        annotations: &BTreeMap<String, String>,
        event: &Event,
    ) -> Result<()> {
        let now = Timestamp::now();
        let note = truncate(&event.message, MAX_NOTE_BYTES);
        let key = SeriesKey {
            regarding: (
                regarding.namespace.clone(),
                regarding.name.clone(),
                regarding.uid.clone(),
                regarding.kind.clone(),
            ),
            type_: event.type_,
            reason: event.reason.clone(),
            note: note.clone(),
            annotations: annotations.clone(),
        };
        let repeat = self.next_in_series(&key, now);
        if let Some(entry) = &repeat {
            let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &entry.namespace);
            let patch = serde_json::json!({
                "series": EventSeries {
                    count: entry.count,
                    last_observed_time: MicroTime(now),
                }
            });
            match api
                .patch(&entry.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    self.remember(key, entry.clone());
                    return Ok(());
                }
                // The Event expired (or was deleted): start a new one.
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(source) => return Err(Error::RecordEvent(source)),
            }
        }
        let k8s_event = kubernetes_event(
            regarding,
            annotations.clone(),
            event,
            &note,
            &self.controller,
            &self.instance,
            now,
        );
        let namespace = k8s_event.metadata.namespace.clone().unwrap_or_default();
        let name = k8s_event.metadata.name.clone().unwrap_or_default();
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
        api.create(&PostParams::default(), &k8s_event)
            .await
            .map_err(Error::RecordEvent)?;
        self.remember(
            key,
            SeriesEntry {
                namespace,
                name,
                count: 1,
                last_observed: now,
            },
        );
        Ok(())
    }

    /// The series entry to update if `key` was seen within the window, with
    /// its count already incremented; expired entries are dropped.
    fn next_in_series(&self, key: &SeriesKey, now: Timestamp) -> Option<SeriesEntry> {
        let window = SignedDuration::try_from(SERIES_WINDOW).unwrap_or(SignedDuration::ZERO);
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        series.retain(|_, entry| entry.last_observed + window > now);
        series.get(key).map(|entry| SeriesEntry {
            count: entry.count.saturating_add(1),
            last_observed: now,
            ..entry.clone()
        })
    }

    fn remember(&self, key: SeriesKey, entry: SeriesEntry) {
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        series.insert(key, entry);
    }
}

/// Builds the events.k8s.io/v1 Event for a first occurrence.
fn kubernetes_event(
    regarding: &ObjectReference,
    annotations: BTreeMap<String, String>,
    event: &Event,
    note: &str,
    controller: &str,
    instance: &str,
    now: Timestamp,
) -> K8sEvent {
    let object_name = regarding.name.as_deref().unwrap_or(controller);
    let labels = (event.type_ == EventType::Trace)
        .then(|| BTreeMap::from([(TRACE_LABEL.to_owned(), "true".to_owned())]));
    K8sEvent {
        metadata: ObjectMeta {
            name: Some(format!("{object_name}.{:x}", now.as_nanosecond())),
            namespace: Some(
                regarding
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".to_owned()),
            ),
            annotations: (!annotations.is_empty()).then_some(annotations),
            labels,
            ..ObjectMeta::default()
        },
        action: Some(ACTION.to_owned()),
        reason: Some(truncate(&event.reason, MAX_SHORT_FIELD_BYTES)),
        note: Some(note.to_owned()),
        type_: Some(event.type_.kubernetes_type().to_owned()),
        regarding: Some(regarding.clone()),
        reporting_controller: Some(controller.to_owned()),
        reporting_instance: Some(instance.to_owned()),
        event_time: Some(MicroTime(now)),
        ..K8sEvent::default()
    }
}

/// Flux's `event.toolkit.fluxcd.io/v1beta1` Event, the JSON body POSTed to
/// the event server.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct FluxEventPayload {
    involved_object: ObjectReference,
    severity: &'static str,
    timestamp: String,
    message: String,
    reason: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<String, String>,
    reporting_controller: String,
    reporting_instance: String,
}

impl FluxEventPayload {
    fn new(
        regarding: &ObjectReference,
        event: &Event,
        metadata: BTreeMap<String, String>,
        controller: &str,
        instance: &str,
        now: Timestamp,
    ) -> Self {
        Self {
            involved_object: regarding.clone(),
            severity: event.type_.severity(),
            timestamp: now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            message: truncate(&event.message, MAX_FORWARDED_MESSAGE_BYTES),
            reason: event.reason.clone(),
            metadata,
            reporting_controller: controller.to_owned(),
            reporting_instance: instance.to_owned(),
        }
    }
}

type Body = Full<Cursor<Vec<u8>>>;

/// POSTs events to `--events-addr` in the background.
#[derive(Clone)]
struct Forwarder {
    uri: http::Uri,
    client: HttpClient<HttpConnector, Body>,
}

impl Forwarder {
    fn new(address: &str) -> Result<Self> {
        let uri: http::Uri = address
            .parse()
            .map_err(|source| Error::InvalidEventsAddress {
                address: address.to_owned(),
                source,
            })?;
        if uri.scheme_str() != Some("http") {
            return Err(Error::UnsupportedEventsAddress(address.to_owned()));
        }
        Ok(Self {
            uri,
            client: HttpClient::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// Sends the payload without blocking the reconcile; retries connection
    /// errors and 5xx responses, and logs (without metadata) when it gives up.
    fn post(&self, payload: FluxEventPayload) {
        let forwarder = self.clone();
        tokio::spawn(async move {
            let body = match serde_json::to_vec(&payload) {
                Ok(body) => body,
                Err(error) => {
                    warn!(%error, reason = %payload.reason, "unable to encode event");
                    return;
                }
            };
            let mut delay = Duration::from_secs(1);
            for attempt in 1..=FORWARD_ATTEMPTS {
                match forwarder.send(body.clone()).await {
                    Ok(()) => return,
                    Err(error) if attempt == FORWARD_ATTEMPTS => {
                        warn!(error = %error, reason = %payload.reason, "unable to forward event");
                    }
                    Err(_) => {
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                }
            }
        });
    }

    async fn send(&self, body: Vec<u8>) -> std::result::Result<(), String> {
        let request = http::Request::post(self.uri.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Cursor::new(body)))
            .map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(FORWARD_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| "timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        if response.status().is_server_error() {
            return Err(format!("event server responded {}", response.status()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regarding() -> ObjectReference {
        ObjectReference {
            api_version: Some("source.toolkit.fluxcd.io/v1".into()),
            kind: Some("GitRepository".into()),
            name: Some("podinfo".into()),
            namespace: Some("flux-system".into()),
            uid: Some("1234".into()),
            resource_version: Some("7".into()),
            field_path: None,
        }
    }

    fn at(secs: i64) -> Timestamp {
        match Timestamp::from_second(secs) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn metadata_keys_get_the_group_prefix() {
        let object_annotations = BTreeMap::from([
            (
                "event.toolkit.fluxcd.io/deployment".to_owned(),
                "prod".to_owned(),
            ),
            ("unrelated/annotation".to_owned(), "x".to_owned()),
        ]);
        let metadata = BTreeMap::from([
            ("revision".to_owned(), "main@sha1:abc".to_owned()),
            ("helm.toolkit.fluxcd.io/token".to_owned(), "t".to_owned()),
        ]);
        let got = annotations(
            "source.toolkit.fluxcd.io",
            Some(&object_annotations),
            &metadata,
        );
        let want = BTreeMap::from([
            (
                "event.toolkit.fluxcd.io/deployment".to_owned(),
                "prod".to_owned(),
            ),
            ("helm.toolkit.fluxcd.io/token".to_owned(), "t".to_owned()),
            (
                "source.toolkit.fluxcd.io/revision".to_owned(),
                "main@sha1:abc".to_owned(),
            ),
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn kubernetes_event_has_flux_fields() {
        let event = Event::new(EventType::Warning, "FetchFailed", "boom");
        let annotations = BTreeMap::from([("a/b".to_owned(), "c".to_owned())]);
        let e = kubernetes_event(
            &regarding(),
            annotations.clone(),
            &event,
            "boom",
            "source-controller",
            "source-controller-abc",
            at(1_700_000_000),
        );
        assert_eq!(e.type_.as_deref(), Some("Warning"));
        assert_eq!(e.reason.as_deref(), Some("FetchFailed"));
        assert_eq!(e.note.as_deref(), Some("boom"));
        assert_eq!(e.action.as_deref(), Some(ACTION));
        assert_eq!(e.reporting_controller.as_deref(), Some("source-controller"));
        assert_eq!(
            e.reporting_instance.as_deref(),
            Some("source-controller-abc")
        );
        assert_eq!(e.metadata.namespace.as_deref(), Some("flux-system"));
        assert_eq!(e.metadata.annotations, Some(annotations));
        assert_eq!(e.regarding, Some(regarding()));
        assert!(
            e.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("podinfo."))
        );
        assert!(is_forwardable(&e));
    }

    #[test]
    fn trace_events_are_normal_and_marked() {
        let event = Event::new(EventType::Trace, "DependencyNotReady", "waiting");
        let e = kubernetes_event(
            &regarding(),
            BTreeMap::new(),
            &event,
            "waiting",
            "kustomize-controller",
            "i",
            at(1),
        );
        assert_eq!(e.type_.as_deref(), Some("Normal"));
        assert_eq!(e.metadata.annotations, None);
        assert!(!is_forwardable(&e));
    }

    #[test]
    fn forwarded_payload_matches_flux_event_schema() {
        let event = Event::new(EventType::Normal, "NewArtifact", "stored artifact");
        let metadata = BTreeMap::from([(
            "source.toolkit.fluxcd.io/revision".to_owned(),
            "main@sha1:abc".to_owned(),
        )]);
        let payload = FluxEventPayload::new(
            &regarding(),
            &event,
            metadata,
            "source-controller",
            "pod-1",
            at(1_700_000_000),
        );
        let json = serde_json::to_value(&payload).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({
                "involvedObject": {
                    "apiVersion": "source.toolkit.fluxcd.io/v1",
                    "kind": "GitRepository",
                    "name": "podinfo",
                    "namespace": "flux-system",
                    "uid": "1234",
                    "resourceVersion": "7"
                },
                "severity": "info",
                "timestamp": "2023-11-14T22:13:20Z",
                "message": "stored artifact",
                "reason": "NewArtifact",
                "metadata": {"source.toolkit.fluxcd.io/revision": "main@sha1:abc"},
                "reportingController": "source-controller",
                "reportingInstance": "pod-1"
            })
        );
    }

    #[test]
    fn severities_and_kubernetes_types() {
        assert_eq!(EventType::Warning.severity(), "error");
        assert_eq!(EventType::Normal.severity(), "info");
        assert_eq!(EventType::Trace.kubernetes_type(), "Normal");
    }

    #[test]
    fn debug_output_hides_metadata_values() {
        let event = Event::new(EventType::Normal, "R", "m").with_metadata("token", "s3cr3t");
        let shown = format!("{event:?}");
        assert!(shown.contains("token"));
        assert!(!shown.contains("s3cr3t"));
    }

    #[test]
    fn only_plain_http_event_addresses_are_accepted() {
        assert!(
            Forwarder::new("http://notification-controller.flux-system.svc.cluster.local./")
                .is_ok()
        );
        assert!(Forwarder::new("https://example.com/").is_err());
        assert!(Forwarder::new("not a uri").is_err());
    }
}
