//! The whole loop: `controller::Runtime` + `run_controller` + `run` with a
//! tiny GitRepository reconciler, watching only this test's objects (a
//! unique `--watch-label-selector`). Covers: a new object is reconciled
//! (finalizer added, Ready=True from the outcome mapping, observedGeneration
//! == generation, an event); a `reconcile.fluxcd.io/requestedAt` token
//! triggers a reconcile and is echoed into `status.lastHandledReconcileAt`;
//! `spec.suspend: true` stops reconciling but still acknowledges a new token,
//! and resuming reconciles the new generation; a transient error sets
//! Ready=False with its reason and message, Reconciling=ProgressingWithRetry,
//! keeps observedGeneration and is retried with backoff; the metrics registry
//! has `gotk_reconcile_duration_seconds` for the objects and drops their
//! series once deleted; readiness opens once the cache has synced.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use clap::Parser;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Client, ResourceExt};

use fluxrs_api::meta::FluxObject;
use fluxrs_api::source::GitRepository;
use fluxrs_runtime::conditions::{self, reasons, types};
use fluxrs_runtime::controller::Runtime;
use fluxrs_runtime::events::{Event, EventRecorder, EventType};
use fluxrs_runtime::flags::RuntimeArgs;
use fluxrs_runtime::outcome::{Disposition, Next, ReconcileError};
use fluxrs_runtime::reconcile_request;
use fluxrs_runtime::status::apply_status;
use fluxrs_runtime::status::finalizer::{FINALIZER, Step, with_finalizer};

use crate::common::{
    create, git_repository, merge_patch, poll, request_reconcile, setup, wait_deleted, wait_for,
};

const CONTROLLER: &str = "source-controller";
const LABEL: &str = "runtime-tests.fluxcd.io/controller";
/// Objects whose name starts with this fail with [`transient_failure`].
const FAILING_PREFIX: &str = "failing";
const REVISION: &str = "main@sha1:0123456789abcdef0123456789abcdef01234567";

fn transient_failure() -> ReconcileError {
    ReconcileError::transient(
        reasons::GIT_OPERATION_FAILED,
        "failed to checkout and determine revision: unable to clone: connection refused",
    )
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    runtime: RuntimeArgs,
}

/// What the reconciler needs, and what the test observes of it.
struct Ctx {
    client: Client,
    field_manager: String,
    events: EventRecorder,
    /// Calls of the reconcile function per object name.
    calls: Mutex<HashMap<String, usize>>,
    /// Cleanup steps run per object name.
    cleanups: Mutex<HashMap<String, usize>>,
}

impl Ctx {
    fn calls(&self, name: &str) -> usize {
        count(&self.calls, name)
    }

    fn cleanups(&self, name: &str) -> usize {
        count(&self.cleanups, name)
    }
}

fn count(counts: &Mutex<HashMap<String, usize>>, name: &str) -> usize {
    let counts = counts.lock().unwrap_or_else(|p| p.into_inner());
    counts.get(name).copied().unwrap_or(0)
}

fn bump(counts: &Mutex<HashMap<String, usize>>, name: &str) {
    let mut counts = counts.lock().unwrap_or_else(|p| p.into_inner());
    *counts.entry(name.to_owned()).or_default() += 1;
}

/// The tiny reconciler: finalizer first, then "fetch" (fails for
/// [`FAILING_PREFIX`] objects), then summarize the outcome into status with
/// the outcome table and record its event, as a real controller's last step.
async fn reconcile(repo: Arc<GitRepository>, ctx: Arc<Ctx>) -> Result<Next, ReconcileError> {
    let name = repo.name_any();
    bump(&ctx.calls, &name);
    let (name, ctx) = (&name, &ctx);
    with_finalizer(&ctx.client, repo, move |step| async move {
        match step {
            Step::Apply(repo) => {
                let outcome = if name.starts_with(FAILING_PREFIX) {
                    Err(transient_failure())
                } else {
                    Ok(Next::Interval)
                };
                finish(ctx, &repo, outcome).await
            }
            Step::Cleanup(_) => {
                bump(&ctx.cleanups, name);
                Ok(Next::AwaitChange)
            }
        }
    })
    .await
}

