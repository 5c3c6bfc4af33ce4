//! One Kustomization reconcile: source → dependencies → fetch → build →
//! decrypt → substitute → validate and apply → prune → health, then one status
//! patch summarising it in Flux's conditions and fields.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fluxrs_api::kustomize::{
    DeletionPolicy, Kustomization, KustomizationSourceKind, KustomizationStatus, SubstituteKind,
};
use fluxrs_api::meta::{Condition, FluxObject};
use fluxrs_api::source::{GitRepository, OCIRepository};
use fluxrs_runtime::conditions::{self, Status, reasons, types};
use fluxrs_runtime::events::{Event, EventRecorder, EventType};
use fluxrs_runtime::interval::{format_duration, parse_duration};
use fluxrs_runtime::outcome::{Disposition, Next, ReconcileError, StatusFields};
use fluxrs_runtime::reconcile_request;
use fluxrs_runtime::status::apply_status;
use fluxrs_runtime::status::finalizer::{Step, with_finalizer};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DynamicObject, ListParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use serde_json::Value;
use tracing::{debug, info, warn};

use crate::apply::{Action, Applier, Discovery, label};
use crate::build::{build, resolve_path};
use crate::decrypt::{self, Keys};
use crate::health::{Health, health};
use crate::health_exprs::{self, HealthExpr};
use crate::history;
use crate::inventory::{ObjectId, inventory, stale};
use crate::prune_guard;
use crate::steady_state::{InputDigest, Record, SteadyState};
use crate::substitute::{self, VarSource};
use crate::target::{Target, Targets};

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

/// The source's current artifact (revision, url, digest, origin revision).
struct SourceArtifact {
    revision: String,
    url: String,
    digest: String,
    origin_revision: Option<String>,
}

async fn source_artifact(obj: &Kustomization, ctx: &Context) -> Result<SourceArtifact, Failure> {
    let source = &obj.spec.source_ref;
    let own_namespace = obj.namespace().unwrap_or_default();
    let namespace = source
        .namespace
        .clone()
        .unwrap_or_else(|| own_namespace.clone());
    let kind = format!("{:?}", source.kind);
    if ctx.no_cross_namespace_refs && namespace != own_namespace {
        let message = format!(
            "cannot access {kind}/{namespace}/{}, cross-namespace references have been blocked",
            source.name
        );
        return Err(Failure {
            error: ReconcileError::stalled(reasons::ACCESS_DENIED, message),
            healthy: None,
        });
    }
    let artifact = match source.kind {
        KustomizationSourceKind::GitRepository => {
            cached_or_get(&ctx.stores.git, &ctx.client, &namespace, &source.name)
                .await
                .map(|o| o.map(|o| o.status.and_then(|s| s.artifact)))
        }
        KustomizationSourceKind::OCIRepository => {
            cached_or_get(&ctx.stores.oci, &ctx.client, &namespace, &source.name)
                .await
                .map(|o| o.map(|o| o.status.and_then(|s| s.artifact)))
        }
        KustomizationSourceKind::Bucket | KustomizationSourceKind::ExternalArtifact => {
            let message = format!("source kind {kind} is not supported by flux-rs yet");
            return Err(Failure {
                error: ReconcileError::stalled(reasons::ARTIFACT_FAILED, message),
                healthy: None,
            });
        }
    };
    let wait = |message: String| Failure {
        error: ReconcileError::waiting(reasons::ARTIFACT_FAILED, message, ctx.requeue_dependency),
        healthy: None,
    };
    match artifact {
        Err(e) => Err(Failure::retry(
            reasons::ARTIFACT_FAILED,
            format!(
                "failed to get source {kind}/{namespace}/{}: {e}",
                source.name
            ),
            obj,
        )),
        Ok(None) => Err(wait(format!(
            "Source '{kind}/{namespace}/{}' not found",
            source.name
        ))),
        Ok(Some(None)) => Err(wait(format!(
            "Source artifact not found, retrying in {}",
            format_duration(ctx.requeue_dependency)
        ))),
        Ok(Some(Some(artifact))) => Ok(SourceArtifact {
            origin_revision: artifact
                .metadata
                .as_ref()
                .and_then(|m| m.get("org.opencontainers.image.revision").cloned()),
            revision: artifact.revision,
            url: artifact.url,
            digest: artifact.digest.unwrap_or_default(),
        }),
    }
}

