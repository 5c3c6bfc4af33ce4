//! OCIRepository access: resolving `spec.ref` (digest, semver over tags, tag) to
//! a manifest digest, and pulling the selected layer, with credentials from a
//! `kubernetes.io/dockerconfigjson` Secret. Artifacts pushed by
//! `flux push artifact` (layer media type
//! `application/vnd.cncf.flux.content.v1.tar+gzip`) are the common case.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use fluxrs_api::source::{OCILayerOperation, OCILayerSelector, OCIRepositoryRef};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::git::Constraint;
use crate::proxy::ProxyConfig;
use crate::{Error, Result};
use fluxrs_runtime::artifact::extract_tar_gz;

/// Media type of the content layer Flux's CLI pushes.
pub const FLUX_CONTENT_MEDIA_TYPE: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";

/// A manifest chosen by `spec.ref`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedArtifact {
    /// The tag that led to it (`None` for a digest reference).
    pub tag: Option<String>,
    /// `sha256:<hex>` of the manifest.
    pub digest: String,
}

impl ResolvedArtifact {
    /// Flux's revision: `<tag>@sha256:<hex>`, or `sha256:<hex>` for a digest ref.
    pub fn revision(&self) -> String {
        match &self.tag {
            Some(tag) => format!("{tag}@{}", self.digest),
            None => self.digest.clone(),
        }
    }
}

/// What a pull produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PulledLayer {
    /// Manifest annotations (`org.opencontainers.image.revision`, ...), reported
    /// as `status.artifact.metadata`.
    pub annotations: BTreeMap<String, String>,
    /// Whether the layer was extracted into a folder (`extract`) or stored as is (`copy`).
    pub extracted: bool,
}

/// A repository in an OCI registry.
pub struct OciRemote {
    client: Client,
    repository: Reference,
    auth: RegistryAuth,
    protocol: ClientProtocol,
}

/// How the registry is reached besides the URL: `certSecretRef` and
/// `proxySecretRef`.
#[derive(Clone, Debug, Default)]
pub struct Connection {
    /// PEM CA certificate(s) trusted on top of the system roots (`ca.crt`).
    pub ca_cert: Option<Vec<u8>>,
    /// Proxy for every request to the registry.
    pub proxy: Option<ProxyConfig>,
}

impl Connection {
    /// Reads `certSecretRef` data. Client certificates (`tls.crt`/`tls.key`)
    /// are refused with a clear message: oci-client cannot present one.
    pub fn with_cert_secret(mut self, data: &BTreeMap<String, Vec<u8>>) -> Result<Self> {
        if data.contains_key("tls.crt") || data.contains_key("tls.key") {
            return Err(Error::InvalidSecret(
                "TLS client certificates ('tls.crt'/'tls.key') are not supported for OCI \
                 registries yet; only 'ca.crt' is"
                    .into(),
            ));
        }
        let ca = data
            .get("ca.crt")
            .ok_or_else(|| Error::InvalidSecret("certSecretRef has no 'ca.crt'".into()))?;
        self.ca_cert = Some(ca.clone());
        Ok(self)
    }

    fn client_config(&self, protocol: ClientProtocol) -> Result<ClientConfig> {
        let mut config = ClientConfig {
            protocol,
            ..Default::default()
        };
        if let Some(ca) = &self.ca_cert {
            config.extra_root_certificates = pem_certificates(ca)?;
        }
        if let Some(proxy) = &self.proxy {
            let address = proxy_url(proxy)?;
            config.http_proxy = Some(address.clone());
            config.https_proxy = Some(address);
        }
        Ok(config)
    }
}

