//! The crate's error type: one variant per failing operation, each naming
//! the file (or resource) involved so a user can act on it.

use std::path::PathBuf;

use crate::patch::PatchError;
use crate::yaml::ParseError;

/// Everything that can make a build fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path points outside the filesystem root, or outside the directory
    /// a kustomization may load files from.
    #[error("security; file '{path}' is not in or below '{root}'")]
    OutsideRoot {
        /// The refused path.
        path: PathBuf,
        /// The directory it had to stay within.
        root: PathBuf,
    },
    /// A file could not be read.
    #[error("reading '{path}'")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML or JSON.
    #[error("malformed YAML in '{path}' at {source}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// Where and why.
        #[source]
        source: ParseError,
    },
    /// A document is not a Kubernetes object.
    #[error("invalid resource in '{path}': {message}")]
    InvalidResource {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A directory has no kustomization file.
    #[error(
        "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{dir}'"
    )]
    MissingKustomization {
        /// The directory.
        dir: PathBuf,
    },
    /// A directory has more than one kustomization file.
    #[error("found multiple kustomization files under: {dir}")]
    MultipleKustomizations {
        /// The directory.
        dir: PathBuf,
    },
    /// A kustomization file does not match the Kustomization schema
    /// (unknown field, wrong type, wrong kind).
    #[error("invalid Kustomization '{path}': {message}")]
    InvalidKustomization {
        /// The kustomization file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A listed resource, component or file does not exist.
    #[error(
        "accumulating resources from '{entry}' in '{kustomization}': no such file or directory"
    )]
    MissingPath {
        /// The entry as written.
        entry: String,
        /// The kustomization listing it.
        kustomization: PathBuf,
    },
    /// Remote resources are not supported by this engine.
    #[error(
        "remote resource '{url}' in '{kustomization}' is not supported: fluxrs-kustomize only builds local files"
    )]
    RemoteResource {
        /// The URL as written.
        url: String,
        /// The kustomization listing it.
        kustomization: PathBuf,
    },
    /// A kustomization includes itself, directly or through others.
    #[error("cycle detected: '{dir}' is already being built (chain: {chain})")]
    Cycle {
        /// The directory reached twice.
        dir: PathBuf,
        /// The chain of directories leading to it.
        chain: String,
    },
    /// A directory listed under `components` is not a `kind: Component`, or
    /// a component was listed under `resources`.
    #[error("'{dir}': {message}")]
    WrongKind {
        /// The directory.
        dir: PathBuf,
        /// Why.
        message: String,
    },
    /// Two resources end up with the same id.
    #[error("may not add resource with an already registered id: {id} (from '{origin}')")]
    IdConflict {
        /// The conflicting id.
        id: String,
        /// Where the second object came from.
        origin: String,
    },
    /// A generator is misconfigured or its sources are invalid.
    #[error("generator '{name}' in '{kustomization}': {message}")]
    Generator {
        /// The generated object's name.
        name: String,
        /// The kustomization declaring it.
        kustomization: PathBuf,
        /// Why.
        message: String,
    },
    /// A patch could not be loaded, targeted or applied.
    #[error("patch in '{kustomization}': {message}")]
    Patch {
        /// The kustomization declaring it.
        kustomization: PathBuf,
        /// Why.
        message: String,
    },
    /// The patch engine rejected a patch.
    #[error("applying patch to {target} (from '{kustomization}')")]
    PatchApply {
        /// The patched resource.
        target: String,
        /// The kustomization declaring the patch.
        kustomization: PathBuf,
        /// Why.
        #[source]
        source: PatchError,
    },
    /// A transformer could not be applied.
    #[error("{transformer} in '{kustomization}': {message}")]
    Transform {
        /// Which transformer.
        transformer: &'static str,
        /// The kustomization declaring it.
        kustomization: PathBuf,
        /// Why.
        message: String,
    },
    /// A name reference matches several resources.
    #[error(
        "updating name reference in '{field}' field of '{referrer}': found multiple possible referrals: {candidates}"
    )]
    AmbiguousReference {
        /// The referring field.
        field: String,
        /// The referring resource.
        referrer: String,
        /// The candidates.
        candidates: String,
    },
    /// A `vars` entry is invalid or unresolved.
    #[error("var '{name}': {message}")]
    Var {
        /// The variable.
        name: String,
        /// Why.
        message: String,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
