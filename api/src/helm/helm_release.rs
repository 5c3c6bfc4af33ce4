//! HelmRelease v2: a Helm chart, its values and the Helm actions that keep a
//! release in the desired state.

use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::{HelmReleaseStatus, Install, Rollback, Test, Uninstall, Upgrade};
use crate::meta::{
    CommonMetadata, CustomHealthCheck, DURATION_PATTERN, DependencyReference, IgnoreRule, Image,
    KubeConfigReference, LocalObjectReference, Patch,
};

/// The desired state of a Helm release.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "helm.toolkit.fluxcd.io",
    version = "v2",
    kind = "HelmRelease",
    namespaced,
    status = "HelmReleaseStatus",
    shortname = "hr",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-appliers",
    doc = "HelmRelease is the Schema for the helmreleases API.",
    derive = "PartialEq",
    derive = "Default",
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
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "(has(self.chart) && !has(self.chartRef)) || (!has(self.chart) && has(self.chartRef))",
    "message": "either chart or chartRef must be set",
}]))]
pub struct HelmReleaseSpec {
    /// Chart is the template of the HelmChart the controller creates and owns
    /// for this HelmRelease. Mutually exclusive with ChartRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<HelmChartTemplate>,
    /// ChartRef points to an existing source object holding the Helm chart
    /// artifact. Mutually exclusive with Chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_ref: Option<CrossNamespaceSourceReference>,
    /// Interval at which to reconcile the Helm release.
    #[schemars(pattern(DURATION_PATTERN))]
    pub interval: String,
    /// KubeConfig for reconciling the HelmRelease on a remote cluster. With
    /// ServiceAccountName set, the controller impersonates that account on
    /// the remote cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_config: Option<KubeConfigReference>,
    /// Suspend tells the controller to suspend reconciliation for this
    /// HelmRelease; reconciliations already running are not affected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// ReleaseName used for the Helm release. Defaults to
    /// '[TargetNamespace-]Name'; computed names longer than 53 characters are
    /// shortened with a hash suffix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 53))]
    pub release_name: Option<String>,
    /// TargetNamespace to install the release into. Defaults to the namespace
    /// of the HelmRelease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub target_namespace: Option<String>,
    /// StorageNamespace holds the Helm storage Secrets of the release.
    /// Defaults to the namespace of the HelmRelease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub storage_namespace: Option<String>,
    /// DependsOn lists HelmReleases that must be ready before this one is
    /// reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<DependencyReference>>,
    /// Timeout is the time to wait for any individual Kubernetes operation
    /// (like Jobs for hooks) during a Helm action. Defaults to '5m0s'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub timeout: Option<String>,
    /// MaxHistory is the number of release versions Helm keeps for this
    /// HelmRelease; '0' keeps all of them. Defaults to '5'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_history: Option<i64>,
    /// ServiceAccountName is the Kubernetes service account to impersonate when
    /// reconciling this HelmRelease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub service_account_name: Option<String>,
    /// PersistentClient makes the controller reuse one Kubernetes client for
    /// the whole reconciliation instead of one per Helm action step. Faster,
    /// but charts that create CRDs outside Helm's CRD lifecycle may not see
    /// them from later hooks. Defaults to true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_client: Option<bool>,
    /// DriftDetection configures how differences between the manifest in Helm
    /// storage and the objects in the cluster are detected and handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_detection: Option<DriftDetection>,
    /// Install configures Helm install actions for this HelmRelease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<Install>,
    /// Upgrade configures Helm upgrade actions for this HelmRelease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<Upgrade>,
    /// Test configures Helm test actions for this HelmRelease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Test>,
    /// Rollback configures Helm rollback actions for this HelmRelease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
    /// Uninstall configures Helm uninstall actions for this HelmRelease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uninstall: Option<Uninstall>,
    /// ValuesFrom lists ConfigMaps and Secrets holding values for this
    /// release, merged in order before the inline Values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_from: Option<Vec<ValuesReference>>,
    /// Values holds the inline values for this Helm release; they take
    /// precedence over ValuesFrom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_fields")]
    pub values: Option<serde_json::Value>,
    /// PostRenderers are applied, in order, to the manifests Helm renders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_renderers: Option<Vec<PostRenderer>>,
    /// PostRenderStrategy selects which rendered manifests go through the
    /// post-renderers. Defaults to 'combined' ('nohooks' with the
    /// UseHelm3Defaults feature gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_render_strategy: Option<PostRenderStrategy>,
    /// CommonMetadata holds labels and annotations added to every object of
    /// the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_metadata: Option<CommonMetadata>,
    /// WaitStrategy selects how the controller waits for the release's
    /// objects to become ready. Defaults to 'poller' ('legacy' with the
    /// UseHelm3Defaults feature gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_strategy: Option<WaitStrategy>,
    /// HealthCheckExprs are CEL health checks for custom kinds, used with the
    /// poller wait strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_exprs: Option<Vec<CustomHealthCheck>>,
}

/// Schema of a free-form JSON field: kept as written, never pruned.
fn preserve_unknown_fields(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// The template of the HelmChart generated for a HelmRelease.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct HelmChartTemplate {
    /// ObjectMeta holds the labels and annotations copied to the generated HelmChart.
    #[serde(default, rename = "metadata", skip_serializing_if = "Option::is_none")]
    pub object_meta: Option<CommonMetadata>,
    /// Spec holds the template of the generated HelmChart's spec.
    pub spec: HelmChartTemplateSpec,
}

