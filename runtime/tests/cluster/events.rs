//! `events::EventRecorder::record` against the real events.k8s.io/v1 API:
//! Normal and Warning events land on the reconciled object with
//! reportingController = the controller name, action `Reconcile`, the Flux
//! metadata as group-prefixed annotations plus the object's
//! `event.toolkit.fluxcd.io/*` annotations and nothing else from the object
//! (no secret data); a repeat updates the Event's series instead of creating a
//! new Event; Trace events are recorded as Normal with the trace label.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};

use fluxrs_api::source::GitRepository;
use fluxrs_runtime::events::{
    ACTION, Event, EventRecorder, EventType, TRACE_LABEL, is_forwardable,
};

use crate::common::{create, git_repository, setup};

const CONTROLLER: &str = "source-controller";
const SECRET: &str = "s3cr3t-token-value";

async fn events_for(api: &Api<K8sEvent>, reason: &str) -> Result<Vec<K8sEvent>> {
    let all = api.list(&ListParams::default()).await?;
    Ok(all
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect())
}

async fn only_event(api: &Api<K8sEvent>, reason: &str) -> Result<K8sEvent> {
    let mut found = events_for(api, reason).await?;
    assert_eq!(found.len(), 1, "exactly one {reason} event: {found:?}");
    found.pop().context("no event")
}

#[tokio::test]
async fn recorded_events_carry_flux_annotations_and_no_secrets() -> Result<()> {
    let (client, namespace) = setup("events").await?;
    let mut repo = git_repository(&namespace, "podinfo");
    repo.metadata.annotations = Some(BTreeMap::from([
        (
            "event.toolkit.fluxcd.io/deployment".to_owned(),
            "prod".to_owned(),
        ),
        ("example.com/api-token".to_owned(), SECRET.to_owned()),
    ]));
    let repo = create(&client, &repo).await?;
    let recorder = EventRecorder::new(client.clone(), CONTROLLER, "")?;
    let revision = "main@sha1:0123456789abcdef0123456789abcdef01234567";

    let normal = Event::new(
        EventType::Normal,
        "NewArtifact",
        "stored artifact for commit 'Initial commit'",
    )
    .with_metadata("revision", revision);
    recorder.record(&repo, &normal).await;
    let warning = Event::new(
        EventType::Warning,
        "GitOperationFailed",
        "failed to checkout and determine revision: connection refused",
    );
    recorder.record(&repo, &warning).await;

    let events: Api<K8sEvent> = Api::namespaced(client.clone(), &namespace);
    let listed = events.list(&ListParams::default()).await?;
    assert_eq!(listed.items.len(), 2, "two events: {:?}", listed.items);
    let as_json = serde_json::to_string(&listed.items)?;
    assert!(
        !as_json.contains(SECRET),
        "an object annotation outside event.toolkit.fluxcd.io/ leaked: {as_json}"
    );

    let new_artifact = only_event(&events, "NewArtifact").await?;
    assert_eq!(new_artifact.type_.as_deref(), Some("Normal"));
    assert_eq!(new_artifact.note.as_deref(), Some(normal.message.as_str()));
    assert_eq!(new_artifact.action.as_deref(), Some(ACTION));
    assert_eq!(
        new_artifact.reporting_controller.as_deref(),
        Some(CONTROLLER)
    );
    assert!(
        new_artifact
            .reporting_instance
            .as_deref()
            .is_some_and(|i| !i.is_empty())
    );
    assert!(new_artifact.event_time.is_some());
    let regarding = new_artifact.regarding.as_ref().context("no regarding")?;
    assert_eq!(regarding.kind.as_deref(), Some("GitRepository"));
    assert_eq!(
        regarding.api_version.as_deref(),
        Some(GitRepository::api_version(&()).as_ref())
    );
    assert_eq!(regarding.name.as_deref(), Some("podinfo"));
    assert_eq!(regarding.namespace.as_deref(), Some(namespace.as_str()));
    assert_eq!(regarding.uid, repo.uid());
    assert_eq!(
        new_artifact.annotations().clone(),
        BTreeMap::from([
            (
                "event.toolkit.fluxcd.io/deployment".to_owned(),
                "prod".to_owned()
            ),
            (
                "source.toolkit.fluxcd.io/revision".to_owned(),
                revision.to_owned()
            ),
        ])
    );
    assert!(is_forwardable(&new_artifact));

    let failed = only_event(&events, "GitOperationFailed").await?;
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    assert_eq!(failed.note.as_deref(), Some(warning.message.as_str()));
    assert_eq!(failed.reporting_controller.as_deref(), Some(CONTROLLER));
    assert_eq!(
        failed.regarding.as_ref().and_then(|r| r.uid.clone()),
        repo.uid()
    );

    // The same warning again: one Event with a series of two.
    recorder.record(&repo, &warning).await;
    let repeated = only_event(&events, "GitOperationFailed").await?;
    assert_eq!(repeated.name_any(), failed.name_any());
    let series = repeated.series.as_ref().context("no series on a repeat")?;
    assert_eq!(series.count, 2);
    recorder.record(&repo, &warning).await;
    let series = only_event(&events, "GitOperationFailed")
        .await?
        .series
        .context("no series")?;
    assert_eq!(series.count, 3);

    // Trace: a Normal Kubernetes event marked so it is never forwarded.
    let trace = Event::new(
        EventType::Trace,
        "DependencyNotReady",
        "dependency 'flux-system/infra' is not ready",
    );
    recorder.record(&repo, &trace).await;
    let traced = only_event(&events, "DependencyNotReady").await?;
    assert_eq!(traced.type_.as_deref(), Some("Normal"));
    assert_eq!(
        traced.labels().get(TRACE_LABEL).map(String::as_str),
        Some("true")
    );
    assert!(!is_forwardable(&traced));
    Ok(())
}

#[tokio::test]
async fn oversized_event_fields_are_truncated_not_rejected() -> Result<()> {
    let (client, namespace) = setup("events-long").await?;
    let repo = create(&client, &git_repository(&namespace, "podinfo")).await?;
    let recorder = EventRecorder::new(client.clone(), CONTROLLER, "")?;
    let message = "é".repeat(4000);
    let reason = "R".repeat(300);
    recorder
        .record(&repo, &Event::new(EventType::Warning, reason, message))
        .await;
    let events: Api<K8sEvent> = Api::namespaced(client.clone(), &namespace);
    let listed = events.list(&ListParams::default()).await?;
    assert_eq!(listed.items.len(), 1, "the event was recorded");
    let event = &listed.items[0];
    assert!(event.note.as_deref().is_some_and(|n| n.len() <= 1024));
    assert!(event.reason.as_deref().is_some_and(|r| r.len() <= 128));
    Ok(())
}
