//! Provider v1beta3: where and how notifications are sent.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{Condition, DURATION_PATTERN, FluxObject, LocalObjectReference, TIMEOUT_PATTERN};

/// The desired state of a notification provider. Providers are configuration
/// only: v1beta3 has no status.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "notification.toolkit.fluxcd.io",
    version = "v1beta3",
    kind = "Provider",
    namespaced,
    category = "all",
    category = "fluxcd",
    category = "fluxcd-notifications",
    doc = "Provider is the Schema for the providers API.",
    derive = "PartialEq",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.type == 'github' || self.type == 'gitlab' || self.type == 'gitea' || self.type == 'bitbucketserver' || self.type == 'bitbucket' || self.type == 'azuredevops' || !has(self.commitStatusExpr)",
    "message": "spec.commitStatusExpr is only supported for the 'github', 'gitlab', 'gitea', 'bitbucketserver', 'bitbucket', 'azuredevops' provider types",
}]))]
pub struct ProviderSpec {
    /// Type selects the Provider implementation.
    pub r#type: ProviderType,
    /// Interval at which to reconcile the Provider with its Secret references.
    /// Deprecated: ignored in v1beta3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub interval: Option<String>,
    /// Channel is the destination channel events are posted to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub channel: Option<String>,
    /// Username is the name events are posted under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub username: Option<String>,
    /// Address is the endpoint alerts are sent to; its meaning depends on the
    /// type (an HTTP/S URL for generic, a project or subject for others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub address: Option<String>,
    /// Timeout for sending alerts to the Provider. Defaults to 15s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(TIMEOUT_PATTERN))]
    pub timeout: Option<String>,
    /// Proxy is the HTTP/S address of the proxy server.
    /// Deprecated: use ProxySecretRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(r"^(http|https)://.*$"))]
    pub proxy: Option<String>,
    /// ProxySecretRef names the Secret holding the proxy `address` and
    /// optional `username` and `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalObjectReference>,
    /// SecretRef names the Secret holding the Provider's credentials
    /// (`address`, `token`, `username`, `password`, `headers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// ServiceAccountName is the ServiceAccount whose workload identity
    /// authenticates to cloud services (azureeventhub, azuredevops,
    /// googlepubsub). Needs the ObjectLevelWorkloadIdentity feature gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// CertSecretRef names the Secret holding TLS material: `ca.crt` for
    /// server authentication and/or `tls.crt` + `tls.key` for client
    /// authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// Suspend makes the Provider silently drop events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// CommitStatusExpr is a CEL expression (over `event`, `provider` and
    /// `alert`) producing a custom commit status for Git providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_status_expr: Option<String>,
}

/// Provider implementations.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderType {
    /// Slack chat.
    Slack,
    /// Discord chat.
    Discord,
    /// Microsoft Teams.
    MsTeams,
    /// Rocket.Chat.
    Rocket,
    /// Generic webhook receiving the event JSON.
    Generic,
    /// Generic webhook with an HMAC signature of the payload.
    #[serde(rename = "generic-hmac")]
    GenericHmac,
    /// GitHub commit status.
    Github,
    /// GitLab commit status.
    Gitlab,
    /// Gitea commit status.
    Gitea,
    /// Gitea pull request comment.
    GiteaPullRequestComment,
    /// Bitbucket Server / Data Center commit status.
    BitbucketServer,
    /// Bitbucket Cloud commit status.
    Bitbucket,
    /// Azure DevOps commit status.
    AzureDevOps,
    /// Google Chat.
    GoogleChat,
    /// Google Cloud Pub/Sub.
    GooglePubSub,
    /// Webex.
    Webex,
    /// Sentry.
    Sentry,
    /// Azure Event Hub.
    AzureEventHub,
    /// Telegram.
    Telegram,
    /// Lark.
    Lark,
    /// Matrix.
    Matrix,
    /// Opsgenie.
    Opsgenie,
    /// Prometheus Alertmanager.
    Alertmanager,
    /// Grafana annotations.
    Grafana,
    /// GitHub repository dispatch.
    GithubDispatch,
    /// GitHub pull request comment.
    GithubPullRequestComment,
    /// GitLab merge request comment.
    GitlabMergeRequestComment,
    /// PagerDuty.
    PagerDuty,
    /// Datadog events.
    Datadog,
    /// NATS.
    Nats,
    /// Zulip.
    Zulip,
    /// OpenTelemetry traces.
    Otel,
    /// Zoom.
    Zoom,
    /// incident.io.
    #[serde(rename = "incident.io")]
    IncidentIo,
}

impl FluxObject for Provider {
    fn conditions(&self) -> &[Condition] {
        &[]
    }
    fn observed_generation(&self) -> Option<i64> {
        None
    }
    fn last_handled_reconcile_at(&self) -> Option<&str> {
        None
    }
    fn suspended(&self) -> bool {
        self.spec.suspend.unwrap_or(false)
    }
    /// The deprecated `spec.interval` is ignored in v1beta3, so a Provider has
    /// no reconcile interval.
    fn interval(&self) -> Option<&str> {
        None
    }
}
