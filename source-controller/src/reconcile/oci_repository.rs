//! OCIRepository: resolve `spec.ref` to a manifest digest, and only when it
//! changed (or the ignore rules or layer selector changed, or the stored file is
//! gone) pull the selected layer and store it as the artifact.

use std::sync::Arc;

use fluxrs_api::source::{OCILayerOperation, OCIRepository, OCIRepositoryStatus};
use fluxrs_runtime::conditions::{self, reasons, types};
use fluxrs_runtime::events::{Event, EventType};
use fluxrs_runtime::outcome::{Disposition, Next, ReconcileError, StatusFields};
use fluxrs_runtime::reconcile_request;
use fluxrs_runtime::status::apply_status;
use fluxrs_runtime::status::finalizer::{Step, with_finalizer};
use kube::ResourceExt;
use oci_client::secrets::RegistryAuth;
use tracing::{info, warn};

use super::{
    Context, SourceFailure, artifact, blocking, mark_artifact_ready, mark_failure, notify,
    secret_data, timeout, was_failing,
};
use crate::Error;
use crate::ignore::IgnoreFilter;
use crate::oci::{Connection, OciRemote, registry_auth};
use crate::proxy::ProxyConfig;
use crate::storage::ObjectKey;

/// Kind name used in storage paths.
const KIND: &str = "OCIRepository";

/// Reconciles one OCIRepository (finalizer, then apply or cleanup).
pub async fn reconcile(obj: Arc<OCIRepository>, ctx: Arc<Context>) -> Result<Next, ReconcileError> {
    let client = ctx.client.clone();
    with_finalizer(&client, obj, |step| async move {
        match step {
            Step::Apply(obj) => apply(&obj, &ctx).await,
            Step::Cleanup(obj) => {
                ctx.storage.remove_all(&key(&obj)).map_err(|e| {
                    ReconcileError::transient(reasons::ARCHIVE_OPERATION_FAILED, e.to_string())
                })?;
                Ok(Next::AwaitChange)
            }
        }
    })
    .await
}

fn key(obj: &OCIRepository) -> ObjectKey {
    ObjectKey::new(KIND, &obj.namespace().unwrap_or_default(), &obj.name_any())
}