/// Each certificate of a PEM bundle, as oci-client wants them (DER).
fn pem_certificates(pem: &[u8]) -> Result<Vec<Certificate>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certificates = CertificateDer::pem_slice_iter(pem)
        .map(|cert| {
            cert.map(|der| Certificate {
                encoding: CertificateEncoding::Der,
                data: der.to_vec(),
            })
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::InvalidSecret(format!("invalid 'ca.crt': {e}")))?;
    if certificates.is_empty() {
        return Err(Error::InvalidSecret("'ca.crt' holds no certificate".into()));
    }
    Ok(certificates)
}

/// The proxy address with its credentials as URL user info, the only way
/// oci-client takes them.
fn proxy_url(proxy: &ProxyConfig) -> Result<String> {
    let mut url = url::Url::parse(&proxy.address).map_err(|e| {
        Error::InvalidSecret(format!("invalid proxy address '{}': {e}", proxy.address))
    })?;
    if let Some((username, password)) = &proxy.credentials {
        let invalid = |_| Error::InvalidSecret("the proxy address cannot carry credentials".into());
        url.set_username(username).map_err(invalid)?;
        url.set_password(Some(password)).map_err(invalid)?;
    }
    Ok(url.to_string())
}

impl OciRemote {
    /// A remote for `url` (`oci://host[:port]/path`); `insecure` allows plain HTTP.
    pub fn new(url: &str, insecure: bool, auth: RegistryAuth) -> Result<Self> {
        let Some(rest) = url.strip_prefix("oci://") else {
            return Err(Error::InvalidUrl(format!(
                "{url}: an OCIRepository URL must start with oci://"
            )));
        };
        let last_segment = rest
            .split_once('/')
            .map(|(_, path)| path.rsplit('/').next().unwrap_or_default());
        if rest.contains('@') || last_segment.is_some_and(|segment| segment.contains(':')) {
            return Err(Error::InvalidUrl(format!(
                "{url}: put the tag or digest in spec.ref, not in the URL"
            )));
        }
        let repository: Reference = rest
            .parse()
            .map_err(|e| Error::InvalidUrl(format!("{url}: {e}")))?;
        install_crypto_provider();
        let protocol = if insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        let client = client(&Connection::default(), protocol.clone())?;
        Ok(Self {
            client,
            repository,
            auth,
            protocol,
        })
    }

    /// Reaches the registry with `connection`'s CA and proxy.
    pub fn with_connection(mut self, connection: &Connection) -> Result<Self> {
        self.client = client(connection, self.protocol.clone())?;
        Ok(self)
    }

    fn reference_with_tag(&self, tag: &str) -> Reference {
        Reference::with_tag(
            self.repository.registry().to_string(),
            self.repository.repository().to_string(),
            tag.to_string(),
        )
    }

