//! Notification payloads in each service's own format.
//!
//! A Provider's type decides the URL, headers and JSON body of the HTTP
//! request that carries an event; [`plan`] builds it from the resolved
//! Provider settings ([`Target`]) without any I/O, so payloads are tested
//! byte for byte against what upstream sends. Commit status Providers need
//! two requests, a listing and a creation ([`git`]). Sending is
//! [`crate::delivery`]'s job.

mod alertmanager;
mod generic;
pub mod git;
mod googlechat;
mod msteams;
mod slack;

use std::collections::BTreeMap;
use std::fmt;

use fluxrs_api::notification::ProviderType;
use serde::Serialize;

use crate::event::FluxEvent;
use crate::{Error, Result};

/// `gotk-component` header: the reporting controller of a forwarded event.
pub const COMPONENT_HEADER: &str = "gotk-component";

/// A Provider with its Secret resolved: everything needed to build requests.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// The address (secret `address` over `spec.address`).
    pub address: String,
    /// `spec.channel`.
    pub channel: String,
    /// `spec.username` (secret `username` over it).
    pub username: String,
    /// Secret `token`.
    pub token: Option<String>,
    /// Secret `password` (the Git forges' token when `token` is absent).
    pub password: Option<String>,
    /// The Provider's UID: names commit statuses per cluster.
    pub provider_uid: String,
    /// Secret `headers`: extra HTTP headers (generic providers).
    pub headers: BTreeMap<String, String>,
}

impl fmt::Debug for Target {
    /// Shows no secret material: the address of a webhook is a credential.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("channel", &self.channel)
            .field("username", &self.username)
            .field("has_token", &self.token.is_some())
            .field("has_password", &self.password.is_some())
            .field("provider_uid", &self.provider_uid)
            .field("header_names", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// How a response is judged besides its status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseCheck {
    /// Any 2xx is a success.
    Status,
    /// Slack's `chat.postMessage` answers 200 with `{"ok": false}` on errors.
    SlackApi,
}

/// One HTTP POST carrying a notification.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// Where to POST.
    pub url: String,
    /// Headers besides `Content-Type: application/json`.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
    /// How to judge the response.
    pub check: ResponseCheck,
}

impl fmt::Debug for Request {
    /// Shows neither the URL (a credential for webhooks) nor header values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field(
                "header_names",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// What announcing one event to a Provider takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// One POST.
    Send(Request),
    /// A commit status, set only when the forge does not show it already.
    CommitStatus(git::StatusUpdate),
}

/// Whether flux-rs can send to Providers of this type.
pub fn is_supported(kind: ProviderType) -> bool {
    git::is_commit_status(kind)
        || matches!(
            kind,
            ProviderType::Slack
                | ProviderType::Discord
                | ProviderType::Rocket
                | ProviderType::MsTeams
                | ProviderType::GoogleChat
                | ProviderType::Alertmanager
                | ProviderType::Generic
                | ProviderType::GenericHmac
        )
}

/// The spelling of a Provider type in manifests (`generic-hmac`).
pub fn type_name(kind: ProviderType) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// How `event` is announced to a Provider of type `kind`, or `None` when
/// that Provider type does not announce such events (Google Chat and the
/// commit status providers skip `Progressing`).
///
/// Errors: [`Error::UnsupportedProvider`], [`Error::InvalidProvider`] for a
/// missing address, HMAC key or forge token, [`Error::InvalidEvent`] for a
/// commit status without a commit revision, [`Error::EncodePayload`].
pub fn plan(kind: ProviderType, target: &Target, event: &FluxEvent) -> Result<Option<Plan>> {
    if target.address.is_empty() {
        return Err(Error::InvalidProvider(
            "no address: set spec.address or the 'address' key of the secret".to_owned(),
        ));
    }
    if git::is_commit_status(kind) {
        return Ok(git::update(kind, target, event)?.map(Plan::CommitStatus));
    }
    let request = match kind {
        ProviderType::Slack => slack::slack(target, event)?,
        ProviderType::Discord => slack::discord(target, event)?,
        ProviderType::Rocket => slack::rocket(target, event)?,
        ProviderType::MsTeams => msteams::request(target, event)?,
        ProviderType::GoogleChat => match googlechat::request(target, event)? {
            Some(request) => request,
            None => return Ok(None),
        },
        ProviderType::Alertmanager => alertmanager::request(target, event)?,
        ProviderType::Generic => generic::request(target, event, None)?,
        ProviderType::GenericHmac => {
            let key = target
                .token
                .as_deref()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    Error::InvalidProvider(
                        "generic-hmac needs the HMAC key in the 'token' key of the secret"
                            .to_owned(),
                    )
                })?;
            generic::request(target, event, Some(key.as_bytes()))?
        }
        other => return Err(Error::UnsupportedProvider(type_name(other))),
    };
    Ok(Some(Plan::Send(request)))
}

