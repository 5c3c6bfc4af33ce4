//! Shared by the CLI integration tests: running the real `fluxrs` binary
//! against the test binary's real cluster, installing once, and running the
//! real source-controller.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use fluxrs_e2e::controller::{ControllerProcess, workspace_binary};
use fluxrs_e2e::{TestCluster, shared};
use kube::Client;
use tokio::sync::OnceCell;

/// What one `fluxrs` run printed.
#[derive(Debug)]
pub struct Output {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error (progress lines, errors, hints).
    pub stderr: String,
}

impl Output {
    /// Fails with everything printed unless the run succeeded.
    pub fn ok(self) -> Result<Self> {
        if self.code != Some(0) {
            bail!("fluxrs failed: {self:#?}");
        }
        Ok(self)
    }

    /// Fails unless the run exited with `code`.
    pub fn exit(self, code: i32) -> Result<Self> {
        if self.code != Some(code) {
            bail!(
                "fluxrs exited with {:?}, expected {code}: {self:#?}",
                self.code
            );
        }
        Ok(self)
    }
}

/// The path of the `fluxrs` binary under test.
pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_fluxrs"))
}

/// A `fluxrs` command pointed at the test cluster, with colours off.
pub fn command(cluster: &TestCluster, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary());
    command
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig_path())
        .args(args)
        .env_remove("FLUX_SYSTEM_NAMESPACE")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Runs `fluxrs <args>` against the shared cluster.
pub async fn fluxrs(args: &[&str]) -> Result<Output> {
    run_on(shared(), args).await
}

/// Runs `fluxrs <args>` against `cluster`.
pub async fn run_on(cluster: &TestCluster, args: &[&str]) -> Result<Output> {
    let output = command(cluster, args)
        .output()
        .await
        .context("running fluxrs")?;
    Ok(Output {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// `fluxrs install` once per test binary (it also makes the CRDs available
/// to every test), returning a fresh client.
pub async fn installed() -> Result<Client> {
    static INSTALLED: OnceCell<()> = OnceCell::const_new();
    INSTALLED
        .get_or_try_init(|| async {
            fluxrs(&["install", "--timeout", "2m"])
                .await?
                .ok()
                .map(drop)
        })
        .await?;
    Ok(shared().client().await?)
}

/// A namespace of its own for one test.
pub async fn namespace(client: &Client, prefix: &str) -> Result<String> {
    Ok(shared().create_namespace(client, prefix).await?)
}

/// The real source-controller (built by `cargo xtask test`, or
/// `cargo build -p source-controller`), started once per test binary,
/// serving artifacts on a loopback port.
pub async fn source_controller() -> Result<()> {
    static RUNNING: OnceCell<std::sync::Mutex<ControllerProcess>> = OnceCell::const_new();
    RUNNING
        .get_or_try_init(|| async {
            let binary = workspace_binary("source-controller")?;
            let port = fluxrs_e2e::controller::free_port()?;
            let process =
                ControllerProcess::start(shared(), "source-controller", &binary, |dir| {
                    fluxrs_e2e::controller::source_controller_args(&dir.join("storage"), port)
                })?;
            Ok::<_, anyhow::Error>(std::sync::Mutex::new(process))
        })
        .await?;
    Ok(())
}

/// Polls `check` until it returns `Some`, failing after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
