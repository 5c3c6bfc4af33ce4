//! Flux conditions: the names, the setter and the kstatus helpers.
//!
//! Conditions are the contract between controllers, the `flux` CLI and
//! `kubectl wait` (see `spec/common.md` §2), so every controller writes them
//! through this module:
//!
//! * [`types`] and [`reasons`] hold the exact strings Flux uses;
//! * [`set`] is the only way a condition is written: `lastTransitionTime` moves
//!   only when status, reason or message change, messages are capped at
//!   [`MAX_MESSAGE_BYTES`], `observedGeneration` is stamped, and the list is kept
//!   sorted (Ready first) so status patches are stable;
//! * [`mark_reconciling`], [`mark_ready`], [`mark_stalled`] and [`mark_failed`]
//!   keep Ready/Reconciling/Stalled consistent with kstatus (never Reconciling
//!   after success, never Stalled together with Reconciling);
//! * [`kstatus`] computes what kstatus-based tools see, and [`cli_readiness`]
//!   what `flux` considers ready.

mod kstatus;

pub use kstatus::{CliReadiness, KStatus, cli_readiness, compute_kstatus, kstatus};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

pub use fluxrs_api::meta::Condition;

/// Condition types used by Flux objects.
pub mod types {
    /// Normal-polarity summary: True once the object is fully reconciled.
    pub const READY: &str = "Ready";
    /// Abnormal-true: present (True) only while work is in progress.
    pub const RECONCILING: &str = "Reconciling";
    /// Abnormal-true: present only for failures that retries cannot fix.
    pub const STALLED: &str = "Stalled";
    /// Kustomization health checks passed.
    pub const HEALTHY: &str = "Healthy";
    /// A source's artifact is stored and served.
    pub const ARTIFACT_IN_STORAGE: &str = "ArtifactInStorage";
    /// A source's stored artifact is older than its spec.
    pub const ARTIFACT_OUTDATED: &str = "ArtifactOutdated";
    /// A source could not fetch from upstream.
    pub const FETCH_FAILED: &str = "FetchFailed";
    /// A source could not build its artifact.
    pub const BUILD_FAILED: &str = "BuildFailed";
    /// A source could not write to or read from its storage.
    pub const STORAGE_OPERATION_FAILED: &str = "StorageOperationFailed";
    /// A GitRepository include could not be resolved.
    pub const INCLUDE_UNAVAILABLE: &str = "IncludeUnavailable";
    /// A source's signature verification result.
    pub const SOURCE_VERIFIED: &str = "SourceVerified";
    /// A HelmRelease was installed or upgraded.
    pub const RELEASED: &str = "Released";
    /// A HelmRelease's tests passed.
    pub const TEST_SUCCESS: &str = "TestSuccess";
    /// A HelmRelease was remediated after a failure.
    pub const REMEDIATED: &str = "Remediated";
    /// A HelmRelease's cluster state drifted from the release.
    pub const DRIFTED: &str = "Drifted";
}

