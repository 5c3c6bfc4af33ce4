//! The observed state of a HelmRelease: conditions, failure counters and the
//! history of Helm release snapshots.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::ResourceInventory;

/// The observed state of a HelmRelease.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmReleaseStatus {
    /// ObservedGeneration is the last observed generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// ObservedPostRenderersDigest is the digest of the post-renderers of the
    /// last successful reconciliation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_post_renderers_digest: Option<String>,
    /// ObservedCommonMetadataDigest is the digest of the common metadata of
    /// the last successful reconciliation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_common_metadata_digest: Option<String>,
    /// LastAttemptedGeneration is the generation of the last reconciliation
    /// attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_generation: Option<i64>,
    /// Conditions holds the conditions for the HelmRelease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// HelmChart is the `<namespace>/<name>` of the HelmChart generated from
    /// the chart template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm_chart: Option<String>,
    /// StorageNamespace is the namespace of the Helm storage of the current
    /// release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub storage_namespace: Option<String>,
    /// History holds snapshots of the releases, newest first, back to the
    /// last successful release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<Snapshot>>,
    /// Inventory lists the objects of the release manifest and the chart's
    /// CRDs, without hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<ResourceInventory>,
    /// LastAttemptedReleaseAction is the last release action attempted, which
    /// selects the remediation that applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_release_action: Option<ReleaseAction>,
    /// LastAttemptedReleaseActionDuration is how long the last release action
    /// took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_release_action_duration: Option<String>,
    /// Failures counts the failed reconciliations since the last success or
    /// reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<i64>,
    /// InstallFailures counts the failed installs since the last success or
    /// reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_failures: Option<i64>,
    /// UpgradeFailures counts the failed upgrades since the last success or
    /// reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_failures: Option<i64>,
    /// LastAttemptedRevision is the chart version of the last attempt; for
    /// OCIRepository charts it carries the OCI digest as build metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// LastAttemptedRevisionDigest is the OCI digest of the chart of the last
    /// attempt, for OCIRepository sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision_digest: Option<String>,
    /// LastAttemptedValuesChecksum is the SHA1 of the values of the last attempt.
    /// Deprecated: use LastAttemptedConfigDigest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_values_checksum: Option<String>,
    /// LastReleaseRevision is the revision of the last successful release.
    /// Deprecated: use History.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_release_revision: Option<i64>,
    /// LastAttemptedConfigDigest is the digest of the values of the last attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_config_digest: Option<String>,
    /// LastHandledReconcileAt holds the value of the most recent reconcile
    /// request value, so a change of the annotation value can be detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// LastHandledForceAt holds the value of the most recent force request
    /// value, so a change of the annotation value can be detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_force_at: Option<String>,
    /// LastHandledResetAt holds the value of the most recent reset request
    /// value, so a change of the annotation value can be detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reset_at: Option<String>,
}

/// Release actions whose failure the remediation settings apply to.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseAction {
    /// A Helm install.
    Install,
    /// A Helm upgrade.
    Upgrade,
}

/// A snapshot of one Helm release, as recorded in `status.history`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// APIVersion is the version of the snapshot format, which decides how
    /// the digest is computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Digest of the release object in Helm storage.
    pub digest: String,
    /// Name of the release.
    pub name: String,
    /// Namespace the release is deployed to.
    pub namespace: String,
    /// Version of the release (the Helm release revision).
    pub version: i64,
    /// Status of the release, as reported by Helm.
    pub status: String,
    /// Action is the Helm action that produced the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// ChartName is the name of the chart of the release.
    pub chart_name: String,
    /// ChartVersion is the version of the chart of the release.
    pub chart_version: String,
    /// AppVersion is the app version of the chart of the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// ConfigDigest is the digest of the values of the release.
    pub config_digest: String,
    /// FirstDeployed is when the release was first deployed.
    pub first_deployed: Time,
    /// LastDeployed is when the release was last deployed.
    pub last_deployed: Time,
    /// Deleted is when the release was deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Time>,
    /// TestHooks records the test hooks of the release by name, once tests ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_hooks: Option<BTreeMap<String, TestHookStatus>>,
    /// OCIDigest is the digest of the OCI artifact the chart came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_digest: Option<String>,
}

/// The last run of one Helm test hook.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestHookStatus {
    /// LastStarted is when the test last started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_started: Option<Time>,
    /// LastCompleted is when the test last completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_completed: Option<Time>,
    /// Phase of the last test run (Unknown, Running, Succeeded, Failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
}
