//! `fluxrs-kustomize`: a `kustomize build` engine with the same output as
//! kustomize v5 (the reference is `kubectl kustomize`), used by
//! kustomize-controller, `fluxrs build`, `fluxrs diff` and `fluxrs kustomize`.
//!
//! It never touches a cluster and reads files only through [`fs::FileSystem`].
//!
//! ```
//! use fluxrs_kustomize::{build, fs::MemoryFs, to_yaml};
//!
//! let mut fs = MemoryFs::new();
//! fs.add("app/kustomization.yaml", "namePrefix: p-\nresources: [cm.yaml]\n");
//! fs.add("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
//! let out = to_yaml(&build(&fs, "app").unwrap());
//! assert_eq!(out, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: p-c\n");
//! ```
#![warn(missing_docs)]

pub mod error;
pub mod fieldspec;
pub mod fs;
pub mod generators;
pub mod kustomization;
pub mod patch;
pub mod resmap;
pub mod resource;
pub mod target;
pub mod transformers;
pub mod yaml;

use std::path::Path;

pub use error::{Error, Result};
pub use resource::Resource;

/// Builds the kustomization in `dir` (relative to the root of `fs`) like
/// `kustomize build`: the resulting objects, in kustomize's output order.
///
/// # Errors
///
/// Any [`Error`]: unreadable or malformed files, invalid kustomizations,
/// missing or remote resources, cycles, id conflicts, failing patches or
/// transformers. Each names the file (or object) involved.
pub fn build(fs: &dyn fs::FileSystem, dir: impl AsRef<Path>) -> Result<Vec<Resource>> {
    target::build(fs, dir.as_ref())
}

/// Renders objects exactly as `kustomize build` prints them: each document
/// with sorted keys in go-yaml v2's style, separated by `---` lines.
pub fn to_yaml(resources: &[Resource]) -> String {
    resources
        .iter()
        .map(|r| yaml::to_yaml_document(r.value()))
        .collect::<Vec<_>>()
        .join("---\n")
}
