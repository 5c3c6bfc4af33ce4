//! Types shared by every Flux API group (upstream `fluxcd/pkg/apis/meta`).
//!
//! They are defined once here so that a reference, an artifact or a condition
//! has exactly the same schema in every CRD, as it does upstream.

use std::collections::BTreeMap;

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Pattern every Flux `interval`/`retryInterval`/`timeout` duration must match.
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";

/// Pattern for source and provider timeouts, which upstream limits to minutes.
pub const TIMEOUT_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$";

/// Pattern of `Artifact.digest` (`<algorithm>:<hex>`).
pub const DIGEST_PATTERN: &str = r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$";

/// Annotation whose change asks a controller to reconcile now.
pub const RECONCILE_REQUEST_ANNOTATION: &str = "reconcile.fluxcd.io/requestedAt";

/// Finalizer every Flux controller puts on the objects it reconciles.
pub const FINALIZER: &str = "finalizers.fluxcd.io";

/// A reference to an object in the same namespace as the referrer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct LocalObjectReference {
    /// Name of the referent.
    pub name: String,
}

/// A reference to an object in any namespace; an empty namespace means the
/// referrer's own.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NamespacedObjectReference {
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent, when not specified it acts as LocalObjectReference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A reference to a typed object in any namespace (kind is required).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedObjectKindReference {
    /// API version of the referent, if not specified the Kubernetes preferred version will be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent.
    pub kind: String,
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent, when not specified it acts as LocalObjectReference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A reference to one key of a Secret in the referrer's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SecretKeyReference {
    /// Name of the Secret.
    pub name: String,
    /// Key in the Secret, when not specified an implementation-specific default key is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Where a controller finds a kubeconfig for a remote cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubeConfigReference {
    /// SecretRef holds the name of a secret that contains a key with the kubeconfig file
    /// as the value. If no key is set, the key will default to 'value'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyReference>,
    /// ConfigMapRef holds the name of a ConfigMap in the same namespace with a
    /// kubeconfig for a cloud provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<LocalObjectReference>,
}

/// A dependency on another object of the same kind, optionally with a CEL readiness
/// expression.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DependencyReference {
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent, defaults to the namespace of the object declaring the dependency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// ReadyExpr is a CEL expression that can be used to assess the readiness
    /// of a dependency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_expr: Option<String>,
}

/// A CEL-based health check for objects of a custom kind.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomHealthCheck {
    /// APIVersion of the custom resource under evaluation.
    #[schemars(length(min = 1))]
    pub api_version: String,
    /// Kind of the custom resource under evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Current is the CEL expression that determines if the status of the
    /// custom resource has reached the desired state.
    #[schemars(length(min = 1))]
    pub current: String,
    /// InProgress is the CEL expression that determines if the status of the
    /// custom resource has not yet reached the desired state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<String>,
    /// Failed is the CEL expression that determines if the status of the
    /// custom resource has failed to reach the desired state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// Selects Kubernetes objects by group/version/kind, name, namespace and selectors
/// (kustomize's `target`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    /// Group is the API group to select resources from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Version of the API Group to select resources from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Kind of the API Group to select resources from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Namespace to select resources from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name to match resources with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// AnnotationSelector is a string that follows the label selection expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_selector: Option<String>,
    /// LabelSelector is a string that follows the label selection expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
}

/// A kustomize patch (strategic merge or JSON 6902) with an optional target.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct Patch {
    /// Patch contains an inline StrategicMerge patch or an inline JSON6902 patch with
    /// an array of operation objects.
    pub patch: String,
    /// Target points to the resources that the patch document should be applied to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
}

/// A kustomize image override.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Name is a tag-less image name.
    pub name: String,
    /// NewName is the value used to replace the original name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// NewTag is the value used to replace the original tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_tag: Option<String>,
    /// Digest is the value used to replace the original image tag.
    /// If digest is present NewTag value is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Labels and annotations applied to every object a controller generates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CommonMetadata {
    /// Annotations to be added to the object's metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Labels to be added to the object's metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// Rules that exclude JSON pointer paths from drift detection and apply.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct IgnoreRule {
    /// Paths is a list of JSON Pointer (RFC 6901) paths to be excluded.
    pub paths: Vec<String>,
    /// Target is a selector for specifying Kubernetes objects to which this rule applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
}

