//! Types shared by the source kinds that talk to OCI registries: OCIRepository,
//! HelmRepository (`type: oci`) and HelmChart (`verify`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::LocalObjectReference;

/// How a controller authenticates to an OCI registry.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OCIProvider {
    /// Static credentials from `secretRef` or the ServiceAccount's image pull
    /// secrets, or anonymous access.
    #[default]
    Generic,
    /// Amazon ECR through workload identity.
    Aws,
    /// Azure Container Registry through workload identity.
    Azure,
    /// Google Artifact Registry through workload identity.
    Gcp,
}

/// Signature verification settings for an OCI artifact or an OCI Helm chart.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCIRepositoryVerification {
    /// Provider specifies the technology used to sign the OCI Artifact.
    #[serde(default)]
    pub provider: VerificationProvider,
    /// SecretRef specifies the Kubernetes Secret containing the trusted public keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// MatchOIDCIdentity lists the identities accepted for artifacts signed with
    /// Cosign keyless signing; the artifact is verified if any matcher matches.
    #[serde(
        default,
        rename = "matchOIDCIdentity",
        skip_serializing_if = "Option::is_none"
    )]
    pub match_oidc_identity: Option<Vec<OIDCIdentityMatch>>,
    /// TrustedRootSecretRef specifies a Secret with a Sigstore `trusted_root.json`
    /// key, for verification against self-hosted Sigstore infrastructure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_root_secret_ref: Option<LocalObjectReference>,
}

/// The signing technology a verification expects.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerificationProvider {
    /// Sigstore Cosign signatures (key-based or keyless).
    #[default]
    Cosign,
    /// Notary Project signatures.
    Notation,
}

/// The OIDC issuer and subject a keyless signing certificate must match.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct OIDCIdentityMatch {
    /// Issuer is a Go regular expression matched against the OIDC issuer in the
    /// Fulcio certificate.
    pub issuer: String,
    /// Subject is a Go regular expression matched against the identity subject in
    /// the Fulcio certificate.
    pub subject: String,
}