async fn apply(obj: &OCIRepository, ctx: &Context) -> Result<Next, ReconcileError> {
    let key = key(obj);
    let _lock = ctx.storage.lock(&key).await;
    let generation = obj.metadata.generation;
    let mut status = obj.status.clone().unwrap_or_default();
    let mut conditions = status.conditions.take().unwrap_or_default();
    let was_failing = was_failing(&conditions);
    let missing = status
        .artifact
        .as_ref()
        .is_some_and(|a| !ctx.storage.verify(&a.path, a.digest.as_deref()));
    if missing {
        status.artifact = None;
        conditions::remove(&mut conditions, types::ARTIFACT_IN_STORAGE);
    }

    let limit = timeout(obj.spec.timeout.as_deref());
    let stored =
        match tokio::time::timeout(limit, fetch_and_store(obj, ctx, &key, &mut status)).await {
            Ok(result) => result,
            Err(_) => Err(SourceFailure::fetch(&Error::OciPull(format!(
                "timeout of {}s exceeded",
                limit.as_secs()
            )))),
        };
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
    status.url = latest_url(ctx, &key, &status);
    status.conditions = Some(conditions);
    apply_status(&ctx.client, obj, &ctx.field_manager, &status)
        .await
        .map_err(|e| ReconcileError::transient(reasons::PATCH_OPERATION_FAILED, e.to_string()))?;
    let recovery = status
        .artifact
        .as_ref()
        .map(|a| {
            format!(
                "stored artifact with revision '{}' from '{}'",
                a.revision, obj.spec.url
            )
        })
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

/// `status.url`: the `latest.tar.gz` link to the current artifact, (re)made
/// on every reconcile so it also exists for artifacts stored before it was
/// introduced. A failure to link is logged and leaves the URL unset; the
/// artifact itself is unaffected.
fn latest_url(ctx: &Context, key: &ObjectKey, status: &OCIRepositoryStatus) -> Option<String> {
    let artifact = status.artifact.as_ref()?;
    let file_name = artifact.path.rsplit('/').next()?;
    ctx.storage
        .symlink_latest(key, file_name)
        .inspect_err(|error| warn!(%error, "failed to update the latest.tar.gz symlink"))
        .ok()
}

async fn fetch_and_store(
    obj: &OCIRepository,
    ctx: &Context,
    key: &ObjectKey,
    status: &mut OCIRepositoryStatus,
) -> Result<Option<Event>, SourceFailure> {
    let spec = &obj.spec;
    let namespace = obj.namespace().unwrap_or_default();
    let host = spec
        .url
        .trim_start_matches("oci://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let auth = match &spec.secret_ref {
        Some(secret) => {
            let data = secret_data(&ctx.client, &namespace, &secret.name)
                .await
                .map_err(|e| SourceFailure::fetch(&e))?;
            let config = data.get(".dockerconfigjson").ok_or_else(|| {
                SourceFailure::fetch(&Error::InvalidSecret(format!(
                    "secret '{}' has no '.dockerconfigjson'",
                    secret.name
                )))
            })?;
            registry_auth(config, &host).map_err(|e| SourceFailure::fetch(&e))?
        }
        None => RegistryAuth::Anonymous,
    };
    let mut connection = Connection::default();
    if let Some(certs) = &spec.cert_secret_ref {
        let data = secret_data(&ctx.client, &namespace, &certs.name)
            .await
            .map_err(|e| SourceFailure::fetch(&e))?;
        connection = connection
            .with_cert_secret(&data)
            .map_err(|e| SourceFailure::fetch(&e))?;
    }
    if let Some(proxy) = &spec.proxy_secret_ref {
        let data = secret_data(&ctx.client, &namespace, &proxy.name)
            .await
            .map_err(|e| SourceFailure::fetch(&e))?;
        connection.proxy =
            Some(ProxyConfig::from_secret(&data).map_err(|e| SourceFailure::fetch(&e))?);
    }
    let remote = OciRemote::new(&spec.url, spec.insecure.unwrap_or(false), auth)
        .and_then(|remote| remote.with_connection(&connection))
        .map_err(|e| SourceFailure::fetch(&e))?;
    let resolved = remote
        .resolve(spec.r#ref.as_ref())
        .await
        .map_err(|e| SourceFailure::fetch(&e))?;
    let revision = resolved.revision();
    let current = status
        .artifact
        .as_ref()
        .is_some_and(|a| a.revision == revision)
        && status.observed_ignore == spec.ignore
        && status.observed_layer_selector == spec.layer_selector;
    if current {
        info!(%revision, "no changes since last reconciliation");
        return Ok(None);
    }

    let work = tempfile::tempdir().map_err(|e| {
        SourceFailure::storage(&Error::Io {
            path: "/tmp".into(),
            message: e.to_string(),
        })
    })?;
    let pulled = remote
        .pull(
            &resolved,
            spec.layer_selector.as_ref(),
            work.path(),
            ctx.max_artifact_bytes,
        )
        .await
        .map_err(|e| SourceFailure::fetch(&e))?;
    let file_name = format!(
        "{}.tar.gz",
        resolved.digest.split(':').next_back().unwrap_or_default()
    );
    let copy =
        spec.layer_selector.as_ref().and_then(|s| s.operation) == Some(OCILayerOperation::Copy);
    let stored = {
        let storage = Arc::clone(&ctx.storage);
        let max_bytes = ctx.max_artifact_bytes;
        let (key, ignore, dir) = (key.clone(), spec.ignore.clone(), work.path().to_path_buf());
        blocking(move || {
            if copy {
                storage.store_file(&key, &file_name, &dir.join("layer.tgz"))
            } else {
                let content = dir.join("content");
                let filter = IgnoreFilter::for_tree(&content, ignore.as_deref())?;
                storage.archive(&key, &file_name, &content, &filter, max_bytes)
            }
        })
        .await
        .map_err(|e| SourceFailure::storage(&e))?
    };
    ctx.storage
        .garbage_collect(key, &stored.path)
        .map_err(|e| SourceFailure::storage(&e))?;
    let metadata = (!pulled.annotations.is_empty()).then_some(pulled.annotations);
    status.artifact = Some(artifact(&stored, &revision, metadata));
    status.observed_ignore = spec.ignore.clone();
    status.observed_layer_selector = spec.layer_selector.clone();
    info!(%revision, digest = %stored.digest, "stored artifact");
    let event = Event::new(
        EventType::Normal,
        "NewArtifact",
        format!(
            "stored artifact with revision '{revision}' from '{}'",
            spec.url
        ),
    )
    .with_metadata("revision", &revision)
    .with_metadata("digest", &stored.digest);
    Ok(Some(event))
}