/// Serializes a payload.
fn json<T: Serialize>(payload: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(payload).map_err(Error::EncodePayload)
}

/// `kind/name.namespace` with the kind in lower case, the object label most
/// providers show.
fn object_label(event: &FluxEvent) -> String {
    format!(
        "{}/{}.{}",
        event.kind().to_lowercase(),
        event.name(),
        event.namespace()
    )
}

/// The event time as Go's `time.Time.String()` prints it
/// (`2024-01-01 00:00:00 +0000 UTC`).
fn go_time(event: &FluxEvent) -> String {
    event
        .timestamp
        .parse::<k8s_openapi::jiff::Timestamp>()
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S%.f +0000 UTC").to_string())
        .unwrap_or_else(|_| event.timestamp.clone())
}

#[cfg(test)]
pub(crate) mod testing {
    //! A fixed event for payload tests.

    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::ObjectReference;

    use crate::event::FluxEvent;

    /// A failed Kustomization with forwarded (prefix-free) metadata.
    pub fn failed_kustomization() -> FluxEvent {
        FluxEvent {
            involved_object: ObjectReference {
                api_version: Some("kustomize.toolkit.fluxcd.io/v1".into()),
                kind: Some("Kustomization".into()),
                name: Some("webapp".into()),
                namespace: Some("apps".into()),
                uid: Some("uid-1".into()),
                resource_version: Some("42".into()),
                field_path: None,
            },
            severity: "error".into(),
            timestamp: "2024-01-01T00:00:00Z".into(),
            message: "kustomize build failed\nline 2".into(),
            reason: "BuildFailed".into(),
            metadata: BTreeMap::from([
                ("revision".into(), "main@sha1:731f7ead".into()),
                ("summary".into(), "Flux deployment issue detected".into()),
            ]),
            reporting_controller: "kustomize-controller".into(),
            reporting_instance: "kustomize-controller-7c7b47f5f-8bhrp".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_time_matches_metav1_string() {
        assert_eq!(
            go_time(&testing::failed_kustomization()),
            "2024-01-01 00:00:00 +0000 UTC"
        );
    }

    #[test]
    fn missing_address_and_unsupported_types_are_errors() {
        let event = testing::failed_kustomization();
        assert!(matches!(
            plan(ProviderType::Slack, &Target::default(), &event),
            Err(Error::InvalidProvider(_))
        ));
        let target = Target {
            address: "https://example.com".into(),
            ..Target::default()
        };
        assert!(matches!(
            plan(ProviderType::Telegram, &target, &event),
            Err(Error::UnsupportedProvider(t)) if t == "telegram"
        ));
        assert!(matches!(
            plan(ProviderType::GenericHmac, &target, &event),
            Err(Error::InvalidProvider(_))
        ));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let target = Target {
            address: "https://hooks.slack.com/services/SECRET".into(),
            token: Some("xoxb-SECRET".into()),
            headers: BTreeMap::from([("Authorization".into(), "Bearer SECRET".into())]),
            ..Target::default()
        };
        assert!(!format!("{target:?}").contains("SECRET"));
        let slack = plan(
            ProviderType::Slack,
            &target,
            &testing::failed_kustomization(),
        )
        .ok()
        .flatten()
        .expect("a request");
        assert!(!format!("{slack:?}").contains("SECRET"));
        let forge = Target {
            address: "https://github.com/org/app".into(),
            token: Some("ghp_SECRET".into()),
            ..Target::default()
        };
        let mut event = testing::failed_kustomization();
        event.metadata.insert(
            "revision".into(),
            "main@sha1:5394cb7f48332b2de7c17dd8b8384bbc84b7e738".into(),
        );
        let status = plan(ProviderType::Github, &forge, &event)
            .ok()
            .flatten()
            .expect("a commit status");
        assert!(!format!("{status:?}").contains("SECRET"));
    }
}