/// The template of the spec of the HelmChart generated for a HelmRelease.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartTemplateSpec {
    /// Chart is the name or path of the Helm chart in the SourceRef.
    #[schemars(length(min = 1, max = 2048))]
    pub chart: String,
    /// Version is a semver range of the chart, ignored for charts from
    /// GitRepository and Bucket sources. Defaults to the latest version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "*"))]
    pub version: Option<String>,
    /// SourceRef is the source object the chart is available at.
    pub source_ref: HelmChartSourceReference,
    /// Interval at which to check the source for updates. Defaults to the
    /// HelmRelease's interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub interval: Option<String>,
    /// ReconcileStrategy determines what triggers a new chart artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "ChartVersion"))]
    pub reconcile_strategy: Option<ReconcileStrategy>,
    /// ValuesFiles replaces the chart's default values with these files
    /// (paths relative to the SourceRef), merged in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_files: Option<Vec<String>>,
    /// IgnoreMissingValuesFiles silently skips values files that do not exist
    /// instead of failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_missing_values_files: Option<bool>,
    /// Verify configures signature verification of OCI charts. Chart
    /// dependencies not bundled in the chart artifact are not verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<HelmChartTemplateVerification>,
}

/// The source object a templated HelmChart gets its chart from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartSourceReference {
    /// APIVersion of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent.
    pub kind: HelmChartSourceKind,
    /// Name of the referent.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the referent, defaults to the namespace of the HelmRelease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// Kinds a templated HelmChart can get its chart from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum HelmChartSourceKind {
    /// A Helm (HTTP or OCI) repository.
    HelmRepository,
    /// A Git repository holding the chart.
    GitRepository,
    /// An S3-compatible bucket holding the chart.
    Bucket,
}

/// What makes the source controller produce a new chart artifact.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ReconcileStrategy {
    /// A new chart version.
    #[default]
    ChartVersion,
    /// A new source revision, even with the same chart version.
    Revision,
}

/// Signature verification of an OCI chart.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartTemplateVerification {
    /// Provider is the technology used to sign the OCI chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "cosign"))]
    pub provider: Option<VerificationProvider>,
    /// SecretRef names the Secret holding the trusted public keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
}

/// Technologies used to sign OCI artifacts.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerificationProvider {
    /// Sigstore cosign.
    #[default]
    Cosign,
    /// Notary Project notation.
    Notation,
}

/// A reference to an existing source object holding a Helm chart artifact.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceSourceReference {
    /// APIVersion of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent.
    pub kind: ChartRefKind,
    /// Name of the referent.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the referent, defaults to the namespace of the HelmRelease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// Kinds a HelmRelease's `chartRef` can point to.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ChartRefKind {
    /// An OCI artifact holding a packaged chart.
    #[serde(rename = "OCIRepository")]
    OciRepository,
    /// A HelmChart managed outside this HelmRelease.
    HelmChart,
    /// An artifact produced by a third-party source controller (needs the
    /// ExternalArtifact feature gate).
    ExternalArtifact,
}

/// A ConfigMap or Secret key holding Helm values.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValuesReference {
    /// Kind of the values referent.
    pub kind: ValuesKind,
    /// Name of the values referent, in the namespace of the HelmRelease.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// ValuesKey is the data key holding the values. Defaults to 'values.yaml'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), pattern(r"^[\-._a-zA-Z0-9]+$"))]
    pub values_key: Option<String>,
    /// TargetPath is the YAML dot notation path the value is set at; without
    /// it the data is parsed as a YAML values document and merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 250), pattern(r"^([a-zA-Z0-9_\-.\\\/]|\[[0-9]{1,5}\])+$"))]
    pub target_path: Option<String>,
    /// Optional marks the reference as optional: a missing object or key is
    /// skipped instead of failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
    /// Literal sets the value at TargetPath verbatim, like `helm --set-literal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub literal: Option<bool>,
}

/// Kinds that can hold Helm values.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ValuesKind {
    /// A Secret.
    Secret,
    /// A ConfigMap.
    ConfigMap,
}

/// How drift between Helm storage and the cluster is detected and handled.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct DriftDetection {
    /// Mode selects what happens on drift. Defaults to 'disabled'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<DriftDetectionMode>,
    /// Ignore lists the changes to disregard when looking for drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<Vec<IgnoreRule>>,
}

/// What the controller does about drift.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DriftDetectionMode {
    /// Detect drift and correct it.
    Enabled,
    /// Detect drift and only emit a warning.
    Warn,
    /// Do not look for drift.
    #[default]
    Disabled,
}

/// One Helm post-renderer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct PostRenderer {
    /// Kustomize applies patches and image overrides to the rendered manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<KustomizePostRenderer>,
}

/// A kustomize post-renderer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct KustomizePostRenderer {
    /// Patches are strategic merge or JSON 6902 patches, each optionally
    /// targeting objects by kind, name, label or annotation selectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<Vec<Patch>>,
    /// Images overrides image names, tags or digests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<Image>>,
}

/// Which rendered manifests go through the post-renderers.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PostRenderStrategy {
    /// Templates only; hooks are not post-rendered (Helm 3 behaviour).
    Nohooks,
    /// Templates and hooks together, as one stream (Helm 4 default).
    #[default]
    Combined,
    /// Templates and hooks, each as a separate stream.
    Separate,
}

/// How the controller waits for the release's objects.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct WaitStrategy {
    /// Name of the wait strategy.
    pub name: WaitStrategyName,
}

/// Wait strategies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WaitStrategyName {
    /// kstatus-based polling, extended with HealthCheckExprs.
    #[default]
    Poller,
    /// Helm 3's readiness checks.
    Legacy,
}

crate::impl_flux_object!(
    HelmRelease,
    suspend: |o| o.spec.suspend.unwrap_or(false),
    interval: |o| Some(o.spec.interval.as_str())
);
