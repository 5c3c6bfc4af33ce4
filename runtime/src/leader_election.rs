//! Lease-based leader election.
//!
//! Flux controllers run with `--enable-leader-election` so that only one
//! replica reconciles at a time. The lock is the coordination.k8s.io/v1 Lease
//! `<controller-name>-leader-election` in `RUNTIME_NAMESPACE`, with the same
//! record and timings as client-go (`spec/common.md` §8), so a flux-rs
//! controller and a Go one would not both lead.
//!
//! * A candidate takes the lease when it is free or when its record has not
//!   changed for a whole lease duration, measured on the candidate's own
//!   clock from when it last saw the record change (not from `renewTime`, so
//!   clock skew between nodes does not matter).
//! * Every write replaces the Lease with the `resourceVersion` it read, so of
//!   two racing candidates exactly one wins.
//! * The leader renews every retry period; if it cannot renew for the renew
//!   deadline, or finds another holder, it has lost the lease and
//!   [`LeaderElector::lead`] returns [`Error::LeadershipLost`] so the process
//!   exits before another replica starts reconciling.
//! * When the led work ends (shutdown), the lease is released (holder
//!   cleared, duration 1s) when `release_on_cancel` is set, so the next
//!   replica takes over at once.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::outcome::describe;

/// Default of `--leader-election-lease-duration`.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(35);
/// Default of `--leader-election-renew-deadline`.
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(30);
/// Default of `--leader-election-retry-period`.
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(5);

/// Timings and behaviour of the election.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderElectionConfig {
    /// How long a lease is valid without renewal.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before giving up.
    pub renew_deadline: Duration,
    /// Delay between attempts to acquire or renew.
    pub retry_period: Duration,
    /// Release the lease when the led work ends.
    pub release_on_cancel: bool,
}

impl Default for LeaderElectionConfig {
    fn default() -> Self {
        Self {
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry_period: DEFAULT_RETRY_PERIOD,
            release_on_cancel: true,
        }
    }
}

/// The name of a controller's Lease.
pub fn lease_name(controller: &str) -> String {
    format!("{controller}-leader-election")
}

/// What a candidate should do with the lease it just read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The lease is free or expired: take it.
    Acquire,
    /// We hold it: renew it.
    Renew,
    /// Someone else holds a live lease: wait.
    Wait,
}

/// Decides from the lease holder and when the record was last seen changing.
///
/// `observed_at` is the local instant at which this candidate first saw the
/// current record; the lease is expired when `now` is at least
/// `lease_duration` past it.
pub fn decide(
    identity: &str,
    holder: Option<&str>,
    observed_at: Instant,
    lease_duration: Duration,
    now: Instant,
) -> Decision {
    match holder {
        None | Some("") => Decision::Acquire,
        Some(holder) if holder == identity => Decision::Renew,
        Some(_) if now.saturating_duration_since(observed_at) >= lease_duration => {
            Decision::Acquire
        }
        Some(_) => Decision::Wait,
    }
}

/// The lease record after `decision` (which must be Acquire or Renew) by
/// `identity` at `now`: acquiring sets acquireTime and counts a transition
/// when the lease had another holder; renewing only moves renewTime.
pub fn next_spec(
    current: Option<&LeaseSpec>,
    identity: &str,
    decision: Decision,
    lease_duration: Duration,
    now: Timestamp,
) -> LeaseSpec {
    let current = current.cloned().unwrap_or_default();
    let transitions = current.lease_transitions.unwrap_or(0);
    let had_other_holder = current
        .holder_identity
        .as_deref()
        .is_some_and(|h| !h.is_empty() && h != identity);
    let (acquire_time, lease_transitions) = match decision {
        Decision::Renew => (
            current.acquire_time.clone().or(Some(MicroTime(now))),
            transitions,
        ),
        Decision::Acquire | Decision::Wait => (
            Some(MicroTime(now)),
            if had_other_holder {
                transitions.saturating_add(1)
            } else {
                transitions
            },
        ),
    };
    LeaseSpec {
        holder_identity: Some(identity.to_owned()),
        lease_duration_seconds: Some(seconds(lease_duration)),
        acquire_time,
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(lease_transitions),
        ..current
    }
}

/// The lease record that releases `current`: no holder, a 1s duration, so
/// any candidate can take it immediately.
pub fn released_spec(current: Option<&LeaseSpec>, now: Timestamp) -> LeaseSpec {
    let current = current.cloned().unwrap_or_default();
    LeaseSpec {
        holder_identity: None,
        lease_duration_seconds: Some(1),
        acquire_time: Some(MicroTime(now)),
        renew_time: Some(MicroTime(now)),
        ..current
    }
}

/// Whole seconds for `leaseDurationSeconds`, rounded up and at least 1: the
/// API server rejects 0, which a sub-second lease duration would truncate to.
fn seconds(d: Duration) -> i32 {
    let whole = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(whole.max(1)).unwrap_or(i32::MAX)
}

/// A record as far as change detection is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RecordKey {
    holder: Option<String>,
    renew_time: Option<String>,
    resource_version: Option<String>,
}

