//! notification-controller's own metrics, served on `--metrics-addr` next to
//! the runtime's (`gotk_*`, `controller_runtime_*`).
//!
//! * `notification_events_total{result}`: events considered, by what
//!   happened to them: `dispatched`, `deduplicated` (a repeat within the
//!   window) or `unmatched` (no Alert wanted them);
//! * `notification_deliveries_total{namespace,provider,type,result}`:
//!   notifications sent to a Provider, `success` or `failure` (after
//!   retries), so failing Providers can be alerted on.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fluxrs_runtime::metrics::{CONTENT_TYPE, Metrics as RuntimeMetrics};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tracing::error;

type EventLabels = [(&'static str, String); 1];
type DeliveryLabels = [(&'static str, String); 4];

/// What happened to an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventResult {
    /// Sent to at least one Alert's Provider.
    Dispatched,
    /// A repeat within the dedupe window.
    Deduplicated,
    /// No Alert matched.
    Unmatched,
}

impl EventResult {
    fn as_str(self) -> &'static str {
        match self {
            EventResult::Dispatched => "dispatched",
            EventResult::Deduplicated => "deduplicated",
            EventResult::Unmatched => "unmatched",
        }
    }
}

struct Inner {
    registry: Registry,
    events: Family<EventLabels, Counter>,
    deliveries: Family<DeliveryLabels, Counter>,
}

/// The controller's metrics; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with both counters registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let events = Family::<EventLabels, Counter>::default();
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "notification_events",
            "Flux events considered by the notification-controller",
            events.clone(),
        );
        registry.register(
            "notification_deliveries",
            "Notifications sent to providers",
            deliveries.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                events,
                deliveries,
            }),
        }
    }

    /// Counts one event.
    pub fn record_event(&self, result: EventResult) {
        self.inner
            .events
            .get_or_create(&[("result", result.as_str().to_owned())])
            .inc();
    }

    /// Counts one delivery to the Provider `namespace/name` of `type_`.
    pub fn record_delivery(&self, namespace: &str, provider: &str, type_: &str, success: bool) {
        let result = if success { "success" } else { "failure" };
        self.inner
            .deliveries
            .get_or_create(&[
                ("namespace", namespace.to_owned()),
                ("provider", provider.to_owned()),
                ("type", type_.to_owned()),
                ("result", result.to_owned()),
            ])
            .inc();
    }

    fn encode(&self) -> Option<String> {
        let mut out = String::new();
        encode(&mut out, &self.inner.registry).ok()?;
        Some(out)
    }
}

/// `GET /metrics` with the runtime's metrics followed by ours, as one
/// OpenMetrics document.
pub fn router(runtime: RuntimeMetrics, ours: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(serve))
        .with_state((runtime, ours))
}

async fn serve(State((runtime, ours)): State<(RuntimeMetrics, Metrics)>) -> Response {
    let combined = runtime
        .encode()
        .ok()
        .zip(ours.encode())
        .map(|(first, second)| {
            let first = first.strip_suffix("# EOF\n").unwrap_or(&first).to_owned();
            first + &second
        });
    match combined {
        Some(body) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        None => {
            error!("unable to encode metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn one_document_with_both_registries() {
        let runtime = RuntimeMetrics::new();
        runtime.register_controller("receiver");
        let ours = Metrics::new();
        ours.record_event(EventResult::Deduplicated);
        ours.record_delivery("flux-system", "slack", "slack", false);
        let response = router(runtime, ours)
            .oneshot(
                Request::get("/metrics")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK);
        let body = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&body);
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        for needle in [
            r#"controller_runtime_reconcile_total{controller="receiver",result="success"} 0"#,
            r#"notification_events_total{result="deduplicated"} 1"#,
            r#"notification_deliveries_total{namespace="flux-system",provider="slack",type="slack",result="failure"} 1"#,
        ] {
            assert!(text.contains(needle), "missing {needle}\n{text}");
        }
    }
}
