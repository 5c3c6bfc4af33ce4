//! flux-rs notification-controller.
//!
//! Two directions, both through Kubernetes objects (DESIGN.md):
//!
//! * **Events out**: the other controllers record Kubernetes Events on the
//!   objects they reconcile. [`pipeline`] watches them, keeps those about Flux
//!   kinds, drops repeats ([`dedupe`]) and events already handled before a
//!   restart ([`cursor`], persisted by [`state`]), matches them against Alerts
//!   ([`matching`]) and hands them to [`dispatch`], which sends them to the
//!   Alert's Provider in the service's own format ([`notifier`]) with retries
//!   and a rate limit ([`delivery`]). Flux's HTTP event payload is accepted
//!   too ([`events_server`]).
//! * **Webhooks in**: [`receiver`] serves `/hook/<sha256>` for Receivers,
//!   checks the sender's signature and asks the Receiver's resources to
//!   reconcile now; [`reconcile::receiver`] gives each Receiver its path.

pub mod controller;
pub mod cursor;
pub mod dedupe;
pub mod delivery;
pub mod dispatch;
pub mod event;
pub mod events_server;
pub mod flags;
pub mod matching;
pub mod metrics;
pub mod notifier;
pub mod pipeline;
pub mod receiver;
pub mod reconcile;
pub mod state;

/// Everything that can fail in the notification-controller; variants are
/// named after the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Provider or Receiver Secret could not be read.
    #[error("unable to read secret '{namespace}/{name}'")]
    ReadSecret {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// A Secret lacks a key or holds an unusable value.
    #[error("invalid secret '{secret}': {reason}")]
    InvalidSecret {
        /// `namespace/name` of the Secret.
        secret: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A Provider cannot be used as configured.
    #[error("invalid provider: {0}")]
    InvalidProvider(String),
    /// The Provider type is not implemented by flux-rs.
    #[error("provider type '{0}' is not supported by flux-rs")]
    UnsupportedProvider(String),
    /// The HTTP client for a Provider could not be built.
    #[error("unable to build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
    /// A notification could not be delivered (after retries where allowed).
    #[error("{0}")]
    Delivery(String),
    /// An event lacks what its Provider needs (a commit revision).
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    /// A step of setting a commit status failed.
    #[error("unable to {0}: {1}")]
    CommitStatus(&'static str, String),
    /// A notification payload could not be encoded.
    #[error("unable to encode the notification payload")]
    EncodePayload(#[source] serde_json::Error),
    /// The persisted controller state could not be read or written.
    #[error("unable to {operation} the state ConfigMap '{name}'")]
    State {
        /// `read` or `write`.
        operation: &'static str,
        /// `namespace/name` of the ConfigMap.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The persisted controller state is not valid JSON of the expected shape.
    #[error("the state ConfigMap '{name}' holds invalid data")]
    DecodeState {
        /// `namespace/name` of the ConfigMap.
        name: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// Discovery of an object's API resource failed.
    #[error("unable to discover the API of {0}")]
    Discovery(String, #[source] kube::Error),
    /// Reading, listing or patching a Flux object failed.
    #[error("{0}")]
    Kube(String, #[source] kube::Error),
    /// `RUNTIME_NAMESPACE` is required to persist the state.
    #[error("RUNTIME_NAMESPACE must be set: notification-controller keeps its state there")]
    MissingRuntimeNamespace,
}

/// Result of every fallible call in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
