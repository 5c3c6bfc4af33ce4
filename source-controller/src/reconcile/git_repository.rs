//! GitRepository: resolve the ref on the remote, and only when it moved (or the
//! ignore rules changed, or the stored file is gone) fetch it shallowly on the
//! same connection and store a new artifact, archived straight from the
//! fetched commit unless includes, submodules or a sparse checkout need files.

use std::sync::Arc;
use std::time::Instant;

use fluxrs_api::source::{
    GitRepository, GitRepositorySpec, GitRepositoryStatus, GitRepositoryVerification,
    GitVerificationMode,
};
use fluxrs_runtime::conditions::{Status, reasons, types};
use fluxrs_runtime::events::{Event, EventType};
use fluxrs_runtime::outcome::{Disposition, Next, ReconcileError, StatusFields};
use fluxrs_runtime::reconcile_request;
use fluxrs_runtime::status::apply_status;
use fluxrs_runtime::status::finalizer::{Step, with_finalizer};
use kube::ResourceExt;
use tracing::{debug, info};

use super::{
    Context, SourceFailure, artifact, blocking, include, mark_artifact_ready, mark_failure, notify,
    secret_data, timeout, was_failing,
};
use crate::Error;
use crate::git::verify::{self, Keyring};
use crate::git::{GitAuth, GitReference, Remote, Update, Worktree, tree};
use crate::ignore::IgnoreFilter;
use crate::proxy::ProxyConfig;
use crate::storage::ObjectKey;

/// Kind name used in storage paths.
const KIND: &str = "GitRepository";

/// Reconciles one GitRepository (finalizer, then apply or cleanup).
pub async fn reconcile(obj: Arc<GitRepository>, ctx: Arc<Context>) -> Result<Next, ReconcileError> {
    let client = ctx.client.clone();
    with_finalizer(&client, obj, |step| async move {
        match step {
            Step::Apply(obj) => apply(&obj, &ctx).await,
            Step::Cleanup(obj) => cleanup(&obj, &ctx).await,
        }
    })
    .await
}

fn key(obj: &GitRepository) -> ObjectKey {
    ObjectKey::new(KIND, &obj.namespace().unwrap_or_default(), &obj.name_any())
}

async fn cleanup(obj: &GitRepository, ctx: &Context) -> Result<Next, ReconcileError> {
    ctx.storage.remove_all(&key(obj)).map_err(|e| {
        ReconcileError::transient(
            fluxrs_runtime::conditions::reasons::ARCHIVE_OPERATION_FAILED,
            e.to_string(),
        )
    })?;
    Ok(Next::AwaitChange)
}

