//! Restart safety, with its own cluster and controller: events handled
//! before a restart are not sent again, and events recorded while the
//! controller is down are sent once it is back. The controller is killed
//! (SIGKILL), not stopped, so only what it had persisted counts.

#[allow(
    dead_code,
    reason = "helpers shared by the test binaries; each uses a subset"
)]
mod common;

use std::sync::Mutex;

use anyhow::{Context as _, Result};
use fluxrs_api::kustomize::Kustomization;
use fluxrs_e2e::{install_crds, shared};
use fluxrs_runtime::events::{Event, EventRecorder, EventType};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::api::{Api, ListParams};

use common::{Capture, Ports, apply, kustomization, secret};

const ALERTING: &str = r#"---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata:
  name: webhook
  namespace: NAMESPACE
spec:
  type: generic
  secretRef:
    name: webhook
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: everything
  namespace: NAMESPACE
spec:
  providerRef:
    name: webhook
  eventSources:
    - kind: Kustomization
      name: "*"
"#;

/// The messages received, checking each came from the generic provider.
fn messages(capture: &Capture) -> Vec<String> {
    capture
        .received("/generic")
        .iter()
        .inspect(|r| assert_eq!(r.header("gotk-component"), "kustomize-controller"))
        .map(|r| r.json()["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn restart_neither_resends_nor_loses_events() -> Result<()> {
    let cluster = shared();
    let client = cluster.client().await?;
    install_crds(&client).await?;
    common::create_flux_system(&client).await?;
    let namespace = cluster.create_namespace(&client, "restart").await?;
    let capture = Capture::start().await?;
    let address = capture.url("/generic");
    apply(
        &client,
        &secret(&namespace, "webhook", &[("address", &address)]),
    )
    .await?;
    apply(&client, &ALERTING.replace("NAMESPACE", &namespace)).await?;
    apply(&client, &kustomization(&namespace, "webapp")).await?;
    let webapp: Kustomization = Api::namespaced(client.clone(), &namespace)
        .get("webapp")
        .await?;
    let recorder = EventRecorder::new(client.clone(), "kustomize-controller", "")?;

    let ports = Ports::free()?;
    let first = Mutex::new(common::start_controller(cluster, &ports)?);
    common::wait_started(&client, || common::logs(&first)).await?;
    recorder
        .record(
            &webapp,
            &Event::new(EventType::Warning, "BuildFailed", "before the restart"),
        )
        .await;
    capture
        .wait_for("/generic", 1, || common::logs(&first))
        .await?;

    // Wait until the handled event is persisted, then kill the controller.
    let events: Api<K8sEvent> = Api::namespaced(client.clone(), &namespace);
    let handled = events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .find(|e| e.note.as_deref() == Some("before the restart"))
        .and_then(|e| e.metadata.uid)
        .context("the recorded Event")?;
    let state: Api<ConfigMap> = Api::namespaced(client.clone(), "flux-system");
    common::eventually(
        "the state to include the handled event",
        || common::logs(&first),
        || {
            let (state, handled) = (state.clone(), handled.clone());
            async move {
                let data = state
                    .get_opt("notification-controller-state")
                    .await?
                    .and_then(|c| c.data)
                    .and_then(|mut d| d.remove("state.json"))
                    .unwrap_or_default();
                Ok(data.contains(&handled).then_some(()))
            }
        },
    )
    .await?;
    drop(first);

    recorder
        .record(
            &webapp,
            &Event::new(EventType::Warning, "HealthCheckFailed", "while down"),
        )
        .await;
    let second = Mutex::new(common::start_controller(cluster, &ports)?);
    capture
        .wait_for("/generic", 2, || common::logs(&second))
        .await?;
    recorder
        .record(
            &webapp,
            &Event::new(
                EventType::Normal,
                "ReconciliationSucceeded",
                "after the restart",
            ),
        )
        .await;
    capture
        .wait_for("/generic", 3, || common::logs(&second))
        .await?;
    capture.settle("/generic").await;
    assert_eq!(
        messages(&capture),
        ["before the restart", "while down", "after the restart"],
        "{}",
        common::logs(&second)
    );
    Ok(())
}