/// Writes the outcome into status (conditions, observedGeneration,
/// lastHandledReconcileAt) and records its event.
async fn finish(
    ctx: &Ctx,
    repo: &GitRepository,
    outcome: Result<Next, ReconcileError>,
) -> Result<Next, ReconcileError> {
    let generation = repo.metadata.generation;
    let mut status = repo.status.clone().unwrap_or_default();
    let mut conditions = status.conditions.take().unwrap_or_default();
    let mut event = None;
    if outcome.is_ok() {
        let message = format!("stored artifact for revision '{REVISION}'");
        conditions::mark_ready(&mut conditions, generation, reasons::SUCCEEDED, &message);
        event = Some(
            Event::new(EventType::Normal, "NewArtifact", message)
                .with_metadata("revision", REVISION),
        );
    }
    let disposition = Disposition::of(&outcome);
    disposition.conditions.apply(&mut conditions, generation);
    if disposition.observe_generation {
        status.observed_generation = generation;
    }
    status.conditions = Some(conditions);
    status.last_handled_reconcile_at = reconcile_request::last_handled(repo);
    apply_status(&ctx.client, repo, &ctx.field_manager, &status).await?;
    if let Some(event) = disposition.event.or(event) {
        ctx.events.record(repo, &event).await;
    }
    outcome
}

