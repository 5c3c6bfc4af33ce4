//! The controller loop every flux-rs controller shares.
//!
//! A controller binary builds one [`Runtime`] from its flags, asks it for a
//! kube-runtime [`Controller`] per kind (adding its own `.watches(..)`),
//! hands each controller and its reconcile function to
//! [`Runtime::run_controller`], and runs the lot with [`Runtime::run`]:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use fluxrs_runtime::controller::Runtime;
//! # use fluxrs_runtime::flags::RuntimeArgs;
//! # use fluxrs_runtime::outcome::{Next, ReconcileError};
//! # use fluxrs_api::source::GitRepository;
//! # async fn reconcile(_: Arc<GitRepository>, _: Arc<()>) -> Result<Next, ReconcileError> { Ok(Next::Interval) }
//! # async fn example(args: RuntimeArgs) -> fluxrs_runtime::Result<()> {
//! let client = fluxrs_runtime::client::client(&args).await?;
//! let runtime = Runtime::new(client, "source-controller", args)?.with_default_concurrency(2);
//! let git = runtime.controller::<GitRepository>();
//! let work = runtime.run_controller(git, reconcile, Arc::new(()));
//! runtime.run(work).await
//! # }
//! ```
//!
//! What every controller gets from this module:
//!
//! * watches of its kind in all namespaces or only `RUNTIME_NAMESPACE`
//!   (`--watch-all-namespaces`), filtered by `--watch-label-selector`, and
//!   passed through [`reconcile_requested`] so only spec changes, reconcile
//!   requests and deletions trigger a reconcile;
//! * `--concurrent` parallel reconciles (never two for one object);
//! * suspended objects are not reconciled: only a pending reconcile request
//!   is acknowledged in `status.lastHandledReconcileAt` (deletion still runs
//!   the reconciler, so finalizers are honoured);
//! * the outcome's log line and requeue from [`Disposition`]: success
//!   requeues at `spec.interval` with `--interval-jitter-percentage` jitter,
//!   transient errors back off per object between `--min-retry-delay` and
//!   `--max-retry-delay`, waits requeue after their delay, stalls wait for a
//!   change;
//! * metrics: reconcile duration, suspend status and controller-runtime
//!   counters, with the object's series deleted once it is gone;
//! * every log line inside a reconcile carries `namespace` and `name`;
//! * graceful shutdown on SIGTERM/SIGINT (a second signal forces it);
//! * `/metrics`, `/healthz`, `/readyz`, and leader election when enabled.

pub mod backoff;

use std::convert::Infallible;
use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::api::Api;
use kube::core::NamespaceResourceScope;
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::{Controller, PredicateConfig, WatchStreamExt, reflector, watcher};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, error_span, info, warn};

use crate::error::{Error, Result};
use crate::events::EventRecorder;
use crate::flags::{DEFAULT_CONCURRENT, RuntimeArgs};
use crate::interval::{format_duration, jitter, parse_duration};
use crate::leader_election::LeaderElector;
use crate::metrics::Metrics;
use crate::outcome::{Disposition, LogLevel, Next, ReconcileError, Requeue};
use crate::reconcile_request::reconcile_requested;
use crate::server::{Readiness, health_router, metrics_router, serve};
use crate::status::acknowledge_reconcile_request;
use backoff::Backoff;
use fluxrs_api::meta::FluxObject;

/// Environment variable holding the controller's own namespace.
pub const RUNTIME_NAMESPACE_ENV: &str = "RUNTIME_NAMESPACE";

/// Shared wiring of one controller process: client, flags, metrics, event
/// recorder and readiness.
pub struct Runtime {
    client: Client,
    name: String,
    status_field_manager: String,
    default_concurrency: u16,
    args: RuntimeArgs,
    namespace: Option<String>,
    metrics: Metrics,
    events: EventRecorder,
    readiness: Readiness,
}

