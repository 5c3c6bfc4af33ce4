//! Receiver v1: an incoming webhook that asks Flux objects to reconcile now.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::CrossNamespaceObjectReference;
use crate::meta::{DURATION_PATTERN, LocalObjectReference};

/// The desired state of a webhook receiver.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "notification.toolkit.fluxcd.io",
    version = "v1",
    kind = "Receiver",
    namespaced,
    status = "ReceiverStatus",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-notifications",
    doc = "Receiver is the Schema for the receivers API.",
    derive = "PartialEq",
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
    "rule": "self.type == 'generic-oidc' || has(self.secretRef)",
    "message": "spec.secretRef is required unless spec.type is 'generic-oidc'",
}]))]
pub struct ReceiverSpec {
    /// Type of the webhook sender, which decides how requests are validated
    /// and payloads decoded.
    pub r#type: ReceiverType,
    /// Interval at which to reconcile the Receiver with its Secret references.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN), extend("default" = "10m"))]
    pub interval: Option<String>,
    /// Events lists the sender's event types to handle (e.g. 'push' for
    /// GitHub or 'Push Hook' for GitLab), compared case-insensitively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// Resources lists the objects asked to reconcile on a valid request.
    pub resources: Vec<ReceiverResource>,
    /// ResourceFilter is a CEL expression returning a boolean, evaluated for
    /// every resource on each request; resources it rejects are not asked to
    /// reconcile. An invalid expression stalls the Receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_filter: Option<String>,
    /// SecretRef names the Secret holding the `token` used to validate
    /// requests and derive the webhook path (GCR also needs `email` and
    /// `audience`). Required for every type but 'generic-oidc'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// OIDCProviders lists the OIDC issuers whose bearer tokens are accepted
    /// by a 'generic-oidc' Receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_providers: Option<Vec<OidcProvider>>,
    /// Suspend makes the Receiver reject requests (HTTP 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

/// Webhook senders a Receiver understands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReceiverType {
    /// Any sender, no validation.
    Generic,
    /// Any sender signing the payload with an HMAC of the token.
    #[serde(rename = "generic-hmac")]
    GenericHmac,
    /// Any sender presenting an OIDC token from one of OIDCProviders.
    #[serde(rename = "generic-oidc")]
    GenericOidc,
    /// GitHub webhooks.
    Github,
    /// GitLab webhooks.
    Gitlab,
    /// Bitbucket webhooks.
    Bitbucket,
    /// Harbor webhooks.
    Harbor,
    /// Docker Hub webhooks.
    DockerHub,
    /// Quay webhooks.
    Quay,
    /// Google Container Registry notifications through Pub/Sub push.
    Gcr,
    /// Nexus Repository webhooks.
    Nexus,
    /// Azure Container Registry webhooks.
    Acr,
    /// CDEvents.
    CdEvents,
}

/// An object, or set of objects, a Receiver asks to reconcile.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct ReceiverResource {
    /// The object(s) to reconcile.
    #[serde(flatten)]
    pub object: CrossNamespaceObjectReference,
    /// Filter is a CEL expression returning a boolean that selects, per
    /// request, whether the object(s) are asked to reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

/// An OIDC issuer trusted by a 'generic-oidc' Receiver.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OidcProvider {
    /// IssuerURL is the URL of the OIDC issuer, used for discovery and checked
    /// against the token's `iss` claim.
    #[serde(rename = "issuerURL")]
    pub issuer_url: String,
    /// Audience is the expected `aud` claim of the tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "notification-controller"))]
    pub audience: Option<String>,
    /// Variables are named CEL expressions over `claims`, evaluated in order
    /// and usable by later variables, validations and filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<Vec<OidcVariable>>,
    /// Validations are CEL checks a token's claims must all pass.
    #[schemars(length(min = 1))]
    pub validations: Vec<OidcValidation>,
}

/// A named CEL expression computed from the claims of an OIDC token.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct OidcVariable {
    /// Name of the variable.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Expression is the CEL expression computing the variable.
    #[schemars(length(min = 1))]
    pub expression: String,
}

/// A CEL check on the claims of an OIDC token.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct OidcValidation {
    /// Expression is the CEL expression; it must return true for the token
    /// to be accepted.
    #[schemars(length(min = 1))]
    pub expression: String,
    /// Message is reported when the expression returns false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The observed state of a Receiver.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverStatus {
    /// ObservedGeneration is the last observed generation of the Receiver object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions holds the conditions for the Receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// WebhookPath is the generated path of the incoming webhook,
    /// `/hook/<sha256(token+name+namespace)>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_path: Option<String>,
    /// LastHandledReconcileAt holds the value of the most recent reconcile
    /// request value, so a change of the annotation value can be detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

crate::impl_flux_object!(
    Receiver,
    suspend: |o| o.spec.suspend.unwrap_or(false),
    interval: |o| o.spec.interval.as_deref()
);
