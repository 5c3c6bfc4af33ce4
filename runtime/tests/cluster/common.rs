//! Helpers shared by the cluster tests: a client and a fresh namespace per
//! test, GitRepository fixtures, and waiting for a state with a deadline
//! (never a fixed sleep).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Once;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use fluxrs_api::source::{GitRepository, GitRepositorySpec};

/// How long any awaited state may take; generous because the machine running
/// the tests may be busy, and only reached when something is broken.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Field manager the tests use for their own writes (the "user").
pub const USER: &str = "fluxrs-runtime-tests";

/// Installs a log subscriber once per test binary so a failing test shows
/// the runtime's log lines (`RUST_LOG` overrides the default filter).
fn init_logging() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("fluxrs_runtime=debug"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// A client for the shared cluster, the flux-rs CRDs installed, and a new
/// namespace named after `prefix`.
pub async fn setup(prefix: &str) -> Result<(Client, String)> {
    init_logging();
    let cluster = fluxrs_e2e::shared();
    let client = cluster.client().await?;
    fluxrs_e2e::install_crds(&client).await?;
    let namespace = cluster.create_namespace(&client, prefix).await?;
    Ok((client, namespace))
}

/// A GitRepository with a valid spec and a long interval (no periodic
/// requeue during a test).
pub fn git_repository(namespace: &str, name: &str) -> GitRepository {
    let mut repo = GitRepository::new(
        name,
        GitRepositorySpec {
            url: "https://github.com/stefanprodan/podinfo".to_owned(),
            interval: "10m".to_owned(),
            ..GitRepositorySpec::default()
        },
    );
    repo.metadata.namespace = Some(namespace.to_owned());
    repo
}

/// Creates `repo` and returns it as stored.
pub async fn create(client: &Client, repo: &GitRepository) -> Result<GitRepository> {
    let namespace = repo.metadata.namespace.as_deref().context("no namespace")?;
    Api::<GitRepository>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), repo)
        .await
        .context("creating the GitRepository")
}

/// Merge-patches `patch` into the object as [`USER`], the way `kubectl` and
/// the `flux` CLI write annotations and spec fields.
pub async fn merge_patch<K>(api: &Api<K>, name: &str, patch: serde_json::Value) -> Result<K>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let params = PatchParams {
        field_manager: Some(USER.to_owned()),
        ..PatchParams::default()
    };
    api.patch(name, &params, &Patch::Merge(&patch))
        .await
        .with_context(|| format!("patching {name} with {patch}"))
}

/// Writes a `reconcile.fluxcd.io/requestedAt` token, as `flux reconcile` does.
pub async fn request_reconcile(
    api: &Api<GitRepository>,
    name: &str,
    token: &str,
) -> Result<GitRepository> {
    let annotations = BTreeMap::from([(fluxrs_api::meta::RECONCILE_REQUEST_ANNOTATION, token)]);
    merge_patch(
        api,
        name,
        serde_json::json!({ "metadata": { "annotations": annotations } }),
    )
    .await
}

/// Waits until the object `name` satisfies `condition`, and returns it.
/// On timeout the error shows what was awaited and the object as it is.
pub async fn wait_for<K, C>(api: &Api<K>, name: &str, what: &str, condition: C) -> Result<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + serde::Serialize + 'static,
    C: Fn(&K) -> bool,
{
    let awaited = await_condition(api.clone(), name, |obj: Option<&K>| {
        obj.is_some_and(&condition)
    });
    match tokio::time::timeout(TIMEOUT, awaited).await {
        Ok(result) => result
            .with_context(|| format!("watching {name} for: {what}"))?
            .with_context(|| format!("{name} disappeared while waiting for: {what}")),
        Err(_) => {
            let current = api.get_opt(name).await?;
            let shown = serde_json::to_string_pretty(&current)?;
            bail!(
                "{name} did not reach \"{what}\" within {}s; it is now:\n{shown}",
                TIMEOUT.as_secs()
            )
        }
    }
}

/// Waits until the object with `uid` is gone from the API server.
pub async fn wait_deleted<K>(api: &Api<K>, name: &str, uid: &str) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + serde::Serialize + 'static,
{
    let gone = await_condition(api.clone(), name, conditions::is_deleted(uid));
    match tokio::time::timeout(TIMEOUT, gone).await {
        Ok(result) => result.map(drop).context("watching for deletion"),
        Err(_) => {
            let current = api.get_opt(name).await?;
            bail!(
                "{name} was not deleted within {}s; it is now:\n{}",
                TIMEOUT.as_secs(),
                serde_json::to_string_pretty(&current)?
            )
        }
    }
}

/// Calls `probe` every 100ms until it yields `Some`, for states no watch can
/// observe (in-process metrics, counters); fails after [`TIMEOUT`] with
/// `what`.
pub async fn poll<T, F, Fut>(what: &str, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = probe().await? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("{what}: not reached within {}s", TIMEOUT.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
