//! Sending one forwarded event to one Alert's Provider.
//!
//! [`Dispatcher::dispatch`] resolves the Provider (spec plus Secrets: the
//! `secretRef` keys `address`, `token`, `username`, `headers`, `proxy`; the
//! `proxySecretRef`; the `certSecretRef`), builds the request in the
//! Provider's format, waits for the Provider's rate limit, and delivers it;
//! for commit status Providers (github, gitlab) it first lists the commit's
//! statuses and sends nothing when the forge already shows the same one.
//! Which events a Provider type takes at all is decided first (`takes`).
//! A failure is logged (without secrets), counted in
//! `notification_deliveries_total`, and recorded as a Warning event
//! `NotificationDispatchFailed` on the Alert, since v1beta3 Alerts and
//! Providers have no status.

use std::collections::BTreeMap;

use fluxrs_api::notification::{Alert, Provider, ProviderType};
use fluxrs_runtime::events::{Event, EventRecorder, EventType};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::{Client, ResourceExt};
use tracing::{debug, info, warn};

use crate::delivery::{self, ClientSettings, RateLimiter, RetryPolicy};
use crate::event::FluxEvent;
use crate::metrics::Metrics;
use crate::notifier::git::{self, StatusUpdate};
use crate::notifier::{self, Plan, Target};
use crate::{Error, Result};

/// Reason of the Warning event recorded on an Alert whose notification failed.
pub const DISPATCH_FAILED: &str = "NotificationDispatchFailed";

/// Sends notifications; shared by every event.
pub struct Dispatcher {
    client: Client,
    recorder: EventRecorder,
    limiter: RateLimiter,
    metrics: Metrics,
    retry: RetryPolicy,
}

/// A Secret's data as strings (non-UTF-8 values are replaced lossily).
type SecretData = BTreeMap<String, String>;

