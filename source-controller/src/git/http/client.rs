//! The HTTP client under the Git transport: reqwest on rustls (ring), driven
//! from libgit2's blocking calls, and the mapping of HTTP and TLS failures to
//! errors users can act on.
//!
//! Clients are shared: one per distinct TLS and proxy configuration, kept in a
//! small bounded cache, so a fetch neither rebuilds a rustls configuration and
//! root store nor opens a new connection when an earlier fetch left one idle.
//! Credentials are not part of a client; they go on each request. All clients
//! run on one process-wide runtime, so their pooled connections outlive the
//! fetch (and the thread) that opened them.

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::future::Future;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Certificate, Identity, Proxy, Response, StatusCode};
use sha2::{Digest, Sha256};

use super::HttpOptions;
use crate::{Error, Result};

/// Sent as `User-Agent`; Git hosts expect smart HTTP clients to say `git/`.
const USER_AGENT: &str = "git/2.0 (flux-rs source-controller)";

/// Distinct TLS/proxy configurations whose clients are kept. Most clusters
/// use a handful (no CA, one private CA, one proxy); beyond this the least
/// recently used client is dropped and rebuilt when needed again.
const CACHED_CLIENTS: usize = 32;

/// Worker threads of the transport's runtime: they drive connections (TLS
/// included) while libgit2's threads wait for responses.
const RUNTIME_WORKERS: usize = 2;

/// A shared client plus what is specific to one remote operation: its
/// deadline and credentials.
pub struct HttpClient {
    client: reqwest::Client,
    deadline: Instant,
    authorization: Option<HeaderValue>,
}

impl HttpClient {
    /// The client for `options` (reused when one with the same TLS and proxy
    /// configuration exists); every request ends by `deadline`.
    pub fn new(options: &HttpOptions, deadline: Instant) -> Result<Self> {
        static CLIENTS: OnceLock<ClientCache> = OnceLock::new();
        let client = CLIENTS
            .get_or_init(|| ClientCache::new(CACHED_CLIENTS))
            .get_or_build(ClientKey::of(options), || build_client(options))?;
        Ok(Self {
            client,
            deadline,
            authorization: authorization(options)?,
        })
    }

    /// `GET url`, failing on anything but 200.
    pub fn get(&self, url: &str) -> Result<Response> {
        self.send(self.client.get(url), url)
    }

    /// `POST url` with a Git request `body`, failing on anything but 200.
    pub fn post(
        &self,
        url: &str,
        content_type: &str,
        accept: &str,
        body: Vec<u8>,
    ) -> Result<Response> {
        let request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(reqwest::header::ACCEPT, accept)
            .body(body);
        self.send(request, url)
    }

    /// The next chunk of a response body, `None` at its end.
    pub fn chunk(&self, response: &mut Response, url: &str) -> Result<Option<bytes::Bytes>> {
        block_on(response.chunk())?.map_err(|e| classify(url, &e))
    }

    fn send(&self, request: reqwest::RequestBuilder, url: &str) -> Result<Response> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Error::Git(format!(
                "timeout exceeded before requesting '{url}'"
            )));
        }
        let mut request = request.timeout(remaining).header("Pragma", "no-cache");
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let response = block_on(request.send())?.map_err(|e| classify(url, &e))?;
        check_status(url, response.status())?;
        Ok(response)
    }
}

/// Builds a client for the TLS and proxy settings of `options`.
fn build_client(options: &HttpOptions) -> Result<reqwest::Client> {
    // reqwest is built without a default TLS provider; installing twice is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .http1_only();
    if let Some(ca) = &options.ca_cert {
        let certificates = Certificate::from_pem_bundle(ca)
            .map_err(|e| Error::InvalidSecret(format!("invalid 'ca.crt': {e}")))?;
        if certificates.is_empty() {
            return Err(Error::InvalidSecret("'ca.crt' holds no certificate".into()));
        }
        builder = builder.tls_certs_merge(certificates);
    }
    if let Some(identity) = &options.client_identity {
        let mut pem = identity.cert.clone();
        pem.push(b'\n');
        pem.extend_from_slice(&identity.key);
        let identity = Identity::from_pem(&pem)
            .map_err(|e| Error::InvalidSecret(format!("invalid 'tls.crt'/'tls.key' pair: {e}")))?;
        builder = builder.identity(identity);
    }
    if let Some(proxy) = &options.proxy {
        let mut configured = Proxy::all(&proxy.address).map_err(|e| {
            Error::InvalidSecret(format!("invalid proxy address '{}': {e}", proxy.address))
        })?;
        if let Some((username, password)) = &proxy.credentials {
            configured = configured.basic_auth(username, password);
        }
        builder = builder.proxy(configured);
    }
    builder
        .build()
        .map_err(|e| Error::Git(format!("building the HTTP client: {}", describe(&e))))
}

