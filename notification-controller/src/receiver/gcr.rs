//! Google Container Registry notifications, pushed by Pub/Sub with a Google
//! OIDC token.
//!
//! The bearer token is checked with Google's `tokeninfo` endpoint, as
//! upstream does; when the Receiver's Secret holds `email` or `audience`,
//! the token's claims must match them. The payload must be a Pub/Sub push
//! message whose `data` is the base64 JSON of a GCR event.

use axum::http::HeaderMap;
use base64::Engine as _;
use serde::Deserialize;

use super::validate::Rejection;

/// Google's token introspection endpoint.
const TOKENINFO_URL: &str = "https://oauth2.googleapis.com/tokeninfo";

#[derive(Deserialize)]
struct TokenInfo {
    #[serde(default)]
    email: String,
    #[serde(default)]
    aud: String,
}

#[derive(Deserialize)]
struct PushMessage {
    message: PubSubMessage,
}

#[derive(Deserialize)]
struct PubSubMessage {
    data: String,
}

/// Validates a GCR push; `email` and `audience` are the Secret's optional
/// expectations on the token's claims.
pub async fn validate(
    http: &reqwest::Client,
    headers: &HeaderMap,
    body: &[u8],
    email: Option<&str>,
    audience: Option<&str>,
) -> Result<(), Rejection> {
    let bearer = headers
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            Rejection::Unauthorized("Authorization header is missing or malformed".to_owned())
        })?;
    let url = url::Url::parse_with_params(TOKENINFO_URL, [("id_token", bearer)])
        .map_err(|_| Rejection::Unauthorized("malformed bearer token".to_owned()))?;
    let response = http.get(url).send().await.map_err(|e| {
        Rejection::Unauthorized(format!(
            "cannot verify authenticity of payload: {}",
            e.without_url()
        ))
    })?;
    if !response.status().is_success() {
        return Err(Rejection::Unauthorized(format!(
            "the Google token was rejected: {}",
            response.status()
        )));
    }
    let answer = response
        .bytes()
        .await
        .map_err(|e| Rejection::Unauthorized(format!("cannot read auth payload: {e}")))?;
    let info: TokenInfo = serde_json::from_slice(&answer)
        .map_err(|e| Rejection::Unauthorized(format!("cannot decode auth payload: {e}")))?;
    if email.is_some_and(|e| e != info.email) {
        return Err(Rejection::Unauthorized(
            "the Google token was issued to another service account".to_owned(),
        ));
    }
    if audience.is_some_and(|a| a != info.aud) {
        return Err(Rejection::Unauthorized(
            "the Google token was issued for another audience".to_owned(),
        ));
    }
    let push: PushMessage = serde_json::from_slice(body)
        .map_err(|e| Rejection::BadRequest(format!("cannot decode GCR webhook payload: {e}")))?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(push.message.data)
        .map_err(|e| Rejection::BadRequest(format!("cannot decode GCR webhook body: {e}")))?;
    serde_json::from_slice::<serde_json::Value>(&data)
        .map(drop)
        .map_err(|e| Rejection::BadRequest(format!("cannot decode GCR webhook body: {e}")))
}
