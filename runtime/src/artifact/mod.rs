//! Consuming source artifacts: download over HTTP with retries, verify the
//! digest while streaming, and unpack safely. Every consumer of sources
//! (kustomize-controller, helm-controller, ...) goes through this, so no
//! consumer ever uses bytes whose digest it did not check.

mod extract;

use std::path::Path;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tracing::debug;

pub use extract::extract_tar_gz;

use crate::error::{Error, Result};

/// Environment variable that overrides the host of artifact URLs (upstream's
/// `SOURCE_CONTROLLER_LOCALHOST`, for running a consumer outside the cluster).
pub const LOCALHOST_OVERRIDE_ENV: &str = "SOURCE_CONTROLLER_LOCALHOST";

/// Downloads the artifact at `url` into `dir`, checks it against `digest`
/// (`sha256:<hex>`), and unpacks it there. At most `max_bytes` are downloaded
/// or unpacked. Failed downloads are retried `retries` times with a growing delay.
pub async fn fetch_and_extract(
    url: &str,
    digest: &str,
    dir: &Path,
    max_bytes: u64,
    retries: u32,
) -> Result<()> {
    let url = with_host_override(url, std::env::var(LOCALHOST_OVERRIDE_ENV).ok().as_deref());
    let archive = dir.join(".artifact.tar.gz");
    let mut attempt = 0;
    loop {
        match download(&url, &archive, max_bytes).await {
            Ok(actual) if actual == digest => break,
            Ok(actual) => {
                return Err(Error::Artifact(format!(
                    "failed to verify artifact from {url}: computed digest {actual} does not match {digest}"
                )));
            }
            Err(error) if attempt < retries => {
                attempt += 1;
                debug!(%url, attempt, %error, "artifact download failed, retrying");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            Err(error) => return Err(error),
        }
    }
    let (archive_path, target) = (archive.clone(), dir.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&archive_path)
            .map_err(|e| Error::Artifact(format!("{}: {e}", archive_path.display())))?;
        extract_tar_gz(file, &target, max_bytes)
    })
    .await
    .map_err(|e| Error::Artifact(format!("unpacking task failed: {e}")))??;
    tokio::fs::remove_file(&archive)
        .await
        .map_err(|e| Error::Artifact(format!("{}: {e}", archive.display())))
}

/// Streams `url` into `path`, returning `sha256:<hex>` of the bytes.
async fn download(url: &str, path: &Path, max_bytes: u64) -> Result<String> {
    if !url.starts_with("http://") {
        return Err(Error::Artifact(format!(
            "unsupported artifact URL {url}: only http:// is served by source-controller"
        )));
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Error::Artifact(format!("invalid artifact URL {url}: {e}")))?;
    let client = HttpClient::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let response = client
        .get(uri)
        .await
        .map_err(|e| Error::Artifact(format!("failed to download artifact from {url}: {e}")))?;
    if !response.status().is_success() {
        return Err(Error::Artifact(format!(
            "failed to download artifact from {url}: status {}",
            response.status()
        )));
    }
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| Error::Artifact(format!("{}: {e}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| Error::Artifact(format!("failed to download artifact from {url}: {e}")))?;
        let Some(chunk) = frame.data_ref() else {
            continue;
        };
        size += chunk.len() as u64;
        if size > max_bytes {
            return Err(Error::Artifact(format!(
                "artifact from {url} is larger than the limit of {max_bytes} bytes"
            )));
        }
        hasher.update(chunk);
        file.write_all(chunk)
            .await
            .map_err(|e| Error::Artifact(format!("{}: {e}", path.display())))?;
    }
    file.flush()
        .await
        .map_err(|e| Error::Artifact(format!("{}: {e}", path.display())))?;
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// Replaces the host (and port) of `url` with `host` when set.
fn with_host_override(url: &str, host: Option<&str>) -> String {
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        return url.to_string();
    };
    match url
        .split_once("://")
        .and_then(|(scheme, rest)| rest.split_once('/').map(|(_, path)| (scheme, path)))
    {
        Some((scheme, path)) => format!("{scheme}://{host}/{path}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_override_keeps_the_path() {
        let url = "http://source-controller.flux-system.svc.cluster.local./gitrepository/ns/app/abc.tar.gz";
        assert_eq!(with_host_override(url, None), url);
        assert_eq!(
            with_host_override(url, Some("localhost:9090")),
            "http://localhost:9090/gitrepository/ns/app/abc.tar.gz"
        );
    }
}
