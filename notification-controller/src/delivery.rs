//! Sending notification requests: timeouts, proxies, retries with backoff,
//! and a rate limit per Provider.
//!
//! Like upstream's retryable client, a request is retried (up to
//! [`RetryPolicy::retries`] times, with exponential backoff) when it cannot
//! connect, times out, or gets a 5xx or 429 answer; any other 4xx is final,
//! since repeating a rejected request cannot help. Error messages name only
//! the host: a webhook URL's path is a credential.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fluxrs_runtime::client::TokenBucket;
use reqwest::{Certificate, Client, Identity, Proxy, RequestBuilder, StatusCode};
use tracing::debug;

use crate::notifier::git::Lookup;
use crate::notifier::{Request, ResponseCheck};
use crate::{Error, Result};

/// Default request timeout (`spec.timeout` unset).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Longest response body quoted in an error.
const MAX_QUOTED_BODY: usize = 200;

/// When and how often a failed request is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// Wait before the first retry; doubles each time.
    pub min_backoff: Duration,
    /// Upper bound of the wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Upstream's: 4 retries, waiting 2s doubling up to 30s.
    fn default() -> Self {
        Self {
            retries: 4,
            min_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// Connection settings of one Provider.
#[derive(Clone, Default)]
pub struct ClientSettings {
    /// Request timeout.
    pub timeout: Option<Duration>,
    /// Proxy URL and optional basic-auth credentials.
    pub proxy: Option<(String, Option<(String, String)>)>,
    /// PEM CA certificates to trust besides the system's.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM client certificate and key for mutual TLS.
    pub identity_pem: Option<Vec<u8>>,
}

/// The HTTP client for a Provider's settings.
///
/// Errors: [`Error::InvalidProvider`] for a bad proxy URL or certificate,
/// [`Error::HttpClient`] when the client cannot be built.
pub fn client(settings: &ClientSettings) -> Result<Client> {
    // reqwest is built without a default TLS provider; installing twice is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = Client::builder()
        .timeout(settings.timeout.unwrap_or(DEFAULT_TIMEOUT))
        .user_agent(concat!("flux-rs/", env!("CARGO_PKG_VERSION")));
    if let Some((url, credentials)) = &settings.proxy {
        let mut proxy = Proxy::all(url)
            .map_err(|_| Error::InvalidProvider("invalid proxy address".to_owned()))?;
        if let Some((username, password)) = credentials {
            proxy = proxy.basic_auth(username, password);
        }
        builder = builder.proxy(proxy);
    }
    if let Some(pem) = &settings.ca_pem {
        let certificates = Certificate::from_pem_bundle(pem)
            .map_err(|e| Error::InvalidProvider(format!("invalid CA certificate: {e}")))?;
        builder = builder.tls_certs_merge(certificates);
    }
    if let Some(pem) = &settings.identity_pem {
        let identity = Identity::from_pem(pem).map_err(|e| {
            Error::InvalidProvider(format!("invalid client certificate or key: {e}"))
        })?;
        builder = builder.identity(identity);
    }
    builder.build().map_err(Error::HttpClient)
}

/// What one attempt produced.
enum Attempt {
    /// A 2xx answer (and, for Slack's API, `ok: true`), with its body.
    Delivered(Vec<u8>),
    Retryable(String),
    Final(String),
}

/// Sends `request`, retrying as the module docs say.
///
/// Errors: [`Error::Delivery`] with the last failure (host, status, and the
/// start of the response body).
pub async fn deliver(client: &Client, request: &Request, policy: RetryPolicy) -> Result<()> {
    let build = || {
        let mut builder = client
            .post(&request.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        builder
    };
    retrying(&request.url, "POST", request.check, policy, build)
        .await
        .map(drop)
}

/// GETs `lookup` with the same retries as [`deliver`] and returns the body.
///
/// Errors: [`Error::Delivery`] as for [`deliver`].
pub async fn fetch(client: &Client, lookup: &Lookup, policy: RetryPolicy) -> Result<Vec<u8>> {
    let build = || {
        let mut builder = client.get(&lookup.url);
        for (name, value) in &lookup.headers {
            builder = builder.header(name, value);
        }
        builder
    };
    retrying(&lookup.url, "GET", ResponseCheck::Status, policy, build).await
}

/// Sends what `build` makes until it succeeds, fails for good, or the
/// retries are spent.
async fn retrying(
    url: &str,
    method: &str,
    check: ResponseCheck,
    policy: RetryPolicy,
    build: impl Fn() -> RequestBuilder,
) -> Result<Vec<u8>> {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "the provider".to_owned());
    let mut backoff = policy.min_backoff;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match send_once(build(), method, check, &host).await {
            Attempt::Delivered(body) => return Ok(body),
            Attempt::Final(message) => return Err(Error::Delivery(message)),
            Attempt::Retryable(message) if attempt > policy.retries => {
                return Err(Error::Delivery(format!(
                    "{message} (giving up after {attempt} attempts)"
                )));
            }
            Attempt::Retryable(message) => {
                debug!(%host, attempt, %message, "notification failed, retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(policy.max_backoff);
            }
        }
    }
}

async fn send_once(
    builder: RequestBuilder,
    method: &str,
    check: ResponseCheck,
    host: &str,
) -> Attempt {
    let response = match builder.send().await {
        Ok(response) => response,
        Err(error) if error.is_builder() => {
            return Attempt::Final(format!(
                "invalid request to {host}: {}",
                error.without_url()
            ));
        }
        Err(error) => {
            let cause = if error.is_timeout() {
                "timed out".to_owned()
            } else {
                describe(&error.without_url())
            };
            return Attempt::Retryable(format!("{method} to {host} failed: {cause}"));
        }
    };
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    if status.is_success() {
        return match check {
            ResponseCheck::Status => Attempt::Delivered(body),
            ResponseCheck::SlackApi => slack_api_result(&body, host),
        };
    }
    let text = String::from_utf8_lossy(&body);
    let quoted: String = text.chars().take(MAX_QUOTED_BODY).collect();
    let message = format!("{method} to {host} failed: {status}: {}", quoted.trim());
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        Attempt::Retryable(message)
    } else {
        Attempt::Final(message)
    }
}

/// `chat.postMessage` always answers 200; `ok: false` carries the error.
fn slack_api_result(body: &[u8], host: &str) -> Attempt {
    #[derive(serde::Deserialize)]
    struct SlackResponse {
        ok: bool,
        #[serde(default)]
        error: String,
    }
    match serde_json::from_slice::<SlackResponse>(body) {
        Ok(response) if response.ok => Attempt::Delivered(Vec::new()),
        Ok(response) => Attempt::Final(format!("Slack responded with error: {}", response.error)),
        Err(e) => Attempt::Final(format!("unable to decode the answer of {host}: {e}")),
    }
}

/// An error and its sources on one line.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    fluxrs_runtime::outcome::describe(error)
}

