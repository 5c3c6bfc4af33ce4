//! One Kustomization reconcile: source → dependencies → fetch → build →
//! decrypt → substitute → validate and apply → prune → health, then one status
//! patch summarising it in Flux's conditions and fields.

use std::collections::BTreeMap;
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
use kube::api::{Api, DynamicObject};
use kube::{Client, ResourceExt};
use serde_json::Value;
use tracing::info;

use crate::apply::{Action, Applier, Discovery, label};
use crate::build::{build, resolve_path};
use crate::decrypt::{self, Keys};
use crate::health::{Health, health};
use crate::inventory::{ObjectId, inventory, stale};
use crate::substitute::{self, VarSource};

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
    let run = run(obj, ctx, &mut status).await;
    let outcome = match &run {
        Ok(applied) => {
            let message = format!("Applied revision: {}", applied.revision);
            conditions::mark_ready(
                &mut conditions,
                generation,
                reasons::RECONCILIATION_SUCCEEDED,
                &message,
            );
            set_healthy(&mut conditions, generation, applied.healthy, started);
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
    apply_status(&ctx.client, obj, &ctx.field_manager, &status)
        .await
        .map_err(|e| ReconcileError::transient(reasons::PATCH_OPERATION_FAILED, e.to_string()))?;
    record_events(obj, &ctx.events, &run, disposition.event.as_ref(), started).await;
    outcome
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
            Api::<GitRepository>::namespaced(ctx.client.clone(), &namespace)
                .get_opt(&source.name)
                .await
                .map(|o| o.map(|o| o.status.and_then(|s| s.artifact)))
        }
        KustomizationSourceKind::OCIRepository => {
            Api::<OCIRepository>::namespaced(ctx.client.clone(), &namespace)
                .get_opt(&source.name)
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

async fn check_dependencies(obj: &Kustomization, ctx: &Context) -> Result<(), Failure> {
    let own_namespace = obj.namespace().unwrap_or_default();
    for dependency in obj.spec.depends_on.iter().flatten() {
        let namespace = dependency
            .namespace
            .clone()
            .unwrap_or_else(|| own_namespace.clone());
        let api: Api<Kustomization> = Api::namespaced(ctx.client.clone(), &namespace);
        let ready = match api.get_opt(&dependency.name).await {
            Ok(Some(dep)) => {
                let generation_observed = dep.metadata.generation == dep.observed_generation();
                generation_observed && conditions::is_true(dep.conditions(), types::READY)
            }
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

async fn run(
    obj: &Kustomization,
    ctx: &Context,
    status: &mut KustomizationStatus,
) -> Result<Applied, Failure> {
    let source = source_artifact(obj, ctx).await?;
    check_dependencies(obj, ctx).await?;
    let deadline = timeout(obj);
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
    status.last_attempted_revision = Some(source.revision.clone());
    info!(revision = %source.revision, "fetched artifact");

    let dir = resolve_path(workdir.path(), obj.spec.path.as_deref())
        .map_err(|e| Failure::retry(reasons::ARTIFACT_FAILED, e.to_string(), obj))?;
    let spec = obj.spec.clone();
    let root = workdir.path().to_path_buf();
    let objects = tokio::task::spawn_blocking(move || build(&root, &dir, &spec))
        .await
        .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))?
        .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))?;
    let objects = decrypt_secrets(obj, ctx, objects).await?;
    let mut objects = substitute(obj, ctx, objects).await?;

    let name = obj.name_any();
    let namespace = obj.namespace().unwrap_or_default();
    label(&mut objects, &name, &namespace);
    let applier = Applier {
        client: &ctx.client,
        discovery: &ctx.discovery,
        force: obj.spec.force.unwrap_or(false),
        wait_timeout: deadline,
    };
    let applied = applier
        .apply_all(objects)
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
    let mut new_inventory = inventory(&entries);
    let stale_entries = stale(status.inventory.as_ref(), &new_inventory);
    let mut prune_error = None;
    if obj.spec.prune && !stale_entries.is_empty() {
        let (deleted, failed) = applier.prune(&stale_entries, (&name, &namespace)).await;
        changes.extend(deleted.iter().map(|id| format!("{} deleted", id.display())));
        if !failed.is_empty() {
            let kept: Vec<(ObjectId, String)> =
                failed.iter().map(|(entry, _)| entry.clone()).collect();
            let mut all = entries.clone();
            all.extend(kept);
            new_inventory = inventory(&all);
            let message: Vec<String> = failed
                .iter()
                .map(|((id, _), e)| format!("{}: {e}", id.display()))
                .collect();
            prune_error = Some(message.join("\n"));
        }
    }
    status.inventory = Some(new_inventory);
    if let Some(message) = prune_error {
        return Err(Failure::retry(
            reasons::PRUNE_FAILED,
            format!("prune failed: {message}"),
            obj,
        ));
    }

    let healthy = wait_healthy(obj, ctx, &applied, deadline).await?;
    Ok(Applied {
        revision: source.revision,
        origin_revision: source.origin_revision,
        changes,
        healthy,
    })
}

async fn substitute(
    obj: &Kustomization,
    ctx: &Context,
    objects: Vec<Value>,
) -> Result<Vec<Value>, Failure> {
    let Some(post_build) = &obj.spec.post_build else {
        return Ok(objects);
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
    let vars = substitute::vars_from(
        post_build.substitute.as_ref().unwrap_or(&BTreeMap::new()),
        sources,
    )
    .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))?;
    let strategy = post_build.substitute_strategy.unwrap_or_default();
    let strict = ctx.strict_substitutions;
    tokio::task::spawn_blocking(move || {
        substitute::substitute_objects(objects, &vars, strict, strategy)
    })
    .await
    .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))?
    .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))
}

