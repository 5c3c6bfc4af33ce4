//! flux-rs source-controller: turns Git repositories and OCI artifacts into
//! verified tarballs in a local store, served over HTTP to the other controllers.

pub mod controller;
pub mod flags;
pub mod git;
pub mod ignore;
pub mod oci;
pub mod proxy;
pub mod reconcile;
pub mod storage;

use std::path::PathBuf;

/// Everything that can fail in the source-controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system operation on the store or a checkout failed.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// A `.sourceignore` or `spec.ignore` pattern does not compile.
    #[error("invalid ignore pattern {0}")]
    InvalidIgnorePattern(String),
    /// The source URL cannot be used.
    #[error("invalid URL {0}")]
    InvalidUrl(String),
    /// The Secret referenced by `secretRef` lacks or misformats a key.
    #[error("invalid secret: {0}")]
    InvalidSecret(String),
    /// `spec.ref` cannot be interpreted.
    #[error("invalid reference: {0}")]
    InvalidReference(String),
    /// The remote has no ref or commit matching `spec.ref`.
    #[error("{0}")]
    RefNotFound(String),
    /// The remote refused our credentials or host key verification failed.
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// Pulling from an OCI registry failed.
    #[error("{0}")]
    OciPull(String),
    /// The artifact's layers do not match `spec.layerSelector` or cannot be used.
    #[error("{0}")]
    OciLayer(String),
    /// The source is larger than `--artifact-max-size`.
    #[error("{0}")]
    TooLarge(String),
    /// A path in the spec leaves the folder it must stay in.
    #[error("invalid path: {0}")]
    InvalidPath(String),
    /// An archive would escape its folder or exceed the size limit.
    #[error("unsafe archive: {0}")]
    UnsafeArchive(String),
    /// Any other Git failure (network, protocol, timeout).
    #[error("git operation failed: {0}")]
    Git(String),
}

impl Error {
    /// Classifies a libgit2 error: credentials and host keys are authentication
    /// failures (the user must fix the Secret), the rest are Git failures.
    pub fn git(err: git2::Error) -> Self {
        match err.code() {
            git2::ErrorCode::Auth => Self::Authentication(err.message().to_string()),
            git2::ErrorCode::Certificate if err.class() == git2::ErrorClass::Ssh => {
                Self::Authentication(format!(
                    "the server's host key is not trusted; add it to the secret's known_hosts ({})",
                    err.message()
                ))
            }
            git2::ErrorCode::Certificate => Self::Authentication(format!(
                "TLS certificate verification failed: {}",
                err.message()
            )),
            _ if err.class() == git2::ErrorClass::Ssl => Self::Authentication(format!(
                "TLS certificate verification failed (add the server's CA as 'ca.crt' to the secret): {}",
                err.message()
            )),
            _ => Self::Git(err.message().to_string()),
        }
    }
}

/// Result of every fallible call in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
