//! flux-rs source-controller: turns Git repositories and OCI artifacts into
//! verified tarballs in a local store, served over HTTP to the other controllers.

pub mod ignore;
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
}

/// Result of every fallible call in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
