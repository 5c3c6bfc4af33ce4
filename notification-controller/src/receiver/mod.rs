//! The webhook receiver server (`--receiverAddr`, default `:9292`).
//!
//! A call to `/hook/<sha256>` is matched to the Receiver whose
//! `status.webhookPath` is that path and handled as upstream (spec §6):
//!
//! | situation | answer |
//! |---|---|
//! | no Receiver has this path | 404 |
//! | Receiver suspended or not Ready | 503 |
//! | body over [`MAX_BODY_BYTES`] | 413 |
//! | token Secret unreadable | 500 |
//! | signature or token wrong | 401, nothing annotated |
//! | malformed payload, event not accepted | 400, nothing annotated |
//! | CEL filters set and a JSON body that does not parse | 400, nothing annotated |
//! | every resource the CEL filters accept annotated | 200 |
//! | some annotation or filter evaluation failed | 500 |
//!
//! Upstream answers 400 for a bad signature too; flux-rs separates "who are
//! you" (401) from "what is this" (400).

mod annotate;
pub mod filter;
mod gcr;
pub mod validate;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use fluxrs_api::notification::{Receiver, ReceiverType};
use fluxrs_runtime::conditions::{is_true, types};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use tracing::{info, warn};

pub use annotate::{default_api_version, go_time_string};

/// Path prefix of every webhook.
pub const WEBHOOK_PREFIX: &str = "/hook/";

/// Largest accepted webhook body.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// What the receiver server works with.
pub struct ReceiverServer {
    client: Client,
    receivers: Store<Receiver>,
    no_cross_namespace_refs: bool,
    http: reqwest::Client,
}

impl ReceiverServer {
    /// A server finding Receivers in `receivers`.
    pub fn new(
        client: Client,
        receivers: Store<Receiver>,
        no_cross_namespace_refs: bool,
        http: reqwest::Client,
    ) -> Self {
        Self {
            client,
            receivers,
            no_cross_namespace_refs,
            http,
        }
    }
}

/// The server's routes: every path is looked up as a webhook path (see the
/// module docs for the answers).
pub fn router(server: Arc<ReceiverServer>) -> Router {
    Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(server)
}

/// `/hook/<hex>` of a Receiver: sha256 of token, name and namespace.
pub fn webhook_path(token: &str, name: &str, namespace: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{token}{name}{namespace}").as_bytes());
    format!("{WEBHOOK_PREFIX}{}", hex::encode(digest))
}

async fn handle(
    State(server): State<Arc<ReceiverServer>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let path = uri.path();
    let Some(receiver) = (path.starts_with(WEBHOOK_PREFIX))
        .then(|| {
            server
                .receivers
                .find(|r| r.status.as_ref().and_then(|s| s.webhook_path.as_deref()) == Some(path))
        })
        .flatten()
    else {
        return StatusCode::NOT_FOUND;
    };
    let name = receiver.name_any();
    let namespace = receiver.namespace().unwrap_or_default();
    let ready = receiver
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .is_some_and(|c| is_true(c, types::READY));
    if receiver.spec.suspend.unwrap_or(false) || !ready {
        warn!(receiver = %name, %namespace, "receiver is suspended or not ready");
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let secret = match server.secret(&receiver).await {
        Ok(secret) => secret,
        Err(message) => {
            warn!(receiver = %name, %namespace, error = %message, "unable to read the receiver token");
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
    };
    let events = receiver.spec.events.clone().unwrap_or_default();
    let validated = match receiver.spec.r#type {
        ReceiverType::Gcr => {
            let claim = |key: &str| secret.get(key).map(String::as_str);
            gcr::validate(
                &server.http,
                &headers,
                &body,
                claim("email"),
                claim("audience"),
            )
            .await
        }
        kind => validate::validate(kind, &events, &secret.token, &headers, &body),
    };
    if let Err(rejection) = validated {
        warn!(receiver = %name, %namespace, error = rejection.message(), "webhook call rejected");
        return match rejection {
            validate::Rejection::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            validate::Rejection::BadRequest(_) => StatusCode::BAD_REQUEST,
        };
    }
    let filter = match filter::CallFilter::new(&receiver.spec, &headers, &body) {
        Ok(filter) => filter,
        Err(error) => {
            warn!(receiver = %name, %namespace, %error, "unable to filter resources");
            return match error {
                filter::FilterError::Body(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
        }
    };
    info!(receiver = %name, %namespace, "handling webhook");
    let failures = annotate::request_reconciliation(
        &server.client,
        &receiver,
        server.no_cross_namespace_refs,
        filter.as_ref(),
    )
    .await;
    if failures.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

impl ReceiverServer {
    /// The Receiver's Secret.
    async fn secret(&self, receiver: &Receiver) -> Result<ReceiverSecret, String> {
        let namespace = receiver.namespace().unwrap_or_default();
        let name = receiver
            .spec
            .secret_ref
            .as_ref()
            .map(|s| s.name.as_str())
            .ok_or_else(|| "spec.secretRef is not set".to_owned())?;
        ReceiverSecret::read(&self.client, &namespace, name).await
    }
}

/// A Receiver's Secret: the `token` and the other keys as text.
pub struct ReceiverSecret {
    /// The `token` key.
    pub token: String,
    data: BTreeMap<String, String>,
}

impl ReceiverSecret {
    /// Reads Secret `namespace/name`, which must have a `token` key.
    pub async fn read(client: &Client, namespace: &str, name: &str) -> Result<Self, String> {
        let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let secret = secrets
            .get(name)
            .await
            .map_err(|e| format!("unable to read token from secret '{namespace}/{name}': {e}"))?;
        let mut data: BTreeMap<String, String> = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
            .collect();
        let token = data.remove("token").ok_or_else(|| {
            format!("invalid '{namespace}/{name}' secret data: required field 'token'")
        })?;
        Ok(Self { token, data })
    }

    /// Another key of the Secret.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.data.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_path_is_sha256_of_token_name_namespace() {
        assert_eq!(
            webhook_path("token", "name", "namespace"),
            "/hook/033cd85fb94eef8b750b62b37d50fa65adb47b1f0ab5d6a8f9f6692e516e686a"
        );
    }
}
