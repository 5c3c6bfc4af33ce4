//! `cargo xtask test`: the one test command, used by the README and `.ci/run`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::packages;

/// Installs prerequisites, builds the cluster binaries, then runs fmt, clippy,
/// builds every controller binary (cross-crate tests run them as processes)
/// and runs `cargo test --workspace` (with `cargo_args` appended).
pub fn run(root: &Path, cargo_args: &[String]) -> Result<()> {
    packages::ensure_installed()?;
    ensure_go()?;
    timed("cluster binaries", || {
        fluxrs_e2e::binaries::ensure_built().context("building the test cluster binaries")?;
        Ok(())
    })?;
    timed("cargo fmt --check", || {
        cargo(root, &["fmt", "--all", "--", "--check"])
    })?;
    timed("cargo clippy", || {
        cargo(
            root,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        )
    })?;
    timed("cargo build --workspace --bins", || {
        cargo(root, &["build", "--workspace", "--bins"])
    })?;
    let mut test_args = vec!["test", "--workspace"];
    test_args.extend(cargo_args.iter().map(String::as_str));
    timed("cargo test --workspace", || cargo(root, &test_args))
}

fn ensure_go() -> Result<()> {
    let output = Command::new("go").arg("version").output();
    match output {
        Ok(o) if o.status.success() => Ok(()),
        _ => bail!(
            "Go is required to build the test cluster binaries (kube-apiserver, etcd, kwok): install Go >= 1.24 and put `go` on PATH"
        ),
    }
}

fn timed(step: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    let start = Instant::now();
    println!("==> {step}");
    let result = f();
    println!("<== {step}: {:.1}s", start.elapsed().as_secs_f64());
    result
}

fn cargo(root: &Path, args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(args)
        .current_dir(root)
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo {}` failed with {status}", args.join(" "));
    }
    Ok(())
}
