//! One Kustomization reconcile: source → dependencies → fetch → build →
//! decrypt → substitute → validate and apply → prune → health, then one status
//! patch summarising it in Flux's conditions and fields.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fluxrs_api::kustomize::{Kustomization, KustomizationStatus};
use fluxrs_api::meta::Condition;
use fluxrs_api::source::{GitRepository, OCIRepository};
use fluxrs_runtime::conditions::{self, Status, reasons, types};
use fluxrs_runtime::events::{Event, EventRecorder, EventType};
use fluxrs_runtime::interval::{format_duration, parse_duration};
use fluxrs_runtime::outcome::{Disposition, Next, ReconcileError, StatusFields};
use fluxrs_runtime::reconcile_request;
use fluxrs_runtime::status::apply_status;
use fluxrs_runtime::status::finalizer::{Step, with_finalizer};
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use serde_json::Value;
use tracing::{debug, info};

mod cleanup;
mod inputs;
mod prune;
mod source;
mod wait;

use cleanup::cleanup;
use inputs::{decrypt_secrets, gather_inputs, substitute};
use prune::prune;
use source::{SourceArtifact, check_dependencies, source_artifact};
use wait::wait_healthy;

use crate::apply::{Action, Applier, Discovery, label};
use crate::build::{build, resolve_path};
use crate::decrypt::{self, Keys};
use crate::health_exprs;
use crate::history;
use crate::inventory::ObjectId;
use crate::steady_state::{Record, SteadyState};
use crate::target::Targets;

/// Shared state of all reconciles.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Kind resolution cache.
    pub discovery: Discovery,
    /// Event recorder.
    pub events: EventRecorder,
    /// Field manager of status patches (`gotk-kustomize-controller`).
    pub field_manager: String,
    /// Retry delay when a source or dependency is not ready.
    pub requeue_dependency: Duration,
    /// Refuse sources in other namespaces.
    pub no_cross_namespace_refs: bool,
    /// Fail on undefined `${var}` (the `StrictPostBuildSubstitutions` gate).
    pub strict_substitutions: bool,
    /// Largest artifact accepted, in bytes.
    pub max_artifact_bytes: u64,
    /// Download retries.
    pub http_retry: u32,
    /// Largest share of the inventory one prune may delete unapproved.
    pub prune_guard_percent: u8,
    /// Skip reconciles whose inputs and managed objects are unchanged.
    pub skip_unchanged: bool,
    /// The controller's namespace (`RUNTIME_NAMESPACE`), never pruned.
    pub runtime_namespace: Option<String>,
    /// Controller-wide age keys (`--sops-age-secret` in the runtime
    /// namespace), added to every Kustomization's decryption keys.
    pub sops_age_secret: Option<(String, String)>,
    /// Clients per identity and cluster.
    pub targets: Targets,
    /// Records of the last applies and watches of managed objects.
    pub steady: SteadyState,
    /// Watch caches of sources and Kustomizations, read instead of GETs.
    pub stores: Stores,
}

/// The controller's watch caches. A miss (cache not in sync, or an object
/// outside the watched namespaces) falls back to a GET.
pub struct Stores {
    /// GitRepositories.
    pub git: Store<GitRepository>,
    /// OCIRepositories.
    pub oci: Store<OCIRepository>,
    /// Kustomizations (for `dependsOn`).
    pub kustomizations: Store<Kustomization>,
}

/// `name` in `namespace` from `store`, else from the API server.
async fn cached_or_get<K>(
    store: &Store<K>,
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<K>, kube::Error>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    if let Some(found) = store.get(&ObjectRef::new(name).within(namespace)) {
        return Ok(Some(found.as_ref().clone()));
    }
    Api::<K>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
}

/// A failed step: what to report and how to retry.
struct Failure {
    error: ReconcileError,
    healthy: Option<bool>,
}

impl Failure {
    fn retry(reason: &str, message: impl Into<String>, obj: &Kustomization) -> Self {
        Self {
            error: ReconcileError::retry_after(reason, message, retry_interval(obj)),
            healthy: None,
        }
    }
}

/// What a successful run produced.
struct Applied {
    revision: String,
    origin_revision: Option<String>,
    changes: Vec<String>,
    healthy: Option<bool>,
    /// Nothing changed since the last apply: no work was done.
    no_op: bool,
}

