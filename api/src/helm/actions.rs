//! The per-action blocks of a HelmRelease spec: install, upgrade, test,
//! rollback and uninstall.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::DURATION_PATTERN;

/// Configuration of Helm install actions.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Install {
    /// Timeout is the time to wait for any individual Kubernetes operation
    /// during the install. Defaults to the HelmRelease's timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub timeout: Option<String>,
    /// Remediation configures what happens when the install fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<InstallRemediation>,
    /// Strategy selects how a failed install is handled. Defaults to
    /// 'RemediateOnFailure' ('RetryOnFailure' with the DefaultToRetryOnFailure
    /// feature gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<ReleaseStrategy>,
    /// DisableTakeOwnership stops Helm from taking ownership of existing
    /// objects that are not part of a release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_take_ownership: Option<bool>,
    /// DisableWait skips waiting for the release's objects to be ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_wait: Option<bool>,
    /// DisableWaitForJobs skips waiting for Jobs to complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_wait_for_jobs: Option<bool>,
    /// DisableHooks skips the chart's hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_hooks: Option<bool>,
    /// DisableOpenAPIValidation skips validating rendered manifests against
    /// the cluster's OpenAPI schema.
    #[serde(
        default,
        rename = "disableOpenAPIValidation",
        skip_serializing_if = "Option::is_none"
    )]
    pub disable_open_api_validation: Option<bool>,
    /// DisableSchemaValidation skips validating values against the chart's
    /// JSON schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_schema_validation: Option<bool>,
    /// Replace reuses the name of a deleted release still in history
    /// (unsafe in production).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<bool>,
    /// SkipCRDs skips installing the chart's CRDs.
    /// Deprecated: use CRDs with 'Skip' instead.
    #[serde(default, rename = "skipCRDs", skip_serializing_if = "Option::is_none")]
    pub skip_crds: Option<bool>,
    /// CRDs selects how the chart's `crds/` directory is handled on install.
    /// Defaults to 'Create'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crds: Option<CrdsPolicy>,
    /// CreateNamespace creates the target namespace if it does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_namespace: Option<bool>,
    /// ServerSideApply makes Helm apply objects with server-side apply.
    /// Defaults to true (false with the UseHelm3Defaults feature gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_apply: Option<bool>,
}

/// Remediation of a failed install.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstallRemediation {
    /// Retries is the number of retries after a failed install; a negative
    /// value retries forever. Defaults to '0'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    /// IgnoreTestFailures makes failed tests not count as a failed install.
    /// Defaults to the test block's IgnoreFailures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_test_failures: Option<bool>,
    /// RemediateLastFailure remediates the last failure once retries are
    /// exhausted. Defaults to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediate_last_failure: Option<bool>,
}

/// How a failed install or upgrade is handled.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.retryInterval) || self.name == 'RetryOnFailure'",
    "message": ".retryInterval can only be set when .name is 'RetryOnFailure'",
}]))]
pub struct ReleaseStrategy {
    /// Name of the strategy.
    pub name: ReleaseStrategyName,
    /// RetryInterval is the delay between retries of a failed action; only
    /// with 'RetryOnFailure'. Defaults to 5 minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub retry_interval: Option<String>,
}

/// Strategies for failed install and upgrade actions.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ReleaseStrategyName {
    /// Remediate (rollback or uninstall) according to the remediation block.
    #[default]
    RemediateOnFailure,
    /// Retry the action after RetryInterval without remediating.
    RetryOnFailure,
}

/// How a chart's `crds/` directory is handled.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum CrdsPolicy {
    /// Neither create nor replace CRDs.
    Skip,
    /// Create new CRDs, leave existing ones untouched.
    Create,
    /// Create new CRDs and replace existing ones.
    CreateReplace,
}

/// Configuration of Helm upgrade actions.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Upgrade {
    /// Timeout is the time to wait for any individual Kubernetes operation
    /// during the upgrade. Defaults to the HelmRelease's timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub timeout: Option<String>,
    /// Remediation configures what happens when the upgrade fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<UpgradeRemediation>,
    /// Strategy selects how a failed upgrade is handled. Defaults to
    /// 'RemediateOnFailure' ('RetryOnFailure' with the DefaultToRetryOnFailure
    /// feature gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<ReleaseStrategy>,
    /// DisableTakeOwnership stops Helm from taking ownership of existing
    /// objects that are not part of a release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_take_ownership: Option<bool>,
    /// DisableWait skips waiting for the release's objects to be ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_wait: Option<bool>,
    /// DisableWaitForJobs skips waiting for Jobs to complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_wait_for_jobs: Option<bool>,
    /// DisableHooks skips the chart's hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_hooks: Option<bool>,
    /// DisableOpenAPIValidation skips validating rendered manifests against
    /// the cluster's OpenAPI schema.
    #[serde(
        default,
        rename = "disableOpenAPIValidation",
        skip_serializing_if = "Option::is_none"
    )]
    pub disable_open_api_validation: Option<bool>,
    /// DisableSchemaValidation skips validating values against the chart's
    /// JSON schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_schema_validation: Option<bool>,
    /// Force replaces objects (delete and recreate) when a patch fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    /// PreserveValues reuses the values of the last release and merges in
    /// the new ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserve_values: Option<bool>,
    /// CleanupOnFail deletes objects created by a failed upgrade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_on_fail: Option<bool>,
    /// CRDs selects how the chart's `crds/` directory is handled on upgrade.
    /// Defaults to 'Skip'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crds: Option<CrdsPolicy>,
    /// ServerSideApply selects the apply method of the upgrade; 'auto' keeps
    /// the method of the previous release. Defaults to 'auto'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_apply: Option<ServerSideApplyMode>,
    /// ChartNameChangeStrategy selects what happens when the chart name
    /// changes. Defaults to 'Reinstall'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_name_change_strategy: Option<ChartNameChangeStrategy>,
}

