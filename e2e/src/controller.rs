//! Our controller binaries run as real processes against the test cluster, with
//! their logs kept for failure messages.

use std::path::Path;

use tempfile::TempDir;

use crate::process::{ManagedProcess, Watchdog, log_tail};
use crate::{Error, Result, TestCluster};

/// Path of a workspace binary (`source-controller`, ...) next to the running
/// test executable, for tests of one crate that need another crate's
/// controller. `cargo xtask test` builds every binary first; a missing one is
/// an error that says how to build it.
pub fn workspace_binary(name: &str) -> Result<std::path::PathBuf> {
    let exe = std::env::current_exe().map_err(|e| Error::io(Path::new(name), e))?;
    // Test executables live in target/<profile>/deps/.
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| Error::io(&exe, std::io::Error::other("no target dir")))?;
    let binary = profile_dir.join(name);
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(Error::Command {
            command: format!("cargo build -p {name}"),
            output: format!(
                "{} does not exist: build the workspace binaries first (cargo xtask test does)",
                binary.display()
            ),
        })
    }
}

/// A free port on 127.0.0.1 (bound and released).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::io(Path::new("127.0.0.1:0"), e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::io(Path::new("127.0.0.1:0"), e))
}

/// Flags that run source-controller on loopback: artifacts stored in
/// `storage`, served and advertised on `127.0.0.1:<port>`, metrics and health
/// endpoints off, console logs. Append to it for test-specific flags.
pub fn source_controller_args(storage: &Path, port: u16) -> Vec<String> {
    vec![
        format!("--storage-path={}", storage.display()),
        format!("--storage-addr=127.0.0.1:{port}"),
        format!("--storage-adv-addr=127.0.0.1:{port}"),
        "--metrics-addr=0".into(),
        "--health-addr=0".into(),
        "--log-encoding=console".into(),
    ]
}

/// A controller process; stopped (and its files removed) when dropped.
pub struct ControllerProcess {
    name: String,
    process: ManagedProcess,
    _watchdog: Watchdog,
    dir: TempDir,
}

impl ControllerProcess {
    /// Starts `binary` against `cluster` (through `KUBECONFIG`), with
    /// `RUNTIME_NAMESPACE=flux-system` and logs going to a file. `args` receives
    /// the process' work folder (removed with the process), e.g. for a storage path.
    pub fn start(
        cluster: &TestCluster,
        name: &str,
        binary: &Path,
        args: impl FnOnce(&Path) -> Vec<String>,
    ) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("fluxrs-{name}-"))
            .tempdir()
            .map_err(|e| Error::io(Path::new("/tmp"), e))?;
        let kubeconfig = cluster.kubeconfig_path().display().to_string();
        let env = [
            ("KUBECONFIG", kubeconfig.as_str()),
            ("RUNTIME_NAMESPACE", "flux-system"),
            ("RUST_LOG", "info"),
        ];
        let args = args(dir.path());
        let process = ManagedProcess::spawn_with_env(name, binary, &args, &env, dir.path(), 0)?;
        let watchdog = Watchdog::arm(process.id(), dir.path())?;
        Ok(Self {
            name: name.to_string(),
            process,
            _watchdog: watchdog,
            dir,
        })
    }

    /// The last lines of the controller's log.
    pub fn log_tail(&self) -> String {
        log_tail(&self.dir.path().join(format!("{}.log", self.name)))
    }

    /// Fails with the log tail if the controller has exited.
    pub fn check_running(&mut self) -> Result<()> {
        self.process.check_running()
    }
}
