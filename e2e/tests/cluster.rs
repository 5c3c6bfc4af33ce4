//! The throwaway cluster is real: a Deployment rolls out onto a kwok node through
//! kube-controller-manager and kube-scheduler, RBAC is enforced, and the seed
//! Flux manifests are accepted (and bad ones rejected) by the real apiserver's
//! validation of our generated CRDs.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::runtime::wait::await_condition;
use kube::{Client, ResourceExt};

use fluxrs_e2e::{FAKE_NODE, apply_manifests, install_crds, parse_documents, shared};

const SEED_MANIFESTS: &str = include_str!("fixtures/seed-flux-manifests.yaml");

async fn client() -> Client {
    shared()
        .client()
        .await
        .expect("admin client for the shared cluster")
}

#[tokio::test]
async fn deployment_becomes_available_on_a_kwok_node() -> Result<()> {
    let client = client().await;
    let namespace = shared().create_namespace(&client, "rollout").await?;
    let deployment: Deployment = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": "web", "namespace": namespace },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": "web" } },
            "template": {
                "metadata": { "labels": { "app": "web" } },
                "spec": { "containers": [{ "name": "web", "image": "nginx:1.27" }] }
            }
        }
    }))?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    deployments
        .create(&PostParams::default(), &deployment)
        .await?;

    let available = await_condition(deployments.clone(), "web", |d: Option<&Deployment>| {
        let status = d.and_then(|d| d.status.as_ref());
        let is_available = status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Available" && c.status == "True")
            });
        is_available && status.and_then(|s| s.ready_replicas) == Some(2)
    });
    tokio::time::timeout(Duration::from_secs(90), available)
        .await
        .context("the Deployment did not become Available with 2 ready replicas within 90s")??;

    let pods: Api<Pod> = Api::namespaced(client, &namespace);
    let pods = pods.list(&ListParams::default().labels("app=web")).await?;
    assert_eq!(pods.items.len(), 2);
    for pod in &pods.items {
        let spec = pod.spec.as_ref().context("pod without spec")?;
        assert_eq!(
            spec.node_name.as_deref(),
            Some(FAKE_NODE),
            "pod {} not bound to the kwok node",
            pod.name_any()
        );
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        assert_eq!(
            phase,
            Some("Running"),
            "pod {} is not Running",
            pod.name_any()
        );
    }
    Ok(())
}

#[tokio::test]
async fn rbac_is_enforced_for_other_identities() -> Result<()> {
    let client = client().await;
    let namespace = shared().create_namespace(&client, "rbac").await?;
    let mut config =
        kube::Config::from_custom_kubeconfig(shared().kubeconfig().clone(), &Default::default())
            .await?;
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{namespace}:default"));
    let impersonated = Client::try_from(config)?;
    let err = Api::<Pod>::namespaced(impersonated, &namespace)
        .list(&ListParams::default())
        .await
        .expect_err("a service account without a RoleBinding must not list pods");
    match err {
        kube::Error::Api(status) if status.code == 403 => Ok(()),
        other => bail!("expected 403 Forbidden, got {other}"),
    }
}

async fn ensure_namespace(client: &Client, name: &str) -> Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if namespaces.get_opt(name).await?.is_none() {
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        namespaces.create(&PostParams::default(), &ns).await?;
    }
    Ok(())
}

#[tokio::test]
async fn seed_manifests_are_accepted_verbatim() -> Result<()> {
    let client = client().await;
    install_crds(&client).await?;
    ensure_namespace(&client, "flux-system").await?;
    ensure_namespace(&client, "production").await?;

    let documents = parse_documents(SEED_MANIFESTS)?;
    assert_eq!(documents.len(), 9, "the seed file holds nine documents");
    let is_api_server_kustomization = |o: &kube::api::DynamicObject| {
        o.types.as_ref().is_some_and(|t| t.kind == "Kustomization") && o.name_any() == "api-server"
    };
    let alternatives: Vec<_> = documents
        .iter()
        .filter(|o| is_api_server_kustomization(o))
        .cloned()
        .collect();
    assert_eq!(
        alternatives.len(),
        2,
        "two alternative api-server Kustomizations"
    );
    let others: Vec<_> = documents
        .iter()
        .filter(|o| !is_api_server_kustomization(o))
        .cloned()
        .collect();

    let applied = apply_manifests(&client, &others).await?;
    assert_eq!(applied.len(), others.len());
    for alternative in &alternatives {
        let stored = apply_manifests(&client, std::slice::from_ref(alternative)).await?;
        assert_eq!(stored[0].data["spec"]["sourceRef"]["name"], "platform-repo");
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(
            client.clone(),
            "flux-system",
            &kube::discovery::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
                "kustomize.toolkit.fluxcd.io",
                "v1",
                "Kustomization",
            )),
        );
        api.delete("api-server", &DeleteParams::default()).await?;
    }

    let git = applied
        .iter()
        .find(|o| o.types.as_ref().is_some_and(|t| t.kind == "GitRepository"))
        .context("GitRepository applied")?;
    assert_eq!(
        git.data["spec"]["timeout"], "60s",
        "the CRD defaults spec.timeout like upstream"
    );
    assert_eq!(
        git.data["status"]["observedGeneration"], -1,
        "the CRD defaults status.observedGeneration to -1"
    );
    Ok(())
}

async fn expect_rejected(client: &Client, yaml: &str, expected: &[&str]) -> Result<()> {
    let objects = parse_documents(yaml)?;
    match apply_manifests(client, &objects).await {
        Ok(_) => bail!("the apiserver accepted an invalid manifest:\n{yaml}"),
        Err(err) => {
            let message = err.to_string();
            for part in expected {
                assert!(
                    message.contains(part),
                    "rejection message {message:?} does not mention {part:?}"
                );
            }
            Ok(())
        }
    }
}

#[tokio::test]
async fn invalid_manifests_are_rejected_with_the_apiserver_message() -> Result<()> {
    let client = client().await;
    install_crds(&client).await?;
    let namespace = shared().create_namespace(&client, "invalid").await?;

    let wrong_enum = format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: bad-provider\n  namespace: {namespace}\nspec:\n  interval: 1m\n  url: https://example.com/repo\n  provider: gitlab\n"
    );
    expect_rejected(
        &client,
        &wrong_enum,
        &["spec.provider", "Unsupported value", "\"gitlab\""],
    )
    .await?;

    let bad_interval = format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: bad-interval\n  namespace: {namespace}\nspec:\n  interval: 5 minutes\n  url: https://example.com/repo\n"
    );
    expect_rejected(&client, &bad_interval, &["spec.interval", "should match"]).await?;

    let missing_prune = format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: no-prune\n  namespace: {namespace}\nspec:\n  interval: 5m\n  sourceRef:\n    kind: GitRepository\n    name: repo\n"
    );
    expect_rejected(&client, &missing_prune, &["spec.prune", "Required value"]).await?;
    Ok(())
}