/// Condition reasons from Flux's `meta` package and the source controllers.
pub mod reasons {
    /// The operation succeeded.
    pub const SUCCEEDED: &str = "Succeeded";
    /// The operation failed.
    pub const FAILED: &str = "Failed";
    /// Work is in progress.
    pub const PROGRESSING: &str = "Progressing";
    /// Work is in progress again after a failed attempt.
    pub const PROGRESSING_WITH_RETRY: &str = "ProgressingWithRetry";
    /// The object is suspended.
    pub const SUSPENDED: &str = "Suspended";
    /// A dependency is not ready yet.
    pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
    /// A path in the spec is invalid.
    pub const INVALID_PATH: &str = "InvalidPath";
    /// A URL in the spec is invalid.
    pub const INVALID_URL: &str = "InvalidURL";
    /// An insecure connection was requested but is not allowed.
    pub const INSECURE_CONNECTIONS_DISALLOWED: &str = "InsecureConnectionsDisallowed";
    /// The connection type is not supported.
    pub const UNSUPPORTED_CONNECTION_TYPE: &str = "UnsupportedConnectionType";
    /// Garbage collection of applied objects failed.
    pub const PRUNE_FAILED: &str = "PruneFailed";
    /// The source artifact could not be fetched or used.
    pub const ARTIFACT_FAILED: &str = "ArtifactFailed";
    /// Building manifests failed.
    pub const BUILD_FAILED: &str = "BuildFailed";
    /// Health checks failed.
    pub const HEALTH_CHECK_FAILED: &str = "HealthCheckFailed";
    /// Health checks were canceled.
    pub const HEALTH_CHECK_CANCELED: &str = "HealthCheckCanceled";
    /// The whole reconciliation succeeded.
    pub const RECONCILIATION_SUCCEEDED: &str = "ReconciliationSucceeded";
    /// The whole reconciliation failed.
    pub const RECONCILIATION_FAILED: &str = "ReconciliationFailed";
    /// A CEL expression in the spec is invalid.
    pub const INVALID_CEL_EXPRESSION: &str = "InvalidCELExpression";
    /// The spec uses a feature whose gate is disabled.
    pub const FEATURE_GATE_DISABLED: &str = "FeatureGateDisabled";
    /// A cross-namespace reference was refused (`--no-cross-namespace-refs`).
    pub const ACCESS_DENIED: &str = "AccessDenied";
    /// A source URL is invalid.
    pub const URL_INVALID: &str = "URLInvalid";
    /// Authentication to the source failed.
    pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
    /// Signature verification failed.
    pub const VERIFICATION_ERROR: &str = "VerificationError";
    /// A storage directory could not be created.
    pub const DIRECTORY_CREATION_FAILED: &str = "DirectoryCreationFailed";
    /// A storage stat call failed.
    pub const STAT_OPERATION_FAILED: &str = "StatOperationFailed";
    /// A storage read failed.
    pub const READ_OPERATION_FAILED: &str = "ReadOperationFailed";
    /// A storage lock could not be acquired.
    pub const ACQUIRE_LOCK_FAILED: &str = "AcquireLockFailed";
    /// Archiving the artifact failed.
    pub const ARCHIVE_OPERATION_FAILED: &str = "ArchiveOperationFailed";
    /// Updating the `latest` symlink failed.
    pub const SYMLINK_UPDATE_FAILED: &str = "SymlinkUpdateFailed";
    /// The stored artifact already matches upstream.
    pub const ARTIFACT_UP_TO_DATE: &str = "ArtifactUpToDate";
    /// A cache operation failed.
    pub const CACHE_OPERATION_FAILED: &str = "CacheOperationFailed";
    /// Patching an object failed.
    pub const PATCH_OPERATION_FAILED: &str = "PatchOperationFailed";
    /// The STS configuration is invalid.
    pub const INVALID_STS_CONFIGURATION: &str = "InvalidSTSConfiguration";
    /// The provider configuration is invalid.
    pub const INVALID_PROVIDER_CONFIGURATION: &str = "InvalidProviderConfiguration";
    /// A Git operation succeeded.
    pub const GIT_OPERATION_SUCCEEDED: &str = "GitOperationSucceeded";
    /// A Git operation failed.
    pub const GIT_OPERATION_FAILED: &str = "GitOperationFailed";
    /// Upstream has a new revision.
    pub const NEW_REVISION: &str = "NewRevision";
}

/// Upper bound of a condition message in bytes (kustomize-controller's cap,
/// well under the 32768 the CRD schema allows).
pub const MAX_MESSAGE_BYTES: usize = 20_000;

const TRUNCATION_MARKER: &str = "...";

/// A condition's status; serialized as the strings `True`, `False` and `Unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known yet.
    Unknown,
}

impl Status {
    /// The string stored in `Condition.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }

    /// All three statuses, in the order metrics enumerate them.
    pub const ALL: [Status; 3] = [Status::True, Status::False, Status::Unknown];
}

/// Cuts `message` to at most [`MAX_MESSAGE_BYTES`] on a character boundary,
/// ending a cut message with `...` so readers know it is incomplete.
pub fn cap_message(message: &str) -> String {
    truncate(message, MAX_MESSAGE_BYTES)
}

/// Cuts `text` to at most `max` bytes on a character boundary, ending a cut
/// text with `...`.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(TRUNCATION_MARKER.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{TRUNCATION_MARKER}", &text[..end])
}

/// The condition of `type_`, if present.
pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of `type_` is present with `status`.
pub fn has_status(conditions: &[Condition], type_: &str, status: Status) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == status.as_str())
}

/// Whether the condition of `type_` is present and True.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    has_status(conditions, type_, Status::True)
}

/// Whether the condition of `type_` is present and False.
pub fn is_false(conditions: &[Condition], type_: &str) -> bool {
    has_status(conditions, type_, Status::False)
}

/// Sets the condition of `type_`.
///
/// Guarantees: the message is capped ([`cap_message`]); `observedGeneration`
/// is `generation`; `lastTransitionTime` is kept when a condition of the same
/// type already has the same status, reason and message, and is now otherwise;
/// the list is sorted with Ready first, then by type, so the same state always
/// serializes the same way.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: Status,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) {
    set_at(
        conditions,
        type_,
        status,
        reason,
        message,
        generation,
        now(),
    );
}