fn retry_interval(obj: &Kustomization) -> Duration {
    obj.spec
        .retry_interval
        .as_deref()
        .or(Some(obj.spec.interval.as_str()))
        .and_then(|d| parse_duration(d).ok())
        .unwrap_or(Duration::from_secs(60))
}

/// `spec.timeout`, else interval - 30s; never below 30s (upstream's floor).
fn timeout(obj: &Kustomization) -> Duration {
    let interval = parse_duration(&obj.spec.interval).unwrap_or(Duration::from_secs(60));
    let timeout = obj
        .spec
        .timeout
        .as_deref()
        .and_then(|t| parse_duration(t).ok())
        .unwrap_or_else(|| interval.saturating_sub(Duration::from_secs(30)));
    timeout.max(Duration::from_secs(30))
}

/// Reconciles one Kustomization (finalizer, then apply or cleanup).
pub async fn reconcile(obj: Arc<Kustomization>, ctx: Arc<Context>) -> Result<Next, ReconcileError> {
    let client = ctx.client.clone();
    with_finalizer(&client, obj, |step| async move {
        match step {
            Step::Apply(obj) => apply(&obj, &ctx).await,
            Step::Cleanup(obj) => cleanup(&obj, &ctx).await,
        }
    })
    .await
}

async fn apply(obj: &Kustomization, ctx: &Context) -> Result<Next, ReconcileError> {
    let started = Instant::now();
    let generation = obj.metadata.generation;
    let mut status = obj.status.clone().unwrap_or_default();
    let mut conditions = status.conditions.take().unwrap_or_default();
    let mut manifests = None;
    let run = run(obj, ctx, &mut status, &mut manifests).await;
    let outcome = match &run {
        Ok(applied) => {
            let message = format!("Applied revision: {}", applied.revision);
            conditions::mark_ready(
                &mut conditions,
                generation,
                reasons::RECONCILIATION_SUCCEEDED,
                &message,
            );
            let still_healthy = applied.no_op
                && applied.healthy == Some(true)
                && conditions::is_true(&conditions, types::HEALTHY);
            if !still_healthy {
                set_healthy(&mut conditions, generation, applied.healthy, started);
            }
            status.last_applied_revision = Some(applied.revision.clone());
            status.last_applied_origin_revision = applied.origin_revision.clone();
            Ok(Next::Interval)
        }
        Err(failure) => {
            if failure.healthy == Some(false) {
                conditions::set(
                    &mut conditions,
                    types::HEALTHY,
                    Status::False,
                    reasons::HEALTH_CHECK_FAILED,
                    failure.error.message(),
                    generation,
                );
            }
            Err(failure.error.clone())
        }
    };
    if let Some(digest) = &manifests {
        record_history(&mut status, digest, &run, started);
    }
    let disposition = Disposition::of(&outcome);
    disposition.summarize(
        generation,
        reconcile_request::requested_at(obj),
        StatusFields {
            conditions: &mut conditions,
            observed_generation: &mut status.observed_generation,
            last_handled_reconcile_at: &mut status.last_handled_reconcile_at,
        },
    );
    status.conditions = Some(conditions);
    if !unchanged_status(obj, &status) {
        apply_status(&ctx.client, obj, &ctx.field_manager, &status)
            .await
            .map_err(|e| {
                ReconcileError::transient(reasons::PATCH_OPERATION_FAILED, e.to_string())
            })?;
    }
    let failure_event = disposition
        .event
        .map(|event| match &status.last_attempted_revision {
            Some(revision) => event.with_metadata("revision", revision),
            None => event,
        });
    record_events(obj, &ctx.events, &run, failure_event.as_ref(), started).await;
    outcome
}

fn record_history(
    status: &mut KustomizationStatus,
    digest: &str,
    run: &Result<Applied, Failure>,
    started: Instant,
) {
    let reason = match run {
        Ok(_) => reasons::RECONCILIATION_SUCCEEDED,
        Err(failure) => failure.error.reason(),
    };
    let mut metadata = BTreeMap::new();
    if let Some(revision) = &status.last_attempted_revision {
        metadata.insert("revision".to_string(), revision.clone());
    }
    if let Ok(Applied {
        origin_revision: Some(origin),
        ..
    }) = run
    {
        metadata.insert("originRevision".to_string(), origin.clone());
    }
    let attempt = history::Attempt {
        digest,
        status: reason,
        duration: started.elapsed(),
        metadata,
    };
    history::upsert(
        status.history.get_or_insert_with(Vec::new),
        attempt,
        k8s_openapi::jiff::Timestamp::now(),
    );
}

