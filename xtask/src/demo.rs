//! `cargo xtask demo`: a local control plane with flux-rs installed and a
//! sample Git repository synced, to look at and to poke with kubectl.
//!
//! Grows with each controller: today source-controller turns the sample
//! repository into an artifact and kustomize-controller applies it, so the
//! sample Deployment rolls out on the cluster's (kwok) node.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use fluxrs_api::kustomize::Kustomization;
use fluxrs_api::source::GitRepository;
use fluxrs_e2e::controller::ControllerProcess;
use fluxrs_e2e::git::{GitFixture, GitHttpServer, HttpAuth};
use fluxrs_e2e::{TestCluster, apply_manifests, install_crds, parse_documents};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;

/// The sample application committed to the demo repository.
const SAMPLE_APP: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels:
      app: podinfo
  template:
    metadata:
      labels:
        app: podinfo
    spec:
      containers:
      - name: podinfo
        image: ghcr.io/stefanprodan/podinfo:6.7.0
";

/// Starts the demo, shows it, and keeps it up until Ctrl-C unless `once`.
pub fn run(root: &Path, once: bool) -> Result<()> {
    let source_controller = build_controller(root, "source-controller")?;
    let kustomize_controller = build_controller(root, "kustomize-controller")?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        println!("starting a local control plane (the first run builds Kubernetes from source, ~10 min)...");
        let cluster = TestCluster::start().await?;
        let client = cluster.client().await?;
        install_crds(&client).await?;

        let repo = GitFixture::new("podinfo")?;
        repo.write("deploy/podinfo.yaml", SAMPLE_APP)?;
        repo.commit("Add podinfo")?;
        let git_server = GitHttpServer::start(repo.root(), HttpAuth::None).await?;

        let port = fluxrs_e2e::controller::free_port()?;
        let _controller = ControllerProcess::start(&cluster, "source-controller", &source_controller, |dir| {
            fluxrs_e2e::controller::source_controller_args(&dir.join("storage"), port)
        })?;
        let _kustomize = ControllerProcess::start(&cluster, "kustomize-controller", &kustomize_controller, |_| {
            vec!["--metrics-addr=127.0.0.1:0".into(), "--health-addr=127.0.0.1:0".into()]
        })?;

        let manifests = format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n---\n\
             apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: podinfo\n  namespace: flux-system\n\
             spec:\n  interval: 1m\n  url: {}\n  ref:\n    branch: main\n---\n\
             apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: podinfo\n  namespace: flux-system\n\
             spec:\n  interval: 5m\n  path: ./deploy\n  prune: true\n  wait: true\n  sourceRef:\n    kind: GitRepository\n    name: podinfo\n",
            git_server.url(&repo.bare_name())
        );
        apply_manifests(&client, &parse_documents(&manifests)?).await?;
        let repositories: Api<GitRepository> = Api::namespaced(client.clone(), "flux-system");
        let synced = wait_ready(&repositories, "podinfo", |r| r.status.as_ref().and_then(|s| s.conditions.as_ref())).await?;
        show_sources(&synced);
        let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), "flux-system");
        let applied = wait_ready(&kustomizations, "podinfo", |k| k.status.as_ref().and_then(|s| s.conditions.as_ref())).await?;
        show_kustomization(&applied);
        let deployment = Api::<Deployment>::namespaced(client.clone(), "default").get("podinfo").await?;
        let available = deployment.status.and_then(|s| s.available_replicas).unwrap_or(0);
        println!("\nDeployment default/podinfo: {available}/2 replicas available (pods run on the kwok node)");

        println!("\ncluster API: {}", cluster.server());
        println!("use it:      export KUBECONFIG={}", cluster.kubeconfig_path().display());
        println!("             kubectl get gitrepositories -A");
        println!("logs:        {}", cluster.log_dir().display());
        if !once {
            println!("\npress Ctrl-C to stop the cluster and delete its files");
            tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
        }
        Ok(())
    })
}

/// Builds a controller binary of this workspace and returns its path.
fn build_controller(root: &Path, package: &str) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--package", package])
        .current_dir(root)
        .status()
        .with_context(|| format!("building {package}"))?;
    if !status.success() {
        bail!("`cargo build --package {package}` failed with {status}");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target.join("debug").join(package))
}

async fn wait_ready<K>(
    api: &Api<K>,
    name: &str,
    conditions: impl Fn(&K) -> Option<&Vec<fluxrs_api::meta::Condition>>,
) -> Result<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    for _ in 0..600 {
        if let Some(obj) = api.get_opt(name).await? {
            let ready = conditions(&obj)
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            if ready {
                return Ok(obj);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("{name} did not become Ready within 120s")
}

/// Prints the object the way `flux get kustomizations` does.
fn show_kustomization(ks: &Kustomization) {
    let status = ks.status.as_ref();
    let revision = status
        .and_then(|s| s.last_applied_revision.as_deref())
        .unwrap_or_default();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    println!("\nNAME     REVISION{:<44} SUSPENDED  READY  MESSAGE", "");
    println!(
        "{:<8} {:<52} {:<10} {:<6} {}",
        ks.metadata.name.as_deref().unwrap_or_default(),
        revision,
        ks.spec.suspend.unwrap_or(false),
        ready.map(|c| c.status.as_str()).unwrap_or("Unknown"),
        ready.map(|c| c.message.as_str()).unwrap_or_default()
    );
}

/// Prints the object the way `flux get sources git` does.
fn show_sources(repo: &GitRepository) {
    let status = repo.status.as_ref();
    let revision = status
        .and_then(|s| s.artifact.as_ref())
        .map(|a| a.revision.as_str())
        .unwrap_or_default();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    println!("\nNAME     REVISION{:<44} SUSPENDED  READY  MESSAGE", "");
    println!(
        "{:<8} {:<52} {:<10} {:<6} {}",
        repo.metadata.name.as_deref().unwrap_or_default(),
        revision,
        repo.spec.suspend.unwrap_or(false),
        ready.map(|c| c.status.as_str()).unwrap_or("Unknown"),
        ready.map(|c| c.message.as_str()).unwrap_or_default()
    );
}