fn now() -> Time {
    let now = Timestamp::now();
    // Conditions are serialized with second precision; keep the in-memory value
    // equal to what a round trip through the API server yields.
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

fn set_at(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: Status,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Time,
) {
    let message = cap_message(message);
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            let same_state = existing.status == status.as_str()
                && existing.reason == reason
                && existing.message == message;
            if !same_state {
                existing.last_transition_time = now;
            }
            existing.status = status.as_str().to_owned();
            existing.reason = reason.to_owned();
            existing.message = message;
            existing.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_owned(),
            status: status.as_str().to_owned(),
            reason: reason.to_owned(),
            message,
            observed_generation: generation,
            last_transition_time: now,
        }),
    }
    conditions.sort_by(|a, b| {
        (a.type_ != types::READY, &a.type_).cmp(&(b.type_ != types::READY, &b.type_))
    });
}

/// Removes the condition of `type_`; a no-op when absent.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

/// Marks the start of a reconcile attempt, as kstatus expects while work is in
/// progress.
///
/// Sets `Reconciling=True`. After a failed attempt (Ready is False) the reason
/// is `ProgressingWithRetry` and Ready keeps the failure so users still see
/// why the previous attempt failed; otherwise the reason is `Progressing` and
/// Ready becomes `Unknown/Progressing` with the same message. Stalled is
/// removed: a new attempt means the object is no longer known to be stuck.
pub fn mark_reconciling(conditions: &mut Vec<Condition>, generation: Option<i64>, message: &str) {
    remove(conditions, types::STALLED);
    if is_false(conditions, types::READY) {
        set(
            conditions,
            types::RECONCILING,
            Status::True,
            reasons::PROGRESSING_WITH_RETRY,
            message,
            generation,
        );
    } else {
        set(
            conditions,
            types::RECONCILING,
            Status::True,
            reasons::PROGRESSING,
            message,
            generation,
        );
        set(
            conditions,
            types::READY,
            Status::Unknown,
            reasons::PROGRESSING,
            message,
            generation,
        );
    }
}

/// Marks a fully reconciled object: `Ready=True` with `reason`/`message`, and
/// removes Reconciling and Stalled so kstatus reports Current.
pub fn mark_ready(
    conditions: &mut Vec<Condition>,
    generation: Option<i64>,
    reason: &str,
    message: &str,
) {
    set(
        conditions,
        types::READY,
        Status::True,
        reason,
        message,
        generation,
    );
    remove(conditions, types::RECONCILING);
    remove(conditions, types::STALLED);
}

/// Marks a failure that retrying cannot fix: `Stalled=True` and `Ready=False`
/// with `reason`/`message`, and removes Reconciling (kstatus checks Reconciling
/// before Stalled, so leaving it would hide the failure as InProgress).
pub fn mark_stalled(
    conditions: &mut Vec<Condition>,
    generation: Option<i64>,
    reason: &str,
    message: &str,
) {
    set(
        conditions,
        types::STALLED,
        Status::True,
        reason,
        message,
        generation,
    );
    set(
        conditions,
        types::READY,
        Status::False,
        reason,
        message,
        generation,
    );
    remove(conditions, types::RECONCILING);
}

