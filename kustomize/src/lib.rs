//! `fluxrs-kustomize`: a `kustomize build` engine with the same output as
//! kustomize v5 (the reference is `kubectl kustomize`), used by
//! kustomize-controller, `fluxrs build`, `fluxrs diff` and `fluxrs kustomize`.
//!
//! It never touches a cluster and reads files only through [`fs::FileSystem`].
#![warn(missing_docs)]

pub mod patch;