impl Dispatcher {
    /// A dispatcher recording failures with `recorder`.
    pub fn new(
        client: Client,
        recorder: EventRecorder,
        limiter: RateLimiter,
        metrics: Metrics,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            client,
            recorder,
            limiter,
            metrics,
            retry,
        }
    }

    /// Sends `event` (already forwarded for `alert`) to `provider`, the
    /// Provider the Alert names (`None` when it does not exist).
    pub async fn dispatch(&self, alert: &Alert, provider: Option<&Provider>, event: &FluxEvent) {
        let namespace = alert.namespace().unwrap_or_default();
        let provider_name = &alert.spec.provider_ref.name;
        let Some(provider) = provider else {
            self.fail(
                alert,
                provider_name,
                "",
                &format!("provider '{namespace}/{provider_name}' not found"),
            )
            .await;
            return;
        };
        if provider.spec.suspend.unwrap_or(false) {
            debug!(alert = %alert.name_any(), provider = %provider_name, "provider is suspended");
            return;
        }
        let kind = provider.spec.r#type;
        let type_name = notifier::type_name(kind);
        if !takes(kind, event) {
            debug!(alert = %alert.name_any(), provider = %provider_name, reason = %event.reason, "provider type does not take this event");
            return;
        }
        match self.send(provider, kind, event).await {
            Ok(false) => {}
            Ok(true) => {
                self.metrics
                    .record_delivery(&namespace, provider_name, &type_name, true);
                info!(
                    alert = %alert.name_any(),
                    %namespace,
                    provider = %provider_name,
                    kind = event.kind(),
                    name = event.name(),
                    "notification sent"
                );
            }
            Err(error) => {
                let message = fluxrs_runtime::outcome::describe(&error);
                self.fail(alert, provider_name, &type_name, &message).await;
            }
        }
    }

    /// Resolves, builds and delivers; `Ok(false)` when the Provider type
    /// does not announce this event.
    async fn send(
        &self,
        provider: &Provider,
        kind: ProviderType,
        event: &FluxEvent,
    ) -> Result<bool> {
        if !notifier::is_supported(kind) {
            return Err(Error::UnsupportedProvider(notifier::type_name(kind)));
        }
        if git::is_commit_status(kind) {
            git::check_spec(&provider.spec)?;
        }
        let (target, settings) = self.resolve(provider).await?;
        let Some(plan) = notifier::plan(kind, &target, event)? else {
            return Ok(false);
        };
        let key = format!(
            "{}/{}",
            provider.namespace().unwrap_or_default(),
            provider.name_any()
        );
        let wait = self.limiter.reserve(&key);
        if !wait.is_zero() {
            debug!(provider = %key, ?wait, "provider rate limit reached, waiting");
            tokio::time::sleep(wait).await;
        }
        let client = delivery::client(&settings)?;
        match plan {
            Plan::Send(request) => delivery::deliver(&client, &request, self.retry).await?,
            Plan::CommitStatus(update) => {
                if !self.set_commit_status(&client, &update).await? {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Lists the commit's statuses and creates the wanted one unless the
    /// forge already shows it; `Ok(false)` when nothing had to be sent.
    async fn set_commit_status(
        &self,
        client: &reqwest::Client,
        update: &StatusUpdate,
    ) -> Result<bool> {
        let listing = delivery::fetch(client, &update.listing, self.retry)
            .await
            .map_err(|e| Error::CommitStatus("list commit statuses", e.to_string()))?;
        if update.already_set(&listing)? {
            debug!(sha = %update.wanted.sha, status = %update.wanted.name, state = %update.wanted.state, "commit status already set");
            return Ok(false);
        }
        delivery::deliver(client, &update.create, self.retry)
            .await
            .map_err(|e| Error::CommitStatus("create commit status", e.to_string()))?;
        Ok(true)
    }

    async fn fail(&self, alert: &Alert, provider: &str, type_name: &str, message: &str) {
        let namespace = alert.namespace().unwrap_or_default();
        warn!(alert = %alert.name_any(), %namespace, %provider, error = %message, "failed to send notification");
        self.metrics
            .record_delivery(&namespace, provider, type_name, false);
        let event = Event::new(
            EventType::Warning,
            DISPATCH_FAILED,
            format!("failed to send notification to provider '{provider}': {message}"),
        );
        self.recorder.record(alert, &event).await;
    }

    /// The Provider's request settings with its Secrets read.
    async fn resolve(&self, provider: &Provider) -> Result<(Target, ClientSettings)> {
        let namespace = provider.namespace().unwrap_or_default();
        let spec = &provider.spec;
        let mut target = Target {
            address: spec.address.clone().unwrap_or_default(),
            channel: spec.channel.clone().unwrap_or_default(),
            username: spec.username.clone().unwrap_or_default(),
            provider_uid: provider.uid().unwrap_or_default(),
            ..Target::default()
        };
        let mut settings = ClientSettings {
            timeout: spec
                .timeout
                .as_deref()
                .map(fluxrs_runtime::interval::parse_duration)
                .transpose()
                .map_err(|e| Error::InvalidProvider(format!("invalid spec.timeout: {e}")))?,
            proxy: spec.proxy.clone().map(|url| (url, None)),
            ..ClientSettings::default()
        };
        if let Some(secret) = &spec.secret_ref {
            let data = self.secret(&namespace, &secret.name).await?;
            if let Some(address) = data.get("address") {
                address.trim().clone_into(&mut target.address);
            }
            if let Some(username) = data.get("username") {
                username.clone_into(&mut target.username);
            }
            target.token = data.get("token").map(|t| t.trim().to_owned());
            target.password = data.get("password").cloned();
            if let Some(headers) = data.get("headers") {
                // The parser's message may quote the value: keep it out of logs.
                target.headers =
                    serde_yaml_ng::from_str(headers).map_err(|_| Error::InvalidSecret {
                        secret: format!("{namespace}/{}", secret.name),
                        reason: "'headers' is not a YAML map of strings".to_owned(),
                    })?;
            }
            if let Some(proxy) = data.get("proxy") {
                settings.proxy = Some((proxy.trim().to_owned(), None));
            }
        }
        if let Some(secret) = &spec.proxy_secret_ref {
            let data = self.secret(&namespace, &secret.name).await?;
            let address = data.get("address").ok_or_else(|| Error::InvalidSecret {
                secret: format!("{namespace}/{}", secret.name),
                reason: "missing key 'address'".to_owned(),
            })?;
            let credentials = data
                .get("username")
                .map(|u| (u.clone(), data.get("password").cloned().unwrap_or_default()));
            settings.proxy = Some((address.trim().to_owned(), credentials));
        }
        if let Some(secret) = &spec.cert_secret_ref {
            let data = self.secret(&namespace, &secret.name).await?;
            let get = |keys: [&str; 2]| keys.iter().find_map(|k| data.get(*k)).cloned();
            settings.ca_pem = get(["ca.crt", "caFile"]).map(String::into_bytes);
            if let (Some(cert), Some(key)) =
                (get(["tls.crt", "certFile"]), get(["tls.key", "keyFile"]))
            {
                settings.identity_pem = Some(format!("{cert}\n{key}").into_bytes());
            }
        }
        Ok((target, settings))
    }

    async fn secret(&self, namespace: &str, name: &str) -> Result<SecretData> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = secrets
            .get(name)
            .await
            .map_err(|source| Error::ReadSecret {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                source,
            })?;
        Ok(secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
            .collect())
    }
}

/// Which events a Provider type takes (spec/notification.md §3 step 5):
/// commit status updates only go to the commit status providers (and the
/// generic webhooks, which forward everything), while those providers take
/// only commit status updates, events carrying a commit, and errors.
fn takes(kind: ProviderType, event: &FluxEvent) -> bool {
    if git::is_commit_status(kind) {
        return git::takes(event);
    }
    matches!(kind, ProviderType::Generic | ProviderType::GenericHmac)
        || event.metadata.get("commit_status").map(String::as_str) != Some("update")
}
