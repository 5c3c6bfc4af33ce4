//! Is this webhook call really from the Receiver's sender? One check per
//! Receiver type, as upstream's `validate` (spec §6).
//!
//! A missing or wrong signature or token is [`Rejection::Unauthorized`]
//! (HTTP 401); a malformed payload or an event type the Receiver does not
//! accept is [`Rejection::BadRequest`] (400). Signatures and tokens are
//! compared in constant time.

use axum::http::HeaderMap;
use fluxrs_api::notification::ReceiverType;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha1::Sha1;
use sha2::{Sha256, Sha512};

/// Why a call is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The caller did not prove it knows the token.
    Unauthorized(String),
    /// The call is not one the Receiver handles.
    BadRequest(String),
}

impl Rejection {
    /// The message for logs.
    pub fn message(&self) -> &str {
        match self {
            Rejection::Unauthorized(m) | Rejection::BadRequest(m) => m,
        }
    }
}

/// A header's value as text (`""` when absent or not text).
fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Constant-time equality of two byte strings.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a `<algorithm>=<hex>` HMAC signature of `body` keyed with `token`
/// (GitHub's format: `sha1`, `sha256` or `sha512`).
pub fn verify_signature(signature: &str, body: &[u8], token: &[u8]) -> Result<(), String> {
    let (algorithm, hex_digest) = signature
        .split_once('=')
        .ok_or_else(|| "missing or malformed signature".to_owned())?;
    let digest = hex::decode(hex_digest).map_err(|_| "signature is not hex".to_owned())?;
    let verified = match algorithm {
        "sha1" => verify::<Hmac<Sha1>>(token, body, &digest),
        "sha256" => verify::<Hmac<Sha256>>(token, body, &digest),
        "sha512" => verify::<Hmac<Sha512>>(token, body, &digest),
        other => return Err(format!("unsupported signature algorithm '{other}'")),
    };
    if verified {
        Ok(())
    } else {
        Err("signature does not match the payload".to_owned())
    }
}

fn verify<M: Mac + hmac::digest::KeyInit>(key: &[u8], body: &[u8], digest: &[u8]) -> bool {
    match <M as hmac::digest::KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(body);
            mac.verify_slice(digest).is_ok()
        }
        Err(_) => false,
    }
}

/// Whether `event` is in the Receiver's `events` (all pass when empty).
fn check_event(events: &[String], event: &str, sender: &str) -> Result<(), Rejection> {
    if events.is_empty() || events.iter().any(|e| e.eq_ignore_ascii_case(event)) {
        Ok(())
    } else {
        Err(Rejection::BadRequest(format!(
            "the {sender} event '{event}' is not authorised"
        )))
    }
}

/// The payload as a JSON object.
fn json_object(body: &[u8], sender: &str) -> Result<Value, Rejection> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) if value.is_object() => Ok(value),
        _ => Err(Rejection::BadRequest(format!(
            "cannot decode the {sender} webhook payload"
        ))),
    }
}

