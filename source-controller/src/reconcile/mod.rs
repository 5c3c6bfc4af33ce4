//! Reconcilers of the source kinds and what they share: the context, Secret
//! lookup, and the mapping from source errors to Flux conditions.

pub mod git_repository;
pub mod include;
pub mod oci_repository;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fluxrs_api::meta::{Artifact, Condition};
use fluxrs_runtime::conditions::{self, Status, reasons, types};
use fluxrs_runtime::events::EventRecorder;
use fluxrs_runtime::outcome::ReconcileError;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{Api, Client};

use crate::Error;
use crate::storage::{Storage, StoredFile};

/// Everything a source reconcile needs, shared by all reconciles.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// The artifact store.
    pub storage: Arc<Storage>,
    /// Event recorder (reporting controller `source-controller`).
    pub events: EventRecorder,
    /// Field manager of status patches.
    pub field_manager: String,
    /// Largest artifact content accepted, in bytes.
    pub max_artifact_bytes: u64,
    /// Delay before retrying when a dependency (an include) is not ready.
    pub requeue_dependency: Duration,
}

/// A failure and the kind-specific condition it sets besides Ready.
pub struct SourceFailure {
    /// The condition type (`FetchFailed`, `StorageOperationFailed`, ...).
    pub condition: &'static str,
    /// What the runtime does with it.
    pub error: ReconcileError,
}

impl SourceFailure {
    /// A failure to fetch from the origin, with `context` (e.g. the URL) before
    /// the cause in the message.
    pub fn fetch_from(context: &str, error: &Error) -> Self {
        let failure = Self::fetch(error);
        let message = format!("{context}: {}", failure.error.message());
        let error = match failure.error.kind() {
            fluxrs_runtime::outcome::ErrorKind::Stalled => {
                ReconcileError::stalled(failure.error.reason(), message)
            }
            _ => ReconcileError::transient(failure.error.reason(), message),
        };
        Self { error, ..failure }
    }

    /// A failure to fetch from the origin.
    pub fn fetch(error: &Error) -> Self {
        let error = match error {
            Error::InvalidUrl(_) => {
                ReconcileError::stalled(reasons::URL_INVALID, error.to_string())
            }
            Error::InvalidSecret(_) | Error::Authentication(_) => {
                ReconcileError::transient(reasons::AUTHENTICATION_FAILED, error.to_string())
            }
            Error::OciPull(_) | Error::OciLayer(_) => {
                ReconcileError::transient("OCIArtifactPullFailed", error.to_string())
            }
            _ => ReconcileError::transient(reasons::GIT_OPERATION_FAILED, error.to_string()),
        };
        Self {
            condition: types::FETCH_FAILED,
            error,
        }
    }

    /// An included GitRepository has no artifact yet: wait for it.
    pub fn include(message: String, requeue_after: Duration) -> Self {
        Self {
            condition: types::INCLUDE_UNAVAILABLE,
            error: ReconcileError::waiting("NotFound", message, requeue_after),
        }
    }

    /// A failure to write or read the store.
    pub fn storage(error: &Error) -> Self {
        Self {
            condition: types::STORAGE_OPERATION_FAILED,
            error: ReconcileError::transient(reasons::ARCHIVE_OPERATION_FAILED, error.to_string()),
        }
    }
}

/// Reads a Secret's data in `namespace`; a missing Secret is an authentication
/// failure with the API's message, like upstream.
pub async fn secret_data(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = secrets.get(name).await.map_err(|e| {
        Error::InvalidSecret(format!("failed to get secret '{namespace}/{name}': {e}"))
    })?;
    Ok(secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

/// The `status.artifact` for a file written into the store.
pub fn artifact(
    stored: &StoredFile,
    revision: &str,
    metadata: Option<BTreeMap<String, String>>,
) -> Artifact {
    Artifact {
        path: stored.path.clone(),
        url: stored.url.clone(),
        revision: revision.to_string(),
        digest: Some(stored.digest.clone()),
        last_update_time: Time(k8s_openapi::jiff::Timestamp::now()),
        size: i64::try_from(stored.size).ok(),
        metadata,
    }
}

/// Conditions after a successful reconcile that stored (or kept) `revision`.
pub fn mark_artifact_ready(
    conditions: &mut Vec<Condition>,
    generation: Option<i64>,
    revision: &str,
) {
    let message = format!("stored artifact for revision '{revision}'");
    for type_ in [
        types::FETCH_FAILED,
        types::STORAGE_OPERATION_FAILED,
        types::ARTIFACT_OUTDATED,
        types::INCLUDE_UNAVAILABLE,
    ] {
        conditions::remove(conditions, type_);
    }
    conditions::set(
        conditions,
        types::ARTIFACT_IN_STORAGE,
        Status::True,
        reasons::SUCCEEDED,
        &message,
        generation,
    );
    conditions::mark_ready(conditions, generation, reasons::SUCCEEDED, &message);
}

/// Conditions after a failure: the kind-specific condition; Ready, Reconciling
/// and Stalled come from the runtime's outcome table.
pub fn mark_failure(
    conditions: &mut Vec<Condition>,
    generation: Option<i64>,
    failure: &SourceFailure,
) {
    conditions::set(
        conditions,
        failure.condition,
        Status::True,
        failure.error.reason(),
        failure.error.message(),
        generation,
    );
}

/// `spec.timeout` as a duration (default 60s).
pub fn timeout(spec_timeout: Option<&str>) -> Duration {
    spec_timeout
        .and_then(|t| fluxrs_runtime::interval::parse_duration(t).ok())
        .unwrap_or(Duration::from_secs(60))
}

/// Runs blocking Git or file work off the async runtime.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io {
            path: "background task".into(),
            message: e.to_string(),
        })?
}