impl RecordKey {
    fn of(lease: &Lease) -> Self {
        let spec = lease.spec.as_ref();
        Self {
            holder: spec.and_then(|s| s.holder_identity.clone()),
            renew_time: spec
                .and_then(|s| s.renew_time.as_ref())
                .map(|t| t.0.to_string()),
            resource_version: lease.metadata.resource_version.clone(),
        }
    }
}

/// One candidate in the election for one controller's Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    config: LeaderElectionConfig,
    observed: Option<(RecordKey, Instant)>,
}

impl LeaderElector {
    /// A candidate for `<controller>-leader-election` in `namespace`, with an
    /// identity of the pod name plus a random suffix (as client-go), so two
    /// processes in one pod never share an identity.
    pub fn new(
        client: Client,
        namespace: &str,
        controller: &str,
        config: LeaderElectionConfig,
    ) -> Self {
        let host = crate::host::hostname().unwrap_or_else(|| controller.to_owned());
        let identity = format!("{host}_{:016x}", rand::random::<u64>());
        Self {
            api: Api::namespaced(client, namespace),
            name: lease_name(controller),
            identity,
            config,
            observed: None,
        }
    }

    /// This candidate's identity as written into the Lease.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Waits until this candidate holds the lease, retrying every retry
    /// period; API errors are logged and retried.
    pub async fn acquire(&mut self) {
        info!(lease = %self.name, identity = %self.identity, "attempting to acquire leader lease");
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    info!(lease = %self.name, identity = %self.identity, "successfully acquired lease");
                    return;
                }
                Ok(false) => {}
                Err(error) => {
                    warn!(error = %describe(&error), lease = %self.name, "error retrieving lease")
                }
            }
            tokio::time::sleep(self.config.retry_period).await;
        }
    }

    /// Runs `work` while renewing the lease; call after [`Self::acquire`].
    ///
    /// Returns `work`'s output when it finishes (after releasing the lease if
    /// configured), or [`Error::LeadershipLost`] as soon as the lease is lost;
    /// `work` is dropped (cancelled) in that case.
    pub async fn lead<F: Future>(mut self, work: F) -> Result<F::Output> {
        let outcome = {
            let renew = self.keep_renewing();
            tokio::pin!(renew, work);
            tokio::select! {
                output = &mut work => Ok(output),
                lost = &mut renew => Err(lost),
            }
        };
        let output = outcome?;
        if self.config.release_on_cancel {
            self.release().await;
        }
        Ok(output)
    }

    /// Renews until the lease is lost; returns why.
    async fn keep_renewing(&mut self) -> Error {
        let mut last_renewal = Instant::now();
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            let remaining = self
                .config
                .renew_deadline
                .saturating_sub(last_renewal.elapsed());
            match tokio::time::timeout(remaining, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => last_renewal = Instant::now(),
                Ok(Ok(false)) => {
                    return Error::LeadershipLost {
                        lease: self.name.clone(),
                    };
                }
                Ok(Err(error)) => {
                    warn!(error = %describe(&error), lease = %self.name, "failed to renew lease");
                }
                Err(_) => warn!(lease = %self.name, "timed out renewing lease"),
            }
            if last_renewal.elapsed() >= self.config.renew_deadline {
                return Error::LeadershipLost {
                    lease: self.name.clone(),
                };
            }
        }
    }

    /// One read-decide-write round; `Ok(true)` when we hold the lease after it.
    async fn try_acquire_or_renew(&mut self) -> Result<bool> {
        let now = Timestamp::now();
        let current = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(Error::ReadLease)?;
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(next_spec(
                    None,
                    &self.identity,
                    Decision::Acquire,
                    self.config.lease_duration,
                    now,
                )),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(source) => Err(Error::WriteLease(source)),
            };
        };
        let key = RecordKey::of(&lease);
        let observed_at = match &self.observed {
            Some((seen, at)) if *seen == key => *at,
            _ => {
                let at = Instant::now();
                self.observed = Some((key, at));
                at
            }
        };
        let holder = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref());
        let decision = decide(
            &self.identity,
            holder,
            observed_at,
            self.config.lease_duration,
            Instant::now(),
        );
        if decision == Decision::Wait {
            return Ok(false);
        }
        lease.spec = Some(next_spec(
            lease.spec.as_ref(),
            &self.identity,
            decision,
            self.config.lease_duration,
            now,
        ));
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(stored) => {
                self.observed = Some((RecordKey::of(&stored), Instant::now()));
                Ok(true)
            }
            // Another candidate won the race for a free or expired lease.
            Err(kube::Error::Api(status))
                if status.code == 409 && decision == Decision::Acquire =>
            {
                Ok(false)
            }
            // A conflict while renewing only says someone wrote the Lease
            // (a label, say); whether we still hold it is known at the next
            // read, so it is retried until the renew deadline like any
            // failed renewal.
            Err(source) => Err(Error::WriteLease(source)),
        }
    }

    /// Gives the lease up if we still hold it; failures are logged (the lease
    /// then simply expires).
    async fn release(&mut self) {
        let result = async {
            let Some(mut lease) = self
                .api
                .get_opt(&self.name)
                .await
                .map_err(Error::ReadLease)?
            else {
                return Ok(());
            };
            let holder = lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.as_deref());
            if holder != Some(self.identity.as_str()) {
                return Ok(());
            }
            lease.spec = Some(released_spec(lease.spec.as_ref(), Timestamp::now()));
            self.api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
                .map(drop)
                .map_err(Error::WriteLease)
        }
        .await;
        match result {
            Ok(()) => info!(lease = %self.name, "released leader lease"),
            Err(error) => {
                warn!(error = %describe(&error), lease = %self.name, "failed to release leader lease");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "pod-a_1";
    const OTHER: &str = "pod-b_2";

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).expect("timestamp")
    }

    #[test]
    fn lease_is_named_after_controller() {
        assert_eq!(
            lease_name("source-controller"),
            "source-controller-leader-election"
        );
    }

    #[test]
    fn free_lease_is_acquired() {
        let now = Instant::now();
        assert_eq!(
            decide(ME, None, now, DEFAULT_LEASE_DURATION, now),
            Decision::Acquire
        );
        assert_eq!(
            decide(ME, Some(""), now, DEFAULT_LEASE_DURATION, now),
            Decision::Acquire
        );
    }

    #[test]
    fn own_lease_is_renewed() {
        let now = Instant::now();
        assert_eq!(
            decide(ME, Some(ME), now, DEFAULT_LEASE_DURATION, now),
            Decision::Renew
        );
    }

    #[test]
    fn live_foreign_lease_is_respected_until_expiry() {
        let seen = Instant::now();
        let d = DEFAULT_LEASE_DURATION;
        assert_eq!(decide(ME, Some(OTHER), seen, d, seen), Decision::Wait);
        let almost = seen + d - Duration::from_millis(1);
        assert_eq!(decide(ME, Some(OTHER), seen, d, almost), Decision::Wait);
        assert_eq!(
            decide(ME, Some(OTHER), seen, d, seen + d),
            Decision::Acquire
        );
    }

    #[test]
    fn acquiring_a_new_lease_starts_record() {
        let spec = next_spec(None, ME, Decision::Acquire, DEFAULT_LEASE_DURATION, at(100));
        assert_eq!(spec.holder_identity.as_deref(), Some(ME));
        assert_eq!(spec.lease_duration_seconds, Some(35));
        assert_eq!(spec.acquire_time, Some(MicroTime(at(100))));
        assert_eq!(spec.renew_time, Some(MicroTime(at(100))));
        assert_eq!(spec.lease_transitions, Some(0));
    }

    #[test]
    fn taking_over_counts_a_transition() {
        let old = next_spec(
            None,
            OTHER,
            Decision::Acquire,
            DEFAULT_LEASE_DURATION,
            at(1),
        );
        let spec = next_spec(
            Some(&old),
            ME,
            Decision::Acquire,
            DEFAULT_LEASE_DURATION,
            at(100),
        );
        assert_eq!(spec.holder_identity.as_deref(), Some(ME));
        assert_eq!(spec.lease_transitions, Some(1));
        assert_eq!(spec.acquire_time, Some(MicroTime(at(100))));
    }

    #[test]
    fn acquiring_a_released_lease_is_not_a_transition() {
        let old = next_spec(
            None,
            OTHER,
            Decision::Acquire,
            DEFAULT_LEASE_DURATION,
            at(1),
        );
        let released = released_spec(Some(&old), at(2));
        assert_eq!(released.holder_identity, None);
        assert_eq!(released.lease_duration_seconds, Some(1));
        let spec = next_spec(
            Some(&released),
            ME,
            Decision::Acquire,
            DEFAULT_LEASE_DURATION,
            at(3),
        );
        assert_eq!(spec.lease_transitions, Some(0));
    }

    #[test]
    fn renewing_keeps_acquire_time() {
        let first = next_spec(None, ME, Decision::Acquire, DEFAULT_LEASE_DURATION, at(1));
        let renewed = next_spec(
            Some(&first),
            ME,
            Decision::Renew,
            DEFAULT_LEASE_DURATION,
            at(50),
        );
        assert_eq!(renewed.acquire_time, Some(MicroTime(at(1))));
        assert_eq!(renewed.renew_time, Some(MicroTime(at(50))));
        assert_eq!(renewed.lease_transitions, Some(0));
    }

    #[test]
    fn lease_duration_seconds_round_up_and_are_never_zero() {
        assert_eq!(seconds(Duration::from_secs(35)), 35);
        assert_eq!(seconds(Duration::from_millis(1500)), 2);
        assert_eq!(seconds(Duration::from_millis(900)), 1);
        assert_eq!(seconds(Duration::ZERO), 1);
    }

    #[test]
    fn default_timings_match_flux() {
        let c = LeaderElectionConfig::default();
        assert_eq!(c.lease_duration, Duration::from_secs(35));
        assert_eq!(c.renew_deadline, Duration::from_secs(30));
        assert_eq!(c.retry_period, Duration::from_secs(5));
        assert!(c.release_on_cancel);
    }
}