/// Validates a call to a Receiver of `kind` accepting `events`, whose
/// Secret holds `token`. Google Container Registry needs a network call and
/// is checked by the server instead, which asks Google about the token.
pub fn validate(
    kind: ReceiverType,
    events: &[String],
    token: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Rejection> {
    let unauthorized = |m: String| Rejection::Unauthorized(m);
    match kind {
        ReceiverType::Generic => Ok(()),
        ReceiverType::GenericHmac => {
            verify_signature(header(headers, "X-Signature"), body, token.as_bytes())
                .map_err(|e| unauthorized(format!("unable to validate HMAC signature: {e}")))
        }
        ReceiverType::Github => {
            let signature = match header(headers, "X-Hub-Signature-256") {
                "" => header(headers, "X-Hub-Signature"),
                signature => signature,
            };
            verify_signature(signature, body, token.as_bytes()).map_err(|e| {
                unauthorized(format!("the GitHub signature header is invalid: {e}"))
            })?;
            check_event(events, header(headers, "X-GitHub-Event"), "GitHub")
        }
        ReceiverType::Gitlab => {
            if !constant_time_eq(
                header(headers, "X-Gitlab-Token").as_bytes(),
                token.as_bytes(),
            ) {
                return Err(unauthorized(
                    "the X-Gitlab-Token header value does not match the receiver token".to_owned(),
                ));
            }
            check_event(events, header(headers, "X-Gitlab-Event"), "GitLab")
        }
        ReceiverType::Bitbucket => {
            verify_signature(header(headers, "X-Hub-Signature"), body, token.as_bytes()).map_err(
                |e| {
                    unauthorized(format!(
                        "the Bitbucket server signature header is invalid: {e}"
                    ))
                },
            )?;
            check_event(events, header(headers, "X-Event-Key"), "Bitbucket server")
        }
        ReceiverType::Harbor => {
            if constant_time_eq(
                header(headers, "Authorization").as_bytes(),
                token.as_bytes(),
            ) {
                Ok(())
            } else {
                Err(unauthorized(
                    "the Harbor Authorization header value does not match the receiver token"
                        .to_owned(),
                ))
            }
        }
        ReceiverType::Nexus => {
            let signature = header(headers, "X-Nexus-Webhook-Signature");
            if signature.is_empty() {
                return Err(unauthorized(
                    "Nexus signature is missing from header".to_owned(),
                ));
            }
            verify_signature(&format!("sha1={signature}"), body, token.as_bytes())
                .map_err(|_| unauthorized("invalid Nexus signature".to_owned()))?;
            json_object(body, "Nexus").map(drop)
        }
        ReceiverType::DockerHub => json_object(body, "DockerHub").map(drop),
        ReceiverType::Quay => json_object(body, "Quay").map(drop),
        ReceiverType::Acr => json_object(body, "ACR").map(drop),
        ReceiverType::CdEvents => {
            let event = json_object(body, "CDEvents")?;
            let type_ = event["context"]["type"].as_str().unwrap_or_default();
            if !type_.starts_with("dev.cdevents.") || event["subject"].is_null() {
                return Err(Rejection::BadRequest(
                    "unable to validate CDEvent event: not a CDEvent".to_owned(),
                ));
            }
            check_event(events, header(headers, "Ce-Type"), "CDEvent")
        }
        ReceiverType::Gcr | ReceiverType::GenericOidc => Err(Rejection::BadRequest(
            "receiver type is validated by the server".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const TOKEN: &str = "s3cr3t";
    const BODY: &[u8] = br#"{"ref":"refs/heads/main"}"#;

    fn sign<M: Mac + hmac::digest::KeyInit>(prefix: &str, body: &[u8]) -> String {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(TOKEN.as_bytes()).expect("key");
        mac.update(body);
        format!("{prefix}{}", hex::encode(mac.finalize().into_bytes()))
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    fn check(
        kind: ReceiverType,
        events: &[&str],
        pairs: &[(&'static str, &str)],
        body: &[u8],
    ) -> Result<(), Rejection> {
        let events: Vec<String> = events.iter().map(|e| (*e).to_owned()).collect();
        validate(kind, &events, TOKEN, &headers(pairs), body)
    }

    #[test]
    fn generic_hmac_accepts_sha1_sha256_sha512() {
        for signature in [
            sign::<Hmac<Sha1>>("sha1=", BODY),
            sign::<Hmac<Sha256>>("sha256=", BODY),
            sign::<Hmac<Sha512>>("sha512=", BODY),
        ] {
            assert_eq!(
                check(
                    ReceiverType::GenericHmac,
                    &[],
                    &[("X-Signature", &signature)],
                    BODY
                ),
                Ok(())
            );
        }
        let tampered = sign::<Hmac<Sha256>>("sha256=", b"{}");
        assert!(matches!(
            check(
                ReceiverType::GenericHmac,
                &[],
                &[("X-Signature", &tampered)],
                BODY
            ),
            Err(Rejection::Unauthorized(_))
        ));
        assert!(matches!(
            check(ReceiverType::GenericHmac, &[], &[], BODY),
            Err(Rejection::Unauthorized(_))
        ));
    }

    #[test]
    fn github_checks_signature_then_event() {
        let signature = sign::<Hmac<Sha256>>("sha256=", BODY);
        let ok = [
            ("X-Hub-Signature-256", signature.as_str()),
            ("X-GitHub-Event", "push"),
        ];
        assert_eq!(check(ReceiverType::Github, &["push"], &ok, BODY), Ok(()));
        assert_eq!(check(ReceiverType::Github, &[], &ok, BODY), Ok(()));
        let ping = [
            ("X-Hub-Signature-256", signature.as_str()),
            ("X-GitHub-Event", "ping"),
        ];
        assert!(matches!(
            check(ReceiverType::Github, &["Push"], &ping, BODY),
            Err(Rejection::BadRequest(_))
        ));
        let legacy = sign::<Hmac<Sha1>>("sha1=", BODY);
        assert_eq!(
            check(
                ReceiverType::Github,
                &[],
                &[("X-Hub-Signature", &legacy)],
                BODY
            ),
            Ok(())
        );
        let wrong = [
            ("X-Hub-Signature-256", "sha256=00"),
            ("X-GitHub-Event", "push"),
        ];
        assert!(matches!(
            check(ReceiverType::Github, &["push"], &wrong, BODY),
            Err(Rejection::Unauthorized(_))
        ));
    }

    #[test]
    fn token_headers() {
        let gitlab = [("X-Gitlab-Token", TOKEN), ("X-Gitlab-Event", "Push Hook")];
        assert_eq!(
            check(ReceiverType::Gitlab, &["push hook"], &gitlab, BODY),
            Ok(())
        );
        assert!(matches!(
            check(
                ReceiverType::Gitlab,
                &[],
                &[("X-Gitlab-Token", "nope")],
                BODY
            ),
            Err(Rejection::Unauthorized(_))
        ));
        assert_eq!(
            check(ReceiverType::Harbor, &[], &[("Authorization", TOKEN)], BODY),
            Ok(())
        );
        assert!(matches!(
            check(ReceiverType::Harbor, &[], &[], BODY),
            Err(Rejection::Unauthorized(_))
        ));
    }

    #[test]
    fn bitbucket_and_nexus_signatures() {
        let signature = sign::<Hmac<Sha256>>("sha256=", BODY);
        let bitbucket = [
            ("X-Hub-Signature", signature.as_str()),
            ("X-Event-Key", "repo:refs_changed"),
        ];
        assert_eq!(
            check(
                ReceiverType::Bitbucket,
                &["repo:refs_changed"],
                &bitbucket,
                BODY
            ),
            Ok(())
        );
        let nexus = sign::<Hmac<Sha1>>("", BODY);
        assert_eq!(
            check(
                ReceiverType::Nexus,
                &[],
                &[("X-Nexus-Webhook-Signature", &nexus)],
                BODY
            ),
            Ok(())
        );
        assert!(matches!(
            check(ReceiverType::Nexus, &[], &[], BODY),
            Err(Rejection::Unauthorized(_))
        ));
    }

    #[test]
    fn registries_need_a_json_payload() {
        for kind in [
            ReceiverType::DockerHub,
            ReceiverType::Quay,
            ReceiverType::Acr,
        ] {
            assert_eq!(check(kind, &[], &[], BODY), Ok(()));
            assert!(matches!(
                check(kind, &[], &[], b"not json"),
                Err(Rejection::BadRequest(_))
            ));
        }
    }

    #[test]
    fn cdevents_are_checked() {
        let event = br#"{"context":{"type":"dev.cdevents.artifact.published.0.1.1","id":"1"},"subject":{"id":"x"}}"#;
        let header = [("Ce-Type", "dev.cdevents.artifact.published.0.1.1")];
        assert_eq!(check(ReceiverType::CdEvents, &[], &header, event), Ok(()));
        assert!(matches!(
            check(
                ReceiverType::CdEvents,
                &["dev.cdevents.other"],
                &header,
                event
            ),
            Err(Rejection::BadRequest(_))
        ));
        assert!(matches!(
            check(ReceiverType::CdEvents, &[], &header, BODY),
            Err(Rejection::BadRequest(_))
        ));
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
