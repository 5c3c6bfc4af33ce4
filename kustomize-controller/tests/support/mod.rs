//! Shared scaffolding of the kustomize-controller end-to-end tests: both
//! controllers as real processes on the shared test cluster, and polling
//! helpers that print the controllers' logs when a wait times out.

#![allow(dead_code)]

use std::time::Duration;

use anyhow::{Result, bail};
use fluxrs_api::kustomize::Kustomization;
use fluxrs_e2e::controller::{
    ControllerProcess, free_port, source_controller_args, workspace_binary,
};
use fluxrs_e2e::{TestCluster, install_crds, shared};
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource};
use tokio::sync::{OnceCell, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The `--sops-age-secret` of the test kustomize-controller (in
/// `flux-system`).
pub const GLOBAL_AGE_SECRET: &str = "sops-age-global";

/// The two controller processes of this test binary.
pub struct Controllers {
    source: std::sync::Mutex<ControllerProcess>,
    kustomize: std::sync::Mutex<ControllerProcess>,
    /// Loopback port of kustomize-controller's `/metrics`.
    pub metrics_port: u16,
}

/// Starts both controllers once per test binary.
pub async fn controllers(cluster: &'static TestCluster) -> &'static Controllers {
    static RUNNING: OnceCell<Controllers> = OnceCell::const_new();
    RUNNING
        .get_or_init(|| async move {
            let client = cluster.client().await.expect("client");
            install_crds(&client).await.expect("CRDs installed");
            let port = free_port().expect("free loopback port");
            let source_binary =
                workspace_binary("source-controller").expect("source-controller binary");
            let source =
                ControllerProcess::start(cluster, "source-controller", &source_binary, |dir| {
                    source_controller_args(&dir.join("storage"), port)
                })
                .expect("source-controller starts");
            let metrics_port = free_port().expect("free loopback port");
            let kustomize_binary = std::path::Path::new(env!("CARGO_BIN_EXE_kustomize-controller"));
            let kustomize =
                ControllerProcess::start(cluster, "kustomize-controller", kustomize_binary, |_| {
                    vec![
                        format!("--metrics-addr=127.0.0.1:{metrics_port}"),
                        "--health-addr=0".into(),
                        "--log-encoding=console".into(),
                        "--requeue-dependency=2s".into(),
                        format!("--sops-age-secret={GLOBAL_AGE_SECRET}"),
                    ]
                })
                .expect("kustomize-controller starts");
            Controllers {
                source: std::sync::Mutex::new(source),
                kustomize: std::sync::Mutex::new(kustomize),
                metrics_port,
            }
        })
        .await
}

/// Both controllers' state and log tails, for failure messages.
pub fn logs(running: &Controllers) -> String {
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

/// A client, a fresh namespace named after `prefix`, and the controllers.
pub async fn setup(prefix: &str) -> Result<(Client, String, &'static Controllers)> {
    let cluster = shared();
    let running = controllers(cluster).await;
    let client = cluster.client().await?;
    let namespace = cluster.create_namespace(&client, prefix).await?;
    Ok((client, namespace, running))
}

/// Polls `name` until `check` holds, failing with the last state and the
/// controllers' logs after `timeout`.
pub async fn wait_for<K, F>(
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

/// The Ready condition's status, reason and message.
pub fn ready(obj: Option<&Kustomization>) -> Option<(String, String, String)> {
    let c = obj?
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Asks for a reconcile with `reconcile.fluxcd.io/requestedAt: token`.
pub async fn request(
    api: &Api<impl Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug>,
    name: &str,
    token: &str,
) -> Result<()> {
    let patch = serde_json::json!({ "metadata": { "annotations": { "reconcile.fluxcd.io/requestedAt": token } } });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// Requests a reconcile of Kustomization `name` and waits until it is handled.
pub async fn reconcile_now(
    api: &Api<Kustomization>,
    name: &str,
    running: &Controllers,
    token: &str,
) -> Result<Kustomization> {
    request(api, name, token).await?;
    let handled = wait_for(
        api,
        name,
        running,
        "handled",
        Duration::from_secs(60),
        |k| {
            k.and_then(|k| k.status.as_ref())
                .and_then(|s| s.last_handled_reconcile_at.as_deref())
                == Some(token)
        },
    )
    .await?;
    handled.ok_or_else(|| anyhow::anyhow!("{name} disappeared"))
}

/// A ConfigMap manifest with one value.
pub fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

/// A GitRepository `app` on `url` and a Kustomization `app` of its
/// `./deploy`, pruning, into `namespace`, with `extra_spec` lines appended.
pub fn flux_objects(namespace: &str, url: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: app\n  namespace: {namespace}\nspec:\n  interval: 10m\n  url: {url}\n  ref:\n    branch: main\n---\n\
         apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app\n  namespace: {namespace}\nspec:\n  interval: 10m\n  path: ./deploy\n  prune: true\n  targetNamespace: {namespace}\n  sourceRef:\n    kind: GitRepository\n    name: app\n{extra_spec}"
    )
}

/// Sum of kustomize-controller's `rest_client_requests_total` series.
pub fn api_requests(running: &Controllers) -> Result<u64> {
    let (status, body) = fluxrs_e2e::http::get(&format!(
        "http://127.0.0.1:{}/metrics",
        running.metrics_port
    ))?;
    if status != 200 {
        bail!("metrics answered {status}");
    }
    let text = String::from_utf8(body)?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("rest_client_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum())
}

/// Tests share the controller processes; one that measures the controller's
/// request counter must run alone. Every other test holds this lock shared.
static EXCLUSIVE: RwLock<()> = RwLock::const_new(());

/// Held by a test that may run alongside others.
pub async fn shared_lock() -> RwLockReadGuard<'static, ()> {
    EXCLUSIVE.read().await
}

/// Held by a test that must be the only one talking to the controllers.
pub async fn exclusive_lock() -> RwLockWriteGuard<'static, ()> {
    EXCLUSIVE.write().await
}