/// Remediation of a failed upgrade.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeRemediation {
    /// Retries is the number of retries after a failed upgrade; a negative
    /// value retries forever. Defaults to '0'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    /// IgnoreTestFailures makes failed tests not count as a failed upgrade.
    /// Defaults to the test block's IgnoreFailures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_test_failures: Option<bool>,
    /// RemediateLastFailure remediates the last failure once retries are
    /// exhausted. Defaults to true when Retries is greater than zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediate_last_failure: Option<bool>,
    /// Strategy is the remediation applied after a failed upgrade. Defaults
    /// to 'rollback'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<RemediationStrategy>,
}

/// Remediations of a failed upgrade.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RemediationStrategy {
    /// Roll back to the last successful release.
    #[default]
    Rollback,
    /// Uninstall the release (it is installed again on the next attempt).
    Uninstall,
}

/// Apply method of Helm upgrade and rollback actions.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServerSideApplyMode {
    /// Always server-side apply.
    Enabled,
    /// Always client-side apply.
    Disabled,
    /// Keep the apply method of the release being upgraded or rolled back to.
    #[default]
    Auto,
}

/// What happens when the chart name of a release changes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ChartNameChangeStrategy {
    /// Upgrade the existing release to the new chart.
    InPlaceUpdate,
    /// Uninstall the release and install it with the new chart.
    #[default]
    Reinstall,
}

/// Configuration of Helm test actions.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Test {
    /// Enable runs the chart's tests after every successful install or upgrade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable: Option<bool>,
    /// Timeout is the time to wait for any individual Kubernetes operation
    /// during the tests. Defaults to the HelmRelease's timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub timeout: Option<String>,
    /// IgnoreFailures keeps a release whose tests fail instead of remediating it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_failures: Option<bool>,
    /// Filters select which tests run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Vec<TestFilter>>,
}

/// Includes or excludes one Helm test by name.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct TestFilter {
    /// Name of the test.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Exclude skips the named test instead of running only the named tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<bool>,
}

/// Configuration of Helm rollback actions.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    /// Timeout is the time to wait for any individual Kubernetes operation
    /// during the rollback. Defaults to the HelmRelease's timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub timeout: Option<String>,
    /// DisableWait skips waiting for the release's objects to be ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_wait: Option<bool>,
    /// DisableWaitForJobs skips waiting for Jobs to complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_wait_for_jobs: Option<bool>,
    /// DisableHooks skips the chart's hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_hooks: Option<bool>,
    /// Recreate restarts pods of the rolled-back objects.
    /// Deprecated: a no-op with Helm 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recreate: Option<bool>,
    /// Force replaces objects (delete and recreate) when a patch fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    /// CleanupOnFail deletes objects created by a failed rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_on_fail: Option<bool>,
    /// ServerSideApply selects the apply method of the rollback; 'auto' uses
    /// the method of the release rolled back to. Defaults to 'auto'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_apply: Option<ServerSideApplyMode>,
}

/// Configuration of Helm uninstall actions.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Uninstall {
    /// Timeout is the time to wait for any individual Kubernetes operation
    /// during the uninstall. Defaults to the HelmRelease's timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub timeout: Option<String>,
    /// DisableHooks skips the chart's hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_hooks: Option<bool>,
    /// KeepHistory keeps the release history after uninstalling, marking the
    /// release as uninstalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_history: Option<bool>,
    /// DisableWait skips waiting for all objects to be deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_wait: Option<bool>,
    /// DeletionPropagation is the deletion propagation policy used when Helm
    /// deletes the release's objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "background"))]
    pub deletion_propagation: Option<DeletionPropagation>,
}

/// Kubernetes deletion propagation policies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeletionPropagation {
    /// Delete the object now, its dependents in the background.
    #[default]
    Background,
    /// Delete dependents first, then the object.
    Foreground,
    /// Delete the object and leave its dependents.
    Orphan,
}