async fn apply(obj: &GitRepository, ctx: &Context) -> Result<Next, ReconcileError> {
    let key = key(obj);
    let _lock = ctx.storage.lock(&key).await;
    let generation = obj.metadata.generation;
    let mut status = obj.status.clone().unwrap_or_default();
    let mut conditions = status.conditions.take().unwrap_or_default();
    let was_failing = was_failing(&conditions);
    forget_missing_artifact(&mut status, &mut conditions, ctx);

    let verified = verification_current(&obj.spec, &status, &conditions);
    let stored = fetch_and_store(obj, ctx, &key, &mut status, verified).await;
    record_verification(
        &obj.spec,
        stored.as_ref().ok().and_then(Option::as_ref),
        &mut status,
        &mut conditions,
        generation,
    );
    let stored = stored.map(|s| s.map(|s| s.event));
    let outcome = match &stored {
        Ok(_) => {
            let revision = status
                .artifact
                .as_ref()
                .map(|a| a.revision.clone())
                .unwrap_or_default();
            mark_artifact_ready(&mut conditions, generation, &revision);
            Ok(Next::Interval)
        }
        Err(failure) => {
            mark_failure(&mut conditions, generation, failure);
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
        .map_err(|e| ReconcileError::transient("PatchOperationFailed", e.to_string()))?;

    let recovery = status
        .artifact
        .as_ref()
        .map(|a| format!("stored artifact for revision '{}'", a.revision))
        .unwrap_or_default();
    let new_artifact = stored.ok().flatten();
    if let Some(event) = notify(
        new_artifact,
        disposition.event,
        was_failing,
        status.artifact.as_ref(),
        &recovery,
    ) {
        ctx.events.record(obj, &event).await;
    }
    outcome
}

/// After a restart (or a lost volume) the stored file may be gone: never keep
/// claiming it, so consumers never download a 404.
fn forget_missing_artifact(
    status: &mut GitRepositoryStatus,
    conditions: &mut Vec<fluxrs_api::meta::Condition>,
    ctx: &Context,
) {
    let missing = status
        .artifact
        .as_ref()
        .is_some_and(|a| !ctx.storage.verify(&a.path, a.digest.as_deref()));
    if missing {
        status.artifact = None;
        fluxrs_runtime::conditions::remove(
            conditions,
            fluxrs_runtime::conditions::types::ARTIFACT_IN_STORAGE,
        );
    }
}

/// A new artifact: the event announcing it, and the `SourceVerified` message
/// when `spec.verify` is set.
struct Stored {
    event: Event,
    verified: Option<String>,
}

fn mode_of(verify: &GitRepositoryVerification) -> GitVerificationMode {
    verify.mode.unwrap_or(GitVerificationMode::Head)
}

/// Records a successful verification of a new artifact (`SourceVerified=True`
/// and `status.sourceVerificationMode`), or forgets both when `spec.verify`
/// is gone. An unchanged artifact keeps its condition.
fn record_verification(
    spec: &GitRepositorySpec,
    stored: Option<&Stored>,
    status: &mut GitRepositoryStatus,
    conditions: &mut Vec<fluxrs_api::meta::Condition>,
    generation: Option<i64>,
) {
    let Some(verify) = &spec.verify else {
        status.source_verification_mode = None;
        fluxrs_runtime::conditions::remove(conditions, types::SOURCE_VERIFIED);
        return;
    };
    if let Some(message) = stored.and_then(|s| s.verified.as_deref()) {
        fluxrs_runtime::conditions::set(
            conditions,
            types::SOURCE_VERIFIED,
            Status::True,
            reasons::SUCCEEDED,
            message,
            generation,
        );
        status.source_verification_mode = Some(mode_of(verify));
    }
}

/// Whether the stored artifact was verified as `spec.verify` asks now (always
/// when nothing is to be verified).
fn verification_current(
    spec: &GitRepositorySpec,
    status: &GitRepositoryStatus,
    conditions: &[fluxrs_api::meta::Condition],
) -> bool {
    spec.verify.as_ref().is_none_or(|verify| {
        status.source_verification_mode == Some(mode_of(verify))
            && fluxrs_runtime::conditions::is_true(conditions, types::SOURCE_VERIFIED)
    })
}

/// Returns what was stored, `None` when the stored artifact is still current
/// (same revision, same build settings, verified as asked).
async fn fetch_and_store(
    obj: &GitRepository,
    ctx: &Context,
    key: &ObjectKey,
    status: &mut GitRepositoryStatus,
    verified: bool,
) -> Result<Option<Stored>, SourceFailure> {
    let namespace = obj.namespace().unwrap_or_default();
    let spec = &obj.spec;
    let scheme = spec.url.split("://").next().unwrap_or_default().to_string();
    let auth = match &spec.secret_ref {
        Some(secret) => {
            let data = secret_data(&ctx.client, &namespace, &secret.name)
                .await
                .map_err(|e| SourceFailure::fetch(&e))?;
            GitAuth::from_secret(&scheme, &data).map_err(|e| SourceFailure::fetch(&e))?
        }
        None => GitAuth::default(),
    };
    let repositories: kube::Api<GitRepository> =
        kube::Api::namespaced(ctx.client.clone(), &namespace);
    let includes = include::resolve(&repositories, spec.include.as_deref().unwrap_or_default())
        .await
        .map_err(|e| SourceFailure::include(e.to_string(), ctx.requeue_dependency))?;
    let keyring = match &spec.verify {
        Some(verify) => {
            let name = &verify.secret_ref.name;
            let keyring = secret_data(&ctx.client, &namespace, name)
                .await
                .and_then(|data| Keyring::from_secret(name, &data))
                .map_err(|e| {
                    SourceFailure::verification(verify::reasons::VERIFICATION_ERROR, e.to_string())
                })?;
            Some((Arc::new(keyring), mode_of(verify)))
        }
        None => None,
    };
    let reference = GitReference::from_spec(spec.r#ref.as_ref());
    let limit = timeout(spec.timeout.as_deref());
    let mut remote = Remote::new(&spec.url, auth, Instant::now() + limit)
        .map_err(|e| SourceFailure::fetch(&e))?;
    if let Some(proxy) = &spec.proxy_secret_ref {
        let data = secret_data(&ctx.client, &namespace, &proxy.name)
            .await
            .map_err(|e| SourceFailure::fetch(&e))?;
        let proxy = ProxyConfig::from_secret(&data).map_err(|e| SourceFailure::fetch(&e))?;
        remote = remote
            .with_proxy(proxy)
            .map_err(|e| SourceFailure::fetch(&e))?;
    }
    let remote = remote
        .with_submodules(spec.recurse_submodules.unwrap_or(false))
        .with_sparse_checkout(spec.sparse_checkout.as_deref().unwrap_or_default());
    let remote = Arc::new(remote);
    let context = format!(
        "failed to checkout and determine revision of '{}'",
        spec.url
    );

    let checkout_dir = tempfile::tempdir().map_err(|e| {
        SourceFailure::storage(&Error::Io {
            path: "/tmp".into(),
            message: e.to_string(),
        })
    })?;
    let worktree = worktree_for(spec, &includes);
    let current = current_revision(status, spec, &includes)
        .filter(|_| verified)
        .map(str::to_string);
    let started = Instant::now();
    let update = {
        let (remote, reference, dir) = (
            Arc::clone(&remote),
            reference.clone(),
            checkout_dir.path().to_path_buf(),
        );
        let work = blocking(move || remote.update(&reference, &dir, current.as_deref(), worktree));
        tokio::time::timeout(limit, work)
            .await
            .map_err(|_| {
                SourceFailure::fetch_from(
                    &context,
                    &Error::Git(format!("timeout of {}s exceeded", limit.as_secs())),
                )
            })?
            .map_err(|e| SourceFailure::fetch_from(&context, &e))?
    };
    let checkout = match update {
        Update::Current(resolved) => {
            info!(revision = %resolved.revision(), "no changes since last reconciliation");
            return Ok(None);
        }
        Update::Fetched(checkout) => checkout,
    };
    let revision = checkout.reference.revision();
    debug!(%revision, ?worktree, elapsed_ms = started.elapsed().as_millis(), "fetched");
    let verified = match keyring {
        Some((keyring, mode)) => {
            let tag = matches!(reference, GitReference::Tag(_) | GitReference::Semver(_))
                .then(|| checkout.reference.name.clone())
                .flatten();
            let (dir, commit) = (
                checkout_dir.path().to_path_buf(),
                checkout.reference.commit.clone(),
            );
            let outcome = tokio::task::spawn_blocking(move || {
                verify::verify_checkout(&dir, &commit, tag.as_deref(), mode, &keyring)
            })
            .await
            .map_err(|e| {
                SourceFailure::storage(&Error::Io {
                    path: "verification task".into(),
                    message: e.to_string(),
                })
            })?;
            let message = outcome
                .map_err(|failure| SourceFailure::verification(failure.reason, failure.message))?;
            info!(%revision, "verified signature");
            Some(message)
        }
        None => None,
    };

    let started = Instant::now();
    let (stored, includes) = {
        let storage = Arc::clone(&ctx.storage);
        let (key, ignore, dir) = (
            key.clone(),
            spec.ignore.clone(),
            checkout_dir.path().to_path_buf(),
        );
        let commit = checkout.reference.commit.clone();
        let file_name = format!("{commit}.tar.gz");
        let max_bytes = ctx.max_artifact_bytes;
        blocking(move || {
            if worktree == Worktree::Skip {
                let stored = storage.archive_with(&key, &file_name, max_bytes, |archive| {
                    tree::archive_commit(&dir, &commit, ignore.as_deref(), archive)
                })?;
                return Ok((stored, includes));
            }
            include::copy_into(&storage, &includes, &dir, max_bytes)?;
            let filter = IgnoreFilter::for_tree(&dir, ignore.as_deref())?;
            let stored = storage.archive(&key, &file_name, &dir, &filter, max_bytes)?;
            Ok((stored, includes))
        })
        .await
        .map_err(|e| SourceFailure::storage(&e))?
    };
    debug!(%revision, elapsed_ms = started.elapsed().as_millis(), "archived");
    ctx.storage
        .garbage_collect(key, &stored.path)
        .map_err(|e| SourceFailure::storage(&e))?;
    status.artifact = Some(artifact(&stored, &revision, None));
    status.observed_ignore = spec.ignore.clone();
    status.observed_recurse_submodules = spec.recurse_submodules;
    status.observed_sparse_checkout = spec.sparse_checkout.clone();
    status.observed_include = spec.include.clone();
    status.included_artifacts =
        (!includes.is_empty()).then(|| includes.into_iter().map(|i| i.artifact).collect());
    info!(%revision, digest = %stored.digest, "stored artifact");
    let event = Event::new(
        EventType::Normal,
        "NewArtifact",
        format!("stored artifact for commit '{}'", checkout.message),
    )
    .with_metadata("revision", &revision)
    .with_metadata("digest", &stored.digest);
    Ok(Some(Stored { event, verified }))
}

/// Without includes, submodules or a sparse checkout the artifact is exactly
/// the commit's tree, archived from the fetched objects with no working tree;
/// the others work on files and need the checkout.
fn worktree_for(spec: &GitRepositorySpec, includes: &[include::ResolvedInclude]) -> Worktree {
    let sparse = spec.sparse_checkout.as_deref().unwrap_or_default();
    if includes.is_empty() && !spec.recurse_submodules.unwrap_or(false) && sparse.is_empty() {
        Worktree::Skip
    } else {
        Worktree::Write
    }
}

/// The revision of the stored artifact when it was built with the same
/// ignore rules, submodule and sparse settings, includes and included
/// artifacts as the spec asks now: a fetch that resolves to it has nothing to
/// do.
fn current_revision<'a>(
    status: &'a GitRepositoryStatus,
    spec: &GitRepositorySpec,
    includes: &[include::ResolvedInclude],
) -> Option<&'a str> {
    let included: Vec<(&str, Option<&str>)> = includes
        .iter()
        .map(|i| (i.artifact.revision.as_str(), i.artifact.digest.as_deref()))
        .collect();
    let observed: Vec<(&str, Option<&str>)> = status
        .included_artifacts
        .iter()
        .flatten()
        .map(|a| (a.revision.as_str(), a.digest.as_deref()))
        .collect();
    let same_build = status.observed_ignore == spec.ignore
        && status.observed_recurse_submodules.unwrap_or(false)
            == spec.recurse_submodules.unwrap_or(false)
        && status
            .observed_sparse_checkout
            .as_deref()
            .unwrap_or_default()
            == spec.sparse_checkout.as_deref().unwrap_or_default()
        && status.observed_include.as_deref().unwrap_or_default()
            == spec.include.as_deref().unwrap_or_default()
        && included == observed;
    status
        .artifact
        .as_ref()
        .filter(|_| same_build)
        .map(|a| a.revision.as_str())
}
