//! Real, throwaway Kubernetes for flux-rs tests and the demo.
//!
//! Like controller-runtime's envtest, but with kube-controller-manager,
//! kube-scheduler and kwok so workloads really roll out: a Deployment becomes
//! Available with ready Pods on a fake node. Nothing is mocked at the API level.
//! The binaries are built from their upstream Go modules on first use and cached
//! outside the clone (see [`binaries`]).

pub mod binaries;
mod cluster;
pub mod controller;
pub mod git;
pub mod http;
mod manifests;
mod pki;
mod process;
pub mod registry;

use std::path::{Path, PathBuf};

pub use cluster::{FAKE_NODE, TestCluster, shared};
pub use manifests::{apply_manifests, install_crds, parse_documents};

/// Everything that can go wrong while starting or using a test cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Go build of a cluster binary failed; the message holds the command.
    #[error("building the test cluster binaries failed\n  command: {command}\n{output}")]
    BinaryBuild {
        /// The command, ready to paste into a shell.
        command: String,
        /// The tail of its output.
        output: String,
    },
    /// Reading or writing a file, or starting a process, failed.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file, directory or binary involved.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// Generating certificates failed.
    #[error("generating cluster certificates: {0}")]
    Pki(String),
    /// A component did not become ready in time.
    #[error("{component} did not become ready within {seconds}s; last log lines:\n{log}")]
    NotReady {
        /// The component that was waited for.
        component: String,
        /// The timeout.
        seconds: u64,
        /// The tail of its log.
        log: String,
    },
    /// A component exited while the cluster was starting.
    #[error("{component} exited early ({status}); last log lines:\n{log}")]
    Exited {
        /// The component that exited.
        component: String,
        /// Its exit status.
        status: String,
        /// The tail of its log.
        log: String,
    },
    /// A helper command (git, ssh-keygen, ...) failed.
    #[error("`{command}` failed: {output}")]
    Command {
        /// The command line.
        command: String,
        /// Its standard error.
        output: String,
    },
    /// A Kubernetes API call failed.
    #[error("Kubernetes API call failed: {0}")]
    Kube(String),
    /// A manifest could not be parsed or mapped to an API resource.
    #[error("invalid manifest: {0}")]
    Manifest(String),
}

impl Error {
    fn io(path: &Path, err: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            message: err.to_string(),
        }
    }
}

impl From<kube::Error> for Error {
    fn from(err: kube::Error) -> Self {
        Self::Kube(err.to_string())
    }
}

impl From<kube::config::KubeconfigError> for Error {
    fn from(err: kube::config::KubeconfigError) -> Self {
        Self::Kube(err.to_string())
    }
}

/// Result of every fallible call in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
