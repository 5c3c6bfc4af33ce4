//! `status::apply_status` and `status::acknowledge_reconcile_request` on a real
//! GitRepository: status is server-side-applied on the status subresource
//! under the controller's field manager, a condition keeps its
//! `lastTransitionTime` across applies unless it changes, observedGeneration
//! moves, fields the controller stops setting are removed, spec is never
//! touched, and acknowledging a reconcile request writes only
//! `status.lastHandledReconcileAt`.

use anyhow::{Context, Result};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;

use fluxrs_api::source::{GitRepository, GitRepositoryStatus};
use fluxrs_runtime::conditions::{self, Condition, Status, reasons, types};
use fluxrs_runtime::status::{acknowledge_reconcile_request, apply_status};

use crate::common::{create, git_repository, merge_patch, request_reconcile, setup};

const MANAGER: &str = "source-controller";

fn condition<'a>(status: &'a GitRepositoryStatus, type_: &str) -> Result<&'a Condition> {
    conditions::get(status.conditions.as_deref().unwrap_or_default(), type_)
        .with_context(|| format!("no {type_} condition in {status:?}"))
}

fn status_of(repo: &GitRepository) -> Result<&GitRepositoryStatus> {
    repo.status
        .as_ref()
        .context("the GitRepository has no status")
}

/// A time well in the past, so a condition that keeps it is told apart from
/// one that was just set, without waiting for the clock to move.
fn long_ago() -> Result<Time> {
    Ok(Time(Timestamp::from_second(1_700_000_000)?))
}

#[tokio::test]
async fn apply_status_owns_status_and_keeps_unchanged_transition_times() -> Result<()> {
    let (client, namespace) = setup("status-apply").await?;
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let created = create(&client, &git_repository(&namespace, "podinfo")).await?;
    assert_eq!(
        created.status.as_ref().and_then(|s| s.observed_generation),
        Some(-1),
        "the CRD defaults status.observedGeneration to -1"
    );
    let generation = created.metadata.generation;

    // First reconcile: Ready and ArtifactInStorage, both transitioned long ago.
    let mut first = Vec::new();
    conditions::mark_ready(
        &mut first,
        generation,
        reasons::SUCCEEDED,
        "stored artifact",
    );
    conditions::set(
        &mut first,
        types::ARTIFACT_IN_STORAGE,
        Status::True,
        reasons::SUCCEEDED,
        "stored artifact for revision 'main@sha1:1234'",
        generation,
    );
    for c in &mut first {
        c.last_transition_time = long_ago()?;
    }
    let status = GitRepositoryStatus {
        observed_generation: generation,
        conditions: Some(first.clone()),
        observed_ignore: Some("*.md".to_owned()),
        ..GitRepositoryStatus::default()
    };
    let stored = apply_status(&client, &created, MANAGER, &status).await?;
    assert_eq!(stored.status.as_ref(), Some(&status), "status round-trips");
    assert_eq!(stored.spec, created.spec, "spec is untouched");

    let managed = stored.metadata.managed_fields.clone().unwrap_or_default();
    let entry = managed
        .iter()
        .find(|m| m.manager.as_deref() == Some(MANAGER))
        .with_context(|| format!("no managedFields entry for {MANAGER}: {managed:?}"))?;
    assert_eq!(entry.operation.as_deref(), Some("Apply"));
    assert_eq!(entry.subresource.as_deref(), Some("status"));
    let owned = serde_json::to_value(&entry.fields_v1)?;
    assert!(
        owned["f:status"].is_object(),
        "{MANAGER} owns status: {owned}"
    );
    assert!(
        owned.get("f:spec").is_none(),
        "{MANAGER} owns no spec field: {owned}"
    );

    // The user changes the spec: a new generation.
    let bumped = merge_patch(
        &api,
        "podinfo",
        serde_json::json!({ "spec": { "interval": "5m" } }),
    )
    .await?;
    let generation = bumped.metadata.generation;
    assert_ne!(generation, created.metadata.generation);

    // Second reconcile fails to fetch; the artifact is still in storage.
    let mut second = status_of(&bumped)?.conditions.clone().unwrap_or_default();
    conditions::mark_failed(
        &mut second,
        generation,
        reasons::GIT_OPERATION_FAILED,
        "failed to checkout and determine revision: connection refused",
    );
    conditions::set(
        &mut second,
        types::ARTIFACT_IN_STORAGE,
        Status::True,
        reasons::SUCCEEDED,
        "stored artifact for revision 'main@sha1:1234'",
        generation,
    );
    let status = GitRepositoryStatus {
        observed_generation: status_of(&bumped)?.observed_generation,
        conditions: Some(second),
        ..GitRepositoryStatus::default()
    };
    let stored = apply_status(&client, &bumped, MANAGER, &status).await?;
    let stored_status = status_of(&stored)?;
    let artifact = condition(stored_status, types::ARTIFACT_IN_STORAGE)?;
    assert_eq!(
        artifact.last_transition_time,
        long_ago()?,
        "unchanged condition"
    );
    assert_eq!(artifact.observed_generation, generation);
    let ready = condition(stored_status, types::READY)?;
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason, reasons::GIT_OPERATION_FAILED);
    assert_ne!(ready.last_transition_time, long_ago()?, "changed condition");
    let reconciling = condition(stored_status, types::RECONCILING)?;
    assert_eq!(reconciling.reason, reasons::PROGRESSING_WITH_RETRY);
    assert_eq!(
        stored_status.observed_generation, created.metadata.generation,
        "a failed attempt keeps observedGeneration"
    );
    assert_eq!(
        stored_status.observed_ignore, None,
        "a field this manager no longer sets is removed"
    );

    // Third reconcile succeeds: observedGeneration moves to the new generation.
    let mut third = stored_status.conditions.clone().unwrap_or_default();
    conditions::mark_ready(
        &mut third,
        generation,
        reasons::SUCCEEDED,
        "stored artifact",
    );
    let status = GitRepositoryStatus {
        observed_generation: generation,
        conditions: Some(third),
        ..GitRepositoryStatus::default()
    };
    let stored = apply_status(&client, &stored, MANAGER, &status).await?;
    let stored_status = status_of(&stored)?;
    assert_eq!(stored_status.observed_generation, generation);
    assert!(conditions::is_true(
        stored_status.conditions.as_deref().unwrap_or_default(),
        types::READY
    ));
    assert!(condition(stored_status, types::RECONCILING).is_err());
    assert_eq!(stored.spec.interval, "5m", "the user's spec change is kept");
    Ok(())
}

