//! The CLI against the real source-controller and kustomize-controller: a
//! Kustomization created with `fluxrs create`, then `tree`, `why` and
//! `reconcile kustomization --with-source` reading what the controllers wrote.
//! Its own test binary, so the other CLI tests keep a cluster without
//! kustomize-controller.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use fluxrs_e2e::controller::{ControllerProcess, workspace_binary};
use fluxrs_e2e::git::{GitFixture, GitHttpServer, HttpAuth};
use fluxrs_e2e::{install_crds, shared};

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
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

/// Runs the real `fluxrs` binary against the shared cluster; fails with its output unless it succeeds.
async fn fluxrs(args: &[&str]) -> Result<(String, String)> {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_fluxrs"))
        .arg("--kubeconfig")
        .arg(shared().kubeconfig_path())
        .args(args)
        .output()
        .await?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    if !output.status.success() {
        bail!(
            "fluxrs {args:?} failed with {}:\n{stdout}\n{stderr}",
            output.status
        );
    }
    Ok((stdout, stderr))
}

fn start(name: &str, args: impl FnOnce(&Path) -> Vec<String>) -> Result<ControllerProcess> {
    Ok(ControllerProcess::start(
        shared(),
        name,
        &workspace_binary(name)?,
        args,
    )?)
}

#[tokio::test]
async fn tree_why_and_reconcile_with_the_real_controllers() -> Result<()> {
    let client = shared().client().await?;
    install_crds(&client).await?;
    let port = fluxrs_e2e::controller::free_port()?;
    let _source = start("source-controller", |dir| {
        fluxrs_e2e::controller::source_controller_args(&dir.join("storage"), port)
    })?;
    let _kustomize = start("kustomize-controller", |_| {
        vec!["--metrics-addr=0".into(), "--health-addr=0".into()]
    })?;
    let ns = shared().create_namespace(&client, "cli-live").await?;
    let repo = GitFixture::new("app")?;
    repo.write("deploy/web.yaml", DEPLOYMENT)?;
    let first = repo.commit("web")?;
    let server = GitHttpServer::start(repo.root(), HttpAuth::None).await?;
    let url = server.url(&repo.bare_name());

    fluxrs(&[
        "create",
        "source",
        "git",
        "app",
        "--url",
        &url,
        "--branch",
        "main",
        "--interval",
        "10m",
        "-n",
        &ns,
    ])
    .await?;
    let (_, created) = fluxrs(&[
        "create",
        "kustomization",
        "app",
        "--source",
        "GitRepository/app",
        "--path",
        "./deploy",
        "--prune",
        "--interval",
        "10m",
        "--target-namespace",
        &ns,
        "-n",
        &ns,
    ])
    .await?;
    assert!(
        created.contains(&first),
        "create waits for the applied revision: {created}"
    );

    let (tree, _) = fluxrs(&["tree", "kustomization", "app", "-n", &ns]).await?;
    assert!(tree.contains(&format!("Deployment/{ns}/web")), "{tree}");

    let (why, _) = fluxrs(&["why", "deployment/web", "-n", &ns]).await?;
    assert!(why.contains(&format!("Kustomization/{ns}/app")), "{why}");
    assert!(why.contains(&first), "why names the commit: {why}");

    repo.write(
        "deploy/web.yaml",
        &DEPLOYMENT.replace("replicas: 1", "replicas: 2"),
    )?;
    let second = repo.commit("scale")?;
    let args = [
        "reconcile",
        "kustomization",
        "app",
        "--with-source",
        "-n",
        &ns,
    ];
    let (_, reconciled) = tokio::time::timeout(Duration::from_secs(120), fluxrs(&args)).await??;
    assert!(
        reconciled.contains(&second),
        "reconcile prints the applied revision: {reconciled}"
    );
    Ok(())
}
