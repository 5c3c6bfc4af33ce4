//! References from Alerts and Receivers to the Flux objects they watch or notify.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A reference to Flux objects of one kind, in any namespace: one object by
/// name, or all of them (`*`), optionally narrowed by labels.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceObjectReference {
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent.
    pub kind: FluxKind,
    /// Name of the referent; `*` selects every object of the kind.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the referent, defaults to the namespace of the Alert or
    /// Receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub namespace: Option<String>,
    /// MatchLabels selects objects by label; all pairs must match. Only used
    /// when name is `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
}

/// Kinds of Flux objects that emit events and accept reconcile requests.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum FluxKind {
    /// source.toolkit.fluxcd.io Bucket.
    Bucket,
    /// source.toolkit.fluxcd.io GitRepository.
    GitRepository,
    /// kustomize.toolkit.fluxcd.io Kustomization.
    Kustomization,
    /// helm.toolkit.fluxcd.io HelmRelease.
    HelmRelease,
    /// source.toolkit.fluxcd.io HelmChart.
    HelmChart,
    /// source.toolkit.fluxcd.io HelmRepository.
    HelmRepository,
    /// image.toolkit.fluxcd.io ImageRepository.
    ImageRepository,
    /// image.toolkit.fluxcd.io ImagePolicy.
    ImagePolicy,
    /// image.toolkit.fluxcd.io ImageUpdateAutomation.
    ImageUpdateAutomation,
    /// source.toolkit.fluxcd.io OCIRepository.
    #[serde(rename = "OCIRepository")]
    OciRepository,
    /// source.extensions.fluxcd.io ArtifactGenerator.
    ArtifactGenerator,
    /// source.toolkit.fluxcd.io ExternalArtifact.
    ExternalArtifact,
    /// fluxcd.controlplane.io FluxInstance (Flux Operator).
    FluxInstance,
    /// fluxcd.controlplane.io ResourceSet (Flux Operator).
    ResourceSet,
    /// fluxcd.controlplane.io ResourceSetInputProvider (Flux Operator).
    ResourceSetInputProvider,
}
