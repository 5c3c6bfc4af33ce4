//! ImageRepository v1: a container image repository scanned for tags.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{AccessFrom, DURATION_PATTERN, LocalObjectReference, TIMEOUT_PATTERN};

/// The desired state of an image repository scan.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "image.toolkit.fluxcd.io",
    version = "v1",
    kind = "ImageRepository",
    namespaced,
    status = "ImageRepositoryStatus",
    shortname = "imgrepo",
    shortname = "imagerepo",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-images",
    doc = "ImageRepository is the Schema for the imagerepositories API.",
    derive = "PartialEq",
    derive = "Default",
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
#[serde(rename_all = "camelCase")]
pub struct ImageRepositorySpec {
    /// Image is the name of the image repository, without tag
    /// (e.g. `ghcr.io/org/app`, or `alpine` for Docker Hub's library).
    pub image: String,
    /// Interval is the time to wait between scans of the image repository.
    #[schemars(pattern(DURATION_PATTERN))]
    pub interval: String,
    /// Timeout for image scanning. Defaults to the Interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(TIMEOUT_PATTERN))]
    pub timeout: Option<String>,
    /// SecretRef names a `kubernetes.io/dockerconfigjson` Secret with
    /// credentials for the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// ProxySecretRef names the Secret holding the proxy `address` and
    /// optional `username` and `password` used to reach the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalObjectReference>,
    /// ServiceAccountName is the ServiceAccount whose image pull secrets (or,
    /// with a cloud provider, workload identity) authenticate the scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub service_account_name: Option<String>,
    /// CertSecretRef names a Secret (type Opaque or kubernetes.io/tls)
    /// holding a CA certificate (`ca.crt`) and/or a client certificate and
    /// key (`tls.crt`, `tls.key`) for the registry connection. The legacy
    /// `caFile`, `certFile` and `keyFile` keys are deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// Suspend tells the controller to suspend subsequent scans; scans
    /// already running are not affected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// AccessFrom lists the namespaces whose ImagePolicies may refer to this
    /// ImageRepository, by namespace labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_from: Option<AccessFrom>,
    /// ExclusionList holds regular expressions; matching tags are not stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 25), extend("default" = [r"^.*\.sig$"]))]
    pub exclusion_list: Option<Vec<String>>,
    /// Provider used for authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "generic"))]
    pub provider: Option<ImageProvider>,
    /// Insecure allows connecting to a registry over plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
}

/// How the controller authenticates to a registry.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageProvider {
    /// Credentials from `secretRef` or the ServiceAccount's pull secrets, or none.
    #[default]
    Generic,
    /// AWS ECR through workload identity.
    Aws,
    /// Azure Container Registry through workload identity.
    Azure,
    /// Google Artifact/Container Registry through workload identity.
    Gcp,
}

/// The observed state of an ImageRepository.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageRepositoryStatus {
    /// Conditions holds the conditions for the ImageRepository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// ObservedGeneration is the last reconciled generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// CanonicalImageName is the image name with the implied parts made
    /// explicit, e.g. `index.docker.io/library/alpine` for `alpine`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical_image_name: Option<String>,
    /// LastScanResult summarizes the last successful scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan_result: Option<ScanResult>,
    /// ObservedExclusionList is the exclusion list the last scan result was
    /// produced with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_exclusion_list: Option<Vec<String>>,
    /// LastHandledReconcileAt holds the value of the most recent reconcile
    /// request value, so a change of the annotation value can be detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

/// The outcome of one scan of an image repository.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanResult {
    /// Revision is a stable hash of the scanned tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// TagCount is the number of tags found.
    pub tag_count: i64,
    /// ScanTime is when the scan was performed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_time: Option<Time>,
    /// LatestTags is a sample of the tags found: the first 10 in descending
    /// alphabetical order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_tags: Option<Vec<String>>,
}

crate::impl_flux_object!(
    ImageRepository,
    suspend: |o| o.spec.suspend.unwrap_or(false),
    interval: |o| Some(o.spec.interval.as_str())
);
