//! The CLI against the real source-controller and kustomize-controller: a
//! Kustomization created with `fluxrs create`, then `tree`, `why` and
//! `reconcile kustomization --with-source` reading what the controllers wrote.

mod support;

use std::time::Duration;

use anyhow::Result;
use fluxrs_e2e::controller::{ControllerProcess, workspace_binary};
use fluxrs_e2e::git::{GitFixture, GitHttpServer, HttpAuth};
use fluxrs_e2e::shared;
use support::{fluxrs, installed, namespace, source_controller};
use tokio::sync::OnceCell;

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

async fn kustomize_controller() -> Result<()> {
    static RUNNING: OnceCell<std::sync::Mutex<ControllerProcess>> = OnceCell::const_new();
    RUNNING
        .get_or_try_init(|| async {
            let binary = workspace_binary("kustomize-controller")?;
            let process =
                ControllerProcess::start(shared(), "kustomize-controller", &binary, |_| {
                    vec![
                        "--metrics-addr=0".into(),
                        "--health-addr=0".into(),
                        "--log-encoding=console".into(),
                    ]
                })?;
            Ok::<_, anyhow::Error>(std::sync::Mutex::new(process))
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn tree_why_and_reconcile_with_the_real_controllers() -> Result<()> {
    let client = installed().await?;
    source_controller().await?;
    kustomize_controller().await?;
    let ns = namespace(&client, "cli-live").await?;
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
    .await?
    .ok()?;
    let created = fluxrs(&[
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
    .await?
    .ok()?;
    assert!(
        created.stderr.contains(&first),
        "create waits for the applied revision: {created:#?}"
    );

    let tree = fluxrs(&["tree", "kustomization", "app", "-n", &ns])
        .await?
        .ok()?;
    assert!(
        tree.stdout.contains(&format!("Deployment/{ns}/web")),
        "{tree:#?}"
    );

    let why = fluxrs(&["why", "deployment/web", "-n", &ns]).await?.ok()?;
    assert!(
        why.stdout.contains(&format!("Kustomization/{ns}/app")),
        "{why:#?}"
    );
    assert!(
        why.stdout.contains(&first),
        "why names the commit: {why:#?}"
    );

    repo.write(
        "deploy/web.yaml",
        &DEPLOYMENT.replace("replicas: 1", "replicas: 2"),
    )?;
    let second = repo.commit("scale")?;
    let reconciled = tokio::time::timeout(
        Duration::from_secs(120),
        fluxrs(&[
            "reconcile",
            "kustomization",
            "app",
            "--with-source",
            "-n",
            &ns,
        ]),
    )
    .await??
    .ok()?;
    assert!(
        reconciled.stderr.contains(&second),
        "reconcile prints the applied revision: {reconciled:#?}"
    );
    Ok(())
}