    fn reference_with_digest(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.repository.registry().to_string(),
            self.repository.repository().to_string(),
            digest.to_string(),
        )
    }

    /// Resolves `spec.ref` with upstream precedence digest > semver > tag
    /// (default tag `latest`).
    pub async fn resolve(&self, spec: Option<&OCIRepositoryRef>) -> Result<ResolvedArtifact> {
        let non_empty = |v: Option<&String>| v.filter(|s| !s.is_empty()).cloned();
        if let Some(digest) = non_empty(spec.and_then(|s| s.digest.as_ref())) {
            return Ok(ResolvedArtifact { tag: None, digest });
        }
        let tag = match non_empty(spec.and_then(|s| s.semver.as_ref())) {
            Some(range) => {
                self.best_semver_tag(&range, spec.and_then(|s| s.semver_filter.as_deref()))
                    .await?
            }
            None => non_empty(spec.and_then(|s| s.tag.as_ref())).unwrap_or_else(|| "latest".into()),
        };
        let (_, digest) = self
            .client
            .pull_image_manifest(&self.reference_with_tag(&tag), &self.auth)
            .await
            .map_err(|e| pull_error(&format!("failed to resolve tag '{tag}'"), e))?;
        Ok(ResolvedArtifact {
            tag: Some(tag),
            digest,
        })
    }

    async fn best_semver_tag(&self, range: &str, filter: Option<&str>) -> Result<String> {
        let constraint = Constraint::parse(range).map_err(Error::InvalidReference)?;
        let filter = filter
            .filter(|f| !f.is_empty())
            .map(regex::Regex::new)
            .transpose()
            .map_err(|e| Error::InvalidReference(format!("invalid semverFilter: {e}")))?;
        let listing = self
            .client
            .list_tags(&self.repository, &self.auth, None, None)
            .await
            .map_err(|e| pull_error("failed to list tags", e))?;
        let tags = listing
            .tags
            .iter()
            .map(String::as_str)
            .filter(|t| filter.as_ref().is_none_or(|f| f.is_match(t)));
        constraint
            .best(tags)
            .map(str::to_string)
            .ok_or_else(|| Error::RefNotFound(format!("no match found for semver: {range}")))
    }

    /// Pulls the layer `selector` picks from the manifest `resolved` names.
    /// `extract` unpacks it into `dir` (at most `max_bytes`); `copy` stores the
    /// blob at `dir/layer.tgz` unchanged.
    pub async fn pull(
        &self,
        resolved: &ResolvedArtifact,
        selector: Option<&OCILayerSelector>,
        dir: &Path,
        max_bytes: u64,
    ) -> Result<PulledLayer> {
        let reference = self.reference_with_digest(&resolved.digest);
        let (manifest, _) = self
            .client
            .pull_image_manifest(&reference, &self.auth)
            .await
            .map_err(|e| pull_error("failed to pull the manifest", e))?;
        let media_type = selector
            .and_then(|s| s.media_type.as_deref())
            .filter(|m| !m.is_empty());
        let layer = match media_type {
            Some(wanted) => manifest
                .layers
                .iter()
                .find(|l| l.media_type == wanted)
                .ok_or_else(|| {
                    Error::OciLayer(format!(
                        "no layer with media type '{wanted}' in the artifact"
                    ))
                })?,
            None => manifest
                .layers
                .first()
                .ok_or_else(|| Error::OciLayer("the artifact has no layers".into()))?,
        };
        if layer.size < 0 || layer.size as u64 > max_bytes {
            return Err(Error::OciLayer(format!(
                "layer of {} bytes exceeds the limit of {max_bytes} bytes",
                layer.size
            )));
        }
        let blob_path = dir.join("layer.tgz");
        let file = tokio::fs::File::create(&blob_path)
            .await
            .map_err(|e| Error::Io {
                path: blob_path.clone(),
                message: e.to_string(),
            })?;
        self.client
            .pull_blob(&reference, layer, file)
            .await
            .map_err(|e| pull_error("failed to pull the layer", e))?;
        let copy = selector.and_then(|s| s.operation) == Some(OCILayerOperation::Copy);
        if !copy {
            let content = dir.join("content");
            let blob = std::fs::File::open(&blob_path).map_err(|e| Error::Io {
                path: blob_path.clone(),
                message: e.to_string(),
            })?;
            extract_tar_gz(blob, &content, max_bytes)
                .map_err(|e| Error::OciLayer(format!("failed to extract the layer: {e}")))?;
        }
        Ok(PulledLayer {
            annotations: manifest.annotations.unwrap_or_default(),
            extracted: !copy,
        })
    }
}

/// Makes ring the process-wide rustls provider, which the registry client needs
/// (kube uses ring too); a provider installed earlier is kept.
fn client(connection: &Connection, protocol: ClientProtocol) -> Result<Client> {
    Client::try_from(connection.client_config(protocol)?)
        .map_err(|e| Error::OciPull(format!("configuring the registry client: {e}")))
}

fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn pull_error(what: &str, err: oci_client::errors::OciDistributionError) -> Error {
    use oci_client::errors::OciDistributionError as Oci;
    let message = format!("{what}: {}", fluxrs_runtime::outcome::describe(&err));
    match err {
        Oci::AuthenticationFailure(_) | Oci::UnauthorizedError { .. } => {
            Error::Authentication(message)
        }
        _ => Error::OciPull(message),
    }
}

