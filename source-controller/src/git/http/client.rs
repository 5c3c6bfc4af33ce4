//! The HTTP client under the Git transport: reqwest on rustls (ring), driven
//! from libgit2's blocking calls by a runtime of its own, and the mapping of
//! HTTP and TLS failures to errors users can act on.

use std::error::Error as StdError;
use std::time::Instant;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Certificate, Identity, Proxy, Response, StatusCode};

use super::HttpOptions;
use crate::{Error, Result};

/// Sent as `User-Agent`; Git hosts expect smart HTTP clients to say `git/`.
const USER_AGENT: &str = "git/2.0 (flux-rs source-controller)";

/// A configured client plus the runtime its futures run on. Lives on the
/// blocking thread that runs libgit2 and is dropped there.
pub struct HttpClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    deadline: Instant,
    authorization: Option<HeaderValue>,
}

impl HttpClient {
    /// Builds the client for `options`; every request ends by `deadline`.
    pub fn new(options: &HttpOptions, deadline: Instant) -> Result<Self> {
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
            let identity = Identity::from_pem(&pem).map_err(|e| {
                Error::InvalidSecret(format!("invalid 'tls.crt'/'tls.key' pair: {e}"))
            })?;
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
        let client = builder
            .build()
            .map_err(|e| Error::Git(format!("building the HTTP client: {}", describe(&e))))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Git(format!("starting the HTTP runtime: {e}")))?;
        Ok(Self {
            client,
            runtime,
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
        self.runtime
            .block_on(response.chunk())
            .map_err(|e| classify(url, &e))
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
        let response = self
            .runtime
            .block_on(request.send())
            .map_err(|e| classify(url, &e))?;
        check_status(url, response.status())?;
        Ok(response)
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
