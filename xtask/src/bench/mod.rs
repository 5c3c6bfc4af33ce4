//! `cargo xtask bench <suite>`: benchmarks whose Markdown goes to
//! docs/BENCHMARKS.md. Nothing here asserts on time; each suite prints its
//! numbers with the machine they were measured on.

mod kustomize;
mod source;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};

pub use kustomize::KustomizeOptions;

/// Runs the `suite` benchmarks, each measurement `runs` times.
pub fn run(root: &Path, suite: &str, runs: usize, options: &KustomizeOptions) -> Result<()> {
    let runs = runs.clamp(1, 50);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let report = match suite {
        "source" => {
            let binary = build_release(root, "source-controller")?;
            runtime.block_on(source::source(&binary, runs))?
        }
        "kustomize" => {
            let source = build_release(root, "source-controller")?;
            let kustomize = build_release(root, "kustomize-controller")?;
            runtime.block_on(kustomize::kustomize(&source, &kustomize, runs, options))?
        }
        other => bail!("unknown benchmark suite {other:?} (known: source, kustomize)"),
    };
    let out = target_dir(root).join("bench").join(format!("{suite}.md"));
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&out, &report).with_context(|| format!("writing {}", out.display()))?;
    println!("\n{report}");
    println!("(saved to {})", out.display());
    Ok(())
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// `cargo build --release -p <package>` and the path of its binary.
fn build_release(root: &Path, package: &str) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("building {package} (release)...");
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--release", "--package", package])
        .current_dir(root)
        .status()
        .with_context(|| format!("building {package}"))?;
    if !status.success() {
        bail!("`cargo build --release --package {package}` failed with {status}");
    }
    let binary = target_dir(root).join("release").join(package);
    if !binary.is_file() {
        bail!("{} does not exist after the build", binary.display());
    }
    Ok(binary)
}

/// Peak memory of a phase.
#[derive(Clone, Copy, Default)]
pub struct Memory {
    /// Highest VmRSS seen by sampling (every 20 ms), or the single reading when idle.
    pub rss_kib: u64,
    /// VmHWM at the end of the phase (reset before it when the kernel allows).
    pub hwm_kib: u64,
}

/// The pid of the process whose command line holds `arg` (our controller,
/// told apart by its unique storage path).
fn find_pid(arg: &str) -> Result<u32> {
    for _ in 0..50 {
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            if cmdline.split(|b| *b == 0).any(|a| a == arg.as_bytes()) {
                return Ok(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("no process with argument {arg}")
}

/// (VmRSS, VmHWM) in KiB.
fn proc_status(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

/// Samples VmRSS every 20 ms in the background; VmHWM is reset at the start
/// (`echo 5 > /proc/<pid>/clear_refs`) so that it is the peak of this phase.
struct Sampler {
    pid: u32,
    stop: Arc<AtomicBool>,
    max: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: u32) -> Self {
        // Older kernels or other owners may refuse; the sampled maximum remains.
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let (stop, max) = (stop.clone(), max.clone());
            async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((rss, _)) = proc_status(pid) {
                        max.fetch_max(rss, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
        Self {
            pid,
            stop,
            max,
            task,
        }
    }

    fn stop(self) -> Result<Memory> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.abort();
        let (rss, hwm) = proc_status(self.pid)?;
        Ok(Memory {
            rss_kib: self.max.load(Ordering::Relaxed).max(rss),
            hwm_kib: hwm,
        })
    }
}

/// What the numbers were measured on.
struct Machine {
    cpus: usize,
    cpu_model: String,
    memory: String,
    kernel: String,
    load_before: String,
}

impl Machine {
    fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or_else(
                || "unknown".into(),
                |kib| format!("{:.1} GiB", kib as f64 / 1048576.0),
            );
        Self {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            memory,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
            load_before: loadavg(),
        }
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn utc_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M:%S UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn list(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// A fresh folder under the system temp dir, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(prefix: &str) -> Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