/// Registry credentials for `registry` from a `.dockerconfigjson` document.
/// A registry without an entry is accessed anonymously.
pub fn registry_auth(dockerconfigjson: &[u8], registry: &str) -> Result<RegistryAuth> {
    let config: serde_json::Value = serde_json::from_slice(dockerconfigjson)
        .map_err(|e| Error::InvalidSecret(format!("'.dockerconfigjson' is not valid JSON: {e}")))?;
    let Some(auths) = config.get("auths").and_then(|a| a.as_object()) else {
        return Err(Error::InvalidSecret(
            "'.dockerconfigjson' has no 'auths'".into(),
        ));
    };
    let entry = auths.iter().find(|(host, _)| {
        let host = host
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        host.trim_end_matches('/') == registry || host.split('/').next() == Some(registry)
    });
    let Some((_, entry)) = entry else {
        return Ok(RegistryAuth::Anonymous);
    };
    let field = |name: &str| {
        entry
            .get(name)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    if let (Some(username), Some(password)) = (field("username"), field("password")) {
        return Ok(RegistryAuth::Basic(username.into(), password.into()));
    }
    if let Some(encoded) = field("auth") {
        let decoded = STANDARD
            .decode(encoded)
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .ok_or_else(|| {
                Error::InvalidSecret(format!(
                    "the 'auth' of registry '{registry}' is not base64 'user:password'"
                ))
            })?;
        let (username, password) = decoded.split_once(':').ok_or_else(|| {
            Error::InvalidSecret(format!(
                "the 'auth' of registry '{registry}' is not 'user:password'"
            ))
        })?;
        return Ok(RegistryAuth::Basic(username.into(), password.into()));
    }
    if let Some(token) = field("registrytoken").or_else(|| field("identitytoken")) {
        return Ok(RegistryAuth::Bearer(token.into()));
    }
    Err(Error::InvalidSecret(format!(
        "no usable credentials for registry '{registry}'"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerconfigjson_forms_are_understood() {
        let basic = br#"{"auths":{"127.0.0.1:5000":{"username":"u","password":"p"}}}"#;
        assert!(
            matches!(registry_auth(basic, "127.0.0.1:5000").unwrap(), RegistryAuth::Basic(u, p) if u == "u" && p == "p")
        );
        let encoded = format!(
            r#"{{"auths":{{"https://ghcr.io":{{"auth":"{}"}}}}}}"#,
            STANDARD.encode("a:b")
        );
        assert!(
            matches!(registry_auth(encoded.as_bytes(), "ghcr.io").unwrap(), RegistryAuth::Basic(u, p) if u == "a" && p == "b")
        );
        assert!(matches!(
            registry_auth(basic, "other.io").unwrap(),
            RegistryAuth::Anonymous
        ));
        assert!(registry_auth(b"not json", "x").is_err());
    }

    #[test]
    fn revisions_have_flux_format() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let tagged = ResolvedArtifact {
            tag: Some("6.0.0".into()),
            digest: digest.clone(),
        };
        assert_eq!(tagged.revision(), format!("6.0.0@{digest}"));
        assert_eq!(
            ResolvedArtifact {
                tag: None,
                digest: digest.clone()
            }
            .revision(),
            digest
        );
    }

    #[test]
    fn urls_must_be_oci_without_tag() {
        assert!(OciRemote::new("https://ghcr.io/x", false, RegistryAuth::Anonymous).is_err());
        assert!(
            OciRemote::new("oci://ghcr.io/org/app:1.0", false, RegistryAuth::Anonymous).is_err()
        );
        assert!(
            OciRemote::new(
                "oci://127.0.0.1:5000/org/app",
                true,
                RegistryAuth::Anonymous
            )
            .is_ok()
        );
    }
}