/// Whether `status` is what the object already has (a no-op reconcile then
/// writes nothing).
fn unchanged_status(obj: &Kustomization, status: &KustomizationStatus) -> bool {
    obj.status
        .as_ref()
        .map(serde_json::to_value)
        .and_then(Result::ok)
        == serde_json::to_value(status).ok()
}

fn set_healthy(
    conditions: &mut Vec<Condition>,
    generation: Option<i64>,
    healthy: Option<bool>,
    started: Instant,
) {
    match healthy {
        Some(true) => {
            let message = format!(
                "Health check passed in {}",
                format_duration(started.elapsed())
            );
            conditions::set(
                conditions,
                types::HEALTHY,
                Status::True,
                reasons::SUCCEEDED,
                &message,
                generation,
            );
        }
        _ => conditions::remove(conditions, types::HEALTHY),
    }
}

async fn record_events(
    obj: &Kustomization,
    events: &EventRecorder,
    run: &Result<Applied, Failure>,
    failure_event: Option<&Event>,
    started: Instant,
) {
    match run {
        Ok(applied) if applied.no_op => {
            debug!(revision = %applied.revision, "reconciliation finished without changes");
        }
        Ok(applied) => {
            if !applied.changes.is_empty() {
                let event = Event::new(
                    EventType::Normal,
                    reasons::PROGRESSING,
                    applied.changes.join("\n"),
                )
                .with_metadata("revision", &applied.revision);
                events.record(obj, &event).await;
            }
            let message = format!(
                "Reconciliation finished in {}, next run in {}",
                format_duration(started.elapsed()),
                obj.spec.interval
            );
            let event = Event::new(
                EventType::Normal,
                reasons::RECONCILIATION_SUCCEEDED,
                message,
            )
            .with_metadata("revision", &applied.revision)
            .with_metadata("commit_status", "update");
            events.record(obj, &event).await;
        }
        Err(_) => {
            if let Some(event) = failure_event {
                events.record(obj, event).await;
            }
        }
    }
}

/// Runs the reconcile steps; `manifests` receives the digest of the built
/// manifests once they are built (for `status.history`).
async fn run(
    obj: &Kustomization,
    ctx: &Context,
    status: &mut KustomizationStatus,
    manifests: &mut Option<String>,
) -> Result<Applied, Failure> {
    let checks = obj.spec.health_check_exprs.as_deref().unwrap_or_default();
    let health_exprs = health_exprs::compile(checks).map_err(|e| Failure {
        error: ReconcileError::stalled(health_exprs::INVALID_CEL_EXPRESSION, e.to_string()),
        healthy: None,
    })?;
    let source = source_artifact(obj, ctx).await?;
    check_dependencies(obj, ctx, &source).await?;
    let target = ctx
        .targets
        .for_kustomization(obj)
        .await
        .map_err(|e| Failure::retry(reasons::RECONCILIATION_FAILED, e.to_string(), obj))?;
    let inputs = gather_inputs(obj, ctx, &source, &target).await?;
    status.last_attempted_revision = Some(source.revision.clone());
    let uid = obj.uid().unwrap_or_default();
    if ctx.skip_unchanged && !target.remote {
        match ctx
            .steady
            .unchanged(&uid, &inputs.digest, &inventory_ids(status))
        {
            Ok(healthy) => {
                debug!(revision = %source.revision, "nothing changed since the last apply");
                return Ok(Applied {
                    revision: source.revision,
                    origin_revision: source.origin_revision,
                    changes: Vec::new(),
                    healthy,
                    no_op: true,
                });
            }
            Err(changed) => debug!(?changed, "applying"),
        }
    }
    ctx.steady.forget(&uid);
    let objects = fetch_and_build(obj, ctx, &source, inputs.keys).await?;
    let mut objects = substitute(obj, objects, inputs.vars, ctx.strict_substitutions).await?;
    *manifests = Some(history::digest(&objects));
    let name = obj.name_any();
    let namespace = obj.namespace().unwrap_or_default();
    label(&mut objects, &name, &namespace);

    let remote_discovery;
    let discovery = if target.remote {
        remote_discovery = Discovery::default();
        &remote_discovery
    } else {
        &ctx.discovery
    };
    let deadline = timeout(obj);
    let applier = Applier {
        client: &target.client,
        discovery,
        force: obj.spec.force.unwrap_or(false),
        wait_timeout: deadline,
        protected_namespace: ctx.runtime_namespace.as_deref(),
    };
    let applied = applier
        .apply_all(objects.clone())
        .await
        .map_err(|e| Failure::retry(reasons::RECONCILIATION_FAILED, e.to_string(), obj))?;
    let mut changes: Vec<String> = applied
        .iter()
        .filter(|c| matches!(c.action, Action::Created | Action::Configured))
        .map(|c| format!("{} {}", c.id.display(), c.action.as_str()))
        .collect();
    let entries: Vec<(ObjectId, String)> = applied
        .iter()
        .map(|c| (c.id.clone(), c.version.clone()))
        .collect();
    let pruned = prune(obj, ctx, &applier, status, &source.revision, &entries).await;
    changes.extend(
        pruned
            .deleted
            .iter()
            .map(|id| format!("{} deleted", id.display())),
    );
    status.inventory = Some(pruned.inventory);
    if let Some(failure) = pruned.failure {
        return Err(failure);
    }

    let health = wait_healthy(
        obj,
        &target.client,
        discovery,
        &applied,
        deadline,
        &health_exprs,
    )
    .await?;
    if !target.remote {
        watch_managed(ctx, &target.client, &applied).await;
        let record = Record::new(inputs.digest, inventory_ids(status), &objects, &applied)
            .with_health(health.healthy, &health.current);
        ctx.steady.remember(&uid, record);
    }
    Ok(Applied {
        revision: source.revision,
        origin_revision: source.origin_revision,
        changes,
        healthy: health.healthy,
        no_op: false,
    })
}