#[tokio::test]
async fn acknowledging_a_request_keeps_the_rest_of_status() -> Result<()> {
    let (client, namespace) = setup("status-ack").await?;
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let created = create(&client, &git_repository(&namespace, "podinfo")).await?;
    let generation = created.metadata.generation;
    let mut ready = Vec::new();
    conditions::mark_ready(
        &mut ready,
        generation,
        reasons::SUCCEEDED,
        "stored artifact",
    );
    let status = GitRepositoryStatus {
        observed_generation: generation,
        conditions: Some(ready),
        ..GitRepositoryStatus::default()
    };
    let reconciled = apply_status(&client, &created, MANAGER, &status).await?;

    // Nothing pending: nothing is written.
    acknowledge_reconcile_request(&client, &reconciled, MANAGER).await?;
    let unchanged = api.get("podinfo").await?;
    assert_eq!(
        unchanged.metadata.resource_version,
        reconciled.metadata.resource_version
    );

    let token = "2026-01-02T03:04:05.123456789Z";
    let requested = request_reconcile(&api, "podinfo", token).await?;
    acknowledge_reconcile_request(&client, &requested, MANAGER).await?;
    let acknowledged = api.get("podinfo").await?;
    let acknowledged_status = status_of(&acknowledged)?;
    assert_eq!(
        acknowledged_status.last_handled_reconcile_at.as_deref(),
        Some(token)
    );
    assert_eq!(
        acknowledged_status.conditions, status.conditions,
        "conditions are kept"
    );
    assert_eq!(acknowledged_status.observed_generation, generation);
    assert_eq!(acknowledged.spec, created.spec);

    // A later full apply that carries the token does not conflict with the
    // acknowledgement's ownership and keeps it.
    let next = GitRepositoryStatus {
        last_handled_reconcile_at: Some(token.to_owned()),
        ..status.clone()
    };
    let applied = apply_status(&client, &acknowledged, MANAGER, &next).await?;
    assert_eq!(applied.status.as_ref(), Some(&next));
    Ok(())
}
