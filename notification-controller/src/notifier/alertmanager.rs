//! Prometheus Alertmanager: one firing alert per event, the metadata as
//! labels (except `summary`, an annotation) plus the object, severity and
//! reason, and the message as annotation; `alertname` is
//! `Flux<Kind><Reason>` like upstream.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Request, ResponseCheck, Target, go_time, json};
use crate::Result;
use crate::event::FluxEvent;

/// One Alertmanager alert.
#[derive(Serialize)]
struct Alert {
    status: &'static str,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

/// Go's `strings.Title` for a reason (first letter upper-cased).
fn title(reason: &str) -> String {
    let mut chars = reason.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The Alertmanager request for `event`; a token becomes a bearer token.
pub fn request(target: &Target, event: &FluxEvent) -> Result<Request> {
    let mut labels = event.metadata.clone();
    let mut annotations = BTreeMap::from([("message".to_owned(), event.message.clone())]);
    if let Some(summary) = labels.remove("summary") {
        annotations.insert("summary".to_owned(), summary);
    }
    for (key, value) in [
        (
            "alertname",
            format!("Flux{}{}", event.kind(), title(&event.reason)),
        ),
        ("severity", event.severity.clone()),
        ("reason", event.reason.clone()),
        ("timestamp", go_time(event)),
        ("kind", event.kind().to_owned()),
        ("name", event.name().to_owned()),
        ("namespace", event.namespace().to_owned()),
        ("reportingcontroller", event.reporting_controller.clone()),
    ] {
        labels.insert(key.to_owned(), value);
    }
    let alerts = [Alert {
        status: "firing",
        labels,
        annotations,
    }];
    let headers = target
        .token
        .iter()
        .filter(|t| !t.is_empty())
        .map(|token| ("Authorization".to_owned(), format!("Bearer {token}")))
        .collect();
    Ok(Request {
        url: target.address.clone(),
        headers,
        body: json(&alerts)?,
        check: ResponseCheck::Status,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::notifier::testing::failed_kustomization;

    #[test]
    fn alert_is_upstreams() {
        let target = Target {
            address: "http://alertmanager:9093/api/v2/alerts".into(),
            ..Target::default()
        };
        let request = request(&target, &failed_kustomization()).expect("request");
        let body: serde_json::Value = serde_json::from_slice(&request.body).expect("JSON");
        assert_eq!(
            body,
            json!([{
                "status": "firing",
                "labels": {
                    "alertname": "FluxKustomizationBuildFailed",
                    "severity": "error",
                    "reason": "BuildFailed",
                    "timestamp": "2024-01-01 00:00:00 +0000 UTC",
                    "kind": "Kustomization",
                    "name": "webapp",
                    "namespace": "apps",
                    "reportingcontroller": "kustomize-controller",
                    "revision": "main@sha1:731f7ead"
                },
                "annotations": {
                    "message": "kustomize build failed\nline 2",
                    "summary": "Flux deployment issue detected"
                }
            }])
        );
    }
}