/// Each dependency must be ready: by its `readyExpr` (CEL over `self` and
/// `dep`) when set, else Ready=True at its current generation and, when it
/// uses the same source, at the revision this Kustomization is about to apply.
async fn check_dependencies(
    obj: &Kustomization,
    ctx: &Context,
    source: &SourceArtifact,
) -> Result<(), Failure> {
    let own_namespace = obj.namespace().unwrap_or_default();
    for dependency in obj.spec.depends_on.iter().flatten() {
        let namespace = dependency
            .namespace
            .clone()
            .unwrap_or_else(|| own_namespace.clone());
        let ready_expr = dependency
            .ready_expr
            .as_deref()
            .map(compile_ready_expr)
            .transpose()?;
        let found = cached_or_get(
            &ctx.stores.kustomizations,
            &ctx.client,
            &namespace,
            &dependency.name,
        )
        .await;
        let ready = match (found, &ready_expr) {
            (Ok(Some(dep)), Some(program)) => ready_by_expr(obj, &dep, program)?,
            (Ok(Some(dep)), None) => ready_by_status(obj, &dep, source),
            _ => false,
        };
        if !ready {
            let message = format!("dependency '{namespace}/{}' is not ready", dependency.name);
            let error = ReconcileError::waiting(
                reasons::DEPENDENCY_NOT_READY,
                message,
                ctx.requeue_dependency,
            )
            .notify();
            return Err(Failure {
                error,
                healthy: None,
            });
        }
    }
    Ok(())
}

fn compile_ready_expr(expr: &str) -> Result<fluxrs_cel::Program, Failure> {
    fluxrs_cel::Program::compile(expr)
        .and_then(|program| program.check_variables(&["self", "dep"]).map(|()| program))
        .map_err(|e| Failure {
            error: ReconcileError::stalled(
                health_exprs::INVALID_CEL_EXPRESSION,
                format!("invalid dependsOn readyExpr '{expr}': {e}"),
            ),
            healthy: None,
        })
}

fn ready_by_expr(
    obj: &Kustomization,
    dep: &Kustomization,
    program: &fluxrs_cel::Program,
) -> Result<bool, Failure> {
    let me = serde_json::to_value(obj).unwrap_or_default();
    let dep_value = serde_json::to_value(dep).unwrap_or_default();
    let vars = fluxrs_cel::Activation::new()
        .with("self", &me)
        .with("dep", &dep_value);
    program.evaluate_bool(&vars).map_err(|e| {
        Failure::retry(
            reasons::DEPENDENCY_NOT_READY,
            format!(
                "dependency '{}' readyExpr '{}' failed: {e}",
                dep.name_any(),
                program.source()
            ),
            obj,
        )
    })
}

fn ready_by_status(obj: &Kustomization, dep: &Kustomization, source: &SourceArtifact) -> bool {
    let generation_observed = dep.metadata.generation == dep.observed_generation();
    let same_source = {
        let mine = &obj.spec.source_ref;
        let theirs = &dep.spec.source_ref;
        mine.kind == theirs.kind
            && mine.name == theirs.name
            && mine.namespace.clone().or_else(|| obj.namespace())
                == theirs.namespace.clone().or_else(|| dep.namespace())
    };
    let at_revision = !same_source
        || dep
            .status
            .as_ref()
            .and_then(|s| s.last_applied_revision.as_deref())
            == Some(source.revision.as_str());
    generation_observed && conditions::is_true(dep.conditions(), types::READY) && at_revision
}

/// What a build reads besides the artifact, gathered before deciding whether
/// anything changed.
struct Inputs {
    vars: Option<BTreeMap<String, String>>,
    keys: Option<Keys>,
    digest: String,
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

/// Reads substitution variables and decryption keys, and digests them with
/// everything else the build depends on.
async fn gather_inputs(
    obj: &Kustomization,
    ctx: &Context,
    source: &SourceArtifact,
    target: &Target,
) -> Result<Inputs, Failure> {
    let mut digest = InputDigest::default();
    digest.add("revision", source.revision.as_bytes());
    digest.add("digest", source.digest.as_bytes());
    let spec = serde_json::to_vec(&obj.spec).unwrap_or_default();
    digest.add("spec", &spec);
    let approval = obj.annotations().get(prune_guard::APPROVE_ANNOTATION);
    digest.add(
        "approve-prune",
        approval.map(String::as_bytes).unwrap_or_default(),
    );
    if let Some((namespace, name)) = &target.service_account {
        digest.add("service-account", format!("{namespace}/{name}").as_bytes());
    }
    let vars = substitution_vars(obj, ctx).await?;
    for (name, value) in vars.iter().flatten() {
        digest.add(&format!("var:{name}"), value.as_bytes());
    }
    let keys = match decryption_key_data(obj, ctx).await? {
        Some((secret, data)) => {
            for (name, value) in &data {
                digest.add(&format!("key:{name}"), value);
            }
            Some(
                Keys::from_secret_data(&secret, &data)
                    .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))?,
            )
        }
        None => None,
    };
    Ok(Inputs {
        vars,
        keys,
        digest: digest.finish(),
    })
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