fn inventory_ids(status: &KustomizationStatus) -> Vec<String> {
    status
        .inventory
        .iter()
        .flat_map(|inventory| inventory.entries.iter().map(|e| e.id.clone()))
        .collect()
}

/// Starts the metadata watches of the applied kinds (idempotent).
async fn watch_managed(ctx: &Context, client: &Client, applied: &[crate::apply::Change]) {
    let kinds: BTreeSet<(String, String, String)> = applied
        .iter()
        .map(|c| (c.id.group.clone(), c.version.clone(), c.id.kind.clone()))
        .collect();
    for (group, version, kind) in kinds {
        let gvk = kube::core::GroupVersionKind::gvk(&group, &version, &kind);
        if let Ok((resource, _)) = ctx.discovery.resolve(client, &gvk).await {
            ctx.steady.tracker().watch(&resource);
        }
    }
}

async fn fetch_and_build(
    obj: &Kustomization,
    ctx: &Context,
    source: &SourceArtifact,
    keys: Option<Keys>,
) -> Result<Vec<Value>, Failure> {
    let workdir = tempfile::tempdir()
        .map_err(|e| Failure::retry(reasons::ARTIFACT_FAILED, e.to_string(), obj))?;
    fluxrs_runtime::artifact::fetch_and_extract(
        &source.url,
        &source.digest,
        workdir.path(),
        ctx.max_artifact_bytes,
        ctx.http_retry,
    )
    .await
    .map_err(|e| Failure::retry(reasons::ARTIFACT_FAILED, e.to_string(), obj))?;
    info!(revision = %source.revision, "fetched artifact");
    let dir = resolve_path(workdir.path(), obj.spec.path.as_deref())
        .map_err(|e| Failure::retry(reasons::ARTIFACT_FAILED, e.to_string(), obj))?;
    let spec = obj.spec.clone();
    let root = workdir.path().to_path_buf();
    let (objects, keys) = tokio::task::spawn_blocking(move || {
        if let Some(keys) = &keys {
            decrypt::decrypt_generator_sources(&root, &root.join(&dir), keys)
                .map_err(|e| e.to_string())?;
        }
        let objects = build(&root, &dir, &spec).map_err(|e| e.to_string())?;
        Ok::<_, String>((objects, keys))
    })
    .await
    .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))?
    .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e, obj))?;
    decrypt_secrets(obj, objects, keys).await
}