/// Runs `future` to completion on the transport's runtime, from one of
/// libgit2's (blocking) threads.
fn block_on<F: Future>(future: F) -> Result<F::Output> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_WORKERS)
            .thread_name("git-http")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    match runtime {
        Ok(runtime) => Ok(runtime.block_on(future)),
        Err(e) => Err(Error::Git(format!("starting the HTTP runtime: {e}"))),
    }
}

/// What makes two clients interchangeable: the digest of the CA, the client
/// certificate and the proxy (with its credentials). A digest, so the cache
/// keeps no copy of key material.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ClientKey([u8; 32]);

impl ClientKey {
    fn of(options: &HttpOptions) -> Self {
        let mut hasher = Sha256::new();
        let mut field = |value: Option<&[u8]>| {
            match value {
                Some(bytes) => {
                    hasher.update([1]);
                    hasher.update((bytes.len() as u64).to_be_bytes());
                    hasher.update(bytes);
                }
                None => hasher.update([0]),
            };
        };
        field(options.ca_cert.as_deref());
        let identity = options.client_identity.as_ref();
        field(identity.map(|i| i.cert.as_slice()));
        field(identity.map(|i| i.key.as_slice()));
        let proxy = options.proxy.as_ref();
        field(proxy.map(|p| p.address.as_bytes()));
        let credentials = proxy.and_then(|p| p.credentials.as_ref());
        field(credentials.map(|(user, _)| user.as_bytes()));
        field(credentials.map(|(_, password)| password.as_bytes()));
        Self(hasher.finalize().into())
    }
}

/// Clients by configuration, least recently used first, at most `capacity`.
struct ClientCache {
    capacity: usize,
    entries: Mutex<VecDeque<(ClientKey, reqwest::Client)>>,
}

impl ClientCache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(VecDeque::new()),
        }
    }

    /// The cached client for `key`, or the one `build` returns, cached. A
    /// failed build is not cached: the next fetch reports the error again.
    fn get_or_build(
        &self,
        key: ClientKey,
        build: impl FnOnce() -> Result<reqwest::Client>,
    ) -> Result<reqwest::Client> {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let hit = entries
            .iter()
            .position(|(cached, _)| *cached == key)
            .and_then(|index| entries.remove(index));
        let client = match hit {
            Some((_, client)) => client,
            None => build()?,
        };
        entries.push_back((key, client.clone()));
        while entries.len() > self.capacity {
            entries.pop_front();
        }
        Ok(client)
    }
}

/// The `Authorization` header: bearer token if set, else basic auth.
fn authorization(options: &HttpOptions) -> Result<Option<HeaderValue>> {
    use base64::Engine;
    let value = match (&options.bearer_token, &options.basic) {
        (Some(token), _) => format!("Bearer {token}"),
        (None, Some((username, password))) => format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
        ),
        (None, None) => return Ok(None),
    };
    let mut value = HeaderValue::from_str(&value).map_err(|_| {
        Error::InvalidSecret("credentials contain characters not allowed in an HTTP header".into())
    })?;
    value.set_sensitive(true);
    Ok(Some(value))
}

fn check_status(url: &str, status: StatusCode) -> Result<()> {
    match status {
        StatusCode::OK => Ok(()),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(Error::Authentication(format!(
            "the server answered '{status}' for '{url}'; check the credentials in the secretRef"
        ))),
        StatusCode::PROXY_AUTHENTICATION_REQUIRED => Err(Error::Authentication(format!(
            "the proxy answered '{status}'; check 'username'/'password' in the proxySecretRef"
        ))),
        StatusCode::NOT_FOUND => Err(Error::Git(format!(
            "repository not found: the server answered '{status}' for '{url}'"
        ))),
        _ => Err(Error::Git(format!(
            "unexpected HTTP status '{status}' for '{url}'"
        ))),
    }
}