/// What pruning left: the inventory to record, the deleted objects, and the
/// failure to report (prune errors or a blocked prune).
struct Pruned {
    inventory: fluxrs_api::meta::ResourceInventory,
    deleted: Vec<ObjectId>,
    failure: Option<Failure>,
}

async fn prune(
    obj: &Kustomization,
    ctx: &Context,
    applier: &Applier<'_>,
    status: &KustomizationStatus,
    revision: &str,
    entries: &[(ObjectId, String)],
) -> Pruned {
    let stale_entries = stale(status.inventory.as_ref(), &inventory(entries));
    let keep_stale = |failure: Failure| {
        let mut all = entries.to_vec();
        all.extend(stale_entries.iter().cloned());
        Pruned {
            inventory: inventory(&all),
            deleted: Vec::new(),
            failure: Some(failure),
        }
    };
    if !obj.spec.prune || stale_entries.is_empty() {
        return Pruned {
            inventory: inventory(entries),
            deleted: Vec::new(),
            failure: None,
        };
    }
    let total = status
        .inventory
        .as_ref()
        .map(|i| i.entries.len())
        .unwrap_or_default();
    let stale_ids: Vec<ObjectId> = stale_entries.iter().map(|(id, _)| id.clone()).collect();
    if let Err(blocked) = prune_guard::check(
        obj,
        revision,
        ctx.prune_guard_percent,
        entries.len(),
        total,
        &stale_ids,
    ) {
        warn!(
            revision,
            objects = stale_ids.len(),
            "prune blocked by the prune guard"
        );
        return keep_stale(Failure::retry(
            prune_guard::PRUNE_BLOCKED,
            blocked.to_string(),
            obj,
        ));
    }
    let owner = (obj.name_any(), obj.namespace().unwrap_or_default());
    let (deleted, failed) = applier.prune(&stale_entries, (&owner.0, &owner.1)).await;
    let mut all = entries.to_vec();
    all.extend(failed.iter().map(|(entry, _)| entry.clone()));
    let failure = (!failed.is_empty()).then(|| {
        let message: Vec<String> = failed
            .iter()
            .map(|((id, _), e)| format!("{}: {e}", id.display()))
            .collect();
        Failure::retry(
            reasons::PRUNE_FAILED,
            format!("prune failed: {}", message.join("\n")),
            obj,
        )
    });
    Pruned {
        inventory: inventory(&all),
        deleted,
        failure,
    }
}

async fn substitute(
    obj: &Kustomization,
    objects: Vec<Value>,
    vars: Option<BTreeMap<String, String>>,
    strict: bool,
) -> Result<Vec<Value>, Failure> {
    let (Some(post_build), Some(vars)) = (&obj.spec.post_build, vars) else {
        return Ok(objects);
    };
    let strategy = post_build.substitute_strategy.unwrap_or_default();
    tokio::task::spawn_blocking(move || {
        substitute::substitute_objects(objects, &vars, strict, strategy)
    })
    .await
    .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))?
    .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))
}

