//! Git over HTTP(S) in Rust: a libgit2 smart subtransport on reqwest and
//! rustls, registered for `http://` and `https://` in place of libgit2's own.
//!
//! Why: libgit2 cannot present a TLS client certificate, sends a bearer token
//! only on fetches (not on ls-remote), and takes a CA only per process. This
//! transport gives every HTTP remote the TLS stack of the rest of flux-rs: the
//! Secret's `ca.crt` on top of the system roots, a client certificate
//! (`tls.crt`/`tls.key`), basic or bearer auth on ls-remote and fetch alike, and
//! the `proxySecretRef` proxy. libgit2 keeps doing the Git protocol (pkt-lines,
//! negotiation, packs); only the bytes on the wire go through here.
//!
//! libgit2 picks a transport from the URL alone, so the options of one remote
//! reach the transport through a [`Session`] made active on the calling thread
//! for the duration of a libgit2 call ([`Session::scope`]). The session also
//! keeps the typed error of a failed request, because libgit2 reduces errors
//! from a custom transport to a bare message.

mod client;
mod transport;

use std::cell::RefCell;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::proxy::ProxyConfig;
use crate::{Error, Result};

/// A TLS client certificate and its key, PEM (`tls.crt` and `tls.key`).
#[derive(Clone)]
pub struct ClientIdentity {
    /// Certificate chain, leaf first.
    pub cert: Vec<u8>,
    /// Private key of the leaf.
    pub key: Vec<u8>,
}

/// How HTTP(S) remotes are reached. Never logged: holds credentials.
#[derive(Clone, Default)]
pub struct HttpOptions {
    /// PEM CA certificate(s) trusted in addition to the system roots.
    pub ca_cert: Option<Vec<u8>>,
    /// Client certificate presented in the TLS handshake.
    pub client_identity: Option<ClientIdentity>,
    /// HTTP basic auth, sent with every request.
    pub basic: Option<(String, String)>,
    /// HTTP bearer token, sent with every request (wins over basic auth).
    pub bearer_token: Option<String>,
    /// Proxy every request goes through.
    pub proxy: Option<ProxyConfig>,
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOptions")
            .field("ca_cert", &self.ca_cert.is_some())
            .field("client_identity", &self.client_identity.is_some())
            .field("basic", &self.basic.as_ref().map(|_| "<redacted>"))
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .field("proxy", &self.proxy)
            .finish()
    }
}

/// One remote operation's HTTP client, made active on a thread while libgit2
/// runs so the transport can find it.
pub struct Session {
    client: client::HttpClient,
    failure: Mutex<Option<Error>>,
}

thread_local! {
    static ACTIVE: RefCell<Option<Arc<Session>>> = const { RefCell::new(None) };
}

impl Session {
    /// A session with `options` whose requests all end by `deadline`.
    /// Registers the transport with libgit2 on first use.
    pub fn new(options: &HttpOptions, deadline: Instant) -> Result<Arc<Self>> {
        register()?;
        Ok(Arc::new(Self {
            client: client::HttpClient::new(options, deadline)?,
            failure: Mutex::new(None),
        }))
    }

    /// Runs `f` (which calls libgit2) with this session active on the current
    /// thread. When `f` fails and a request of this session failed, the
    /// request's typed error is returned instead of libgit2's message.
    pub fn scope<T>(self: &Arc<Self>, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let previous = ACTIVE.with(|active| active.replace(Some(Arc::clone(self))));
        let result = f();
        ACTIVE.with(|active| *active.borrow_mut() = previous);
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        match (result, failure) {
            (Err(_), Some(failure)) => Err(failure),
            (result, _) => result,
        }
    }

    /// Keeps `error` as the session's failure and returns its message for
    /// libgit2.
    fn fail(&self, error: Error) -> String {
        let message = error.to_string();
        *self
            .failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(error);
        message
    }

    fn active() -> Option<Arc<Self>> {
        ACTIVE.with(|active| active.borrow().clone())
    }
}

/// Registers the transport for `http://` and `https://`, once per process.
/// Must run before libgit2 creates any transport (see the safety note).
pub(super) fn register() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            for scheme in ["http", "https"] {
                // SAFETY: libgit2's transport registry is unsynchronised, so
                // registration must not race with the creation of a transport.
                // Every way this crate reaches libgit2's transports goes
                // through `Remote::new` or `Session::new`, which run this
                // initialiser first, and OnceLock blocks every other thread
                // until it has finished: no transport is created while
                // registration runs, and it runs once.
                #[allow(unsafe_code)]
                let registered = unsafe { git2::transport::register(scheme, transport::factory) };
                registered.map_err(|e| e.message().to_string())?;
            }
            Ok(())
        })
        .clone()
        .map_err(|e| Error::Git(format!("registering the HTTP transport: {e}")))
}