/// Turns a request failure into an error saying what to fix: TLS trust and
/// client certificate problems are authentication failures, the rest are Git
/// (network) failures.
fn classify(url: &str, error: &reqwest::Error) -> Error {
    if let Some(tls) = rustls_cause(error) {
        return match tls {
            rustls::Error::InvalidCertificate(_) => Error::Authentication(format!(
                "TLS certificate verification failed for '{url}': {tls}; \
                 add the server's CA as 'ca.crt' to the secret"
            )),
            rustls::Error::AlertReceived(alert) => Error::Authentication(format!(
                "TLS handshake with '{url}' failed: the server refused the client certificate \
                 (alert {alert:?}); check 'tls.crt'/'tls.key' in the secret"
            )),
            other => Error::Authentication(format!("TLS handshake with '{url}' failed: {other}")),
        };
    }
    if error.is_timeout() {
        return Error::Git(format!("timeout while requesting '{url}'"));
    }
    if error.is_connect() {
        return Error::Git(format!("failed to connect to '{url}': {}", describe(error)));
    }
    Error::Git(describe(error))
}

/// The rustls error somewhere in the cause chain, also inside `io::Error`s
/// (whose `source()` skips the error they wrap).
fn rustls_cause<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(cause) = current {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        current = match cause.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => cause.source(),
        };
    }
    None
}

/// An error and its causes on one line.
fn describe(error: &(dyn StdError + 'static)) -> String {
    fluxrs_runtime::outcome::describe(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::ClientIdentity;
    use crate::proxy::ProxyConfig;

    fn plain_client() -> Result<reqwest::Client> {
        build_client(&HttpOptions::default())
    }

    #[test]
    fn clients_are_keyed_by_tls_and_proxy_but_not_by_credentials() {
        let plain = HttpOptions::default();
        let with_auth = HttpOptions {
            basic: Some(("user".into(), "secret".into())),
            bearer_token: Some("token".into()),
            ..HttpOptions::default()
        };
        assert_eq!(ClientKey::of(&plain), ClientKey::of(&with_auth));

        let with_ca = HttpOptions {
            ca_cert: Some(b"ca".to_vec()),
            ..HttpOptions::default()
        };
        let with_identity = HttpOptions {
            client_identity: Some(ClientIdentity {
                cert: b"ca".to_vec(),
                key: Vec::new(),
            }),
            ..HttpOptions::default()
        };
        let proxy = |password: &str| HttpOptions {
            proxy: Some(ProxyConfig {
                address: "http://127.0.0.1:3128".into(),
                credentials: Some(("user".into(), password.into())),
            }),
            ..HttpOptions::default()
        };
        let keys = [
            ClientKey::of(&plain),
            ClientKey::of(&with_ca),
            ClientKey::of(&with_identity),
            ClientKey::of(&proxy("one")),
            ClientKey::of(&proxy("two")),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(
                    a, b,
                    "different TLS or proxy settings need their own client"
                );
            }
        }
    }

    #[test]
    fn cache_reuses_clients_and_drops_the_least_recently_used() -> Result<()> {
        let cache = ClientCache::new(2);
        let key = |n: u8| ClientKey([n; 32]);
        let builds = std::cell::Cell::new(0);
        let build = || {
            builds.set(builds.get() + 1);
            plain_client()
        };
        cache.get_or_build(key(1), build)?;
        cache.get_or_build(key(2), build)?;
        cache.get_or_build(key(1), build)?;
        assert_eq!(builds.get(), 2, "a known configuration is not rebuilt");
        cache.get_or_build(key(3), build)?;
        cache.get_or_build(key(1), build)?;
        assert_eq!(builds.get(), 3, "1 was used more recently than 2");
        cache.get_or_build(key(2), build)?;
        assert_eq!(builds.get(), 4, "2 was dropped to stay within capacity");
        Ok(())
    }

    #[test]
    fn failed_builds_are_not_cached() {
        let cache = ClientCache::new(2);
        let key = ClientKey([7; 32]);
        let failed = cache.get_or_build(key, || Err(Error::InvalidSecret("bad ca".into())));
        assert!(failed.is_err());
        assert!(cache.get_or_build(key, plain_client).is_ok());
    }
}
