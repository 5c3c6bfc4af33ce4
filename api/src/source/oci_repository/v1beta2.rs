//! OCIRepository v1beta2: served for manifests written before the v1 promotion,
//! deprecated upstream. Its spec is the v1 spec; only its status adds the
//! deprecated `contentConfigChecksum`. The API server stores every object as v1.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::v1;

/// The desired state of an OCI artifact pull; identical to the v1 spec.
#[allow(
    clippy::duplicated_attributes,
    reason = "each `printcolumn(..)` of `#[kube]` repeats `type_ = \"string\"`"
)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "source.toolkit.fluxcd.io",
    version = "v1beta2",
    kind = "OCIRepository",
    namespaced,
    status = "OCIRepositoryStatus",
    shortname = "ocirepo",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-sources",
    doc = "OCIRepository is the Schema for the ocirepositories API.",
    deprecated = "v1beta2 OCIRepository is deprecated, upgrade to v1",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "URL", type_ = "string", json_path = ".spec.url"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].message"#
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(transparent)]
#[schemars(transparent)]
pub struct OCIRepositorySpec(pub v1::OCIRepositorySpec);

/// The observed state of a v1beta2 OCIRepository: the v1 status plus the
/// deprecated content checksum.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCIRepositoryStatus {
    /// The fields shared with the v1 status.
    #[serde(flatten)]
    pub v1: v1::OCIRepositoryStatus,
    /// ContentConfigChecksum is a checksum of the configuration that shapes the
    /// artifact content (`.spec.ignore`, `.spec.layerSelector`).
    ///
    /// Deprecated: replaced by `observedIgnore` and `observedLayerSelector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_config_checksum: Option<String>,
}