/// `postBuild` variables from `substitute` and `substituteFrom`.
async fn substitution_vars(
    obj: &Kustomization,
    ctx: &Context,
) -> Result<Option<BTreeMap<String, String>>, Failure> {
    let Some(post_build) = &obj.spec.post_build else {
        return Ok(None);
    };
    let namespace = obj.namespace().unwrap_or_default();
    let mut sources = Vec::new();
    for reference in post_build.substitute_from.iter().flatten() {
        let data = match reference.kind {
            SubstituteKind::ConfigMap => {
                Api::<ConfigMap>::namespaced(ctx.client.clone(), &namespace)
                    .get_opt(&reference.name)
                    .await
                    .map(|c| {
                        c.map(|c| {
                            c.data
                                .unwrap_or_default()
                                .into_iter()
                                .map(|(k, v)| (k, v.into_bytes()))
                                .collect::<BTreeMap<_, _>>()
                        })
                    })
            }
            SubstituteKind::Secret => Api::<Secret>::namespaced(ctx.client.clone(), &namespace)
                .get_opt(&reference.name)
                .await
                .map(|s| {
                    s.map(|s| {
                        s.data
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(k, v)| (k, v.0))
                            .collect::<BTreeMap<_, _>>()
                    })
                }),
        }
        .map_err(|e| {
            Failure::retry(
                reasons::BUILD_FAILED,
                format!("substitute from '{}': {e}", reference.name),
                obj,
            )
        })?;
        sources.push(VarSource::new(reference, data));
    }
    substitute::vars_from(
        post_build.substitute.as_ref().unwrap_or(&BTreeMap::new()),
        sources,
    )
    .map(Some)
    .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))
}

/// The decryption keys' source and data, when `spec.decryption` is set: the
/// entries of `decryption.secretRef` plus those of the controller-wide
/// `--sops-age-secret` (prefixed with its name so entries cannot clash).
async fn decryption_key_data(
    obj: &Kustomization,
    ctx: &Context,
) -> Result<Option<(String, BTreeMap<String, Vec<u8>>)>, Failure> {
    let Some(decryption) = &obj.spec.decryption else {
        return Ok(None);
    };
    let mut sources = Vec::new();
    let mut data = BTreeMap::new();
    if let Some(secret_ref) = &decryption.secret_ref {
        let namespace = obj.namespace().unwrap_or_default();
        let own = secret_data(obj, ctx, &namespace, &secret_ref.name).await?;
        let own = own.ok_or_else(|| {
            Failure::retry(
                reasons::BUILD_FAILED,
                format!(
                    "failed to get decryption secret '{namespace}/{}': not found",
                    secret_ref.name
                ),
                obj,
            )
        })?;
        data.extend(own);
        sources.push(secret_ref.name.clone());
    }
    // A fallback: when the Secret is absent, only the object's keys count.
    if let Some((namespace, name)) = &ctx.sops_age_secret
        && let Some(global) = secret_data(obj, ctx, namespace, name).await?
    {
        data.extend(global.into_iter().map(|(k, v)| (format!("{name}.{k}"), v)));
        sources.push(format!("{namespace}/{name}"));
    }
    if sources.is_empty() {
        return Ok(None);
    }
    Ok(Some((sources.join(", "), data)))
}

/// The data of Secret `namespace/name`, `None` when it does not exist.
async fn secret_data(
    obj: &Kustomization,
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, Failure> {
    let secret = Api::<Secret>::namespaced(ctx.client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|e| {
            Failure::retry(
                reasons::BUILD_FAILED,
                format!("failed to get decryption secret '{namespace}/{name}': {e}"),
                obj,
            )
        })?;
    Ok(secret.map(|secret| {
        secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect()
    }))
}

async fn decrypt_secrets(
    obj: &Kustomization,
    objects: Vec<Value>,
    keys: Option<Keys>,
) -> Result<Vec<Value>, Failure> {
    let Some(keys) = keys else {
        for object in &objects {
            decrypt::require_decrypted(object)
                .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))?;
        }
        return Ok(objects);
    };
    tokio::task::spawn_blocking(move || decrypt::decrypt_objects(objects, &keys))
        .await
        .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))?
        .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))
}

/// Health check result: `healthy` is `None` when no health checking is
/// configured; `current` has the `resourceVersion` at which each checked
/// object was seen Current.
struct HealthResult {
    healthy: Option<bool>,
    current: HashMap<ObjectId, String>,
}

