//! Slack and the providers that accept Slack's message format: Discord (on
//! its `/slack` endpoint) and Rocket.Chat.
//!
//! One attachment per event: colored by severity, the object as author
//! (`kustomization/webapp.apps`), the message as text, and one field per
//! metadata entry (sorted by key), as upstream's `SlackPayload`.

use serde::Serialize;
use url::Url;

use super::{Request, ResponseCheck, Target, json, object_label};
use crate::event::FluxEvent;
use crate::{Error, Result};

/// Slack's Web API endpoint, whose responses carry `ok`/`error`.
pub const SLACK_POST_MESSAGE: &str = "https://slack.com/api/chat.postMessage";

/// Upstream's `SlackPayload`.
#[derive(Serialize)]
struct Payload {
    channel: String,
    username: String,
    icon_url: String,
    icon_emoji: String,
    attachments: Vec<Attachment>,
}

/// Upstream's `SlackAttachment`.
#[derive(Serialize)]
struct Attachment {
    fallback: String,
    color: String,
    author_name: String,
    text: String,
    mrkdwn_in: Vec<String>,
    fields: Vec<Field>,
}

/// Upstream's `SlackField`.
#[derive(Serialize)]
struct Field {
    title: String,
    value: String,
    short: bool,
}

fn payload(channel: &str, username: &str, color: &str, event: &FluxEvent) -> Payload {
    let author = object_label(event);
    let first_line = event.message.lines().next().unwrap_or_default();
    Payload {
        channel: channel.to_owned(),
        username: username.to_owned(),
        icon_url: String::new(),
        icon_emoji: String::new(),
        attachments: vec![Attachment {
            fallback: format!("{author}: {first_line}"),
            color: color.to_owned(),
            author_name: author,
            text: event.message.clone(),
            mrkdwn_in: vec!["text".to_owned()],
            fields: event
                .metadata
                .iter()
                .map(|(title, value)| Field {
                    title: title.clone(),
                    value: value.clone(),
                    short: false,
                })
                .collect(),
        }],
    }
}

/// `good` for info, `danger` for errors.
fn slack_color(event: &FluxEvent) -> &'static str {
    if event.is_error() { "danger" } else { "good" }
}

/// The username, defaulting to the reporting controller.
fn username<'a>(target: &'a Target, event: &'a FluxEvent) -> &'a str {
    if target.username.is_empty() {
        &event.reporting_controller
    } else {
        &target.username
    }
}

/// Slack: incoming webhook (or `chat.postMessage` with a bot token).
pub fn slack(target: &Target, event: &FluxEvent) -> Result<Request> {
    let body = payload(
        &target.channel,
        username(target, event),
        slack_color(event),
        event,
    );
    let headers = target
        .token
        .iter()
        .filter(|t| !t.is_empty())
        .map(|token| ("Authorization".to_owned(), format!("Bearer {token}")))
        .collect();
    Ok(Request {
        url: target.address.clone(),
        headers,
        body: json(&body)?,
        check: if target.address == SLACK_POST_MESSAGE {
            ResponseCheck::SlackApi
        } else {
            ResponseCheck::Status
        },
    })
}

/// Discord: the webhook's Slack-compatible endpoint (`<url>/slack`).
pub fn discord(target: &Target, event: &FluxEvent) -> Result<Request> {
    let mut url = Url::parse(&target.address)
        .map_err(|e| Error::InvalidProvider(format!("invalid Discord webhook URL: {e}")))?;
    if !url.path().ends_with("/slack") {
        let path = format!("{}/slack", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    let body = payload("", username(target, event), slack_color(event), event);
    Ok(Request {
        url: url.to_string(),
        headers: Vec::new(),
        body: json(&body)?,
        check: ResponseCheck::Status,
    })
}

/// Rocket.Chat: Slack's format with Rocket's colors and no username default.
pub fn rocket(target: &Target, event: &FluxEvent) -> Result<Request> {
    let color = if event.is_error() {
        "#FF0000"
    } else {
        "#0076D7"
    };
    let body = payload(&target.channel, &target.username, color, event);
    Ok(Request {
        url: target.address.clone(),
        headers: Vec::new(),
        body: json(&body)?,
        check: ResponseCheck::Status,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::notifier::testing::failed_kustomization;

    fn body(request: &Request) -> Value {
        serde_json::from_slice(&request.body).expect("JSON body")
    }

    #[test]
    fn slack_payload_is_upstreams() {
        let target = Target {
            address: "https://hooks.slack.com/services/T/B/X".into(),
            channel: "deployments".into(),
            ..Target::default()
        };
        let request = slack(&target, &failed_kustomization()).expect("request");
        assert_eq!(request.url, "https://hooks.slack.com/services/T/B/X");
        assert!(request.headers.is_empty());
        assert_eq!(request.check, ResponseCheck::Status);
        assert_eq!(
            body(&request),
            json!({
                "channel": "deployments",
                "username": "kustomize-controller",
                "icon_url": "",
                "icon_emoji": "",
                "attachments": [{
                    "fallback": "kustomization/webapp.apps: kustomize build failed",
                    "color": "danger",
                    "author_name": "kustomization/webapp.apps",
                    "text": "kustomize build failed\nline 2",
                    "mrkdwn_in": ["text"],
                    "fields": [
                        {"title": "revision", "value": "main@sha1:731f7ead", "short": false},
                        {"title": "summary", "value": "Flux deployment issue detected", "short": false}
                    ]
                }]
            })
        );
    }

    #[test]
    fn slack_bot_token_uses_the_web_api() {
        let target = Target {
            address: SLACK_POST_MESSAGE.into(),
            username: "flux".into(),
            token: Some("xoxb-1".into()),
            ..Target::default()
        };
        let request = slack(&target, &failed_kustomization()).expect("request");
        assert_eq!(
            request.headers,
            [("Authorization".to_owned(), "Bearer xoxb-1".to_owned())]
        );
        assert_eq!(request.check, ResponseCheck::SlackApi);
        assert_eq!(body(&request)["username"], "flux");
    }

    #[test]
    fn discord_posts_to_the_slack_endpoint() {
        let target = Target {
            address: "https://discord.com/api/webhooks/1/abc".into(),
            channel: "ignored".into(),
            ..Target::default()
        };
        let request = discord(&target, &failed_kustomization()).expect("request");
        assert_eq!(request.url, "https://discord.com/api/webhooks/1/abc/slack");
        let body = body(&request);
        assert_eq!(body["channel"], "");
        assert_eq!(body["attachments"][0]["color"], "danger");
        let target = Target {
            address: "https://discord.com/api/webhooks/1/abc/slack".into(),
            ..Target::default()
        };
        let request = discord(&target, &failed_kustomization()).expect("request");
        assert_eq!(request.url, "https://discord.com/api/webhooks/1/abc/slack");
    }

    #[test]
    fn rocket_uses_its_colors() {
        let target = Target {
            address: "https://rocket.example/hooks/x".into(),
            channel: "ops".into(),
            ..Target::default()
        };
        let mut event = failed_kustomization();
        event.severity = "info".into();
        let body = body(&rocket(&target, &event).expect("request"));
        assert_eq!(body["attachments"][0]["color"], "#0076D7");
        assert_eq!(body["username"], "");
        assert_eq!(body["channel"], "ops");
    }
}