/// Marks a failed attempt that will be retried: `Ready=False` with
/// `reason`/`message`, `Reconciling=True/ProgressingWithRetry` (kstatus keeps
/// reporting InProgress while retries go on), and no Stalled.
pub fn mark_failed(
    conditions: &mut Vec<Condition>,
    generation: Option<i64>,
    reason: &str,
    message: &str,
) {
    set(
        conditions,
        types::READY,
        Status::False,
        reason,
        message,
        generation,
    );
    set(
        conditions,
        types::RECONCILING,
        Status::True,
        reasons::PROGRESSING_WITH_RETRY,
        message,
        generation,
    );
    remove(conditions, types::STALLED);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(secs: i64) -> Time {
        match Timestamp::from_second(secs) {
            Ok(t) => Time(t),
            Err(e) => panic!("{e}"),
        }
    }

    fn ready(conditions: &[Condition]) -> &Condition {
        match get(conditions, types::READY) {
            Some(c) => c,
            None => panic!("no Ready condition in {conditions:?}"),
        }
    }

    #[test]
    fn new_condition_gets_transition_time_and_generation() {
        let mut c = Vec::new();
        set_at(
            &mut c,
            types::READY,
            Status::True,
            "Succeeded",
            "ok",
            Some(3),
            time(100),
        );
        let r = ready(&c);
        assert_eq!(r.status, "True");
        assert_eq!(r.reason, "Succeeded");
        assert_eq!(r.message, "ok");
        assert_eq!(r.observed_generation, Some(3));
        assert_eq!(r.last_transition_time, time(100));
    }

    #[test]
    fn unchanged_state_keeps_transition_time_but_updates_generation() {
        let mut c = Vec::new();
        set_at(
            &mut c,
            types::READY,
            Status::True,
            "Succeeded",
            "ok",
            Some(1),
            time(100),
        );
        set_at(
            &mut c,
            types::READY,
            Status::True,
            "Succeeded",
            "ok",
            Some(2),
            time(200),
        );
        assert_eq!(ready(&c).last_transition_time, time(100));
        assert_eq!(ready(&c).observed_generation, Some(2));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn status_reason_or_message_change_moves_transition_time() {
        let mut c = Vec::new();
        set_at(
            &mut c,
            types::READY,
            Status::True,
            "Succeeded",
            "ok",
            Some(1),
            time(100),
        );
        set_at(
            &mut c,
            types::READY,
            Status::False,
            "Succeeded",
            "ok",
            Some(1),
            time(200),
        );
        assert_eq!(ready(&c).last_transition_time, time(200));
        set_at(
            &mut c,
            types::READY,
            Status::False,
            "Failed",
            "ok",
            Some(1),
            time(300),
        );
        assert_eq!(ready(&c).last_transition_time, time(300));
        set_at(
            &mut c,
            types::READY,
            Status::False,
            "Failed",
            "other",
            Some(1),
            time(400),
        );
        assert_eq!(ready(&c).last_transition_time, time(400));
    }

    #[test]
    fn overlong_message_is_capped_on_char_boundary() {
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let mut c = Vec::new();
        set(&mut c, types::READY, Status::False, "Failed", &long, None);
        let msg = &ready(&c).message;
        assert!(msg.len() <= MAX_MESSAGE_BYTES);
        assert!(msg.ends_with("..."));
        // Setting the same long message again is "unchanged" (compared capped).
        let before = ready(&c).last_transition_time.clone();
        set_at(
            &mut c,
            types::READY,
            Status::False,
            "Failed",
            &long,
            None,
            time(1),
        );
        assert_eq!(ready(&c).last_transition_time, before);
    }

    #[test]
    fn short_message_is_not_touched() {
        assert_eq!(cap_message("fine"), "fine");
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdefg", 6), "abc...");
    }

    #[test]
    fn ready_sorts_first_then_by_type() {
        let mut c = Vec::new();
        set(&mut c, types::STALLED, Status::True, "x", "", None);
        set(
            &mut c,
            types::ARTIFACT_IN_STORAGE,
            Status::True,
            "x",
            "",
            None,
        );
        set(&mut c, types::READY, Status::False, "x", "", None);
        let order: Vec<_> = c.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(order, ["Ready", "ArtifactInStorage", "Stalled"]);
    }

    #[test]
    fn reconciling_on_fresh_object() {
        let mut c = Vec::new();
        mark_reconciling(&mut c, Some(1), "reconciliation in progress");
        assert!(is_true(&c, types::RECONCILING));
        assert_eq!(
            get(&c, types::RECONCILING).map(|c| c.reason.as_str()),
            Some("Progressing")
        );
        assert!(has_status(&c, types::READY, Status::Unknown));
        assert_eq!(ready(&c).reason, "Progressing");
    }

    #[test]
    fn reconciling_after_failure_retries_and_keeps_failure() {
        let mut c = Vec::new();
        mark_failed(&mut c, Some(1), "FetchFailed", "boom");
        mark_reconciling(&mut c, Some(1), "retrying");
        assert_eq!(
            get(&c, types::RECONCILING).map(|c| c.reason.as_str()),
            Some("ProgressingWithRetry")
        );
        assert!(is_false(&c, types::READY));
        assert_eq!(ready(&c).message, "boom");
    }

    #[test]
    fn ready_removes_reconciling_and_stalled() {
        let mut c = Vec::new();
        mark_stalled(&mut c, Some(1), "InvalidURL", "bad url");
        mark_reconciling(&mut c, Some(2), "working");
        mark_ready(&mut c, Some(2), "Succeeded", "done");
        assert_eq!(c.len(), 1);
        assert!(is_true(&c, types::READY));
    }

    #[test]
    fn stalled_removes_reconciling() {
        let mut c = Vec::new();
        mark_reconciling(&mut c, Some(1), "working");
        mark_stalled(&mut c, Some(1), "InvalidURL", "bad url");
        assert!(get(&c, types::RECONCILING).is_none());
        assert!(is_true(&c, types::STALLED));
        assert!(is_false(&c, types::READY));
        assert_eq!(ready(&c).reason, "InvalidURL");
    }

    #[test]
    fn failed_is_retrying_not_stalled() {
        let mut c = Vec::new();
        mark_stalled(&mut c, Some(1), "InvalidURL", "bad url");
        mark_failed(&mut c, Some(2), "FetchFailed", "timeout");
        assert!(get(&c, types::STALLED).is_none());
        assert!(is_true(&c, types::RECONCILING));
        assert_eq!(ready(&c).reason, "FetchFailed");
        assert_eq!(ready(&c).observed_generation, Some(2));
    }
}