impl Runtime {
    /// Wiring for the controller `name` (e.g. `source-controller`), which is
    /// also the event reporting controller and the status field manager.
    ///
    /// Errors: [`Error::InvalidFlags`] for inconsistent flags,
    /// [`Error::MissingRuntimeNamespace`] when leader election or
    /// single-namespace watching is enabled without `RUNTIME_NAMESPACE`, and
    /// the event recorder's errors for a bad `--events-addr`.
    pub fn new(client: Client, name: &str, args: RuntimeArgs) -> Result<Self> {
        args.validate()?;
        let namespace = std::env::var(RUNTIME_NAMESPACE_ENV)
            .ok()
            .filter(|ns| !ns.is_empty());
        if namespace.is_none() && (args.enable_leader_election || !args.watch_all_namespaces) {
            return Err(Error::MissingRuntimeNamespace);
        }
        let events = EventRecorder::new(client.clone(), name, &args.events_addr)?;
        Ok(Self {
            client,
            name: name.to_owned(),
            status_field_manager: name.to_owned(),
            default_concurrency: DEFAULT_CONCURRENT,
            args,
            namespace,
            metrics: Metrics::new(),
            events,
            readiness: Readiness::new(),
        })
    }

    /// Uses `manager` instead of the controller name as the status field
    /// manager (kustomize-controller: `gotk-kustomize-controller`).
    #[must_use]
    pub fn with_status_field_manager(mut self, manager: &str) -> Self {
        manager.clone_into(&mut self.status_field_manager);
        self
    }

    /// Sets the `--concurrent` value used when the flag is not given
    /// (source-controller: 2; default [`DEFAULT_CONCURRENT`]).
    #[must_use]
    pub fn with_default_concurrency(mut self, concurrency: u16) -> Self {
        self.default_concurrency = concurrency.max(1);
        self
    }

    /// The Kubernetes client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The controller name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The field manager for status patches.
    pub fn status_field_manager(&self) -> &str {
        &self.status_field_manager
    }

    /// The parsed runtime flags.
    pub fn args(&self) -> &RuntimeArgs {
        &self.args
    }

    /// `RUNTIME_NAMESPACE`, when set.
    pub fn runtime_namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The process' metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The event recorder.
    pub fn events(&self) -> &EventRecorder {
        &self.events
    }

    /// The process' readiness (`/readyz`).
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// An `Api` over the namespaces this controller watches: all of them, or
    /// only `RUNTIME_NAMESPACE` with `--watch-all-namespaces=false`.
    pub fn watched_api<K>(&self) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
    {
        match (&self.namespace, self.args.watch_all_namespaces) {
            (Some(namespace), false) => Api::namespaced(self.client.clone(), namespace),
            _ => Api::all(self.client.clone()),
        }
    }

    /// The watcher configuration for the reconciled kinds
    /// (`--watch-label-selector`).
    pub fn watcher_config(&self) -> watcher::Config {
        let config = watcher::Config::default();
        if self.args.watch_label_selector.is_empty() {
            config
        } else {
            config.labels(&self.args.watch_label_selector)
        }
    }

    /// A controller for `K` with the shared watch, predicate, concurrency and
    /// signal handling; add `.watches(..)` for related kinds before passing it
    /// to [`Runtime::run_controller`].
    pub fn controller<K>(&self) -> Controller<K>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Debug
            + Send
            + Sync
            + 'static,
    {
        let (reader, writer) = reflector::store();
        let metrics = self.metrics.clone();
        let kind = K::kind(&()).into_owned();
        let trigger = watcher(self.watched_api::<K>(), self.watcher_config())
            .default_backoff()
            .reflect(writer)
            // Objects that go away without a cleanup reconcile (no finalizer:
            // suspended from the start, or kinds without one) must not leave
            // their series behind.
            .inspect_ok(move |event| {
                if let watcher::Event::Delete(obj) = event {
                    let meta = obj.meta();
                    metrics.delete_object(
                        &kind,
                        meta.namespace.as_deref().unwrap_or_default(),
                        meta.name.as_deref().unwrap_or_default(),
                    );
                }
            })
            .applied_objects()
            .predicate_filter(reconcile_requested::<K>, PredicateConfig::default());
        let concurrency = self.args.concurrency(self.default_concurrency);
        Controller::for_stream(trigger, reader)
            .with_config(ControllerConfig::default().concurrency(concurrency))
            .shutdown_on_signal()
    }

