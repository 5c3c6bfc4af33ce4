//! kustomize-controller and source-controller as real processes against the
//! real control plane and a real Git server: the core GitOps loop. A commit is
//! built, validated, applied server-side with ownership labels, recorded in the
//! inventory, waited for (the Deployment really rolls out on kwok), pruned when
//! removed from Git, put back when edited by hand, refused as a whole when one
//! object is invalid, substituted from postBuild, and deleted with the
//! Kustomization.

use std::time::Duration;

mod support;

use anyhow::{Context, Result};
use fluxrs_api::kustomize::Kustomization;
use fluxrs_e2e::git::{GitFixture, GitHttpServer, HttpAuth};
use fluxrs_e2e::{apply_manifests, parse_documents};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use support::{config_map, flux_objects, ready, request, setup, wait_for};

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
";

#[tokio::test]
async fn the_gitops_loop() -> Result<()> {
    let (client, namespace, running) = setup("ks").await?;
    let repo = GitFixture::new("app")?;
    repo.write("deploy/web.yaml", DEPLOYMENT)?;
    repo.write("deploy/settings.yaml", &config_map("settings", "one"))?;
    let first = repo.commit("web and settings")?;
    let server = GitHttpServer::start(repo.root(), HttpAuth::None).await?;
    apply_manifests(
        &client,
        &parse_documents(&flux_objects(
            &namespace,
            &server.url(&repo.bare_name()),
            "  wait: true\n",
        ))?,
    )
    .await?;

    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    let revision = format!("main@sha1:{first}");
    let ks = wait_for(
        &kustomizations,
        "app",
        running,
        "Ready",
        Duration::from_secs(120),
        |k| {
            ready(k).is_some_and(|(s, _, m)| {
                s == "True" && m == format!("Applied revision: {revision}")
            })
        },
    )
    .await?
    .context("kustomization")?;
    let status = ks.status.clone().context("status")?;
    assert_eq!(
        status.last_applied_revision.as_deref(),
        Some(revision.as_str())
    );
    assert_eq!(status.observed_generation, ks.metadata.generation);
    let ids: Vec<String> = status
        .inventory
        .context("inventory")?
        .entries
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        ids,
        vec![
            format!("{namespace}_settings__ConfigMap"),
            format!("{namespace}_web_apps_Deployment")
        ]
    );
    let healthy = status
        .conditions
        .as_ref()
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Healthy"))
        .context("Healthy")?;
    assert_eq!(healthy.status, "True");

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let web = deployments.get("web").await?;
    let labels = web.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("kustomize.toolkit.fluxcd.io/name")
            .map(String::as_str),
        Some("app")
    );
    assert_eq!(
        labels
            .get("kustomize.toolkit.fluxcd.io/namespace")
            .map(String::as_str),
        Some(namespace.as_str())
    );
    assert_eq!(
        web.status.and_then(|s| s.available_replicas),
        Some(2),
        "wait: true waited for the rollout"
    );

    // Drift is corrected on the next reconcile.
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({"spec": {"replicas": 5}})),
        )
        .await?;
    request(&kustomizations, "app", "drift").await?;
    wait_for(
        &deployments,
        "web",
        running,
        "back to 2 replicas",
        Duration::from_secs(60),
        |d| d.and_then(|d| d.spec.as_ref()).and_then(|s| s.replicas) == Some(2),
    )
    .await?;

    // A commit that removes an object prunes it, without a Kustomization request.
    repo.remove("deploy/settings.yaml")?;
    let second = repo.commit("drop settings")?;
    request(
        &Api::<fluxrs_api::source::GitRepository>::namespaced(client.clone(), &namespace),
        "app",
        "second",
    )
    .await?;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    wait_for(
        &configmaps,
        "settings",
        running,
        "pruned",
        Duration::from_secs(60),
        |c| c.is_none(),
    )
    .await?;
    let revision = format!("main@sha1:{second}");
    wait_for(
        &kustomizations,
        "app",
        running,
        "at the second revision",
        Duration::from_secs(60),
        |k| {
            k.and_then(|k| k.status.as_ref())
                .and_then(|s| s.last_applied_revision.as_deref())
                == Some(revision.as_str())
        },
    )
    .await?;

    // One invalid object: nothing of the commit is applied, and Ready says which and why.
    repo.write("deploy/new.yaml", &config_map("new", "x"))?;
    repo.write(
        "deploy/web.yaml",
        &DEPLOYMENT.replace("replicas: 2", "replicas: two"),
    )?;
    repo.commit("broken")?;
    request(
        &Api::<fluxrs_api::source::GitRepository>::namespaced(client.clone(), &namespace),
        "app",
        "third",
    )
    .await?;
    let ks = wait_for(
        &kustomizations,
        "app",
        running,
        "failed",
        Duration::from_secs(60),
        |k| ready(k).is_some_and(|(s, r, _)| s == "False" && r == "ReconciliationFailed"),
    )
    .await?
    .context("kustomization")?;
    let (_, _, message) = ready(Some(&ks)).context("Ready")?;
    assert!(
        message.contains(&format!("Deployment/{namespace}/web")),
        "{message}"
    );
    assert!(
        configmaps.get_opt("new").await?.is_none(),
        "nothing is applied when validation fails"
    );
    assert_eq!(
        ks.status.and_then(|s| s.last_applied_revision),
        Some(revision)
    );

    // Deleting the Kustomization prunes what it applied.
    kustomizations
        .delete("app", &DeleteParams::default())
        .await?;
    wait_for(
        &kustomizations,
        "app",
        running,
        "finalized",
        Duration::from_secs(60),
        |k| k.is_none(),
    )
    .await?;
    wait_for(
        &deployments,
        "web",
        running,
        "deleted with its Kustomization",
        Duration::from_secs(60),
        |d| d.is_none_or(|d| d.metadata.deletion_timestamp.is_some()),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn post_build_substitution_and_missing_sources() -> Result<()> {
    let (client, namespace, running) = setup("ks").await?;
    let repo = GitFixture::new("app")?;
    repo.write(
        "deploy/settings.yaml",
        &config_map("settings", "${greeting} from ${cluster_name:=dev}"),
    )?;
    repo.commit("templated")?;
    let server = GitHttpServer::start(repo.root(), HttpAuth::None).await?;
    let vars = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vars\n  namespace: {namespace}\ndata:\n  greeting: hello\n---\n"
    );
    let post_build = "  postBuild:\n    substituteFrom:\n    - kind: ConfigMap\n      name: vars\n";
    let manifests = format!(
        "{vars}{}",
        flux_objects(&namespace, &server.url(&repo.bare_name()), post_build)
    );
    apply_manifests(&client, &parse_documents(&manifests)?).await?;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let settings = wait_for(
        &configmaps,
        "settings",
        running,
        "applied",
        Duration::from_secs(60),
        |c| c.is_some(),
    )
    .await?
    .context("settings")?;
    assert_eq!(
        settings
            .data
            .unwrap_or_default()
            .get("value")
            .map(String::as_str),
        Some("hello from dev")
    );

    let orphan = format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: orphan\n  namespace: {namespace}\nspec:\n  interval: 10m\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: nowhere\n"
    );
    apply_manifests(&client, &parse_documents(&orphan)?).await?;
    let kustomizations: Api<Kustomization> = Api::namespaced(client, &namespace);
    let ks = wait_for(
        &kustomizations,
        "orphan",
        running,
        "waiting for its source",
        Duration::from_secs(60),
        |k| ready(k).is_some_and(|(s, r, _)| s == "False" && r == "ArtifactFailed"),
    )
    .await?;
    let (_, _, message) = ready(ks.as_ref()).context("Ready")?;
    assert!(
        message.contains(&format!(
            "Source 'GitRepository/{namespace}/nowhere' not found"
        )),
        "{message}"
    );
    Ok(())
}
