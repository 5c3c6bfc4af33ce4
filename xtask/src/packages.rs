//! The Debian packages the test suite needs (git servers, ssh, an OCI registry,
//! age, OpenSSL headers for libgit2), installed when missing.

use std::process::Command;

use anyhow::{Context, Result, bail};

/// Packages the tests rely on. Go itself comes with the machine image.
const REQUIRED: &[&str] = &[
    "git",
    "openssh-server",
    "docker-registry",
    "age",
    "pkg-config",
    "libssl-dev",
];

/// Installs missing packages when running as root (as CI does); otherwise
/// prints the exact command to run and fails.
pub fn ensure_installed() -> Result<()> {
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|p| !is_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let install_line = format!(
        "apt-get install -y --no-install-recommends {}",
        missing.join(" ")
    );
    if !is_root() {
        bail!(
            "missing system packages: {}\nrun as root: apt-get update && {install_line}",
            missing.join(", ")
        );
    }
    println!("installing system packages: {}", missing.join(" "));
    run_apt(&["update"])?;
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(missing.iter());
    run_apt(&args)
}

fn is_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run_apt(args: &[&str]) -> Result<()> {
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get")?;
    if !status.success() {
        bail!("`apt-get {}` failed with {status}", args.join(" "));
    }
    Ok(())
}