/// The output of a source reconciliation: a file in the source-controller's
/// storage, served over HTTP, that consumers download and verify by digest.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// Path is the relative file path of the Artifact.
    pub path: String,
    /// URL is the HTTP address of the Artifact as exposed by the controller managing the Source.
    pub url: String,
    /// Revision is a human-readable identifier traceable in the origin source system.
    pub revision: String,
    /// Digest is the digest of the file in the form of '<algorithm>:<checksum>'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"))]
    pub digest: Option<String>,
    /// LastUpdateTime is the timestamp corresponding to the last update of the Artifact.
    pub last_update_time: Time,
    /// Size is the number of bytes in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Metadata holds upstream information such as OCI annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Read access to the status fields every Flux object has, so the runtime can
/// handle conditions, the reconcile-request protocol and suspend for any kind.
pub trait FluxObject {
    /// The current conditions (empty when the object has no status yet).
    fn conditions(&self) -> &[Condition];
    /// `status.observedGeneration`, `-1` or `None` before the first reconcile.
    fn observed_generation(&self) -> Option<i64>;
    /// `status.lastHandledReconcileAt`, the last reconcile request that was handled.
    fn last_handled_reconcile_at(&self) -> Option<&str>;
    /// Whether `spec.suspend` is set; kinds without the field are never suspended.
    fn suspended(&self) -> bool;
    /// `spec.interval` as written, `None` for kinds without an interval.
    fn interval(&self) -> Option<&str>;
}

/// Implements [`FluxObject`] for a generated root type whose status has
/// `conditions`, `observed_generation` and `last_handled_reconcile_at`, and whose
/// spec has `suspend: Option<bool>`/`bool` and `interval`.
#[macro_export]
macro_rules! impl_flux_object {
    ($kind:ty, suspend: $suspend:expr, interval: $interval:expr) => {
        impl $crate::meta::FluxObject for $kind {
            fn conditions(&self) -> &[$crate::meta::Condition] {
                self.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_deref())
                    .unwrap_or_default()
            }
            fn observed_generation(&self) -> Option<i64> {
                self.status.as_ref().and_then(|s| s.observed_generation)
            }
            fn last_handled_reconcile_at(&self) -> Option<&str> {
                self.status
                    .as_ref()
                    .and_then(|s| s.last_handled_reconcile_at.as_deref())
            }
            fn suspended(&self) -> bool {
                let get: fn(&Self) -> bool = $suspend;
                get(self)
            }
            fn interval(&self) -> Option<&str> {
                let get: fn(&Self) -> Option<&str> = $interval;
                get(self)
            }
        }
    };
}

/// The set of Kubernetes objects a controller applied for one Flux object
/// (Kustomization, HelmRelease), used for garbage collection and health checks.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ResourceInventory {
    /// Entries is the list of Kubernetes object references.
    pub entries: Vec<ResourceRef>,
}

/// One Kubernetes object in a [`ResourceInventory`].
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ResourceRef {
    /// ID is the object's identity in the format
    /// `<namespace>_<name>_<group>_<kind>`.
    pub id: String,
    /// Version is the API version of the object's kind.
    pub v: String,
}

/// An access control list for cross-namespace references to a Flux object
/// (upstream `fluxcd/pkg/apis/acl`; declared by HelmRepository and
/// ImageRepository, not enforced upstream).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessFrom {
    /// NamespaceSelectors is the list of namespace selectors to which this ACL
    /// applies; items are ORed.
    pub namespace_selectors: Vec<NamespaceSelector>,
}

/// Selects the namespaces an [`AccessFrom`] applies to.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    /// MatchLabels is a map of {key,value} pairs that a namespace's labels must
    /// all match; an empty map matches every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
}
