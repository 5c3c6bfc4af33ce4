//! The event server (`--events-addr`): Flux's HTTP event API.
//!
//! Upstream controllers POST every event as JSON to notification-controller.
//! flux-rs reads events from the Kubernetes API instead, but accepting the
//! POST keeps upstream controllers (and tools that post to it) working:
//! `POST /` with a Flux event enters the same pipeline after its metadata is
//! cleaned. Answers as upstream: 400 for invalid JSON, 413 over 3 MiB, 429
//! for a repeat within the dedupe window, 202 otherwise. An event that also
//! arrives through the Kubernetes API is a repeat and is sent once.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::post;
use tracing::debug;

use crate::event::FluxEvent;
use crate::pipeline::{Handled, Pipeline};

/// Largest accepted event body.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// `POST /` for Flux events.
pub fn router(pipeline: Arc<Pipeline>) -> Router {
    Router::new()
        .route("/", post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(pipeline)
}

async fn receive(State(pipeline): State<Arc<Pipeline>>, body: Bytes) -> StatusCode {
    let mut event: FluxEvent = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(error) => {
            debug!(%error, "invalid event payload");
            return StatusCode::BAD_REQUEST;
        }
    };
    event.clean_metadata();
    match pipeline.handle(event, None).await {
        Handled::Deduplicated => StatusCode::TOO_MANY_REQUESTS,
        Handled::Ignored | Handled::Seen | Handled::Unmatched | Handled::Dispatched(_) => {
            StatusCode::ACCEPTED
        }
    }
}