async fn decrypt_secrets(
    obj: &Kustomization,
    ctx: &Context,
    objects: Vec<Value>,
) -> Result<Vec<Value>, Failure> {
    let Some(secret_ref) = obj
        .spec
        .decryption
        .as_ref()
        .and_then(|d| d.secret_ref.as_ref())
    else {
        for object in &objects {
            decrypt::require_decrypted(object)
                .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))?;
        }
        return Ok(objects);
    };
    let namespace = obj.namespace().unwrap_or_default();
    let secret = Api::<Secret>::namespaced(ctx.client.clone(), &namespace)
        .get(&secret_ref.name)
        .await
        .map_err(|e| {
            Failure::retry(
                reasons::BUILD_FAILED,
                format!("failed to get decryption secret '{}': {e}", secret_ref.name),
                obj,
            )
        })?;
    let data: BTreeMap<String, Vec<u8>> = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    let keys = Keys::from_secret_data(&secret_ref.name, &data)
        .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))?;
    tokio::task::spawn_blocking(move || decrypt::decrypt_objects(objects, &keys))
        .await
        .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))?
        .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))
}

/// With `wait`, every applied object must become Current; with `healthChecks`,
/// the listed ones. `None` when no health checking is configured.
async fn wait_healthy(
    obj: &Kustomization,
    ctx: &Context,
    applied: &[crate::apply::Change],
    deadline: Duration,
) -> Result<Option<bool>, Failure> {
    let mut targets: Vec<(ObjectId, String)> = Vec::new();
    if obj.spec.wait.unwrap_or(false) {
        targets.extend(
            applied
                .iter()
                .filter(|c| c.action != Action::Skipped)
                .map(|c| (c.id.clone(), c.version.clone())),
        );
    } else {
        for check in obj.spec.health_checks.iter().flatten() {
            let api_version = check.api_version.clone().unwrap_or_else(|| "v1".into());
            let (group, version) = api_version
                .rsplit_once('/')
                .map(|(g, v)| (g.to_string(), v.to_string()))
                .unwrap_or((String::new(), api_version));
            let namespace = check
                .namespace
                .clone()
                .unwrap_or_else(|| obj.namespace().unwrap_or_default());
            targets.push((
                ObjectId {
                    namespace,
                    name: check.name.clone(),
                    group,
                    kind: check.kind.clone(),
                },
                version,
            ));
        }
    }
    if targets.is_empty() {
        return Ok(None);
    }
    let started = Instant::now();
    loop {
        let mut waiting = Vec::new();
        for (id, version) in &targets {
            match object_health(ctx, id, version).await {
                Health::Current => {}
                Health::Failed(message) => {
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
                Health::InProgress(message) => {
                    waiting.push(format!("{} status: '{message}'", id.display()))
                }
            }
        }
        if waiting.is_empty() {
            return Ok(Some(true));
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

async fn object_health(ctx: &Context, id: &ObjectId, version: &str) -> Health {
    let gvk = kube::core::GroupVersionKind::gvk(&id.group, version, &id.kind);
    let Ok((resource, capabilities)) = ctx.discovery.resolve(&ctx.client, &gvk).await else {
        return Health::InProgress("kind not served".into());
    };
    let api: Api<DynamicObject> = match capabilities.scope {
        kube::discovery::Scope::Namespaced => {
            Api::namespaced_with(ctx.client.clone(), &id.namespace, &resource)
        }
        kube::discovery::Scope::Cluster => Api::all_with(ctx.client.clone(), &resource),
    };
    match api.get_opt(&id.name).await {
        Ok(Some(live)) => health(&serde_json::to_value(live).unwrap_or_default()),
        Ok(None) => Health::InProgress("NotFound".into()),
        Err(e) => Health::InProgress(e.to_string()),
    }
}

/// On deletion: prune the inventory as `deletionPolicy` says (nothing when
/// suspended).
async fn cleanup(obj: &Kustomization, ctx: &Context) -> Result<Next, ReconcileError> {
    let policy = obj.spec.deletion_policy.unwrap_or_default();
    let delete = match policy {
        DeletionPolicy::MirrorPrune => obj.spec.prune,
        DeletionPolicy::Delete | DeletionPolicy::WaitForTermination => true,
        DeletionPolicy::Orphan => false,
    };
    let Some(inventory) = obj.status.as_ref().and_then(|s| s.inventory.as_ref()) else {
        return Ok(Next::AwaitChange);
    };
    if !delete || obj.suspended() {
        return Ok(Next::AwaitChange);
    }
    let entries = stale(
        Some(inventory),
        &fluxrs_api::meta::ResourceInventory::default(),
    );
    let applier = Applier {
        client: &ctx.client,
        discovery: &ctx.discovery,
        force: false,
        wait_timeout: timeout(obj),
    };
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
    Ok(Next::AwaitChange)
}
