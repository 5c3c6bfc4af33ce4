//! The generic webhook: the event JSON itself, optionally signed.
//!
//! `generic-hmac` adds `X-Signature: sha256=<hex HMAC-SHA256(body, token)>`,
//! the header upstream's forwarder sets and generic-hmac Receivers verify.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{COMPONENT_HEADER, Request, ResponseCheck, Target, json};
use crate::event::FluxEvent;
use crate::{Error, Result};

/// Header carrying the HMAC of the body.
pub const SIGNATURE_HEADER: &str = "X-Signature";

/// `sha256=<hex>` HMAC of `body` with `key`.
pub fn signature(body: &[u8], key: &[u8]) -> Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key)
        .map_err(|e| Error::InvalidProvider(format!("invalid HMAC key: {e}")))?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// The event as JSON, with `gotk-component`, the secret's headers and, with
/// an HMAC key, the signature.
pub fn request(target: &Target, event: &FluxEvent, hmac_key: Option<&[u8]>) -> Result<Request> {
    let body = json(event)?;
    let mut headers = vec![(
        COMPONENT_HEADER.to_owned(),
        event.reporting_controller.clone(),
    )];
    headers.extend(target.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    if let Some(key) = hmac_key {
        headers.push((SIGNATURE_HEADER.to_owned(), signature(&body, key)?));
    }
    Ok(Request {
        url: target.address.clone(),
        headers,
        body,
        check: ResponseCheck::Status,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::notifier::testing::failed_kustomization;

    #[test]
    fn generic_body_is_the_event() {
        let target = Target {
            address: "http://127.0.0.1:1/hook".into(),
            headers: BTreeMap::from([("X-Team".into(), "web".into())]),
            ..Target::default()
        };
        let event = failed_kustomization();
        let request = request(&target, &event, None).expect("request");
        let decoded: FluxEvent = serde_json::from_slice(&request.body).expect("event JSON");
        assert_eq!(decoded, event);
        assert_eq!(
            request.headers,
            [
                (
                    "gotk-component".to_owned(),
                    "kustomize-controller".to_owned()
                ),
                ("X-Team".to_owned(), "web".to_owned()),
            ]
        );
    }

    #[test]
    fn hmac_signs_the_exact_body() {
        let target = Target {
            address: "http://127.0.0.1:1/hook".into(),
            ..Target::default()
        };
        let request = request(&target, &failed_kustomization(), Some(b"secret")).expect("request");
        let (_, signature_header) = request
            .headers
            .iter()
            .find(|(k, _)| k == SIGNATURE_HEADER)
            .expect("signature header");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").expect("key");
        mac.update(&request.body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(signature_header, &expected);
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"what do ya want for nothing?", b"Jefe").expect("signs"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
