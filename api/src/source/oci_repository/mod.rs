//! OCIRepository: an OCI artifact (for example one pushed by `flux push
//! artifact`) turned into a tarball artifact.
//!
//! Served as `v1` (storage) and the deprecated `v1beta2`, whose schema differs
//! only by one status field, so the API server converts between them without a
//! webhook.

pub mod v1;
pub mod v1beta2;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The multi-version OCIRepository CRD, storing `v1`.
pub(crate) fn crd() -> CustomResourceDefinition {
    crate::crds::merge(
        vec![v1::OCIRepository::crd(), v1beta2::OCIRepository::crd()],
        "v1",
    )
}
