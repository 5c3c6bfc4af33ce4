//! Child processes of a throwaway cluster, and the watchdog that removes them.
//!
//! Every component runs in one process group. A watchdog shell holds the read
//! end of a pipe whose write end only the test process holds; when the test
//! process ends in any way (success, panic, abort, SIGKILL) the pipe closes and
//! the watchdog kills the group and deletes the cluster's directory. `Drop`
//! does the same eagerly for clusters that are dropped normally.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::{Error, Result};

/// One running component with its log file.
pub struct ManagedProcess {
    /// Component name, used in errors and as the log file name.
    pub name: String,
    /// Where stdout and stderr go.
    pub log: PathBuf,
    child: Child,
}

impl ManagedProcess {
    /// Starts `binary` with `args` in process group `group` (`0`: a new group
    /// led by this process), logging to `<log_dir>/<name>.log`.
    pub fn spawn(
        name: &str,
        binary: &Path,
        args: &[String],
        log_dir: &Path,
        group: u32,
    ) -> Result<Self> {
        Self::spawn_with_env(name, binary, args, &[], log_dir, group)
    }

    /// [`Self::spawn`] with extra environment variables.
    pub fn spawn_with_env(
        name: &str,
        binary: &Path,
        args: &[String],
        env: &[(&str, &str)],
        log_dir: &Path,
        group: u32,
    ) -> Result<Self> {
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log).map_err(|e| Error::io(&log, e))?;
        let err = out.try_clone().map_err(|e| Error::io(&log, e))?;
        let child = Command::new(binary)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(group as i32)
            .spawn()
            .map_err(|e| Error::io(binary, e))?;
        Ok(Self {
            name: name.to_string(),
            log,
            child,
        })
    }

    /// The process id (the group id for the first component).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Fails with the log tail if the process has already exited.
    pub fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(Error::Exited {
                component: self.name.clone(),
                status: status.to_string(),
                log: log_tail(&self.log),
            }),
            Ok(None) => Ok(()),
            Err(e) => Err(Error::io(&self.log, e)),
        }
    }

    fn stop(&mut self) {
        // Already-exited children make kill fail; both outcomes end in wait().
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Kills a process group and removes a directory once the test process is gone.
pub struct Watchdog {
    stdin: Option<ChildStdin>,
    child: Child,
}

impl Watchdog {
    /// Arms a watchdog for process group `group` and directory `dir`.
    pub fn arm(group: u32, dir: &Path) -> Result<Self> {
        let script = r#"cat >/dev/null 2>&1; kill -TERM -"$1" 2>/dev/null; sleep 2; kill -KILL -"$1" 2>/dev/null; rm -rf "$2""#;
        let mut child = Command::new("sh")
            .args(["-c", script, "fluxrs-e2e-watchdog"])
            .arg(group.to_string())
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| Error::io(Path::new("sh"), e))?;
        let stdin = child.stdin.take();
        Ok(Self { stdin, child })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// The last lines of a log file, for error messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