/// With `wait`, every applied object must become Current; with `healthChecks`,
/// the listed ones.
async fn wait_healthy(
    obj: &Kustomization,
    client: &Client,
    discovery: &Discovery,
    applied: &[crate::apply::Change],
    deadline: Duration,
    exprs: &[HealthExpr],
) -> Result<HealthResult, Failure> {
    let targets = health_targets(obj, applied);
    let mut current = HashMap::new();
    if targets.is_empty() {
        return Ok(HealthResult {
            healthy: None,
            current,
        });
    }
    let started = Instant::now();
    let owner = (obj.name_any(), obj.namespace().unwrap_or_default());
    loop {
        let mut waiting = Vec::new();
        let pending: Vec<&(ObjectId, String)> = targets
            .iter()
            .filter(|(id, _)| !current.contains_key(id))
            .collect();
        let mut live = fetch_live(client, discovery, &pending, &owner).await;
        for (id, _) in pending {
            let found = live.remove(id).unwrap_or_else(|| Err("not read".into()));
            match live_health(found, exprs) {
                (Health::Current, resource_version) => {
                    current.insert(id.clone(), resource_version.unwrap_or_default());
                }
                (Health::Failed(message), _) => {
                    let message = format!(
                        "health check failed after {}: {} failed: {message}",
                        format_duration(started.elapsed()),
                        id.display()
                    );
                    return Err(Failure {
                        error: ReconcileError::retry_after(
                            reasons::HEALTH_CHECK_FAILED,
                            message,
                            retry_interval(obj),
                        ),
                        healthy: Some(false),
                    });
                }
                (Health::InProgress(message), _) => {
                    waiting.push(format!("{} status: '{message}'", id.display()))
                }
            }
        }
        if waiting.is_empty() {
            return Ok(HealthResult {
                healthy: Some(true),
                current,
            });
        }
        if started.elapsed() > deadline {
            let message = format!("timeout waiting for: [{}]", waiting.join(", "));
            return Err(Failure {
                error: ReconcileError::retry_after(
                    reasons::HEALTH_CHECK_FAILED,
                    message,
                    retry_interval(obj),
                ),
                healthy: Some(false),
            });
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// The objects to health check: all applied ones with `wait`, else those in
/// `healthChecks`.
fn health_targets(
    obj: &Kustomization,
    applied: &[crate::apply::Change],
) -> Vec<(ObjectId, String)> {
    if obj.spec.wait.unwrap_or(false) {
        return applied
            .iter()
            .filter(|c| c.action != Action::Skipped)
            .map(|c| (c.id.clone(), c.version.clone()))
            .collect();
    }
    obj.spec
        .health_checks
        .iter()
        .flatten()
        .map(|check| {
            let api_version = check.api_version.clone().unwrap_or_else(|| "v1".into());
            let (group, version) = api_version
                .rsplit_once('/')
                .map(|(g, v)| (g.to_string(), v.to_string()))
                .unwrap_or((String::new(), api_version));
            let namespace = check
                .namespace
                .clone()
                .unwrap_or_else(|| obj.namespace().unwrap_or_default());
            let id = ObjectId {
                namespace,
                name: check.name.clone(),
                group,
                kind: check.kind.clone(),
            };
            (id, version)
        })
        .collect()
}

/// Reads the live state of `targets`: one LIST per kind and namespace
/// (objects carrying `owner`'s labels) when several share them, a GET for
/// the rest, so waiting for a large set costs a handful of requests a round.
async fn fetch_live(
    client: &Client,
    discovery: &Discovery,
    targets: &[&(ObjectId, String)],
    owner: &(String, String),
) -> HashMap<ObjectId, Result<Option<DynamicObject>, String>> {
    let mut groups: BTreeMap<(String, String, String, String), Vec<&ObjectId>> = BTreeMap::new();
    for (id, version) in targets {
        let key = (
            id.group.clone(),
            version.clone(),
            id.kind.clone(),
            id.namespace.clone(),
        );
        groups.entry(key).or_default().push(id);
    }
    let mut live = HashMap::new();
    for ((group, version, kind, namespace), ids) in groups {
        let gvk = kube::core::GroupVersionKind::gvk(&group, &version, &kind);
        let Ok((resource, capabilities)) = discovery.resolve(client, &gvk).await else {
            for id in ids {
                live.insert(id.clone(), Err("kind not served".to_string()));
            }
            continue;
        };
        let api: Api<DynamicObject> = match capabilities.scope {
            kube::discovery::Scope::Namespaced => {
                Api::namespaced_with(client.clone(), &namespace, &resource)
            }
            kube::discovery::Scope::Cluster => Api::all_with(client.clone(), &resource),
        };
        let mut listed: HashMap<String, DynamicObject> = HashMap::new();
        if ids.len() > 1 {
            let selector = format!(
                "{}={},{}={}",
                crate::apply::NAME_LABEL,
                owner.0,
                crate::apply::NAMESPACE_LABEL,
                owner.1
            );
            if let Ok(list) = api.list(&ListParams::default().labels(&selector)).await {
                listed = list
                    .items
                    .into_iter()
                    .filter_map(|mut o| {
                        o.types = Some(kube::core::TypeMeta {
                            api_version: resource.api_version.clone(),
                            kind: resource.kind.clone(),
                        });
                        Some((o.metadata.name.clone()?, o))
                    })
                    .collect();
            }
        }
        for id in ids {
            let found = match listed.remove(&id.name) {
                Some(object) => Ok(Some(object)),
                None => api.get_opt(&id.name).await.map_err(|e| e.to_string()),
            };
            live.insert(id.clone(), found);
        }
    }
    live
}

/// The health of one object as read, by its `healthCheckExprs` if a set
/// matches its kind, else by kstatus; with the `resourceVersion` seen.
fn live_health(
    found: Result<Option<DynamicObject>, String>,
    exprs: &[HealthExpr],
) -> (Health, Option<String>) {
    match found {
        Ok(Some(live)) => {
            let resource_version = live.metadata.resource_version.clone();
            let live = serde_json::to_value(live).unwrap_or_default();
            let health = match health_exprs::find(exprs, &live) {
                Some(expr) => expr.health(&live),
                None => health(&live),
            };
            (health, resource_version)
        }
        Ok(None) => (Health::InProgress("NotFound".into()), None),
        Err(e) => (Health::InProgress(e), None),
    }
}

/// On deletion: prune the inventory as `deletionPolicy` says (nothing when
/// suspended), as the Kustomization's own identity.
async fn cleanup(obj: &Kustomization, ctx: &Context) -> Result<Next, ReconcileError> {
    ctx.steady.forget(&obj.uid().unwrap_or_default());
    let policy = obj.spec.deletion_policy.unwrap_or_default();
    let delete = match policy {
        DeletionPolicy::MirrorPrune => obj.spec.prune,
        DeletionPolicy::Delete | DeletionPolicy::WaitForTermination => true,
        DeletionPolicy::Orphan => false,
    };
    let Some(inventory) = obj.status.as_ref().and_then(|s| s.inventory.as_ref()) else {
        return Ok(Next::AwaitChange);
    };
    if !delete || obj.suspended() || inventory.entries.is_empty() {
        return Ok(Next::AwaitChange);
    }
    if let Some((namespace, name)) = ctx.targets.service_account(obj)
        && obj.spec.kube_config.is_none()
        && !ctx.targets.service_account_exists(&namespace, &name).await
    {
        let message =
            format!("skipping garbage collection: service account '{namespace}/{name}' not found");
        ctx.events
            .record(
                obj,
                &Event::new(EventType::Warning, reasons::PRUNE_FAILED, message),
            )
            .await;
        return Ok(Next::AwaitChange);
    }
    let target = ctx
        .targets
        .for_kustomization(obj)
        .await
        .map_err(|e| ReconcileError::transient(reasons::PRUNE_FAILED, e.to_string()))?;
    let remote_discovery = Discovery::default();
    let applier = Applier {
        client: &target.client,
        discovery: if target.remote {
            &remote_discovery
        } else {
            &ctx.discovery
        },
        force: false,
        wait_timeout: timeout(obj),
        protected_namespace: ctx.runtime_namespace.as_deref(),
    };
    let entries = stale(
        Some(inventory),
        &fluxrs_api::meta::ResourceInventory::default(),
    );
    let name = obj.name_any();
    let namespace = obj.namespace().unwrap_or_default();
    let (deleted, failed) = applier.prune(&entries, (&name, &namespace)).await;
    if !deleted.is_empty() {
        let message: Vec<String> = deleted
            .iter()
            .map(|id| format!("{} deleted", id.display()))
            .collect();
        ctx.events
            .record(
                obj,
                &Event::new(EventType::Normal, "Deleted", message.join("\n")),
            )
            .await;
    }
    if let Some(((id, _), error)) = failed.first() {
        return Err(ReconcileError::transient(
            reasons::PRUNE_FAILED,
            format!("failed to delete {}: {error}", id.display()),
        ));
    }
    if policy == DeletionPolicy::WaitForTermination
        && let Err(remaining) = applier.wait_gone(&entries).await
    {
        let message = format!(
            "timeout waiting for termination of: {}",
            remaining
                .iter()
                .map(ObjectId::display)
                .collect::<Vec<_>>()
                .join(", ")
        );
        warn!(%message, "deletion did not finish");
        ctx.events
            .record(
                obj,
                &Event::new(EventType::Warning, reasons::PRUNE_FAILED, message),
            )
            .await;
    }
    Ok(Next::AwaitChange)
}
