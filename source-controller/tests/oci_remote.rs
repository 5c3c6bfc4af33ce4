//! The OCI client against a real registry on loopback (CNCF distribution from
//! Debian), anonymous and with htpasswd basic auth: artifacts pushed in the
//! `flux push artifact` layout are resolved by tag, semver (with a filter) and
//! digest, and pulled by extracting or copying the selected layer; through an
//! HTTP proxy; with a private CA from `certSecretRef`.

use std::fs::File;

use anyhow::Result;
use fluxrs_api::source::{OCILayerOperation, OCILayerSelector, OCIRepositoryRef};
use fluxrs_e2e::git::{GitHttpServer, HttpAuth, HttpProxy};
use fluxrs_e2e::registry::{FLUX_CONTENT_MEDIA_TYPE, Registry};
use oci_client::secrets::RegistryAuth;
use source_controller::Error;
use source_controller::ignore::IgnoreFilter;
use source_controller::oci::{Connection, OciRemote, registry_auth};
use source_controller::proxy::ProxyConfig;
use source_controller::storage::write_archive;

const MAX: u64 = 10 * 1024 * 1024;

fn content(text: &str) -> Result<Vec<u8>> {
    let src = tempfile::tempdir()?;
    std::fs::create_dir_all(src.path().join("deploy"))?;
    std::fs::write(src.path().join("deploy/app.yaml"), text)?;
    let out = tempfile::tempdir()?;
    let path = out.path().join("a.tar.gz");
    write_archive(
        src.path(),
        &IgnoreFilter::for_tree(src.path(), None)?,
        File::create(&path)?,
        u64::MAX,
    )?;
    Ok(std::fs::read(path)?)
}

fn reference(f: impl FnOnce(&mut OCIRepositoryRef)) -> OCIRepositoryRef {
    let mut r = OCIRepositoryRef::default();
    f(&mut r);
    r
}

#[tokio::test]
async fn resolves_and_pulls_flux_artifacts() -> Result<()> {
    let registry = Registry::start(None)?;
    let d100 = registry
        .push_flux_artifact(
            "apps/podinfo",
            "1.0.0",
            content("v1")?,
            "https://git/podinfo",
            "main@sha1:aaaa",
        )
        .await?;
    let d110 = registry
        .push_flux_artifact(
            "apps/podinfo",
            "1.1.0",
            content("v1.1")?,
            "https://git/podinfo",
            "main@sha1:bbbb",
        )
        .await?;
    registry
        .push_flux_artifact(
            "apps/podinfo",
            "2.0.0-rc.1",
            content("rc")?,
            "https://git/podinfo",
            "main@sha1:cccc",
        )
        .await?;
    registry
        .push_flux_artifact(
            "apps/podinfo",
            "latest",
            content("latest")?,
            "https://git/podinfo",
            "main@sha1:dddd",
        )
        .await?;

    let remote = OciRemote::new(&registry.url("apps/podinfo"), true, RegistryAuth::Anonymous)?;
    let latest = remote.resolve(None).await?;
    assert_eq!(latest.tag.as_deref(), Some("latest"));

    let tagged = remote
        .resolve(Some(&reference(|r| r.tag = Some("1.0.0".into()))))
        .await?;
    assert_eq!(tagged.revision(), format!("1.0.0@{d100}"));

    let semver = remote
        .resolve(Some(&reference(|r| r.semver = Some(">=1.0.0".into()))))
        .await?;
    assert_eq!(
        semver.revision(),
        format!("1.1.0@{d110}"),
        "prereleases are not picked by a plain range"
    );

    let filtered = remote
        .resolve(Some(&reference(|r| {
            r.semver = Some(">=1.0.0".into());
            r.semver_filter = Some("^1\\.0".into());
        })))
        .await?;
    assert_eq!(filtered.tag.as_deref(), Some("1.0.0"));

    let by_digest = remote
        .resolve(Some(&reference(|r| r.digest = Some(d100.clone()))))
        .await?;
    assert_eq!(by_digest.revision(), d100);

    let dir = tempfile::tempdir()?;
    let pulled = remote.pull(&by_digest, None, dir.path(), MAX).await?;
    assert!(pulled.extracted);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("content/deploy/app.yaml"))?,
        "v1"
    );
    assert_eq!(
        pulled
            .annotations
            .get("org.opencontainers.image.revision")
            .map(String::as_str),
        Some("main@sha1:aaaa")
    );

    let copy = OCILayerSelector {
        media_type: Some(FLUX_CONTENT_MEDIA_TYPE.into()),
        operation: Some(OCILayerOperation::Copy),
    };
    let dir = tempfile::tempdir()?;
    let pulled = remote.pull(&tagged, Some(&copy), dir.path(), MAX).await?;
    assert!(!pulled.extracted);
    assert_eq!(std::fs::read(dir.path().join("layer.tgz"))?, content("v1")?);

    let wrong_type = OCILayerSelector {
        media_type: Some("application/x-other".into()),
        operation: None,
    };
    let err = remote
        .pull(&tagged, Some(&wrong_type), tempfile::tempdir()?.path(), MAX)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no layer with media type 'application/x-other'"),
        "{err}"
    );

    let err = remote
        .resolve(Some(&reference(|r| r.tag = Some("9.9.9".into()))))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("failed to resolve tag '9.9.9'"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn basic_auth_from_dockerconfigjson() -> Result<()> {
    let registry = Registry::start(Some(("flux", "s3cret")))?;
    registry
        .push_flux_artifact("private/app", "1.0.0", content("secret")?, "src", "rev")
        .await?;

    let auth = registry_auth(registry.dockerconfigjson().as_bytes(), registry.host())?;
    let remote = OciRemote::new(&registry.url("private/app"), true, auth)?;
    let resolved = remote
        .resolve(Some(&reference(|r| r.tag = Some("1.0.0".into()))))
        .await?;
    let dir = tempfile::tempdir()?;
    remote.pull(&resolved, None, dir.path(), MAX).await?;
    assert_eq!(
        std::fs::read_to_string(dir.path().join("content/deploy/app.yaml"))?,
        "secret"
    );

    let anonymous = OciRemote::new(&registry.url("private/app"), true, RegistryAuth::Anonymous)?;
    let err = anonymous
        .resolve(Some(&reference(|r| r.tag = Some("1.0.0".into()))))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Authentication(_)),
        "expected an authentication error, got {err}"
    );
    Ok(())
}