    /// Drives `controller`, calling `reconcile` for each object that needs it
    /// and applying the shared behaviour listed in the module docs. The
    /// returned future ends when the controller shuts down.
    ///
    /// Readiness (without leader election) waits for this controller's cache
    /// to sync.
    pub fn run_controller<K, Ctx, F, Fut>(
        &self,
        controller: Controller<K>,
        reconcile: F,
        context: Arc<Ctx>,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + FluxObject
            + Clone
            + DeserializeOwned
            + Debug
            + Send
            + Sync
            + 'static,
        Ctx: Send + Sync + 'static,
        F: Fn(Arc<K>, Arc<Ctx>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<Next, ReconcileError>> + Send + 'static,
    {
        let kind = K::kind(&()).into_owned();
        let shared = Arc::new(Reconciler {
            controller: kind.to_lowercase(),
            group: K::group(&()).into_owned(),
            kind,
            client: self.client.clone(),
            field_manager: self.status_field_manager.clone(),
            metrics: self.metrics.clone(),
            jitter_percentage: self.args.interval_jitter_percentage,
            backoff: Mutex::new(Backoff::new(
                self.args.min_retry_delay,
                self.args.max_retry_delay,
            )),
            reconcile,
        });
        self.metrics.register_controller(&shared.controller);
        let gate = self.readiness.gate();
        let store = controller.store();
        let results = controller.run(
            move |obj, ctx| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(shared.reconcile(obj, ctx).await) }
            },
            |_, never: &Infallible, _| match *never {},
            context,
        );
        async move {
            let ready = async move {
                if store.wait_until_ready().await.is_ok() {
                    gate.open();
                }
                futures::future::pending::<()>().await;
            };
            let drive = results.for_each(|result| async move {
                if let Err(error) = result {
                    warn!(%error, "controller error");
                }
            });
            tokio::select! {
                () = drive => {}
                () = ready => {}
            }
        }
    }

    /// Runs `work` (the controllers) with the metrics and health servers and,
    /// with `--enable-leader-election`, only while holding the leader lease.
    ///
    /// Returns when `work` ends (graceful shutdown on SIGTERM/SIGINT), or at
    /// once on a signal received while waiting for leadership.
    ///
    /// Errors: [`Error::LeadershipLost`] (the process must exit so another
    /// replica takes over), server bind failures, [`Error::Signal`].
    pub async fn run<W: Future<Output = ()>>(&self, work: W) -> Result<()> {
        let shutdown = CancellationToken::new();
        let servers = async {
            tokio::try_join!(
                serve(
                    &self.args.metrics_addr,
                    metrics_router(self.metrics.clone()),
                    shutdown.clone()
                ),
                serve(
                    &self.args.health_addr,
                    health_router(self.readiness.clone()),
                    shutdown.clone()
                ),
            )
            .map(drop)
        };
        let main = async {
            let result = self.lead(work).await;
            shutdown.cancel();
            result
        };
        tokio::pin!(servers, main);
        tokio::select! {
            result = &mut main => {
                (&mut servers).await?;
                result
            }
            served = &mut servers => {
                served?;
                main.await
            }
        }
    }

    /// Runs `work`, under leader election when enabled.
    async fn lead<W: Future<Output = ()>>(&self, work: W) -> Result<()> {
        if !self.args.enable_leader_election {
            self.readiness.mark_started();
            work.await;
            return Ok(());
        }
        let namespace = self
            .namespace
            .as_deref()
            .ok_or(Error::MissingRuntimeNamespace)?;
        let mut elector = LeaderElector::new(
            self.client.clone(),
            namespace,
            &self.name,
            self.args.leader_election(),
        );
        self.readiness.mark_standby_ready();
        tokio::select! {
            () = elector.acquire() => {}
            signal = shutdown_signal() => {
                info!("shutdown requested while waiting for leadership");
                return signal;
            }
        }
        elector.lead(work).await
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() -> Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(Error::Signal)?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.map_err(Error::Signal),
        _ = terminate.recv() => Ok(()),
    }
}

