//! kstatus as Flux's tooling computes it.
//!
//! `kubectl wait`, Flux health checks and the `flux` CLI do not read Flux
//! objects field by field: they compute a kstatus (fluxcd/cli-utils
//! `pkg/kstatus/status/generic.go`). Controllers must leave their objects in
//! a state that computes to the right answer, and tests assert on the same
//! function the tools use.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;

use fluxrs_api::meta::FluxObject;

use super::{Condition, Status, get, has_status, types};

/// The kstatus of an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KStatus {
    /// The controller has not finished with the current generation.
    InProgress,
    /// The controller gave up: `Stalled=True`.
    Failed,
    /// The current generation is fully reconciled (or at least not failing).
    Current,
    /// The object is being deleted.
    Terminating,
}

/// Computes kstatus from an object's parts, in kstatus's order:
/// deletionTimestamp → Terminating; `status.observedGeneration` present and
/// different from `metadata.generation` → InProgress; `Reconciling=True` →
/// InProgress; `Stalled=True` → Failed; otherwise Current.
pub fn compute_kstatus(
    meta: &ObjectMeta,
    observed_generation: Option<i64>,
    conditions: &[Condition],
) -> KStatus {
    if meta.deletion_timestamp.is_some() {
        return KStatus::Terminating;
    }
    if let (Some(observed), Some(generation)) = (observed_generation, meta.generation)
        && observed != generation
    {
        return KStatus::InProgress;
    }
    if has_status(conditions, types::RECONCILING, Status::True) {
        return KStatus::InProgress;
    }
    if has_status(conditions, types::STALLED, Status::True) {
        return KStatus::Failed;
    }
    KStatus::Current
}

/// The kstatus of a Flux object (see [`compute_kstatus`]).
pub fn kstatus<K: Resource + FluxObject>(obj: &K) -> KStatus {
    compute_kstatus(obj.meta(), obj.observed_generation(), obj.conditions())
}

/// What the `flux` CLI concludes when it waits for an object to become ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliReadiness {
    /// Reconciled: kstatus Current and Ready=True for the current generation.
    Ready,
    /// Still working (or being deleted); keep waiting.
    InProgress,
    /// Reconciliation failed with this reason and message.
    Failed {
        /// Reason of the failing condition.
        reason: String,
        /// Message of the failing condition.
        message: String,
    },
}

/// Flux's CLI readiness check: kstatus first, then the Ready condition, where
/// a Ready condition whose `observedGeneration` is set (non-zero) and differs
/// from `metadata.generation` describes an older spec and does not count.
pub fn cli_readiness<K: Resource + FluxObject>(obj: &K) -> CliReadiness {
    let meta = obj.meta();
    let conditions = obj.conditions();
    let failed = |c: &Condition| CliReadiness::Failed {
        reason: c.reason.clone(),
        message: c.message.clone(),
    };
    match compute_kstatus(meta, obj.observed_generation(), conditions) {
        KStatus::Terminating | KStatus::InProgress => CliReadiness::InProgress,
        KStatus::Failed => match get(conditions, types::STALLED) {
            Some(stalled) => failed(stalled),
            None => CliReadiness::InProgress,
        },
        KStatus::Current => match get(conditions, types::READY) {
            None => CliReadiness::InProgress,
            Some(ready) => {
                let stale = ready
                    .observed_generation
                    .is_some_and(|g| g != 0 && Some(g) != meta.generation);
                if stale {
                    CliReadiness::InProgress
                } else if ready.status == Status::True.as_str() {
                    CliReadiness::Ready
                } else if ready.status == Status::False.as_str() {
                    failed(ready)
                } else {
                    CliReadiness::InProgress
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    use super::*;
    use crate::conditions::{mark_failed, mark_ready, mark_reconciling, mark_stalled, set};
    use crate::testing::TestObject;

    fn obj(generation: i64, observed: Option<i64>) -> TestObject {
        TestObject {
            meta: ObjectMeta {
                generation: Some(generation),
                ..ObjectMeta::default()
            },
            observed_generation: observed,
            ..TestObject::default()
        }
    }

    #[test]
    fn deletion_wins_over_everything() {
        let mut o = obj(2, Some(1));
        mark_stalled(&mut o.conditions, Some(2), "X", "y");
        o.meta.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert_eq!(kstatus(&o), KStatus::Terminating);
        assert_eq!(cli_readiness(&o), CliReadiness::InProgress);
    }

    #[test]
    fn stale_observed_generation_is_in_progress_even_if_ready() {
        let mut o = obj(2, Some(1));
        mark_ready(&mut o.conditions, Some(1), "Succeeded", "ok");
        assert_eq!(kstatus(&o), KStatus::InProgress);
        // The CRD default -1 on a new object counts as stale too.
        let o = obj(1, Some(-1));
        assert_eq!(kstatus(&o), KStatus::InProgress);
    }

    #[test]
    fn reconciling_is_checked_before_stalled() {
        let mut o = obj(1, Some(1));
        set(
            &mut o.conditions,
            types::STALLED,
            Status::True,
            "X",
            "y",
            Some(1),
        );
        set(
            &mut o.conditions,
            types::RECONCILING,
            Status::True,
            "X",
            "y",
            Some(1),
        );
        assert_eq!(kstatus(&o), KStatus::InProgress);
    }

    #[test]
    fn stalled_is_failed() {
        let mut o = obj(1, Some(1));
        mark_stalled(&mut o.conditions, Some(1), "InvalidURL", "bad url");
        assert_eq!(kstatus(&o), KStatus::Failed);
        assert_eq!(
            cli_readiness(&o),
            CliReadiness::Failed {
                reason: "InvalidURL".into(),
                message: "bad url".into()
            }
        );
    }

    #[test]
    fn ready_and_observed_is_current_and_ready() {
        let mut o = obj(3, Some(3));
        mark_reconciling(&mut o.conditions, Some(3), "working");
        assert_eq!(kstatus(&o), KStatus::InProgress);
        mark_ready(&mut o.conditions, Some(3), "Succeeded", "ok");
        assert_eq!(kstatus(&o), KStatus::Current);
        assert_eq!(cli_readiness(&o), CliReadiness::Ready);
    }

    #[test]
    fn missing_observed_generation_does_not_block_current() {
        let o = obj(1, None);
        assert_eq!(kstatus(&o), KStatus::Current);
        // ... but without a Ready condition the CLI keeps waiting.
        assert_eq!(cli_readiness(&o), CliReadiness::InProgress);
    }

    #[test]
    fn cli_ignores_ready_condition_of_older_generation() {
        let mut o = obj(4, None);
        mark_ready(&mut o.conditions, Some(3), "Succeeded", "ok");
        assert_eq!(kstatus(&o), KStatus::Current);
        assert_eq!(cli_readiness(&o), CliReadiness::InProgress);
        // observedGeneration 0 on the condition means "not set".
        mark_ready(&mut o.conditions, Some(0), "Succeeded", "ok");
        assert_eq!(cli_readiness(&o), CliReadiness::Ready);
    }

    #[test]
    fn cli_reports_ready_false_without_retry_as_failure() {
        let mut o = obj(1, Some(1));
        mark_failed(&mut o.conditions, Some(1), "FetchFailed", "timeout");
        // Still retrying: in progress.
        assert_eq!(cli_readiness(&o), CliReadiness::InProgress);
        crate::conditions::remove(&mut o.conditions, types::RECONCILING);
        assert_eq!(
            cli_readiness(&o),
            CliReadiness::Failed {
                reason: "FetchFailed".into(),
                message: "timeout".into()
            }
        );
    }
}
