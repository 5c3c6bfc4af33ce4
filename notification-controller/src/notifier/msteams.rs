//! Microsoft Teams: an Adaptive Card (Workflows webhooks), or the legacy
//! MessageCard for Office 365 connector URLs (`*.webhook.office.com`), as
//! upstream decides by host.

use serde_json::{Value, json};
use url::Url;

use super::{Request, ResponseCheck, Target, json as encode, object_label};
use crate::event::FluxEvent;
use crate::{Error, Result};

/// Adaptive Card schema version Teams supports.
const ADAPTIVE_CARD_VERSION: &str = "1.4";

/// The Teams request for `event`.
pub fn request(target: &Target, event: &FluxEvent) -> Result<Request> {
    let url = Url::parse(&target.address)
        .map_err(|e| Error::InvalidProvider(format!("invalid MS Teams webhook URL: {e}")))?;
    let legacy = url
        .host_str()
        .is_some_and(|host| host.ends_with(".webhook.office.com"));
    let body = if legacy {
        message_card(event)
    } else {
        adaptive_card(event)
    };
    Ok(Request {
        url: target.address.clone(),
        headers: Vec::new(),
        body: encode(&body)?,
        check: ResponseCheck::Status,
    })
}

fn message_card(event: &FluxEvent) -> Value {
    let object = object_label(event);
    let facts: Vec<Value> = event
        .metadata
        .iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();
    json!({
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": if event.is_error() { "FF0000" } else { "0076D7" },
        "summary": object,
        "sections": [{
            "activityTitle": event.message,
            "activitySubtitle": object,
            "facts": facts,
        }],
    })
}

fn adaptive_card(event: &FluxEvent) -> Value {
    let mut message = json!({ "type": "TextBlock", "text": event.message, "wrap": true });
    if event.is_error() {
        message["color"] = json!("attention");
    }
    // "summary" first, then the rest sorted by key.
    let facts: Vec<Value> = event
        .metadata
        .iter()
        .filter(|(key, _)| key.as_str() == "summary")
        .chain(
            event
                .metadata
                .iter()
                .filter(|(key, _)| key.as_str() != "summary"),
        )
        .map(|(title, value)| json!({ "title": title, "value": value }))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": ADAPTIVE_CARD_VERSION,
                "body": [{
                    "type": "Container",
                    "items": [
                        { "type": "TextBlock", "text": object_label(event), "size": "large", "weight": "bolder", "wrap": true },
                        message,
                        { "type": "FactSet", "facts": facts },
                    ],
                }],
                "msteams": { "width": "Full" },
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifier::testing::failed_kustomization;

    fn body(address: &str) -> Value {
        let target = Target {
            address: address.into(),
            ..Target::default()
        };
        let request = request(&target, &failed_kustomization()).expect("request");
        serde_json::from_slice(&request.body).expect("JSON")
    }

    #[test]
    fn workflows_get_an_adaptive_card() {
        let body = body("https://prod.westeurope.logic.azure.com/workflows/1");
        let content = &body["attachments"][0]["content"];
        assert_eq!(content["type"], "AdaptiveCard");
        let items = &content["body"][0]["items"];
        assert_eq!(items[0]["text"], "kustomization/webapp.apps");
        assert_eq!(items[1]["color"], "attention");
        assert_eq!(
            items[2]["facts"],
            json!([
                {"title": "summary", "value": "Flux deployment issue detected"},
                {"title": "revision", "value": "main@sha1:731f7ead"}
            ])
        );
    }

    #[test]
    fn office_connectors_get_a_message_card() {
        let body = body("https://org.webhook.office.com/webhookb2/x");
        assert_eq!(body["@type"], "MessageCard");
        assert_eq!(body["themeColor"], "FF0000");
        assert_eq!(
            body["sections"][0]["activitySubtitle"],
            "kustomization/webapp.apps"
        );
    }
}
