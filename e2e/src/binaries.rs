//! The upstream Kubernetes binaries the test cluster runs, built from their Go
//! modules with the machine's Go on first use and cached outside the clone.
//!
//! The wrapper modules under `e2e/gobuild/` pin the versions; the cache directory
//! is keyed by those versions so a bump builds afresh and old builds stay usable.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

use fd_lock::RwLock;

use crate::{Error, Result};

/// Kubernetes release the cluster runs (k8s-openapi is built for the same minor).
pub const KUBERNETES_VERSION: &str = "v1.34.4";
/// kwok release that fakes nodes and pod status.
pub const KWOK_VERSION: &str = "v0.7.0";

/// Paths of the binaries of one cluster release.
#[derive(Clone, Debug)]
pub struct ClusterBinaries {
    /// etcd, built at the version the Kubernetes release depends on.
    pub etcd: PathBuf,
    /// kube-apiserver.
    pub kube_apiserver: PathBuf,
    /// kube-controller-manager (Deployments, ReplicaSets, namespaces, service accounts).
    pub kube_controller_manager: PathBuf,
    /// kube-scheduler, needed for Pods to be bound to kwok's nodes.
    pub kube_scheduler: PathBuf,
    /// kwok, which makes fake nodes Ready and Pods Running.
    pub kwok: PathBuf,
}

/// Root of the cache: `$FLUXRS_CACHE_DIR`, else `$XDG_CACHE_HOME/flux-rs`, else
/// `~/.cache/flux-rs`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLUXRS_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("flux-rs");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    PathBuf::from(home).join(".cache").join("flux-rs")
}

/// Returns the cluster binaries, building the missing ones first.
///
/// A file lock in the cache root makes concurrent test binaries wait for one
/// build instead of building twice. A failed build returns the exact command and
/// its output; nothing is skipped silently.
pub fn ensure_built() -> Result<ClusterBinaries> {
    let root = cache_root();
    fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
    let lock_path = root.join("build.lock");
    let lock_file = File::create(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
    let mut lock = RwLock::new(lock_file);
    let _guard = lock.write().map_err(|e| Error::io(&lock_path, e))?;

    let k8s_bin = root.join(format!("k8s-{KUBERNETES_VERSION}")).join("bin");
    let kwok_bin = root.join(format!("kwok-{KWOK_VERSION}")).join("bin");
    let binaries = ClusterBinaries {
        etcd: k8s_bin.join("etcd"),
        kube_apiserver: k8s_bin.join("kube-apiserver"),
        kube_controller_manager: k8s_bin.join("kube-controller-manager"),
        kube_scheduler: k8s_bin.join("kube-scheduler"),
        kwok: kwok_bin.join("kwok"),
    };

    let k8s_complete = [
        &binaries.etcd,
        &binaries.kube_apiserver,
        &binaries.kube_controller_manager,
        &binaries.kube_scheduler,
    ]
    .iter()
    .all(|p| p.is_file());
    if !k8s_complete {
        go_build(
            &gobuild_dir().join("k8s"),
            &k8s_bin,
            &kubernetes_ldflags(),
            &[
                "k8s.io/kubernetes/cmd/kube-apiserver",
                "k8s.io/kubernetes/cmd/kube-controller-manager",
                "k8s.io/kubernetes/cmd/kube-scheduler",
                "./etcd",
            ],
        )?;
    }
    if !binaries.kwok.is_file() {
        go_build(
            &gobuild_dir().join("kwok"),
            &kwok_bin,
            "-s -w",
            &["sigs.k8s.io/kwok/cmd/kwok"],
        )?;
    }
    Ok(binaries)
}

/// Folder of the Go wrapper modules, inside the source tree.
fn gobuild_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("gobuild")
}

/// Version stamps upstream's release build sets, so `kubectl version` and
/// discovery report the real release instead of `v0.0.0-master`.
fn kubernetes_ldflags() -> String {
    let minor = KUBERNETES_VERSION.split('.').nth(1).unwrap_or_default();
    format!(
        "-s -w -X k8s.io/component-base/version.gitVersion={KUBERNETES_VERSION} \
         -X k8s.io/component-base/version.gitMajor=1 \
         -X k8s.io/component-base/version.gitMinor={minor} \
         -X k8s.io/component-base/version.gitTreeState=clean"
    )
}

/// Builds `packages` of the module in `module_dir` into a staging folder, then
/// moves them into `bin_dir`, so an interrupted build never leaves a half-written
/// binary where the next run would pick it up.
fn go_build(module_dir: &Path, bin_dir: &Path, ldflags: &str, packages: &[&str]) -> Result<()> {
    let parent = bin_dir.parent().unwrap_or(bin_dir);
    fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let staging = tempfile::tempdir_in(parent).map_err(|e| Error::io(parent, e))?;
    let mut command = Command::new("go");
    command
        .current_dir(module_dir)
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .args(["build", "-trimpath", "-ldflags", ldflags, "-o"])
        .arg(format!("{}/", staging.path().display()))
        .args(packages);
    let rendered = format!(
        "cd {} && go build -trimpath -ldflags '{ldflags}' -o {}/ {}",
        module_dir.display(),
        staging.path().display(),
        packages.join(" ")
    );
    eprintln!("fluxrs-e2e: building cluster binaries (first run only): {rendered}");
    let output = command.output().map_err(|e| Error::BinaryBuild {
        command: rendered.clone(),
        output: format!("could not run `go` ({e}); install Go >= 1.24 and put it on PATH"),
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
        return Err(Error::BinaryBuild {
            command: rendered,
            output: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    fs::create_dir_all(bin_dir).map_err(|e| Error::io(bin_dir, e))?;
    for entry in fs::read_dir(staging.path()).map_err(|e| Error::io(staging.path(), e))? {
        let entry = entry.map_err(|e| Error::io(staging.path(), e))?;
        let target = bin_dir.join(entry.file_name());
        fs::rename(entry.path(), &target).map_err(|e| Error::io(&target, e))?;
    }
    Ok(())
}
