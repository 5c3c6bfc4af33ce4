//! The metrics and health HTTP endpoints.
//!
//! Like every Flux controller, a flux-rs controller serves Prometheus metrics
//! at `/metrics` on `--metrics-addr` (default `:8080`) and the kubelet probes
//! `/healthz` and `/readyz` on `--health-addr` (default `:9440`); the install
//! manifests point probes and ServiceMonitors at exactly these.
//!
//! `/healthz` answers 200 while the process serves requests. `/readyz`
//! answers 200 once [`Readiness`] says so: every controller's cache has
//! synced, or, with leader election, once this replica has started
//! campaigning (a standby replica is ready: it can take over at any time).
//!
//! Addresses use Go's form: `:8080` listens on every interface, and `0`
//! disables the server, as with controller-runtime.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::error::{Error, Result};
use crate::metrics::{CONTENT_TYPE, Metrics};

/// Default of `--metrics-addr`.
pub const DEFAULT_METRICS_ADDR: &str = ":8080";
/// Default of `--health-addr`.
pub const DEFAULT_HEALTH_ADDR: &str = ":9440";

#[derive(Default)]
struct ReadinessState {
    started: AtomicBool,
    standby: AtomicBool,
    pending: AtomicUsize,
}

/// Whether the process is ready to serve: started, with every gate open.
/// Cheap to clone; all clones share the state.
#[derive(Clone, Default)]
pub struct Readiness {
    state: Arc<ReadinessState>,
}

impl Readiness {
    /// A readiness that is not started and has no gates.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers something that must finish starting (e.g. a controller's
    /// cache sync) before the process is ready.
    pub fn gate(&self) -> ReadinessGate {
        self.state.pending.fetch_add(1, Ordering::SeqCst);
        ReadinessGate {
            readiness: self.clone(),
        }
    }

    /// Marks the process as started; it is ready once all gates are open.
    pub fn mark_started(&self) {
        self.state.started.store(true, Ordering::SeqCst);
    }

    /// Marks a leader-election candidate as ready regardless of gates: a
    /// standby replica must pass its readiness probe (or rollouts would never
    /// finish) although its controllers have not started.
    pub fn mark_standby_ready(&self) {
        self.state.standby.store(true, Ordering::SeqCst);
        self.mark_started();
    }

    /// Started, and either every gate is open or this is a standby candidate.
    pub fn is_ready(&self) -> bool {
        self.state.started.load(Ordering::SeqCst)
            && (self.state.standby.load(Ordering::SeqCst)
                || self.state.pending.load(Ordering::SeqCst) == 0)
    }
}

/// One pending condition for readiness; [`ReadinessGate::open`] resolves it.
pub struct ReadinessGate {
    readiness: Readiness,
}

impl ReadinessGate {
    /// Resolves this gate (consumes it, so each gate opens once).
    pub fn open(self) {
        self.readiness.state.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Parses a Go-style listen address: `:8080` (all interfaces), `host:port`
/// with an IP host, `[::1]:8080`; `0` means "disabled" and yields `None`.
pub fn parse_bind_address(address: &str) -> Result<Option<SocketAddr>> {
    if address == "0" {
        return Ok(None);
    }
    let invalid = || Error::InvalidBindAddress(address.to_owned());
    if let Some(port) = address.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| invalid())?;
        return Ok(Some(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port,
        )));
    }
    address.parse().map(Some).map_err(|_| invalid())
}

/// `GET /metrics` serving `metrics` in the OpenMetrics text format.
pub fn metrics_router(metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .with_state(metrics)
}

async fn serve_metrics(State(metrics): State<Metrics>) -> Response {
    match metrics.encode() {
        Ok(body) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(error) => {
            error!(%error, "unable to encode metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET /healthz` (always ok) and `GET /readyz` (ok once `readiness` is ready).
pub fn health_router(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(serve_readyz))
        .with_state(readiness)
}

async fn serve_readyz(State(readiness): State<Readiness>) -> Response {
    if readiness.is_ready() {
        "ok".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

/// Serves `router` on the Go-style `address` until `shutdown` is cancelled;
/// returns at once when the address is `0` (disabled).
///
/// Errors: [`Error::InvalidBindAddress`], [`Error::Bind`] when the port is
/// taken, [`Error::Serve`] when the listener fails.
pub async fn serve(address: &str, router: Router, shutdown: CancellationToken) -> Result<()> {
    let Some(socket) = parse_bind_address(address)? else {
        return Ok(());
    };
    let listener = tokio::net::TcpListener::bind(socket)
        .await
        .map_err(|source| Error::Bind {
            address: address.to_owned(),
            source,
        })?;
    info!(address, "serving");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(Error::Serve)
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get(router: Router, path: &str) -> (StatusCode, String) {
        let request = Request::get(path).body(Body::empty()).expect("request");
        let response = router.oneshot(request).await.expect("response");
        let status = response.status();
        let body = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[test]
    fn parses_go_listen_addresses() {
        assert_eq!(
            parse_bind_address(":8080").ok().flatten(),
            Some(SocketAddr::from(([0, 0, 0, 0], 8080)))
        );
        assert_eq!(
            parse_bind_address("127.0.0.1:9440").ok().flatten(),
            Some(SocketAddr::from(([127, 0, 0, 1], 9440)))
        );
        assert!(parse_bind_address("[::1]:80").is_ok_and(|a| a.is_some()));
        assert!(matches!(parse_bind_address("0"), Ok(None)));
        assert!(parse_bind_address(":http").is_err());
        assert!(parse_bind_address("localhost:80").is_err());
    }

    #[test]
    fn readiness_needs_start_and_all_gates() {
        let r = Readiness::new();
        assert!(!r.is_ready());
        let a = r.gate();
        let b = r.gate();
        r.mark_started();
        assert!(!r.is_ready());
        a.open();
        assert!(!r.is_ready());
        b.open();
        assert!(r.is_ready());
    }

    #[test]
    fn standby_candidate_is_ready_before_its_controllers() {
        let r = Readiness::new();
        let _controller = r.gate();
        r.mark_standby_ready();
        assert!(r.is_ready());
    }

    #[tokio::test]
    async fn readyz_flips_when_ready() {
        let readiness = Readiness::new();
        let router = health_router(readiness.clone());
        assert_eq!(
            get(router.clone(), "/healthz").await,
            (StatusCode::OK, "ok".into())
        );
        assert_eq!(
            get(router.clone(), "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        readiness.mark_started();
        assert_eq!(get(router, "/readyz").await, (StatusCode::OK, "ok".into()));
    }

    #[tokio::test]
    async fn metrics_endpoint_serves_registry() {
        let metrics = Metrics::new();
        metrics.register_controller("kustomization");
        let (status, body) = get(metrics_router(metrics), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains("controller_runtime_reconcile_total"),
            "{body}"
        );
        assert!(body.ends_with("# EOF\n"), "{body}");
    }
}
