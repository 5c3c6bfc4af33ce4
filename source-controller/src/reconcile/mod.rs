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
use fluxrs_runtime::events::{Event, EventRecorder, EventType};
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
    /// The condition's status: True for the abnormal-true failure
    /// conditions, False for `SourceVerified`.
    pub status: Status,
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
            status: Status::True,
            error,
        }
    }

    /// An included GitRepository has no artifact yet: wait for it.
    pub fn include(message: String, requeue_after: Duration) -> Self {
        Self {
            condition: types::INCLUDE_UNAVAILABLE,
            status: Status::True,
            error: ReconcileError::waiting("NotFound", message, requeue_after),
        }
    }

    /// A failure to write or read the store.
    pub fn storage(error: &Error) -> Self {
        Self {
            condition: types::STORAGE_OPERATION_FAILED,
            status: Status::True,
            error: ReconcileError::transient(reasons::ARCHIVE_OPERATION_FAILED, error.to_string()),
        }
    }

    /// The checkout's signatures do not verify (or cannot be verified):
    /// `SourceVerified=False`, and no artifact is stored.
    pub fn verification(reason: &str, message: String) -> Self {
        Self {
            condition: types::SOURCE_VERIFIED,
            status: Status::False,
            error: ReconcileError::transient(reason, message),
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
        failure.status,
        failure.error.reason(),
        failure.error.message(),
        generation,
    );
}

/// Conditions that mark a failed reconcile (upstream's fail conditions of
/// GitRepository and OCIRepository).
const FAIL_CONDITIONS: [&str; 3] = [
    types::FETCH_FAILED,
    types::INCLUDE_UNAVAILABLE,
    types::STORAGE_OPERATION_FAILED,
];

/// Whether the previous reconcile failed, judged from the conditions it left.
pub fn was_failing(conditions: &[Condition]) -> bool {
    FAIL_CONDITIONS
        .iter()
        .any(|type_| conditions::is_true(conditions, type_))
}

/// The events a finished reconcile records, as upstream's `notify`: the
/// `NewArtifact` event when a new artifact was stored; `Succeeded` with
/// `recovery_message` when an object that was failing works again with the
/// artifact it had; on failure the runtime's failure event. Events about an
/// existing artifact carry its revision and digest, so alerts say which
/// revision is still served.
pub fn notify(
    new_artifact: Option<Event>,
    failure: Option<Event>,
    was_failing: bool,
    artifact: Option<&Artifact>,
    recovery_message: &str,
) -> Option<Event> {
    let annotate = |event: Event| match artifact {
        Some(artifact) => event
            .with_metadata("revision", &artifact.revision)
            .with_metadata("digest", artifact.digest.clone().unwrap_or_default()),
        None => event,
    };
    if let Some(failure) = failure {
        return Some(annotate(failure));
    }
    if new_artifact.is_some() {
        return new_artifact;
    }
    (was_failing && artifact.is_some()).then(|| {
        annotate(Event::new(
            EventType::Normal,
            reasons::SUCCEEDED,
            recovery_message,
        ))
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(revision: &str) -> Artifact {
        Artifact {
            path: "p".into(),
            url: "u".into(),
            revision: revision.into(),
            digest: Some("sha256:00".into()),
            last_update_time: Time(k8s_openapi::jiff::Timestamp::now()),
            size: None,
            metadata: None,
        }
    }

    #[test]
    fn failure_events_carry_the_served_revision() {
        let failure = Event::new(EventType::Warning, "GitOperationFailed", "boom");
        let event = notify(None, Some(failure), false, Some(&stored("main@sha1:1")), "")
            .expect("failure event");
        assert_eq!(event.reason, "GitOperationFailed");
        assert_eq!(
            event.metadata.get("revision").map(String::as_str),
            Some("main@sha1:1")
        );
    }

    #[test]
    fn recovery_is_announced_once() {
        let artifact = stored("main@sha1:1");
        let recovered =
            notify(None, None, true, Some(&artifact), "stored artifact").expect("recovery event");
        assert_eq!(
            (recovered.type_, recovered.reason.as_str()),
            (EventType::Normal, "Succeeded")
        );
        assert_eq!(notify(None, None, false, Some(&artifact), "x"), None);
        let new = Event::new(EventType::Normal, "NewArtifact", "stored");
        assert_eq!(
            notify(Some(new.clone()), None, true, Some(&artifact), "x"),
            Some(new),
            "a new artifact after a failure is announced as new, not as recovery"
        );
    }

    #[test]
    fn fail_conditions_mark_a_failing_object() {
        let mut conditions = Vec::new();
        assert!(!was_failing(&conditions));
        conditions::set(
            &mut conditions,
            types::FETCH_FAILED,
            Status::True,
            "GitOperationFailed",
            "boom",
            Some(1),
        );
        assert!(was_failing(&conditions));
    }
}