#[tokio::test]
async fn pulls_through_a_proxy_with_credentials() -> Result<()> {
    let registry = Registry::start(None)?;
    let digest = registry
        .push_flux_artifact(
            "apps/proxied",
            "1.0.0",
            content("v1")?,
            "src",
            "main@sha1:aaaa",
        )
        .await?;
    let proxy = HttpProxy::start(Some(("user".into(), "p@ss word".into()))).await?;
    let connection = |password: &str| -> Result<Connection> {
        let data = [
            ("address", proxy.url()),
            ("username", "user".to_string()),
            ("password", password.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_bytes()))
        .collect();
        Ok(Connection {
            proxy: Some(ProxyConfig::from_secret(&data)?),
            ..Connection::default()
        })
    };
    let url = registry.url("apps/proxied");
    let remote = OciRemote::new(&url, true, RegistryAuth::Anonymous)?
        .with_connection(&connection("p@ss word")?)?;
    let tag = OCIRepositoryRef {
        tag: Some("1.0.0".into()),
        ..Default::default()
    };
    let resolved = remote.resolve(Some(&tag)).await?;
    assert_eq!(resolved.digest, digest);
    let dir = tempfile::tempdir()?;
    remote.pull(&resolved, None, dir.path(), MAX).await?;
    assert!(
        proxy.proxied() > 0,
        "the registry was reached through the proxy"
    );
    assert_eq!(proxy.rejected(), 0);

    let refused = OciRemote::new(&url, true, RegistryAuth::Anonymous)?
        .with_connection(&connection("wrong")?)?
        .resolve(Some(&tag))
        .await;
    assert!(refused.is_err(), "wrong proxy credentials fail");
    assert!(proxy.rejected() > 0);
    Ok(())
}

/// The TLS Git server stands in for a registry with a private CA: it is no
/// registry, so with the CA trusted the request fails after the handshake,
/// and without it in the handshake.
#[tokio::test]
async fn cert_secret_ca_is_trusted_and_client_certificates_are_refused() -> Result<()> {
    let root = tempfile::tempdir()?;
    let server = GitHttpServer::start_tls(root.path(), HttpAuth::None).await?;
    let url = server.url("apps/podinfo").replace("https://", "oci://");
    let ca = server.ca_cert().expect("CA").as_bytes().to_vec();
    let tag = OCIRepositoryRef {
        tag: Some("1.0.0".into()),
        ..Default::default()
    };
    let untrusted = OciRemote::new(&url, false, RegistryAuth::Anonymous)?
        .resolve(Some(&tag))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        untrusted.to_lowercase().contains("certificate"),
        "{untrusted}"
    );
    let data = [("ca.crt".to_string(), ca.clone())].into_iter().collect();
    let trusted = OciRemote::new(&url, false, RegistryAuth::Anonymous)?
        .with_connection(&Connection::default().with_cert_secret(&data)?)?
        .resolve(Some(&tag))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        !trusted.to_lowercase().contains("certificate"),
        "the handshake succeeds with the CA: {trusted}"
    );

    let with_identity = [
        ("ca.crt".to_string(), ca),
        ("tls.crt".to_string(), b"cert".to_vec()),
        ("tls.key".to_string(), b"key".to_vec()),
    ]
    .into_iter()
    .collect();
    let err = Connection::default()
        .with_cert_secret(&with_identity)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidSecret(_)), "{err}");
    assert!(err.to_string().contains("'tls.crt'"), "{err}");
    Ok(())
}
