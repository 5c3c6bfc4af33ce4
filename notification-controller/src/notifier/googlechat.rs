//! Google Chat: a card with the object as title, the message (red for
//! errors) and the metadata as key/value widgets. Like upstream it skips
//! `Progressing` events, which would replace more useful messages.

use serde_json::{Value, json};

use super::{Request, ResponseCheck, Target, go_time, json as encode, object_label};
use crate::Result;
use crate::event::FluxEvent;

/// The Google Chat request for `event`, `None` for `Progressing` events.
pub fn request(target: &Target, event: &FluxEvent) -> Result<Option<Request>> {
    if event.reason == "Progressing" {
        return Ok(None);
    }
    let text = if event.is_error() {
        format!("<font color=\"#ff0000\">{}</font>", event.message)
    } else {
        event.message.clone()
    };
    let key_value = |label: &str, content: &str| {
        json!({ "textParagraph": null, "keyValue": {
            "topLabel": label, "content": content, "contentMultiline": false,
            "bottomLabel": null, "icon": null,
        }})
    };
    let mut widgets = vec![key_value("TIMESTAMP", &go_time(event))];
    widgets.extend(event.metadata.iter().map(|(k, v)| key_value(k, v)));
    let body: Value = json!({
        "cards": [{
            "header": {
                "title": object_label(event),
                "subtitle": event.reporting_controller,
                "imageUrl": null,
                "imageStyle": null,
            },
            "sections": [
                { "header": "", "widgets": [{ "textParagraph": { "text": text }, "keyValue": null }] },
                { "header": "", "widgets": widgets },
            ],
        }],
    });
    Ok(Some(Request {
        url: target.address.clone(),
        headers: Vec::new(),
        body: encode(&body)?,
        check: ResponseCheck::Status,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifier::testing::failed_kustomization;

    #[test]
    fn card_has_object_message_and_metadata() {
        let target = Target {
            address: "https://chat.googleapis.com/v1/spaces/x/messages".into(),
            ..Target::default()
        };
        let request = request(&target, &failed_kustomization())
            .expect("request")
            .expect("not skipped");
        let body: Value = serde_json::from_slice(&request.body).expect("JSON");
        let card = &body["cards"][0];
        assert_eq!(card["header"]["title"], "kustomization/webapp.apps");
        assert_eq!(card["header"]["subtitle"], "kustomize-controller");
        assert_eq!(
            card["sections"][0]["widgets"][0]["textParagraph"]["text"],
            "<font color=\"#ff0000\">kustomize build failed\nline 2</font>"
        );
        let widgets = &card["sections"][1]["widgets"];
        assert_eq!(
            widgets[0]["keyValue"]["content"],
            "2024-01-01 00:00:00 +0000 UTC"
        );
        assert_eq!(widgets[1]["keyValue"]["topLabel"], "revision");
    }

    #[test]
    fn progressing_events_are_skipped() {
        let target = Target {
            address: "https://chat.googleapis.com/v1/spaces/x/messages".into(),
            ..Target::default()
        };
        let mut event = failed_kustomization();
        event.reason = "Progressing".into();
        assert!(request(&target, &event).expect("no error").is_none());
    }
}
