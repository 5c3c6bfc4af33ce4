//! ImageUpdateAutomation v1: commits the images elected by ImagePolicies
//! into a Git repository.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ImageRef;
use crate::meta::{DURATION_PATTERN, LocalObjectReference};
use crate::source::GitRepositoryRef;

/// The desired state of an image update automation.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "image.toolkit.fluxcd.io",
    version = "v1",
    kind = "ImageUpdateAutomation",
    namespaced,
    status = "ImageUpdateAutomationStatus",
    shortname = "iua",
    shortname = "imgupd",
    shortname = "imgauto",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-images",
    doc = "ImageUpdateAutomation is the Schema for the imageupdateautomations API.",
    derive = "PartialEq",
    derive = "Default",
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
#[serde(rename_all = "camelCase")]
pub struct ImageUpdateAutomationSpec {
    /// SourceRef points at the GitRepository to update.
    pub source_ref: CrossNamespaceSourceReference,
    /// Git holds the Git-specific settings; optional in the schema but
    /// needed in practice, as Git is the only kind of source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSpec>,
    /// Interval is the lower bound between automation runs.
    #[schemars(pattern(DURATION_PATTERN))]
    pub interval: String,
    /// PolicySelector selects the ImagePolicies, in the automation's
    /// namespace, to apply. Defaults to all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-map-type" = "atomic"))]
    pub policy_selector: Option<LabelSelector>,
    /// Update selects how files in the repository are updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = { "strategy": "Setters" }))]
    pub update: Option<UpdateStrategy>,
    /// Suspend tells the controller not to run this automation until unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

/// The Git repository source of an automation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceSourceReference {
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent, defaulted by the apiserver.
    #[serde(default)]
    pub kind: AutomationSourceKind,
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent, defaults to the namespace of the
    /// ImageUpdateAutomation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Kinds of source an automation can update.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AutomationSourceKind {
    /// A source.toolkit.fluxcd.io GitRepository.
    #[default]
    GitRepository,
}

/// How the automation clones, commits to and pushes the Git repository.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct GitSpec {
    /// Checkout selects what to clone. Defaults to the GitRepository's
    /// `spec.ref`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout: Option<GitCheckoutSpec>,
    /// Commit specifies how commits are made.
    pub commit: CommitSpec,
    /// Push specifies where commits are pushed. Defaults to the checkout
    /// branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushSpec>,
}

/// What the automation clones.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct GitCheckoutSpec {
    /// Reference is the branch, tag or commit to clone.
    #[serde(rename = "ref")]
    pub reference: GitRepositoryRef,
}

/// How the automation commits changes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommitSpec {
    /// Author is the email and optional name of the commit author.
    pub author: CommitUser,
    /// SigningKey signs commits with a GPG or SSH key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<SigningKey>,
    /// MessageTemplate is a Go text/template for the commit message, given
    /// the changes made (`.Changed`) and MessageTemplateValues (`.Values`).
    /// The `.Updated` field of older versions has been removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template: Option<String>,
    /// MessageTemplateValues are extra values exposed to the template as
    /// `.Values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template_values: Option<BTreeMap<String, String>>,
}

/// The author of automation commits.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CommitUser {
    /// Name of the commit author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email of the commit author.
    pub email: String,
}

/// The key that signs automation commits.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningKey {
    /// SecretRef names the Secret, in the automation's namespace, holding the
    /// key: `git.asc` (and optional `passphrase`) for GPG, `identity` (and
    /// optional `password`) for SSH.
    pub secret_ref: LocalObjectReference,
    /// Type of the key. Defaults to 'gpg'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<SigningKeyType>,
}

/// Kinds of commit signing keys.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SigningKeyType {
    /// An ASCII-armored OpenPGP key.
    #[default]
    Gpg,
    /// An SSH private key.
    Ssh,
}

/// Where the automation pushes its commits.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct PushSpec {
    /// Branch to push to, created from the checkout branch if missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Refspec is an additional Git refspec to push, e.g.
    /// `refs/heads/main:refs/heads/auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refspec: Option<String>,
    /// Options are Git push options sent to the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
}

/// How files in the repository are updated.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct UpdateStrategy {
    /// Strategy names the update strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Setters"))]
    pub strategy: Option<UpdateStrategyName>,
    /// Path to the directory holding the manifests to update. Defaults to the
    /// repository root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Update strategies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum UpdateStrategyName {
    /// Rewrite YAML fields marked with `$imagepolicy` setter comments.
    #[default]
    Setters,
}

/// The observed state of an ImageUpdateAutomation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageUpdateAutomationStatus {
    /// LastAutomationRunTime is when the automation last ran to completion,
    /// whether or not it made changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_automation_run_time: Option<Time>,
    /// LastPushCommit is the SHA of the last commit pushed by the automation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_push_commit: Option<String>,
    /// LastPushTime is when the automation last pushed a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_push_time: Option<Time>,
    /// ObservedGeneration is the last reconciled generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions holds the conditions for the ImageUpdateAutomation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// ObservedPolicies maps the name of each ImagePolicy applied by the last
    /// run to the image it elected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_policies: Option<BTreeMap<String, ImageRef>>,
    /// ObservedSourceRevision is the source revision of the last run, used to
    /// skip runs when neither the source nor the policies changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_source_revision: Option<String>,
    /// LastHandledReconcileAt holds the value of the most recent reconcile
    /// request value, so a change of the annotation value can be detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

crate::impl_flux_object!(
    ImageUpdateAutomation,
    suspend: |o| o.spec.suspend.unwrap_or(false),
    interval: |o| Some(o.spec.interval.as_str())
);
