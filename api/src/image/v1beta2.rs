//! `image.toolkit.fluxcd.io/v1beta2`, still served so that existing manifests
//! apply unchanged, but deprecated in favour of [`v1`](super::v1).
//!
//! Each v1beta2 spec is the v1 spec flattened into a version-specific type, and
//! each status is the v1 status: the two versions have the same schema, so the
//! apiserver, which converts between them by rewriting `apiVersion` only,
//! never prunes a field on the way. Convert with `From` to work on v1.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::v1;

/// The desired state of an image repository scan, with the same fields as
/// in v1.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "image.toolkit.fluxcd.io",
    version = "v1beta2",
    kind = "ImageRepository",
    namespaced,
    status = "v1::ImageRepositoryStatus",
    shortname = "imgrepo",
    shortname = "imagerepo",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-images",
    doc = "ImageRepository is the Schema for the imagerepositories API.",
    derive = "PartialEq",
    derive = "Default",
    deprecated = "v1beta2 ImageRepository is deprecated, upgrade to v1",
    printcolumn(name = "Image", type_ = "string", json_path = ".spec.image"),
    printcolumn(
        name = "Tags",
        type_ = "string",
        json_path = ".status.lastScanResult.tagCount"
    ),
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
        name = "Last scan",
        type_ = "string",
        json_path = ".status.lastScanResult.scanTime",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
pub struct ImageRepositorySpec {
    /// The fields, shared with v1.
    #[serde(flatten)]
    pub v1: v1::ImageRepositorySpec,
}

/// The parameters for electing the latest image of a repository, with the
/// same fields as in v1.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "image.toolkit.fluxcd.io",
    version = "v1beta2",
    kind = "ImagePolicy",
    namespaced,
    status = "v1::ImagePolicyStatus",
    shortname = "imgpol",
    shortname = "imagepol",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-images",
    doc = "ImagePolicy is the Schema for the imagepolicies API.",
    derive = "PartialEq",
    derive = "Default",
    deprecated = "v1beta2 ImagePolicy is deprecated, upgrade to v1",
    printcolumn(name = "Image", type_ = "string", json_path = ".status.latestRef.name"),
    printcolumn(name = "Tag", type_ = "string", json_path = ".status.latestRef.tag"),
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
pub struct ImagePolicySpec {
    /// The fields, shared with v1.
    #[serde(flatten)]
    pub v1: v1::ImagePolicySpec,
}

/// The desired state of an image update automation, with the same fields as
/// in v1.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "image.toolkit.fluxcd.io",
    version = "v1beta2",
    kind = "ImageUpdateAutomation",
    namespaced,
    status = "v1::ImageUpdateAutomationStatus",
    shortname = "iua",
    shortname = "imgupd",
    shortname = "imgauto",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-images",
    doc = "ImageUpdateAutomation is the Schema for the imageupdateautomations API.",
    derive = "PartialEq",
    derive = "Default",
    deprecated = "v1beta2 ImageUpdateAutomation is deprecated, upgrade to v1",
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
        name = "Last run",
        type_ = "string",
        json_path = ".status.lastAutomationRunTime",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
pub struct ImageUpdateAutomationSpec {
    /// The fields, shared with v1.
    #[serde(flatten)]
    pub v1: v1::ImageUpdateAutomationSpec,
}

/// Implements the conversions between the two versions of a kind, which only
/// differ in their `apiVersion` and so lose nothing.
macro_rules! convert {
    ($kind:ident, $spec:ident) => {
        impl From<$kind> for v1::$kind {
            fn from(object: $kind) -> Self {
                Self {
                    metadata: object.metadata,
                    spec: object.spec.v1,
                    status: object.status,
                }
            }
        }

        impl From<v1::$kind> for $kind {
            fn from(object: v1::$kind) -> Self {
                Self {
                    metadata: object.metadata,
                    spec: $spec { v1: object.spec },
                    status: object.status,
                }
            }
        }
    };
}

convert!(ImageRepository, ImageRepositorySpec);
convert!(ImagePolicy, ImagePolicySpec);
convert!(ImageUpdateAutomation, ImageUpdateAutomationSpec);
