//! kustomize-controller and source-controller as real processes against the
//! real control plane and a real Git server: the core GitOps loop. A commit is
//! built, validated, applied server-side with ownership labels, recorded in the
//! inventory, waited for (the Deployment really rolls out on kwok), pruned when
//! removed from Git, put back when edited by hand, refused as a whole when one
//! object is invalid, substituted from postBuild, and deleted with the
//! Kustomization.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use fluxrs_api::kustomize::Kustomization;
use fluxrs_e2e::controller::{ControllerProcess, workspace_binary};
use fluxrs_e2e::git::{GitFixture, GitHttpServer, HttpAuth};
use fluxrs_e2e::{TestCluster, apply_manifests, install_crds, parse_documents, shared};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, Resource};
use tokio::sync::OnceCell;

struct Controllers {
    source: std::sync::Mutex<ControllerProcess>,
    kustomize: std::sync::Mutex<ControllerProcess>,
}

async fn controllers(cluster: &'static TestCluster) -> &'static Controllers {
    static RUNNING: OnceCell<Controllers> = OnceCell::const_new();
    RUNNING
        .get_or_init(|| async move {
            let client = cluster.client().await.expect("client");
            install_crds(&client).await.expect("CRDs installed");
            let port = fluxrs_e2e::controller::free_port().expect("free loopback port");
            let source_binary =
                workspace_binary("source-controller").expect("source-controller binary");
            let source =
                ControllerProcess::start(cluster, "source-controller", &source_binary, |dir| {
                    fluxrs_e2e::controller::source_controller_args(&dir.join("storage"), port)
                })
                .expect("source-controller starts");
            let kustomize_binary = std::path::Path::new(env!("CARGO_BIN_EXE_kustomize-controller"));
            let kustomize =
                ControllerProcess::start(cluster, "kustomize-controller", kustomize_binary, |_| {
                    vec![
                        "--metrics-addr=0".into(),
                        "--health-addr=0".into(),
                        "--log-encoding=console".into(),
                    ]
                })
                .expect("kustomize-controller starts");
            Controllers {
                source: std::sync::Mutex::new(source),
                kustomize: std::sync::Mutex::new(kustomize),
            }
        })
        .await
}

fn logs(running: &Controllers) -> String {
    let tail = |p: &std::sync::Mutex<ControllerProcess>| {
        let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
        let state = p
            .check_running()
            .map(|_| "running".to_string())
            .unwrap_or_else(|e| e.to_string());
        format!("{state}\n{}", p.log_tail())
    };
    format!(
        "source-controller: {}\n\nkustomize-controller: {}",
        tail(&running.source),
        tail(&running.kustomize)
    )
}

async fn setup() -> Result<(Client, String, &'static Controllers)> {
    let cluster = shared();
    let running = controllers(cluster).await;
    let client = cluster.client().await?;
    let namespace = cluster.create_namespace(&client, "ks").await?;
    Ok((client, namespace, running))
}

async fn wait_for<K, F>(
    api: &Api<K>,
    name: &str,
    running: &Controllers,
    what: &str,
    timeout: Duration,
    mut check: F,
) -> Result<Option<K>>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    F: FnMut(Option<&K>) -> bool,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let obj = api.get_opt(name).await?;
        if check(obj.as_ref()) {
            return Ok(obj);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "timed out waiting for {name} to be {what}; last state: {obj:#?}\n{}",
                logs(running)
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn ready(obj: Option<&Kustomization>) -> Option<(String, String, String)> {
    let c = obj?
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

async fn request(
    api: &Api<impl Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug>,
    name: &str,
    token: &str,
) -> Result<()> {
    let patch = serde_json::json!({ "metadata": { "annotations": { "reconcile.fluxcd.io/requestedAt": token } } });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

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

fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

fn flux_objects(namespace: &str, url: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: app\n  namespace: {namespace}\nspec:\n  interval: 10m\n  url: {url}\n  ref:\n    branch: main\n---\n\
         apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app\n  namespace: {namespace}\nspec:\n  interval: 10m\n  path: ./deploy\n  prune: true\n  targetNamespace: {namespace}\n  sourceRef:\n    kind: GitRepository\n    name: app\n{extra_spec}"
    )
}

#[tokio::test]
async fn the_gitops_loop() -> Result<()> {
    let (client, namespace, running) = setup().await?;
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
    let (client, namespace, running) = setup().await?;
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
