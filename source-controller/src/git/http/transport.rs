//! The smart-HTTP subtransport libgit2 calls: `GET info/refs` for the ref
//! advertisement and `POST git-upload-pack` for each negotiation round, as in
//! Git's `http-protocol` documentation (stateless RPC).

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream, Transport};
use reqwest::Response;

use super::Session;
use crate::Error;

const ADVERTISEMENT: &str = "application/x-git-upload-pack-advertisement";
const UPLOAD_REQUEST: &str = "application/x-git-upload-pack-request";
const UPLOAD_RESULT: &str = "application/x-git-upload-pack-result";

/// Creates the transport of a remote; called by libgit2 for `http(s)://` URLs.
pub fn factory(remote: &git2::Remote<'_>) -> Result<Transport, git2::Error> {
    let session = match Session::active() {
        Some(session) => session,
        None => Session::new(&super::HttpOptions::default(), far_deadline())
            .map_err(|e| git2::Error::from_str(&e.to_string()))?,
    };
    Transport::smart(
        remote,
        true,
        HttpSubtransport {
            session,
            base: Mutex::new(None),
        },
    )
}

/// Deadline of a transport created outside any session (never by this crate).
fn far_deadline() -> std::time::Instant {
    std::time::Instant::now() + std::time::Duration::from_secs(600)
}

struct HttpSubtransport {
    session: Arc<Session>,
    /// The repository URL after redirects of the advertisement request.
    base: Mutex<Option<String>>,
}

impl HttpSubtransport {
    fn base(&self, url: &str) -> String {
        self.base
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .unwrap_or_else(|| url.trim_end_matches('/').to_string())
    }

    fn advertisement(&self, url: &str) -> Result<Box<dyn SmartSubtransportStream>, Error> {
        let endpoint = format!(
            "{}/info/refs?service=git-upload-pack",
            url.trim_end_matches('/')
        );
        let response = self.session.client.get(&endpoint)?;
        let content_type = content_type(&response);
        if content_type != ADVERTISEMENT {
            return Err(Error::Git(format!(
                "'{url}' is not a Git smart HTTP server (content type '{content_type}')"
            )));
        }
        if let Some(base) = response
            .url()
            .as_str()
            .strip_suffix("/info/refs?service=git-upload-pack")
        {
            *self
                .base
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(base.to_string());
        }
        Ok(Box::new(ResponseStream::received(
            Arc::clone(&self.session),
            endpoint,
            response,
        )))
    }
}

impl SmartSubtransport for HttpSubtransport {
    fn action(
        &self,
        url: &str,
        action: Service,
    ) -> Result<Box<dyn SmartSubtransportStream>, git2::Error> {
        let stream = match action {
            Service::UploadPackLs => self.advertisement(url),
            Service::UploadPack => Ok(Box::new(ResponseStream::request(
                Arc::clone(&self.session),
                format!("{}/git-upload-pack", self.base(url)),
            )) as Box<dyn SmartSubtransportStream>),
            Service::ReceivePackLs | Service::ReceivePack => Err(Error::Git(
                "pushing is not supported by source-controller".into(),
            )),
        };
        stream.map_err(|e| git2::Error::from_str(&self.session.fail(e)))
    }

    fn close(&self) -> Result<(), git2::Error> {
        Ok(())
    }
}

/// One HTTP exchange: what libgit2 writes is the request body, sent on its
/// first read; reads then stream the response body.
struct ResponseStream {
    session: Arc<Session>,
    url: String,
    body: Vec<u8>,
    response: Option<Response>,
    pending: Bytes,
}

impl ResponseStream {
    /// A `POST` that is sent once libgit2 starts reading.
    fn request(session: Arc<Session>, url: String) -> Self {
        Self {
            session,
            url,
            body: Vec::new(),
            response: None,
            pending: Bytes::new(),
        }
    }

    /// A response already received (the advertisement).
    fn received(session: Arc<Session>, url: String, response: Response) -> Self {
        Self {
            response: Some(response),
            ..Self::request(session, url)
        }
    }

    fn send(&mut self) -> Result<Response, Error> {
        let body = std::mem::take(&mut self.body);
        let response = self
            .session
            .client
            .post(&self.url, UPLOAD_REQUEST, UPLOAD_RESULT, body)?;
        let content_type = content_type(&response);
        if content_type != UPLOAD_RESULT {
            return Err(Error::Git(format!(
                "unexpected content type '{content_type}' from '{}'",
                self.url
            )));
        }
        Ok(response)
    }

    fn fill(&mut self) -> Result<(), Error> {
        if self.response.is_none() {
            self.response = Some(self.send()?);
        }
        if self.pending.is_empty()
            && let Some(response) = self.response.as_mut()
            && let Some(chunk) = self.session.client.chunk(response, &self.url)?
        {
            self.pending = chunk;
        }
        Ok(())
    }
}

impl Read for ResponseStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.fill()
            .map_err(|e| io::Error::other(self.session.fail(e)))?;
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending.split_to(n));
        Ok(n)
    }
}

impl Write for ResponseStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.response.is_some() {
            return Err(io::Error::other(
                "libgit2 wrote to an HTTP exchange after reading its response",
            ));
        }
        self.body.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn content_type(response: &Response) -> String {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}
