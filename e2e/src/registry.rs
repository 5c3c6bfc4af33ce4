//! A real OCI registry on loopback (Debian's `docker-registry`, i.e. CNCF
//! distribution) with optional htpasswd basic auth, and a pusher that publishes
//! artifacts in the layout `flux push artifact` produces.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use tempfile::TempDir;

use crate::process::{ManagedProcess, Watchdog};
use crate::{Error, Result};

/// Config media type of Flux artifacts.
pub const FLUX_CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.flux.config.v1+json";
/// Content layer media type of Flux artifacts.
pub const FLUX_CONTENT_MEDIA_TYPE: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";

/// A running registry. Stops when dropped.
pub struct Registry {
    host: String,
    credentials: Option<(String, String)>,
    _process: ManagedProcess,
    _watchdog: Watchdog,
    _dir: TempDir,
}

impl Registry {
    /// Starts a registry; with `credentials`, every request needs basic auth.
    pub fn start(credentials: Option<(&str, &str)>) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("fluxrs-registry-")
            .tempdir()
            .map_err(|e| Error::io(Path::new("/tmp"), e))?;
        let port = crate::controller::free_port()?;
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = credentials {
            let hash = bcrypt::hash(password, 4)
                .map_err(|e| Error::Pki(format!("hashing the registry password: {e}")))?;
            let htpasswd = dir.path().join("htpasswd");
            fs::write(&htpasswd, format!("{user}:{hash}\n"))
                .map_err(|e| Error::io(&htpasswd, e))?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: fluxrs\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).map_err(|e| Error::io(&config_path, e))?;
        let binary = Path::new("/usr/bin/docker-registry");
        let process = ManagedProcess::spawn(
            "registry",
            binary,
            &["serve".into(), config_path.display().to_string()],
            dir.path(),
            0,
        )?;
        let watchdog = Watchdog::arm(process.id(), dir.path())?;
        for _ in 0..100 {
            if std::net::TcpStream::connect(&host).is_ok() {
                return Ok(Self {
                    host,
                    credentials: credentials.map(|(u, p)| (u.to_string(), p.to_string())),
                    _process: process,
                    _watchdog: watchdog,
                    _dir: dir,
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Err(Error::NotReady {
            component: "docker-registry".into(),
            seconds: 5,
            log: crate::process::log_tail(&dir.path().join("registry.log")),
        })
    }

    /// `host:port` of the registry.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `oci://host:port/<repository>`.
    pub fn url(&self, repository: &str) -> String {
        format!("oci://{}/{repository}", self.host)
    }

    /// A `.dockerconfigjson` document for this registry's credentials.
    pub fn dockerconfigjson(&self) -> String {
        let (user, password) = self.credentials.clone().unwrap_or_default();
        serde_json::json!({ "auths": { &self.host: { "username": user, "password": password } } })
            .to_string()
    }

    /// Pushes `content` (a `.tar.gz`) as a Flux artifact at `repository:tag`
    /// with the manifest annotations `flux push artifact` sets, and returns the
    /// manifest digest.
    pub async fn push_flux_artifact(
        &self,
        repository: &str,
        tag: &str,
        content: Vec<u8>,
        source: &str,
        revision: &str,
    ) -> Result<String> {
        // Err only means a provider is already installed, which is what we want.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::new(ClientConfig {
            protocol: ClientProtocol::Http,
            ..Default::default()
        });
        let auth = match &self.credentials {
            Some((u, p)) => RegistryAuth::Basic(u.clone(), p.clone()),
            None => RegistryAuth::Anonymous,
        };
        let reference =
            Reference::with_tag(self.host.clone(), repository.to_string(), tag.to_string());
        let layers = vec![ImageLayer::new(
            content,
            FLUX_CONTENT_MEDIA_TYPE.to_string(),
            None,
        )];
        let config = Config::new(b"{}".to_vec(), FLUX_CONFIG_MEDIA_TYPE.to_string(), None);
        let annotations = BTreeMap::from([
            (
                "org.opencontainers.image.created".to_string(),
                "2026-01-01T00:00:00Z".to_string(),
            ),
            (
                "org.opencontainers.image.source".to_string(),
                source.to_string(),
            ),
            (
                "org.opencontainers.image.revision".to_string(),
                revision.to_string(),
            ),
        ]);
        let manifest = OciImageManifest::build(&layers, &config, Some(annotations));
        let pushed = client
            .push(&reference, &layers, config, &auth, Some(manifest))
            .await
            .map_err(|e| Error::Command {
                command: format!("push {reference}"),
                output: e.to_string(),
            })?;
        let (_, digest) = client
            .pull_image_manifest(&reference, &auth)
            .await
            .map_err(|e| Error::Command {
                command: format!("pull {} ({})", reference, pushed.manifest_url),
                output: e.to_string(),
            })?;
        Ok(digest)
    }
}
