//! The Kubernetes client every controller uses, with client-side throttling.
//!
//! `--kube-api-qps` and `--kube-api-burst` bound the request rate to the API
//! server like client-go's token bucket (defaults 50 and 300): up to `burst`
//! requests go out at once, then requests are spaced at `qps` per second.
//! Throttling happens in the client's service stack, so every request
//! (including watches and status patches) counts and callers need not care.
//!
//! Every request is also counted in `rest_client_requests_total{code,method}`
//! (client-go's metric name): the API server's CPU is the real cost of a
//! controller on a small machine, so how many requests a reconcile makes is
//! something users and our tests must be able to see.

use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use std::{future::Future, pin::Pin};

use futures::FutureExt;
use futures::future::BoxFuture;
use kube::client::ClientBuilder;
use kube::{Client, Config};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tower::{Layer, Service};

use crate::error::{Error, Result};
use crate::flags::RuntimeArgs;

/// A token bucket: holds up to `capacity` tokens, refilled at `rate` per second.
/// Reservations may drive the balance negative; the caller then waits until
/// the reserved token would have been refilled (golang.org/x/time/rate).
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens refilled at `qps` per second.
    pub fn new(qps: f32, burst: u32, now: Instant) -> Self {
        let capacity = f64::from(burst.max(1));
        Self {
            rate: f64::from(qps).max(f64::MIN_POSITIVE),
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes one token at `now`; returns how long to wait before using it.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity) - 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// Tower layer applying a [`TokenBucket`] to every request.
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    qps: f32,
    burst: u32,
}

impl RateLimitLayer {
    /// `qps` requests per second with bursts of up to `burst`.
    pub fn new(qps: f32, burst: u32) -> Self {
        Self { qps, burst }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            bucket: TokenBucket::new(self.qps, self.burst, Instant::now()),
            reserved: false,
            delay: None,
        }
    }
}

/// Service produced by [`RateLimitLayer`]: not ready until a token is available.
pub struct RateLimit<S> {
    inner: S,
    bucket: TokenBucket,
    reserved: bool,
    delay: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S, Request> Service<Request> for RateLimit<S>
where
    S: Service<Request>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), Self::Error>> {
        if !self.reserved {
            self.reserved = true;
            let wait = self.bucket.reserve(Instant::now());
            if !wait.is_zero() {
                self.delay = Some(Box::pin(tokio::time::sleep(wait)));
            }
        }
        if let Some(delay) = self.delay.as_mut() {
            if delay.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.delay = None;
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        self.reserved = false;
        self.inner.call(request)
    }
}

/// Labels of [`API_REQUESTS`]: HTTP status code (or `<error>`) and method.
pub type RequestLabels = [(&'static str, String); 2];

/// Requests sent to the API server by every client of this process, by
/// status code and method (registered by [`crate::metrics::Metrics`]).
pub static API_REQUESTS: LazyLock<Family<RequestLabels, Counter>> = LazyLock::new(Family::default);

/// Tower layer counting every request in [`API_REQUESTS`].
#[derive(Clone, Copy, Debug, Default)]
pub struct CountRequestsLayer;

impl<S> Layer<S> for CountRequestsLayer {
    type Service = CountRequests<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CountRequests { inner }
    }
}

/// Service produced by [`CountRequestsLayer`].
#[derive(Clone, Debug)]
pub struct CountRequests<S> {
    inner: S,
}

impl<S, B, R> Service<http::Request<B>> for CountRequests<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, std::result::Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.method().as_str().to_string();
        self.inner
            .call(request)
            .map(move |result| {
                let code = match &result {
                    Ok(response) => response.status().as_u16().to_string(),
                    Err(_) => "<error>".to_string(),
                };
                API_REQUESTS
                    .get_or_create(&[("code", code), ("method", method)])
                    .inc();
                result
            })
            .boxed()
    }
}

/// A client from the in-cluster or kubeconfig configuration, throttled by
/// `--kube-api-qps`/`--kube-api-burst`.
///
/// Errors: [`Error::KubeConfig`] when no configuration is found,
/// [`Error::KubeClient`] when the client cannot be built from it.
pub async fn client(args: &RuntimeArgs) -> Result<Client> {
    let config = Config::infer().await.map_err(Error::KubeConfig)?;
    client_from(config, args)
}

/// A throttled, counted client for `config` (e.g. one impersonating a
/// service account, or a remote cluster's).
///
/// Errors: [`Error::KubeClient`] when the client cannot be built.
pub fn client_from(config: Config, args: &RuntimeArgs) -> Result<Client> {
    let builder = ClientBuilder::try_from(config).map_err(Error::KubeClient)?;
    Ok(builder
        .with_layer(&RateLimitLayer::new(args.kube_api_qps, args.kube_api_burst))
        .with_layer(&CountRequestsLayer)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_is_free_then_requests_are_spaced() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 3, start);
        for _ in 0..3 {
            assert_eq!(bucket.reserve(start), Duration::ZERO);
        }
        let wait = bucket.reserve(start);
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        let wait = bucket.reserve(start);
        assert!((wait.as_secs_f64() - 0.2).abs() < 1e-9, "{wait:?}");
    }

    #[test]
    fn tokens_refill_up_to_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 2, start);
        assert_eq!(bucket.reserve(start), Duration::ZERO);
        assert_eq!(bucket.reserve(start), Duration::ZERO);
        // A long idle period refills to the burst, not beyond.
        let later = start + Duration::from_secs(60);
        assert_eq!(bucket.reserve(later), Duration::ZERO);
        assert_eq!(bucket.reserve(later), Duration::ZERO);
        assert!(bucket.reserve(later) > Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn service_waits_for_tokens() {
        use tower::ServiceExt;

        let inner = tower::service_fn(|n: u32| async move { Ok::<_, std::convert::Infallible>(n) });
        let mut service = RateLimitLayer::new(1.0, 1).layer(inner);
        let started = tokio::time::Instant::now();
        assert_eq!(
            service.ready().await.map(|s| s.call(1)).ok().map(drop),
            Some(())
        );
        assert!(started.elapsed() < Duration::from_millis(10));
        let _ = service.ready().await.map(|s| s.call(2));
        assert!(
            started.elapsed() >= Duration::from_millis(990),
            "{:?}",
            started.elapsed()
        );
    }
}