/// A random UUID-shaped id for one reconcile, so its log lines can be
/// grouped (controller-runtime's `reconcileID`).
fn reconcile_id() -> String {
    let id = rand::random::<u128>();
    let hex = format!("{id:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The per-kind state behind [`Runtime::run_controller`].
struct Reconciler<F> {
    /// controller-runtime's controller name: the lowercase kind.
    controller: String,
    group: String,
    kind: String,
    client: Client,
    field_manager: String,
    metrics: Metrics,
    jitter_percentage: u8,
    backoff: Mutex<Backoff<(String, String)>>,
    reconcile: F,
}

impl<F> Reconciler<F> {
    /// One reconcile of `obj`, with everything around the user's function.
    async fn reconcile<K, Ctx, Fut>(&self, obj: Arc<K>, context: Arc<Ctx>) -> Action
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + FluxObject
            + Clone
            + DeserializeOwned
            + Debug,
        F: Fn(Arc<K>, Arc<Ctx>) -> Fut,
        Fut: Future<Output = std::result::Result<Next, ReconcileError>>,
    {
        let namespace = obj.meta().namespace.clone().unwrap_or_default();
        let name = obj.meta().name.clone().unwrap_or_default();
        // An error-level span is enabled whenever any log line is, so even
        // with `--log-level=error` every line names its object.
        let span = error_span!(
            "reconcile",
            controller = %self.controller,
            controllerGroup = %self.group,
            controllerKind = %self.kind,
            name = %name,
            namespace = %namespace,
            reconcileID = %reconcile_id(),
        );
        async {
            let start = Instant::now();
            let deleting = obj.meta().deletion_timestamp.is_some();
            let suspended = obj.suspended() && !deleting;
            let outcome = if suspended {
                info!("reconciliation is suspended for this object");
                acknowledge_reconcile_request(&self.client, obj.as_ref(), &self.field_manager)
                    .await
                    .map(|()| Next::AwaitChange)
                    .map_err(ReconcileError::from)
            } else {
                (self.reconcile)(Arc::clone(&obj), context).await
            };
            let elapsed = start.elapsed();
            let disposition = Disposition::of(&outcome);
            let key = (namespace.clone(), name.clone());
            let requeue = self.requeue_after(obj.as_ref(), key, disposition.requeue);
            if !suspended {
                log_outcome(&outcome, &disposition, elapsed, requeue);
            }
            self.metrics
                .record_result(&self.controller, disposition.result);
            if deleting && outcome.is_ok() {
                self.metrics.delete_object(&self.kind, &namespace, &name);
            } else {
                self.metrics
                    .record_duration(&self.kind, &namespace, &name, elapsed);
                self.metrics
                    .record_suspend(&self.kind, &namespace, &name, obj.suspended());
            }
            requeue.map_or_else(Action::await_change, Action::requeue)
        }
        .instrument(span)
        .await
    }

    /// The delay before the next reconcile (`None`: wait for a change), and
    /// the backoff bookkeeping for `key`.
    fn requeue_after<K: FluxObject>(
        &self,
        obj: &K,
        key: (String, String),
        requeue: Requeue,
    ) -> Option<Duration> {
        let mut backoff = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        if requeue != Requeue::Backoff {
            backoff.reset(&key);
        }
        match requeue {
            Requeue::Never => None,
            Requeue::After(delay) => Some(delay),
            Requeue::Backoff => Some(backoff.next_delay(key)),
            Requeue::Interval => {
                let interval = obj.interval()?;
                match parse_duration(interval) {
                    Ok(interval) => Some(jitter(interval, self.jitter_percentage)),
                    Err(error) => {
                        error!(%error, "invalid spec.interval, not requeuing until the spec changes");
                        None
                    }
                }
            }
        }
    }
}

/// Logs the outcome's line (see [`Disposition`]) with its fields.
fn log_outcome(
    outcome: &std::result::Result<Next, ReconcileError>,
    disposition: &Disposition,
    elapsed: Duration,
    requeue: Option<Duration>,
) {
    let duration = format_duration(elapsed);
    let next = requeue.map(format_duration);
    let message = disposition.log_message;
    match (outcome, disposition.log_level) {
        (Ok(_), _) => info!(%duration, next = next.as_deref(), "{message}"),
        (Err(e), LogLevel::Info) => info!(
            reason = e.reason(),
            error = e.message(),
            %duration,
            next = next.as_deref(),
            "{message}"
        ),
        (Err(e), LogLevel::Error) => error!(
            reason = e.reason(),
            error = e.message(),
            %duration,
            next = next.as_deref(),
            "{message}"
        ),
    }
}
