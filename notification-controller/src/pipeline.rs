//! Events in, notifications out.
//!
//! One task watches events.k8s.io/v1 Events (trace events are filtered out
//! by label selector on the API server) and handles them one at a time, in
//! watch order:
//!
//! 1. [`crate::event::from_kubernetes`]: keep only Events about Flux objects;
//! 2. [`Cursor`]: skip occurrences handled before (also across restarts);
//! 3. [`Deduper`]: skip repeats within `--rate-limit-interval`;
//! 4. [`crate::matching`]: find the Alerts that want it (reading the live
//!    object's labels only when an Alert selects by labels);
//! 5. [`Dispatcher`]: deliver to each Alert's Provider in the background;
//!    the occurrence counts as handled once every delivery finished.
//!
//! Events POSTed to the event server enter at step 3. The cursor and the
//! dedupe entries are persisted by a second task shortly after they change
//! and at shutdown ([`StateStore`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fluxrs_api::notification::{Alert, Provider};
use fluxrs_runtime::events::{Event, EventRecorder, EventType, TRACE_LABEL};
use futures::StreamExt;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::GroupVersionKind;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::Result;
use crate::cursor::Cursor;
use crate::dedupe::{Deduper, dedupe_key};
use crate::dispatch::Dispatcher;
use crate::event::{FluxEvent, Occurrence, from_kubernetes};
use crate::matching::{Patterns, Verdict, forwarded, labels_match, match_alert};
use crate::metrics::{EventResult, Metrics};
use crate::state::{PersistedState, StateStore};

/// Reason of the Warning event recorded on an Alert whose patterns do not compile.
pub const INVALID_PATTERN: &str = "InvalidPattern";
/// Reason of the Warning event recorded on an Alert whose metadata overrides
/// event metadata.
pub const METADATA_CONFLICT: &str = "MetadataAppendFailed";

/// How long state changes are collected before one write.
const PERSIST_DEBOUNCE: Duration = Duration::from_millis(250);

/// What the pipeline did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Not about a Flux object, or lacking what a notification needs.
    Ignored,
    /// Already handled before (Kubernetes Events only).
    Seen,
    /// A repeat within the dedupe window.
    Deduplicated,
    /// No Alert wants it.
    Unmatched,
    /// Sent to this many Alerts' Providers (in the background).
    Dispatched(usize),
}

/// Cursor, dedupe window and what is being delivered, under one lock.
struct Shared {
    cursor: Cursor,
    dedupe: Deduper,
    /// Dedupe keys of events whose deliveries have not finished.
    delivering: Vec<String>,
}

/// Everything the pipeline needs; shared by the watch task, the event
/// server and the delivery tasks.
pub struct Pipeline {
    client: Client,
    alerts: Store<Alert>,
    providers: Store<Provider>,
    dispatcher: Dispatcher,
    recorder: EventRecorder,
    metrics: Metrics,
    no_cross_namespace_refs: bool,
    shared: Mutex<Shared>,
    patterns: Mutex<Patterns>,
    resources: tokio::sync::Mutex<HashMap<GroupVersionKind, ApiResource>>,
    changed: Notify,
}

/// The pieces a [`Pipeline`] is built from.
pub struct PipelineParts {
    /// Kubernetes client.
    pub client: Client,
    /// Alerts of the watched namespaces.
    pub alerts: Store<Alert>,
    /// Providers of the watched namespaces.
    pub providers: Store<Provider>,
    /// Sends notifications.
    pub dispatcher: Dispatcher,
    /// Records Warning events on Alerts.
    pub recorder: EventRecorder,
    /// Event counters.
    pub metrics: Metrics,
    /// `--no-cross-namespace-refs`.
    pub no_cross_namespace_refs: bool,
    /// `--rate-limit-interval`.
    pub rate_limit_interval: Duration,
}

