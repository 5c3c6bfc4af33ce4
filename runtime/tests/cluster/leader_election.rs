//! `leader_election::LeaderElector` with two candidates for one Lease in a
//! test namespace (short timings): only one leads at a time while the leader
//! renews; a leader that finishes releases the lease and the other takes
//! over; a leader that vanishes without releasing is replaced once the lease
//! expires; a leader whose lease is taken stops its work with
//! `LeadershipLost`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::oneshot;

use fluxrs_runtime::Error;
use fluxrs_runtime::leader_election::{LeaderElectionConfig, LeaderElector, lease_name};

use crate::common::{TIMEOUT, poll, setup};

const CONTROLLER: &str = "test-controller";

fn config() -> LeaderElectionConfig {
    LeaderElectionConfig {
        lease_duration: Duration::from_secs(3),
        renew_deadline: Duration::from_secs(2),
        retry_period: Duration::from_millis(300),
        release_on_cancel: true,
    }
}

fn candidate(client: &Client, namespace: &str) -> LeaderElector {
    LeaderElector::new(client.clone(), namespace, CONTROLLER, config())
}

async fn lease(client: &Client, namespace: &str) -> Result<Lease> {
    Api::<Lease>::namespaced(client.clone(), namespace)
        .get(&lease_name(CONTROLLER))
        .await
        .context("reading the Lease")
}

fn holder(lease: &Lease) -> Option<&str> {
    lease.spec.as_ref()?.holder_identity.as_deref()
}

/// Work that counts how many candidates lead at once and finishes on `stop`.
async fn exclusive_work(
    leaders: Arc<AtomicUsize>,
    started: oneshot::Sender<()>,
    stop: oneshot::Receiver<()>,
) {
    let concurrent = leaders.fetch_add(1, Ordering::SeqCst) + 1;
    assert_eq!(concurrent, 1, "two candidates lead at the same time");
    let _ = started.send(());
    let _ = stop.await;
    leaders.fetch_sub(1, Ordering::SeqCst);
}

#[tokio::test]
async fn one_leader_at_a_time_and_release_hands_over() -> Result<()> {
    let (client, namespace) = setup("leader-release").await?;
    let leaders = Arc::new(AtomicUsize::new(0));

    let mut a = candidate(&client, &namespace);
    let a_identity = a.identity().to_owned();
    tokio::time::timeout(TIMEOUT, a.acquire())
        .await
        .context("the first candidate did not acquire a free lease")?;
    let (a_started, a_started_rx) = oneshot::channel();
    let (stop_a, stop_a_rx) = oneshot::channel();
    let a_task = tokio::spawn(a.lead(exclusive_work(Arc::clone(&leaders), a_started, stop_a_rx)));
    a_started_rx.await?;
    let stored = lease(&client, &namespace).await?;
    assert_eq!(holder(&stored), Some(a_identity.as_str()));
    assert_eq!(
        stored.spec.as_ref().and_then(|s| s.lease_duration_seconds),
        Some(3)
    );

    let mut b = candidate(&client, &namespace);
    let b_identity = b.identity().to_owned();
    assert_ne!(a_identity, b_identity);
    let (b_started, b_started_rx) = oneshot::channel();
    let (stop_b, stop_b_rx) = oneshot::channel();
    let b_leaders = Arc::clone(&leaders);
    let b_task = tokio::spawn(async move {
        b.acquire().await;
        b.lead(exclusive_work(b_leaders, b_started, stop_b_rx))
            .await
    });

    // While the leader renews, the other candidate must not take over, even
    // for well over a lease duration.
    let mut b_started_rx = b_started_rx;
    let waited = tokio::time::timeout(3 * config().lease_duration, &mut b_started_rx).await;
    if waited.is_ok() {
        bail!("the second candidate took a lease that was being renewed");
    }
    let stored = lease(&client, &namespace).await?;
    assert_eq!(holder(&stored), Some(a_identity.as_str()));

    // The leader finishes: it releases the lease and the other takes over.
    let _ = stop_a.send(());
    tokio::time::timeout(TIMEOUT, a_task)
        .await
        .context("the leader did not stop")???;
    tokio::time::timeout(TIMEOUT, b_started_rx)
        .await
        .context("the second candidate did not take over a released lease")??;
    let stored = lease(&client, &namespace).await?;
    assert_eq!(holder(&stored), Some(b_identity.as_str()));
    assert_eq!(
        stored.spec.as_ref().and_then(|s| s.lease_transitions),
        Some(0),
        "taking a released lease is not a transition"
    );

    let _ = stop_b.send(());
    tokio::time::timeout(TIMEOUT, b_task)
        .await
        .context("the second leader did not stop")???;
    let stored = lease(&client, &namespace).await?;
    assert_eq!(holder(&stored), None, "the last leader released the lease");
    Ok(())
}

