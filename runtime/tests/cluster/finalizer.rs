//! `status::finalizer::with_finalizer` on a real GitRepository:
//! `finalizers.fluxcd.io` is stored before the Apply step runs, later
//! reconciles go straight to Apply, deleting the object runs Cleanup and then
//! removes the finalizer so the object disappears, other finalizers are kept,
//! and a stale object is refused by the API server's resourceVersion
//! precondition instead of overwriting someone else's finalizers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams};

use fluxrs_api::source::GitRepository;
use fluxrs_runtime::conditions::reasons;
use fluxrs_runtime::outcome::{ErrorKind, Next, ReconcileError};
use fluxrs_runtime::status::finalizer::{FINALIZER, Step, has_finalizer, with_finalizer};

use crate::common::{create, git_repository, merge_patch, setup, wait_deleted};

/// Which steps ran, in order.
#[derive(Default)]
struct Steps {
    applied: AtomicUsize,
    cleaned_up: AtomicUsize,
}

/// Runs `with_finalizer` for the object as currently stored, checking in the
/// Apply step that the finalizer is already stored.
async fn reconcile(
    api: &Api<GitRepository>,
    client: &kube::Client,
    name: &str,
    steps: &Steps,
) -> Result<Result<Next, ReconcileError>> {
    let current = api.get(name).await?;
    let outcome = with_finalizer(client, Arc::new(current), |step| async move {
        match step {
            Step::Apply(obj) => {
                let stored = api
                    .get(name)
                    .await
                    .map_err(|e| ReconcileError::transient("ReadFailed", e.to_string()))?;
                if !has_finalizer(obj.as_ref()) || !has_finalizer(&stored) {
                    return Err(ReconcileError::stalled(
                        "TestFailed",
                        "Apply ran before the finalizer was stored",
                    ));
                }
                steps.applied.fetch_add(1, Ordering::SeqCst);
                Ok(Next::Interval)
            }
            Step::Cleanup(obj) => {
                if obj.metadata.deletion_timestamp.is_none() {
                    return Err(ReconcileError::stalled(
                        "TestFailed",
                        "Cleanup ran for an object that is not being deleted",
                    ));
                }
                steps.cleaned_up.fetch_add(1, Ordering::SeqCst);
                Ok(Next::AwaitChange)
            }
        }
    })
    .await;
    Ok(outcome)
}

#[tokio::test]
async fn finalizer_guards_apply_and_is_removed_after_cleanup() -> Result<()> {
    let (client, namespace) = setup("finalizer").await?;
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let created = create(&client, &git_repository(&namespace, "podinfo")).await?;
    let uid = created.uid().context("no uid")?;
    let steps = Steps::default();

    // First reconcile: finalizer added, then Apply.
    assert_eq!(
        reconcile(&api, &client, "podinfo", &steps).await?,
        Ok(Next::Interval)
    );
    assert_eq!(steps.applied.load(Ordering::SeqCst), 1);
    let stored = api.get("podinfo").await?;
    assert_eq!(stored.finalizers(), [FINALIZER]);

    // Second reconcile: Apply only, finalizer untouched.
    assert_eq!(
        reconcile(&api, &client, "podinfo", &steps).await?,
        Ok(Next::Interval)
    );
    assert_eq!(steps.applied.load(Ordering::SeqCst), 2);
    assert_eq!(
        api.get("podinfo").await?.metadata.resource_version,
        stored.metadata.resource_version,
        "a reconcile of an object that has the finalizer writes nothing"
    );

    // Deletion waits for the finalizer.
    api.delete("podinfo", &DeleteParams::default()).await?;
    let deleting = api.get("podinfo").await?;
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert_eq!(
        reconcile(&api, &client, "podinfo", &steps).await?,
        Ok(Next::AwaitChange)
    );
    assert_eq!(steps.cleaned_up.load(Ordering::SeqCst), 1);
    assert_eq!(
        steps.applied.load(Ordering::SeqCst),
        2,
        "no Apply while deleting"
    );
    wait_deleted(&api, "podinfo", &uid).await
}

#[tokio::test]
async fn other_finalizers_are_kept_and_stale_objects_are_refused() -> Result<()> {
    const OTHER: &str = "example.com/keep";
    let (client, namespace) = setup("finalizer-others").await?;
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let mut repo = git_repository(&namespace, "podinfo");
    repo.metadata.finalizers = Some(vec![OTHER.to_owned()]);
    let created = create(&client, &repo).await?;
    let uid = created.uid().context("no uid")?;
    let steps = Steps::default();

    // Someone else changes the object after we read it: our finalizer patch,
    // preconditioned on the old resourceVersion, must be refused.
    let stale = Arc::new(created.clone());
    merge_patch(
        &api,
        "podinfo",
        serde_json::json!({ "metadata": { "finalizers": [OTHER, "example.com/late"] } }),
    )
    .await?;
    let outcome = with_finalizer(&client, stale, |_| {
        bail_step("a step ran although the finalizer could not be added")
    })
    .await;
    let error = match outcome {
        Err(error) => error,
        Ok(next) => bail!("adding the finalizer to a stale object succeeded: {next:?}"),
    };
    assert_eq!(error.kind(), ErrorKind::Transient);
    assert_eq!(error.reason(), reasons::PATCH_OPERATION_FAILED);
    assert_eq!(
        api.get("podinfo").await?.finalizers(),
        [OTHER, "example.com/late"],
        "the concurrent change survives"
    );

    // With a fresh read the finalizer is appended after the others.
    assert_eq!(
        reconcile(&api, &client, "podinfo", &steps).await?,
        Ok(Next::Interval)
    );
    assert_eq!(
        api.get("podinfo").await?.finalizers(),
        [OTHER, "example.com/late", FINALIZER]
    );

    // Cleanup removes only ours; the object stays until the others go.
    api.delete("podinfo", &DeleteParams::default()).await?;
    assert_eq!(
        reconcile(&api, &client, "podinfo", &steps).await?,
        Ok(Next::AwaitChange)
    );
    let remaining = api.get("podinfo").await?;
    assert_eq!(remaining.finalizers(), [OTHER, "example.com/late"]);
    assert_eq!(steps.cleaned_up.load(Ordering::SeqCst), 1);

    // A reconcile of the deleting object without our finalizer does nothing.
    assert_eq!(
        reconcile(&api, &client, "podinfo", &steps).await?,
        Ok(Next::AwaitChange)
    );
    assert_eq!(steps.cleaned_up.load(Ordering::SeqCst), 1);

    merge_patch(
        &api,
        "podinfo",
        serde_json::json!({ "metadata": { "finalizers": null } }),
    )
    .await?;
    wait_deleted(&api, "podinfo", &uid).await
}

async fn bail_step(message: &str) -> Result<Next, ReconcileError> {
    Err(ReconcileError::stalled("TestFailed", message))
}
