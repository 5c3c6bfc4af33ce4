//! The OCI client against a real registry on loopback (CNCF distribution from
//! Debian), anonymous and with htpasswd basic auth: artifacts pushed in the
//! `flux push artifact` layout are resolved by tag, semver (with a filter) and
//! digest, and pulled by extracting or copying the selected layer.

use std::fs::File;

use anyhow::Result;
use fluxrs_api::source::{OCILayerOperation, OCILayerSelector, OCIRepositoryRef};
use fluxrs_e2e::registry::{FLUX_CONTENT_MEDIA_TYPE, Registry};
use oci_client::secrets::RegistryAuth;
use source_controller::Error;
use source_controller::ignore::IgnoreFilter;
use source_controller::oci::{OciRemote, registry_auth};
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