impl Pipeline {
    /// A pipeline resuming from `state` (`None`: first start, nothing
    /// before now is announced).
    pub fn new(parts: PipelineParts, state: Option<PersistedState>) -> Self {
        let state = state.unwrap_or_default();
        Self {
            client: parts.client,
            alerts: parts.alerts,
            providers: parts.providers,
            dispatcher: parts.dispatcher,
            recorder: parts.recorder,
            metrics: parts.metrics,
            no_cross_namespace_refs: parts.no_cross_namespace_refs,
            shared: Mutex::new(Shared {
                cursor: Cursor::new(state.cursor, Timestamp::now()),
                dedupe: Deduper::new(parts.rate_limit_interval, state.dedupe),
                delivering: Vec::new(),
            }),
            patterns: Mutex::default(),
            resources: tokio::sync::Mutex::default(),
            changed: Notify::new(),
        }
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What must be persisted now: the cursor, and the dedupe entries of
    /// events whose deliveries finished.
    pub fn snapshot(&self) -> PersistedState {
        let shared = self.shared();
        PersistedState {
            cursor: shared.cursor.state().clone(),
            dedupe: shared.dedupe.entries_except(&shared.delivering),
        }
    }

    /// Watches Events in `events` until `shutdown`, persisting the state to
    /// `store`; waits for the Alert and Provider caches first.
    pub async fn run(
        self: Arc<Self>,
        events: Api<K8sEvent>,
        store: StateStore,
        shutdown: CancellationToken,
    ) {
        let synced = futures::future::join(
            self.alerts.wait_until_ready(),
            self.providers.wait_until_ready(),
        );
        tokio::select! {
            () = shutdown.cancelled() => return,
            (alerts, providers) = synced => {
                if alerts.is_err() || providers.is_err() {
                    warn!("the Alert or Provider cache stopped before syncing");
                    return;
                }
            }
        }
        let persist = tokio::spawn(Arc::clone(&self).persist(store, shutdown.clone()));
        let config = watcher::Config::default().labels(&format!("!{TRACE_LABEL}"));
        let stream = watcher(events, config).default_backoff().applied_objects();
        futures::pin_mut!(stream);
        info!("watching events");
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                next = stream.next() => match next {
                    Some(Ok(event)) => {
                        self.handle_kubernetes(&event).await;
                    }
                    Some(Err(error)) => warn!(%error, "event watch failed, retrying"),
                    None => break,
                },
            }
        }
        if let Err(error) = persist.await {
            warn!(%error, "state persistence task failed");
        }
    }

    /// Writes the state shortly after each change, and once more at shutdown.
    async fn persist(self: Arc<Self>, store: StateStore, shutdown: CancellationToken) {
        let mut last = None;
        loop {
            let stopping = tokio::select! {
                () = shutdown.cancelled() => true,
                () = self.changed.notified() => false,
            };
            if !stopping {
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = tokio::time::sleep(PERSIST_DEBOUNCE) => {}
                }
            }
            let snapshot = self.snapshot();
            if last.as_ref() != Some(&snapshot) {
                match store.save(&snapshot).await {
                    Ok(()) => last = Some(snapshot),
                    Err(error) => {
                        warn!(error = %fluxrs_runtime::outcome::describe(&error), "unable to persist state")
                    }
                }
            }
            if stopping || shutdown.is_cancelled() {
                return;
            }
        }
    }

    /// Handles one Kubernetes Event from the watch.
    pub async fn handle_kubernetes(self: &Arc<Self>, event: &K8sEvent) -> Handled {
        let Some((flux, occurrence)) = from_kubernetes(event) else {
            return Handled::Ignored;
        };
        if !self.shared().cursor.begin(&occurrence) {
            return Handled::Seen;
        }
        self.handle(flux, Some(occurrence)).await
    }

    /// Handles one event (steps 3 to 5 of the module docs); `occurrence` is
    /// recorded as handled once its deliveries finished.
    pub async fn handle(
        self: &Arc<Self>,
        event: FluxEvent,
        occurrence: Option<Occurrence>,
    ) -> Handled {
        let key = dedupe_key(&event);
        let admitted = self.shared().dedupe.admit(&key, &event, Timestamp::now());
        if !admitted {
            debug!(kind = event.kind(), name = event.name(), namespace = event.namespace(), reason = %event.reason, "repeated event suppressed");
            self.metrics.record_event(EventResult::Deduplicated);
            self.finish(occurrence, None);
            return Handled::Deduplicated;
        }
        let targets = self.targets(&event).await;
        if targets.is_empty() {
            self.metrics.record_event(EventResult::Unmatched);
            self.finish(occurrence, None);
            return Handled::Unmatched;
        }
        self.metrics.record_event(EventResult::Dispatched);
        let count = targets.len();
        info!(
            kind = event.kind(),
            name = event.name(),
            namespace = event.namespace(),
            reason = %event.reason,
            alerts = count,
            "dispatching event"
        );
        self.shared().delivering.push(key.clone());
        let pipeline = Arc::clone(self);
        tokio::spawn(async move {
            let deliveries = targets.into_iter().map(|(alert, forwarded)| {
                let pipeline = Arc::clone(&pipeline);
                async move {
                    let provider = pipeline.providers.get(
                        &ObjectRef::new(&alert.spec.provider_ref.name)
                            .within(&alert.namespace().unwrap_or_default()),
                    );
                    pipeline
                        .dispatcher
                        .dispatch(&alert, provider.as_deref(), &forwarded)
                        .await;
                }
            });
            futures::future::join_all(deliveries).await;
            pipeline.finish(occurrence, Some(&key));
        });
        Handled::Dispatched(count)
    }

    /// Records an occurrence as handled and a delivery as finished.
    fn finish(&self, occurrence: Option<Occurrence>, delivered: Option<&str>) {
        {
            let mut shared = self.shared();
            if let Some(occurrence) = occurrence {
                shared.cursor.finish(occurrence);
            }
            if let Some(key) = delivered
                && let Some(index) = shared.delivering.iter().position(|k| k == key)
            {
                shared.delivering.swap_remove(index);
            }
        }
        self.changed.notify_one();
    }

    /// The Alerts that take `event`, each with the event as forwarded to it.
    async fn targets(&self, event: &FluxEvent) -> Vec<(Arc<Alert>, FluxEvent)> {
        let mut matched = Vec::new();
        let mut by_labels = Vec::new();
        let mut invalid_by_alert = Vec::new();
        {
            let mut patterns = self.patterns.lock().unwrap_or_else(|p| p.into_inner());
            for alert in self.alerts.state() {
                let mut invalid = Vec::new();
                match match_alert(
                    &alert,
                    event,
                    self.no_cross_namespace_refs,
                    &mut patterns,
                    &mut invalid,
                ) {
                    Verdict::Match => matched.push(Arc::clone(&alert)),
                    Verdict::IfLabels(selectors) => by_labels.push((Arc::clone(&alert), selectors)),
                    Verdict::NoMatch => {}
                }
                if !invalid.is_empty() {
                    invalid_by_alert.push((alert, invalid));
                }
            }
        }
        for (alert, invalid) in invalid_by_alert {
            let message = invalid.join("; ");
            warn!(alert = %alert.name_any(), namespace = ?alert.namespace(), error = %message, "invalid alert pattern");
            let warning = Event::new(EventType::Warning, INVALID_PATTERN, message);
            self.recorder.record(alert.as_ref(), &warning).await;
        }
        if !by_labels.is_empty() {
            let labels = self.object_labels(event).await;
            matched.extend(
                by_labels
                    .into_iter()
                    .filter(|(_, selectors)| {
                        labels.as_ref().is_some_and(|l| labels_match(selectors, l))
                    })
                    .map(|(alert, _)| alert),
            );
        }
        let mut targets = Vec::with_capacity(matched.len());
        for alert in matched {
            let (event, conflicts) = forwarded(&alert, event);
            if !conflicts.is_empty() {
                let warning = Event::new(
                    EventType::Warning,
                    METADATA_CONFLICT,
                    format!(
                        "metadata keys overridden by the involved object's: {}",
                        conflicts.join(", ")
                    ),
                );
                self.recorder.record(alert.as_ref(), &warning).await;
            }
            targets.push((alert, event));
        }
        targets
    }

    /// The labels of the live involved object (`None` if it cannot be read).
    async fn object_labels(&self, event: &FluxEvent) -> Option<BTreeMap<String, String>> {
        match self.read_labels(event).await {
            Ok(labels) => labels,
            Err(error) => {
                warn!(
                    kind = event.kind(),
                    name = event.name(),
                    namespace = event.namespace(),
                    error = %fluxrs_runtime::outcome::describe(&error),
                    "unable to read the labels of the involved object"
                );
                None
            }
        }
    }

    async fn read_labels(&self, event: &FluxEvent) -> Result<Option<BTreeMap<String, String>>> {
        let api_version = event
            .involved_object
            .api_version
            .as_deref()
            .unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, event.kind());
        let resource = {
            let mut resources = self.resources.lock().await;
            match resources.get(&gvk) {
                Some(resource) => resource.clone(),
                None => {
                    let (resource, _) = kube::discovery::pinned_kind(&self.client, &gvk)
                        .await
                        .map_err(|e| {
                            crate::Error::Discovery(format!("{api_version} {}", event.kind()), e)
                        })?;
                    resources.insert(gvk, resource.clone());
                    resource
                }
            }
        };
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), event.namespace(), &resource);
        let object = api.get_opt(event.name()).await.map_err(|e| {
            crate::Error::Kube(
                format!(
                    "unable to read {} {}/{}",
                    event.kind(),
                    event.namespace(),
                    event.name()
                ),
                e,
            )
        })?;
        Ok(object.map(|o| o.labels().clone()))
    }
}
