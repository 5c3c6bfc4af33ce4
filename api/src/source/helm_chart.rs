//! HelmChart v1: a chart pulled from a HelmRepository, or packaged from a
//! GitRepository or Bucket, stored as a `.tgz` artifact.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::Artifact;
use crate::source::OCIRepositoryVerification;

/// The desired state of a Helm chart.
#[allow(
    clippy::duplicated_attributes,
    reason = "each `printcolumn(..)` of `#[kube]` repeats `type_ = \"string\"`"
)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "HelmChart",
    namespaced,
    status = "HelmChartStatus",
    shortname = "hc",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-sources",
    doc = "HelmChart is the Schema for the helmcharts API.",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Chart", type_ = "string", json_path = ".spec.chart"),
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
    printcolumn(
        name = "Source Kind",
        type_ = "string",
        json_path = ".spec.sourceRef.kind"
    ),
    printcolumn(
        name = "Source Name",
        type_ = "string",
        json_path = ".spec.sourceRef.name"
    ),
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
pub struct HelmChartSpec {
    /// Chart is the name or path the Helm chart is available at in the SourceRef.
    pub chart: String,
    /// Version is the chart version semver expression, ignored for charts from
    /// GitRepository and Bucket sources. Defaults to latest when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "*"))]
    pub version: Option<String>,
    /// SourceRef is the reference to the Source the chart is available at.
    pub source_ref: LocalHelmChartSourceReference,
    /// Interval at which the HelmChart SourceRef is checked for updates.
    #[schemars(pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: String,
    /// ReconcileStrategy determines what enables the creation of a new artifact.
    /// Defaults to ChartVersion when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "ChartVersion"))]
    pub reconcile_strategy: Option<ReconcileStrategy>,
    /// ValuesFiles is an alternative list of values files to use as the chart
    /// values (values.yaml is not included by default), relative to the
    /// SourceRef; later files override earlier ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_files: Option<Vec<String>>,
    /// IgnoreMissingValuesFiles controls whether to silently ignore missing
    /// values files rather than failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_missing_values_files: Option<bool>,
    /// Suspend tells the controller to suspend the reconciliation of this source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Verify contains the trusted public keys and the provider used to check
    /// whether the chart is authentic; only for HelmRepository sources of type
    /// 'oci'. Dependencies not bundled in the chart are not verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<OCIRepositoryVerification>,
}

/// A reference to the source of a HelmChart, in the chart's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalHelmChartSourceReference {
    /// APIVersion of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent, valid values are ('HelmRepository', 'GitRepository', 'Bucket').
    pub kind: HelmChartSourceKind,
    /// Name of the referent.
    pub name: String,
}

/// The source kinds a HelmChart can be built from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum HelmChartSourceKind {
    /// A chart pulled from a Helm repository by name and version.
    #[default]
    HelmRepository,
    /// A chart directory packaged from a Git checkout.
    GitRepository,
    /// A chart directory packaged from a bucket's objects.
    Bucket,
}

/// What makes a HelmChart produce a new artifact.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ReconcileStrategy {
    /// A new chart version.
    #[default]
    ChartVersion,
    /// A new revision of the source artifact.
    Revision,
}

/// The observed state of a HelmChart.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartStatus {
    /// ObservedGeneration is the last observed generation of the HelmChart object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// ObservedSourceArtifactRevision is the last observed Artifact.Revision of
    /// the HelmChartSpec.SourceRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_source_artifact_revision: Option<String>,
    /// ObservedChartName is the last observed chart name as specified by the
    /// resolved chart reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_chart_name: Option<String>,
    /// ObservedValuesFiles are the values files of the chart in the last
    /// successfully reconciled artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_values_files: Option<Vec<String>>,
    /// Conditions holds the conditions for the HelmChart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// URL is the dynamic fetch link for the latest Artifact, provided on a best
    /// effort basis; prefer the Artifact data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Artifact represents the output of the last successful reconciliation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    /// LastHandledReconcileAt holds the value of the most recent reconcile
    /// request value, so a change of the annotation value can be detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

crate::impl_flux_object!(
    HelmChart,
    suspend: |o| o.spec.suspend.unwrap_or(false),
    interval: |o| Some(o.spec.interval.as_str())
);
