//! `source.toolkit.fluxcd.io`: where manifests and charts come from.

mod git_repository;

pub use git_repository::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of every source kind.
pub const GROUP: &str = "source.toolkit.fluxcd.io";

/// The CRDs of this group, one per kind.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![GitRepository::crd()]
}
