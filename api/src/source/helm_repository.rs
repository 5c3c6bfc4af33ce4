//! HelmRepository v1: a Helm repository index turned into a YAML artifact, or a
//! static pointer to an OCI registry holding charts.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{AccessFrom, Artifact, LocalObjectReference};
use crate::source::OCIProvider;

/// The desired state of a Helm repository.
#[allow(
    clippy::duplicated_attributes,
    reason = "each `printcolumn(..)` of `#[kube]` repeats `type_ = \"string\"`"
)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "HelmRepository",
    namespaced,
    status = "HelmRepositoryStatus",
    shortname = "helmrepo",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-sources",
    doc = "HelmRepository is the Schema for the helmrepositories API.",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "URL", type_ = "string", json_path = ".spec.url"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
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
    )
)]
#[serde(rename_all = "camelCase")]
pub struct HelmRepositorySpec {
    /// URL of the Helm repository, a valid URL contains at least a protocol and host.
    #[schemars(pattern(r"^(http|https|oci)://.*$"))]
    pub url: String,
    /// SecretRef specifies the Secret containing authentication credentials
    /// (`username` and `password`); its deprecated TLS keys `certFile`,
    /// `keyFile` and `caFile` are superseded by `certSecretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// CertSecretRef names a Secret with a PEM-encoded client certificate
    /// (`tls.crt`, `tls.key`) and/or CA certificate (`ca.crt`); it takes
    /// precedence over the TLS keys of `secretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// PassCredentials allows the credentials from the SecretRef to be passed
    /// on to a host that does not match the host as defined in URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_credentials: Option<bool>,
    /// Interval at which the HelmRepository URL is checked for updates,
    /// one minute when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: Option<String>,
    /// Insecure allows connecting to a non-TLS HTTP container registry; only
    /// used when `type` is 'oci'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    /// Timeout of the index fetch, and of OCI operations of the HelmCharts that
    /// use this repository; 60s when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"))]
    pub timeout: Option<String>,
    /// Suspend tells the controller to suspend the reconciliation of this HelmRepository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// AccessFrom specifies an Access Control List for allowing cross-namespace
    /// references to this object (declared upstream, not implemented).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_from: Option<AccessFrom>,
    /// Type of the HelmRepository; with 'oci' the URL must start with `oci://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<HelmRepositoryType>,
    /// Provider used for authentication, can be 'aws', 'azure', 'gcp' or
    /// 'generic'; only used when `type` is 'oci'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "generic"))]
    pub provider: Option<OCIProvider>,
}

/// The protocol of a Helm repository.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HelmRepositoryType {
    /// A classic HTTP(S) repository with an `index.yaml`.
    #[default]
    Default,
    /// An OCI registry; no artifact is produced.
    Oci,
}

/// The observed state of a HelmRepository.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmRepositoryStatus {
    /// ObservedGeneration is the last observed generation of the HelmRepository object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions holds the conditions for the HelmRepository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// URL is the dynamic fetch link for the latest Artifact, provided on a best
    /// effort basis; prefer the Artifact data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Artifact represents the last successful HelmRepository reconciliation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    /// LastHandledReconcileAt holds the value of the most recent reconcile
    /// request value, so a change of the annotation value can be detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

crate::impl_flux_object!(
    HelmRepository,
    suspend: |o| o.spec.suspend.unwrap_or(false),
    interval: |o| o.spec.interval.as_deref()
);