/// Token buckets per Provider: a noisy cluster cannot hammer one service.
pub struct RateLimiter {
    qps: f32,
    burst: u32,
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

impl RateLimiter {
    /// `qps` notifications per second per Provider, in bursts of `burst`.
    pub fn new(qps: f32, burst: u32) -> Self {
        Self {
            qps,
            burst,
            buckets: Mutex::default(),
        }
    }

    /// Takes a token for `provider` (`namespace/name`); returns how long to
    /// wait before sending.
    pub fn reserve(&self, provider: &str) -> Duration {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets
            .entry(provider.to_owned())
            .or_insert_with(|| TokenBucket::new(self.qps, self.burst, now))
            .reserve(now)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::http::StatusCode as AxumStatus;
    use axum::routing::post;

    use super::*;

    /// A loopback server answering with `statuses` in turn (the last one
    /// repeats), counting requests.
    async fn server(statuses: Vec<u16>, body: &'static str) -> (String, Arc<AtomicUsize>) {
        let count = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&count);
        let app = Router::new().route(
            "/hook",
            post(move || {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let code = statuses[n.min(statuses.len() - 1)];
                async move { (AxumStatus::from_u16(code).unwrap_or(AxumStatus::OK), body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{address}/hook"), count)
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            retries: 3,
            min_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
        }
    }

    fn request(url: &str, check: ResponseCheck) -> Request {
        Request {
            url: url.to_owned(),
            headers: vec![("X-Test".into(), "1".into())],
            body: b"{}".to_vec(),
            check,
        }
    }

    fn plain_client() -> Client {
        client(&ClientSettings::default()).expect("client")
    }

    #[tokio::test]
    async fn server_errors_are_retried_until_success() {
        let (url, count) = server(vec![503, 500, 200], "").await;
        deliver(
            &plain_client(),
            &request(&url, ResponseCheck::Status),
            fast(),
        )
        .await
        .expect("delivered on the third attempt");
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn client_errors_are_not_retried() {
        let (url, count) = server(vec![400], "bad payload").await;
        let error = deliver(
            &plain_client(),
            &request(&url, ResponseCheck::Status),
            fast(),
        )
        .await
        .expect_err("400 is final");
        assert_eq!(count.load(Ordering::SeqCst), 1);
        let message = error.to_string();
        assert!(
            message.contains("400 Bad Request: bad payload"),
            "{message}"
        );
        assert!(
            !message.contains("/hook"),
            "the URL path is a credential: {message}"
        );
    }

    #[tokio::test]
    async fn retries_are_bounded() {
        let (url, count) = server(vec![502], "").await;
        let error = deliver(
            &plain_client(),
            &request(&url, ResponseCheck::Status),
            fast(),
        )
        .await
        .expect_err("always failing");
        assert_eq!(count.load(Ordering::SeqCst), 4);
        assert!(error.to_string().contains("giving up after 4 attempts"));
    }

    #[tokio::test]
    async fn slack_api_errors_are_detected() {
        let (url, _) = server(vec![200], r#"{"ok":false,"error":"channel_not_found"}"#).await;
        let error = deliver(
            &plain_client(),
            &request(&url, ResponseCheck::SlackApi),
            fast(),
        )
        .await
        .expect_err("ok: false");
        assert_eq!(
            error.to_string(),
            "Slack responded with error: channel_not_found"
        );
    }

    #[tokio::test]
    async fn unreachable_hosts_are_retried_then_reported() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let url = format!("http://127.0.0.1:{port}/secret-path");
        let error = deliver(
            &plain_client(),
            &request(&url, ResponseCheck::Status),
            fast(),
        )
        .await
        .expect_err("nothing listens");
        let message = error.to_string();
        assert!(message.contains("POST to 127.0.0.1 failed"), "{message}");
        assert!(!message.contains("secret-path"), "{message}");
    }

    #[tokio::test]
    async fn fetch_returns_the_body_after_retries() {
        let count = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&count);
        let app = Router::new().route(
            "/statuses",
            axum::routing::get(move |headers: axum::http::HeaderMap| {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let token = headers
                    .get("private-token")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                async move {
                    if n == 0 {
                        (AxumStatus::BAD_GATEWAY, String::new())
                    } else {
                        (AxumStatus::OK, format!("[\"{token}\"]"))
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let lookup = Lookup {
            url: format!("http://{address}/statuses"),
            headers: vec![("PRIVATE-TOKEN".into(), "t0k".into())],
        };
        let body = fetch(&plain_client(), &lookup, fast())
            .await
            .expect("the second attempt answers");
        assert_eq!(body, br#"["t0k"]"#);
        assert_eq!(count.load(Ordering::SeqCst), 2);
        let missing = Lookup {
            url: format!("http://{address}/nothing"),
            headers: Vec::new(),
        };
        let error = fetch(&plain_client(), &missing, fast())
            .await
            .expect_err("404 is final");
        assert!(
            error
                .to_string()
                .starts_with("GET to 127.0.0.1 failed: 404 Not Found"),
            "{error}"
        );
    }

    #[test]
    fn rate_limit_is_per_provider() {
        let limiter = RateLimiter::new(1.0, 2);
        assert_eq!(limiter.reserve("ns/a"), Duration::ZERO);
        assert_eq!(limiter.reserve("ns/a"), Duration::ZERO);
        assert!(limiter.reserve("ns/a") > Duration::ZERO);
        assert_eq!(limiter.reserve("ns/b"), Duration::ZERO);
    }
}