#[tokio::test]
async fn a_vanished_leader_is_replaced_after_the_lease_expires() -> Result<()> {
    let (client, namespace) = setup("leader-expiry").await?;
    let mut a = candidate(&client, &namespace);
    let a_identity = a.identity().to_owned();
    tokio::time::timeout(TIMEOUT, a.acquire())
        .await
        .context("the first candidate did not acquire a free lease")?;
    // The leader's process dies: its task is cancelled, nothing is released.
    let a_task = tokio::spawn(a.lead(futures::future::pending::<()>()));
    let b_identity = {
        let mut b = candidate(&client, &namespace);
        let identity = b.identity().to_owned();
        let stored = lease(&client, &namespace).await?;
        assert_eq!(holder(&stored), Some(a_identity.as_str()));
        a_task.abort();
        tokio::time::timeout(TIMEOUT, b.acquire())
            .await
            .context("the second candidate did not take over an expired lease")?;
        identity
    };
    let stored = lease(&client, &namespace).await?;
    assert_eq!(holder(&stored), Some(b_identity.as_str()));
    assert_eq!(
        stored.spec.as_ref().and_then(|s| s.lease_transitions),
        Some(1),
        "taking over from another holder is a transition"
    );
    Ok(())
}

#[tokio::test]
async fn a_leader_whose_lease_is_taken_stops_its_work() -> Result<()> {
    let (client, namespace) = setup("leader-lost").await?;
    let mut a = candidate(&client, &namespace);
    tokio::time::timeout(TIMEOUT, a.acquire())
        .await
        .context("the candidate did not acquire a free lease")?;
    let work_dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(Arc::clone(&work_dropped));
    let a_task = tokio::spawn(a.lead(async move {
        let _guard = guard;
        futures::future::pending::<()>().await;
    }));

    // Another replica (say, after a network partition) writes itself in.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    poll("taking the lease over", || async {
        let mut stored = lease(&client, &namespace).await?;
        if let Some(spec) = stored.spec.as_mut() {
            spec.holder_identity = Some("intruder".to_owned());
        }
        match leases
            .replace(&lease_name(CONTROLLER), &PostParams::default(), &stored)
            .await
        {
            Ok(_) => Ok(Some(())),
            // The leader renewed in between: read again.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(None),
            Err(error) => Err(error.into()),
        }
    })
    .await?;

    let result = tokio::time::timeout(TIMEOUT, a_task)
        .await
        .context("the leader kept leading after losing its lease")??;
    match result {
        Err(Error::LeadershipLost { lease }) => assert_eq!(lease, lease_name(CONTROLLER)),
        other => bail!("expected LeadershipLost, got {other:?}"),
    }
    assert_eq!(
        work_dropped.load(Ordering::SeqCst),
        1,
        "the work was cancelled"
    );
    let stored = lease(&client, &namespace).await?;
    assert_eq!(
        holder(&stored),
        Some("intruder"),
        "the lost lease is not released"
    );
    Ok(())
}

struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn sub_second_lease_durations_are_written_as_valid_leases() -> Result<()> {
    let (client, namespace) = setup("leader-short").await?;
    let config = LeaderElectionConfig {
        lease_duration: Duration::from_millis(900),
        renew_deadline: Duration::from_millis(600),
        retry_period: Duration::from_millis(100),
        release_on_cancel: true,
    };
    let mut a = LeaderElector::new(client.clone(), &namespace, CONTROLLER, config);
    tokio::time::timeout(TIMEOUT, a.acquire())
        .await
        .context("a candidate with a 900ms lease never acquired it")?;
    let stored = lease(&client, &namespace).await?;
    assert_eq!(holder(&stored), Some(a.identity()));
    assert_eq!(
        stored.spec.as_ref().and_then(|s| s.lease_duration_seconds),
        Some(1),
        "rounded up to whole seconds, never 0 (which the API server rejects)"
    );
    Ok(())
}

#[tokio::test]
async fn a_write_conflict_while_renewing_is_retried_not_fatal() -> Result<()> {
    let (client, namespace) = setup("leader-conflict").await?;
    let config = LeaderElectionConfig {
        lease_duration: Duration::from_secs(8),
        renew_deadline: Duration::from_secs(6),
        retry_period: Duration::from_millis(100),
        release_on_cancel: true,
    };
    let mut a = LeaderElector::new(client.clone(), &namespace, CONTROLLER, config);
    let a_identity = a.identity().to_owned();
    tokio::time::timeout(TIMEOUT, a.acquire())
        .await
        .context("the candidate did not acquire a free lease")?;
    let a_task = tokio::spawn(a.lead(futures::future::pending::<()>()));

    // Someone keeps relabelling the Lease (as `kubectl label` would) for a
    // while, so some renewals hit a resourceVersion conflict.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    let churn_until = std::time::Instant::now() + Duration::from_secs(2);
    let mut writes = 0u32;
    while std::time::Instant::now() < churn_until {
        writes += 1;
        crate::common::merge_patch(
            &leases,
            &lease_name(CONTROLLER),
            serde_json::json!({ "metadata": { "labels": { "churn": writes.to_string() } } }),
        )
        .await?;
    }
    let churned = lease(&client, &namespace).await?;
    let renewed_before = churned.spec.as_ref().and_then(|s| s.renew_time.clone());

    // The leader must still be leading and renew afterwards.
    let a_task = &a_task;
    poll("a renewal by the leader after the conflicts", move || {
        let client = client.clone();
        let namespace = namespace.clone();
        let renewed_before = renewed_before.clone();
        let a_identity = a_identity.clone();
        async move {
            if a_task.is_finished() {
                bail!("the leader stopped leading because of a write conflict");
            }
            let stored = lease(&client, &namespace).await?;
            let renewed = stored.spec.as_ref().and_then(|s| s.renew_time.clone());
            Ok(
                (holder(&stored) == Some(a_identity.as_str()) && renewed > renewed_before)
                    .then_some(()),
            )
        }
    })
    .await?;
    a_task.abort();
    Ok(())
}
