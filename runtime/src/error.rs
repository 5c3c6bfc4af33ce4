//! The runtime's own failures.
//!
//! Reconcilers report *their* failures as [`crate::outcome::ReconcileError`]s,
//! typed by what happens next. This [`Error`] covers what the runtime itself
//! does (patching status, recording events, serving, electing a leader);
//! inside a reconcile it converts into a transient `ReconcileError` whose
//! reason is [`Error::reason`].

use crate::conditions::reasons;

/// Everything that can go wrong in the runtime; variants are named after the
/// operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Downloading, verifying or unpacking a source artifact failed.
    #[error("{0}")]
    Artifact(String),
    /// An artifact would escape its folder or exceed the size limit.
    #[error("unsafe archive: {0}")]
    UnsafeArchive(String),

    /// A duration string is not a valid Go duration.
    #[error("invalid duration {input:?}: {reason}")]
    ParseDuration {
        /// The rejected input.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// An object read from the API server has no name.
    #[error("{0} object has no name")]
    MissingName(String),

    /// A status could not be serialized for the patch.
    #[error("failed to serialize status")]
    SerializeStatus(#[source] serde_json::Error),

    /// The API server rejected a status patch.
    #[error("failed to patch status of {name}")]
    PatchStatus {
        /// Name of the object.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },

    /// The finalizer could not be added.
    #[error("failed to add finalizer to {name}")]
    AddFinalizer {
        /// Name of the object.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },

    /// The finalizer could not be removed.
    #[error("failed to remove finalizer from {name}")]
    RemoveFinalizer {
        /// Name of the object.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },

    /// The API server rejected an Event.
    #[error("failed to record event")]
    RecordEvent(#[source] kube::Error),

    /// `--events-addr` is not a URI.
    #[error("invalid --events-addr {address:?}")]
    InvalidEventsAddress {
        /// The rejected address.
        address: String,
        /// Why it does not parse.
        #[source]
        source: http::uri::InvalidUri,
    },

    /// `--events-addr` is not a plain `http://` URL.
    #[error("unsupported --events-addr {0:?}: only http:// addresses are supported")]
    UnsupportedEventsAddress(String),

    /// The metrics registry could not be rendered.
    #[error("failed to encode metrics")]
    EncodeMetrics,

    /// A listen address is not `:port`, `ip:port` or `0`.
    #[error("invalid listen address {0:?}")]
    InvalidBindAddress(String),

    /// A server could not listen on its address.
    #[error("failed to listen on {address}")]
    Bind {
        /// The address.
        address: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A server stopped with an error.
    #[error("HTTP server failed")]
    Serve(#[source] std::io::Error),

    /// The leader election Lease could not be read.
    #[error("failed to read leader election lease")]
    ReadLease(#[source] kube::Error),

    /// The leader election Lease could not be written.
    #[error("failed to write leader election lease")]
    WriteLease(#[source] kube::Error),

    /// This replica lost the leader lease; it must stop reconciling.
    #[error("leader election lost: lease {lease} could not be renewed")]
    LeadershipLost {
        /// Name of the Lease.
        lease: String,
    },

    /// `RUST_LOG` is not a valid filter.
    #[error("invalid RUST_LOG filter")]
    InvalidLogFilter(#[source] tracing_subscriber::filter::ParseError),

    /// A global logger was already installed.
    #[error("failed to initialize logging")]
    InitLogging(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// Flags are inconsistent with each other.
    #[error("invalid flags: {0}")]
    InvalidFlags(String),

    /// No in-cluster or kubeconfig configuration was found.
    #[error("failed to load Kubernetes configuration")]
    KubeConfig(#[source] kube::config::InferConfigError),

    /// The Kubernetes client could not be built.
    #[error("failed to create Kubernetes client")]
    KubeClient(#[source] kube::Error),

    /// `RUNTIME_NAMESPACE` is required but not set.
    #[error("RUNTIME_NAMESPACE must be set for leader election or --watch-all-namespaces=false")]
    MissingRuntimeNamespace,

    /// A signal handler could not be installed.
    #[error("failed to listen for shutdown signals")]
    Signal(#[source] std::io::Error),
}

impl Error {
    /// The condition reason for this failure when it ends a reconcile.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::PatchStatus { .. }
            | Error::AddFinalizer { .. }
            | Error::RemoveFinalizer { .. } => reasons::PATCH_OPERATION_FAILED,
            _ => reasons::RECONCILIATION_FAILED,
        }
    }
}

/// The runtime's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{ErrorKind, ReconcileError};

    #[test]
    fn runtime_errors_become_transient_reconcile_errors() {
        let error = Error::MissingName("GitRepository".into());
        let reconcile = ReconcileError::from(error);
        assert_eq!(reconcile.kind(), ErrorKind::Transient);
        assert_eq!(reconcile.reason(), "ReconciliationFailed");
        assert_eq!(reconcile.message(), "GitRepository object has no name");
    }
}