/// Aborts the controller task when the test ends, whatever the outcome.
struct Running(tokio::task::JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn ready_condition(repo: &GitRepository) -> Option<&conditions::Condition> {
    conditions::get(repo.conditions(), types::READY)
}

fn series_line(kind_name_namespace: (&str, &str, &str)) -> String {
    let (kind, name, namespace) = kind_name_namespace;
    format!(
        r#"gotk_reconcile_duration_seconds_count{{kind="{kind}",name="{name}",namespace="{namespace}"}}"#
    )
}

#[tokio::test]
async fn runtime_reconciles_requests_suspends_and_retries() -> Result<()> {
    let (client, namespace) = setup("controller").await?;
    let selector = format!("{LABEL}={namespace}");
    let cli = Cli::try_parse_from([
        "source-controller",
        "--watch-label-selector",
        selector.as_str(),
        "--metrics-addr=0",
        "--health-addr=0",
        "--min-retry-delay=100ms",
        "--max-retry-delay=2s",
    ])?;
    let runtime = Arc::new(
        Runtime::new(client.clone(), CONTROLLER, cli.runtime)?.with_default_concurrency(2),
    );
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        field_manager: runtime.status_field_manager().to_owned(),
        events: runtime.events().clone(),
        calls: Mutex::default(),
        cleanups: Mutex::default(),
    });
    let work = runtime.run_controller(
        runtime.controller::<GitRepository>(),
        reconcile,
        Arc::clone(&ctx),
    );
    let _running = Running(tokio::spawn({
        let runtime = Arc::clone(&runtime);
        async move {
            if let Err(error) = runtime.run(work).await {
                panic!("the runtime stopped: {error}");
            }
        }
    }));
    let (rt, ctx_ref) = (&runtime, &ctx);
    poll("readiness after the cache synced", move || async move {
        Ok(rt.readiness().is_ready().then_some(()))
    })
    .await?;

    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let labelled = |name: &str| {
        let mut repo = git_repository(&namespace, name);
        repo.metadata.labels = Some(BTreeMap::from([(LABEL.to_owned(), namespace.clone())]));
        repo
    };

    // An object outside the selector is never reconciled.
    create(&client, &git_repository(&namespace, "unlabelled")).await?;

    // A new object is reconciled to Ready=True for its generation.
    let created = create(&client, &labelled("podinfo")).await?;
    let generation = created.metadata.generation;
    let ready = wait_for(
        &api,
        "podinfo",
        "Ready=True for the first generation",
        |r| {
            r.observed_generation() == generation
                && ready_condition(r).is_some_and(|c| c.status == "True")
        },
    )
    .await?;
    let condition = ready_condition(&ready).context("no Ready")?;
    assert_eq!(condition.reason, reasons::SUCCEEDED);
    assert_eq!(condition.observed_generation, generation);
    assert!(conditions::get(ready.conditions(), types::RECONCILING).is_none());
    assert!(conditions::get(ready.conditions(), types::STALLED).is_none());
    assert_eq!(ready.finalizers(), [FINALIZER]);
    let events: Api<K8sEvent> = Api::namespaced(client.clone(), &namespace);
    let events = &events;
    poll("a NewArtifact event for podinfo", move || async move {
        let listed = events.list(&ListParams::default()).await?;
        Ok(listed
            .items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("NewArtifact")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("podinfo")
                    && e.reporting_controller.as_deref() == Some(CONTROLLER)
            })
            .then_some(()))
    })
    .await?;

    // A reconcile request is handled and echoed.
    let before = ctx.calls("podinfo");
    request_reconcile(&api, "podinfo", "token-1").await?;
    wait_for(&api, "podinfo", "lastHandledReconcileAt=token-1", |r| {
        r.last_handled_reconcile_at() == Some("token-1")
    })
    .await?;
    assert_eq!(
        ctx.calls("podinfo"),
        before + 1,
        "the request ran the reconciler once (our own writes do not trigger it)"
    );

    // Suspended: a new request is acknowledged without running the reconciler
    // and without touching conditions or observedGeneration.
    let reconciled = api.get("podinfo").await?;
    let calls_before_suspend = ctx.calls("podinfo");
    merge_patch(
        &api,
        "podinfo",
        serde_json::json!({ "spec": { "suspend": true } }),
    )
    .await?;
    request_reconcile(&api, "podinfo", "token-2").await?;
    let acknowledged = wait_for(&api, "podinfo", "lastHandledReconcileAt=token-2", |r| {
        r.last_handled_reconcile_at() == Some("token-2")
    })
    .await?;
    assert_eq!(
        ctx.calls("podinfo"),
        calls_before_suspend,
        "suspended objects are not reconciled"
    );
    assert_eq!(acknowledged.conditions(), reconciled.conditions());
    assert_eq!(
        acknowledged.observed_generation(),
        reconciled.observed_generation()
    );
    assert_ne!(
        acknowledged.metadata.generation,
        acknowledged.observed_generation()
    );

    // Resumed: the new generation is reconciled.
    let resumed = merge_patch(
        &api,
        "podinfo",
        serde_json::json!({ "spec": { "suspend": false } }),
    )
    .await?;
    let generation = resumed.metadata.generation;
    wait_for(
        &api,
        "podinfo",
        "Ready=True for the resumed generation",
        |r| {
            r.observed_generation() == generation
                && ready_condition(r)
                    .is_some_and(|c| c.status == "True" && c.observed_generation == generation)
        },
    )
    .await?;
    assert_eq!(ctx.calls("podinfo"), calls_before_suspend + 1);

    // A transient failure: Ready=False with the error, Reconciling with
    // retry, observedGeneration kept, retried with backoff.
    create(&client, &labelled("failing-repo")).await?;
    let failure = transient_failure();
    let failed = wait_for(
        &api,
        "failing-repo",
        "Ready=False from the transient error",
        |r| ready_condition(r).is_some_and(|c| c.status == "False"),
    )
    .await?;
    let condition = ready_condition(&failed).context("no Ready")?;
    assert_eq!(condition.reason, failure.reason());
    assert_eq!(condition.message, failure.message());
    let reconciling =
        conditions::get(failed.conditions(), types::RECONCILING).context("no Reconciling")?;
    assert_eq!(reconciling.status, "True");
    assert_eq!(reconciling.reason, reasons::PROGRESSING_WITH_RETRY);
    assert!(conditions::get(failed.conditions(), types::STALLED).is_none());
    assert_eq!(
        failed.observed_generation(),
        Some(-1),
        "a failure keeps observedGeneration"
    );
    poll("the failing object to be retried", move || async move {
        Ok((ctx_ref.calls("failing-repo") >= 3).then_some(()))
    })
    .await?;
    let failure = &failure;
    poll("a GitOperationFailed warning", move || async move {
        let listed = events.list(&ListParams::default()).await?;
        Ok(listed
            .items
            .iter()
            .any(|e| {
                e.type_.as_deref() == Some("Warning")
                    && e.reason.as_deref() == Some(failure.reason())
                    && e.note.as_deref() == Some(failure.message())
            })
            .then_some(()))
    })
    .await?;

    // Metrics for both objects, none for the unlabelled one.
    let metrics = runtime.metrics().encode()?;
    for name in ["podinfo", "failing-repo"] {
        let line = series_line(("GitRepository", name, &namespace));
        assert!(metrics.contains(&line), "missing {line} in\n{metrics}");
    }
    assert!(!metrics.contains(r#"name="unlabelled""#), "{metrics}");
    assert!(
        metrics.contains(&format!(
            r#"gotk_suspend_status{{kind="GitRepository",name="podinfo",namespace="{namespace}"}} 0"#
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"controller_runtime_reconcile_total{controller="gitrepository",result="error"}"#
        ),
        "{metrics}"
    );
    assert_eq!(ctx.calls("unlabelled"), 0);

    // An object suspended from the start never gets the finalizer, yet its
    // series go away with it.
    let mut suspended = labelled("suspended");
    suspended.spec.suspend = Some(true);
    suspended.metadata.annotations = Some(BTreeMap::from([(
        reconcile_request::RECONCILE_REQUEST_ANNOTATION.to_owned(),
        "token-s".to_owned(),
    )]));
    let suspended = create(&client, &suspended).await?;
    let acknowledged = wait_for(&api, "suspended", "lastHandledReconcileAt=token-s", |r| {
        r.last_handled_reconcile_at() == Some("token-s")
    })
    .await?;
    assert!(acknowledged.finalizers().is_empty());
    assert_eq!(
        ctx.calls("suspended"),
        0,
        "suspended objects are not reconciled"
    );
    let suspend_line = format!(
        r#"gotk_suspend_status{{kind="GitRepository",name="suspended",namespace="{namespace}"}} 1"#
    );
    let suspend_line = &suspend_line;
    poll(
        "the suspended object's suspend metric",
        move || async move { Ok(rt.metrics().encode()?.contains(suspend_line).then_some(())) },
    )
    .await?;
    api.delete("suspended", &DeleteParams::default()).await?;
    wait_deleted(&api, "suspended", &suspended.uid().context("no uid")?).await?;
    poll(
        "the suspended object's metrics to go away",
        move || async move {
            let metrics = rt.metrics().encode()?;
            Ok((!metrics.contains(r#"name="suspended""#)).then_some(()))
        },
    )
    .await?;

    // Deletion runs cleanup, removes the finalizer and the object's series.
    let uid = resumed.uid().context("no uid")?;
    api.delete("podinfo", &DeleteParams::default()).await?;
    wait_deleted(&api, "podinfo", &uid).await?;
    assert_eq!(ctx.cleanups("podinfo"), 1);
    let line = &series_line(("GitRepository", "podinfo", &namespace));
    poll(
        "the deleted object's metrics to go away",
        move || async move { Ok((!rt.metrics().encode()?.contains(line)).then_some(())) },
    )
    .await?;
    Ok(())
}
