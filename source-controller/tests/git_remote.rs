//! The Git client against real servers on loopback: `git http-backend` over
//! smart HTTP (anonymous, basic auth, bearer token, private CA, mutual TLS,
//! through an HTTP proxy) and `sshd` with key auth and known_hosts
//! verification. Covers ref resolution without cloning, shallow
//! checkouts of branches, tags, semver ranges, refs and commits, and the errors
//! users see for wrong credentials, host keys and refs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use fluxrs_e2e::git::{
    GitFixture, GitHttpServer, GitSshServer, HttpAuth, HttpProxy, SshKey, untrusted_client_identity,
};
use source_controller::Error;
use source_controller::git::{GitAuth, GitReference, Remote};
use source_controller::proxy::ProxyConfig;

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

fn fixture() -> Result<(GitFixture, String, String)> {
    let repo = GitFixture::new("podinfo")?;
    repo.write("deploy/app.yaml", "kind: ConfigMap\n")?;
    let first = repo.commit("first commit")?;
    repo.tag("v1.0.0")?;
    repo.write("deploy/app.yaml", "kind: Secret\n")?;
    let second = repo.commit("second commit\n\nwith a body")?;
    repo.tag("v1.1.0")?;
    Ok((repo, first, second))
}

fn secret(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

#[tokio::test]
async fn anonymous_http_resolves_and_checks_out_every_kind_of_ref() -> Result<()> {
    let (repo, first, second) = fixture()?;
    let server = GitHttpServer::start(repo.root(), HttpAuth::None).await?;
    let url = server.url(&repo.bare_name());
    blocking(move || -> Result<()> {
        let remote = Remote::new(&url, GitAuth::default(), deadline())?;
        let main = GitReference::Branch("main".into());
        let resolved = remote.resolve(&main)?;
        assert_eq!(resolved.revision(), format!("main@sha1:{second}"));

        let dir = tempfile::tempdir()?;
        let checkout = remote.checkout(&main, dir.path())?;
        assert_eq!(checkout.reference, resolved);
        assert_eq!(checkout.message, "second commit");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("deploy/app.yaml"))?,
            "kind: Secret\n"
        );

        let cases = [
            (
                GitReference::Tag("v1.0.0".into()),
                format!("v1.0.0@sha1:{first}"),
            ),
            (
                GitReference::Semver("<1.1.0".into()),
                format!("v1.0.0@sha1:{first}"),
            ),
            (
                GitReference::Semver(">=1.0.0".into()),
                format!("v1.1.0@sha1:{second}"),
            ),
            (
                GitReference::Name("refs/heads/main".into()),
                format!("refs/heads/main@sha1:{second}"),
            ),
            (
                GitReference::Commit {
                    sha: first.clone(),
                    branch: None,
                },
                format!("sha1:{first}"),
            ),
            (
                GitReference::Commit {
                    sha: first.clone(),
                    branch: Some("main".into()),
                },
                format!("main@sha1:{first}"),
            ),
        ];
        for (reference, revision) in cases {
            let dir = tempfile::tempdir()?;
            let checkout = remote.checkout(&reference, dir.path())?;
            assert_eq!(checkout.reference.revision(), revision, "{reference:?}");
        }

        let missing = remote
            .resolve(&GitReference::Branch("nope".into()))
            .unwrap_err();
        assert!(
            missing.to_string().contains("unable to resolve ref 'nope'"),
            "{missing}"
        );
        let dir = tempfile::tempdir()?;
        let no_match = remote
            .checkout(&GitReference::Semver(">=5.0.0".into()), dir.path())
            .unwrap_err();
        assert!(
            no_match
                .to_string()
                .contains("no match found for semver: >=5.0.0"),
            "{no_match}"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn basic_auth_is_sent_and_wrong_credentials_fail_clearly() -> Result<()> {
    let (repo, _, second) = fixture()?;
    let auth = HttpAuth::Basic {
        username: "flux".into(),
        password: "s3cret".into(),
    };
    let server = GitHttpServer::start(repo.root(), auth).await?;
    let url = server.url(&repo.bare_name());
    blocking(move || -> Result<()> {
        let good = GitAuth::from_secret(
            "http",
            &secret(&[("username", "flux"), ("password", "s3cret")]),
        )?;
        let remote = Remote::new(&url, good, deadline())?;
        let dir = tempfile::tempdir()?;
        let checkout = remote.checkout(&GitReference::Branch("main".into()), dir.path())?;
        assert_eq!(checkout.reference.commit, second);

        let bad = GitAuth::from_secret(
            "http",
            &secret(&[("username", "flux"), ("password", "wrong")]),
        )?;
        let err = Remote::new(&url, bad, deadline())?
            .resolve(&GitReference::Branch("main".into()))
            .unwrap_err();
        assert!(
            matches!(err, Error::Authentication(_)),
            "expected an authentication error, got {err}"
        );

        let err = Remote::new(&url, GitAuth::default(), deadline())?
            .resolve(&GitReference::Branch("main".into()))
            .unwrap_err();
        assert!(
            matches!(err, Error::Authentication(_)),
            "expected an authentication error, got {err}"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn bearer_token_is_sent_on_fetch() -> Result<()> {
    let (repo, _, second) = fixture()?;
    let server = GitHttpServer::start(repo.root(), HttpAuth::Bearer("t0ken".into())).await?;
    let url = server.url(&repo.bare_name());
    blocking(move || -> Result<()> {
        let auth = GitAuth::from_secret("http", &secret(&[("bearerToken", "t0ken")]))?;
        let remote = Remote::new(&url, auth, deadline())?;
        let resolved = remote.resolve(&GitReference::Branch("main".into()))?;
        assert_eq!(
            resolved.commit, second,
            "the token is sent on ls-remote too"
        );
        let dir = tempfile::tempdir()?;
        let checkout = remote.checkout(&GitReference::Branch("main".into()), dir.path())?;
        assert_eq!(checkout.reference.commit, second);
        let err = Remote::new(&url, GitAuth::default(), deadline())?
            .resolve(&GitReference::Branch("main".into()))
            .unwrap_err();
        assert!(matches!(err, Error::Authentication(_)), "{err}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn ssh_with_key_and_known_hosts() -> Result<()> {
    let (repo, _, second) = fixture()?;
    for key_type in ["ed25519", "ecdsa", "rsa"] {
        let passphrase = (key_type == "ecdsa").then_some("pass phrase");
        let key = SshKey::generate(key_type, passphrase)?;
        let server = GitSshServer::start(&key)?;
        let url = server.url(repo.bare_path());
        let mut data = vec![("identity", key.private.as_str()), ("known_hosts", "")];
        let known_hosts = server.known_hosts();
        data[1].1 = &known_hosts;
        if let Some(p) = passphrase {
            data.push(("password", p));
        }
        let auth = GitAuth::from_secret("ssh", &secret(&data))?;
        let commit = blocking({
            let url = url.clone();
            move || -> Result<String> {
                let remote = Remote::new(&url, auth, deadline())?;
                let resolved = remote.resolve(&GitReference::Branch("main".into()))?;
                let dir = tempfile::tempdir()?;
                let checkout = remote.checkout(&GitReference::Branch("main".into()), dir.path())?;
                assert_eq!(checkout.reference, resolved);
                Ok(checkout.reference.commit)
            }
        })
        .await?;
        assert_eq!(commit, second, "checkout over ssh with an {key_type} key");

        let other_host = SshKey::generate("ed25519", None)?;
        let wrong_known_hosts = format!("[127.0.0.1]:1 {}\n", other_host.public);
        let wrong = known_hosts_for(&key, &wrong_known_hosts, passphrase)?;
        let err = blocking(move || {
            Remote::new(&url, wrong, deadline())?.resolve(&GitReference::Branch("main".into()))
        })
        .await
        .unwrap_err();
        assert!(
            matches!(err, Error::Authentication(_)),
            "unknown host key must be refused, got {err}"
        );
        assert!(err.to_string().contains("known_hosts"), "{err}");
    }
    Ok(())
}

fn known_hosts_for(key: &SshKey, known_hosts: &str, passphrase: Option<&str>) -> Result<GitAuth> {
    let mut data = vec![
        ("identity", key.private.as_str()),
        ("known_hosts", known_hosts),
    ];
    if let Some(p) = passphrase {
        data.push(("password", p));
    }
    Ok(GitAuth::from_secret("ssh", &secret(&data))?)
}

#[tokio::test]
async fn https_with_a_private_ca() -> Result<()> {
    let (repo, _, second) = fixture()?;
    let server = GitHttpServer::start_tls(
        repo.root(),
        HttpAuth::Basic {
            username: "flux".into(),
            password: "s3cret".into(),
        },
    )
    .await?;
    let url = server.url(&repo.bare_name());
    let ca = server.ca_cert().expect("TLS server has a CA").to_string();
    let other_ca = GitHttpServer::start_tls(repo.root(), HttpAuth::None)
        .await?
        .ca_cert()
        .expect("CA")
        .to_string();
    blocking(move || -> Result<()> {
        let trusted = GitAuth::from_secret(
            "https",
            &secret(&[
                ("username", "flux"),
                ("password", "s3cret"),
                ("ca.crt", ca.as_str()),
            ]),
        )?;
        let remote = Remote::new(&url, trusted, deadline())?;
        let dir = tempfile::tempdir()?;
        let checkout = remote.checkout(&GitReference::Branch("main".into()), dir.path())?;
        assert_eq!(checkout.reference.commit, second);
        assert_eq!(
            remote.resolve(&GitReference::Branch("main".into()))?.commit,
            second
        );

        let system_roots = GitAuth::from_secret(
            "https",
            &secret(&[("username", "flux"), ("password", "s3cret")]),
        )?;
        let err = Remote::new(&url, system_roots, deadline())?
            .resolve(&GitReference::Branch("main".into()))
            .unwrap_err();
        assert!(
            matches!(err, Error::Authentication(_)),
            "an unknown CA is refused: {err}"
        );

        let wrong = GitAuth::from_secret(
            "https",
            &secret(&[
                ("username", "flux"),
                ("password", "s3cret"),
                ("ca.crt", other_ca.as_str()),
            ]),
        )?;
        let err = Remote::new(&url, wrong, deadline())?
            .resolve(&GitReference::Branch("main".into()))
            .unwrap_err();
        assert!(
            matches!(err, Error::Authentication(_)),
            "another CA is refused: {err}"
        );
        assert!(err.to_string().contains("certificate"), "{err}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn https_with_a_client_certificate() -> Result<()> {
    let (repo, _, second) = fixture()?;
    let server = GitHttpServer::start_mtls(repo.root(), HttpAuth::None).await?;
    let url = server.url(&repo.bare_name());
    let ca = server.ca_cert().expect("TLS server has a CA").to_string();
    let trusted = server
        .client_identity()
        .expect("mTLS client identity")
        .clone();
    let untrusted = untrusted_client_identity()?;
    blocking(move || -> Result<()> {
        let with_cert = |cert: &str, key: &str| {
            GitAuth::from_secret(
                "https",
                &secret(&[("ca.crt", &ca), ("tls.crt", cert), ("tls.key", key)]),
            )
        };
        let remote = Remote::new(&url, with_cert(&trusted.cert, &trusted.key)?, deadline())?;
        let main = GitReference::Branch("main".into());
        assert_eq!(remote.resolve(&main)?.commit, second);
        let dir = tempfile::tempdir()?;
        assert_eq!(remote.checkout(&main, dir.path())?.reference.commit, second);

        let auth = GitAuth::from_secret("https", &secret(&[("ca.crt", &ca)]))?;
        let err = Remote::new(&url, auth, deadline())?
            .resolve(&main)
            .unwrap_err();
        assert!(matches!(err, Error::Authentication(_)), "{err}");
        assert!(err.to_string().contains("client certificate"), "{err}");

        let wrong = with_cert(&untrusted.cert, &untrusted.key)?;
        let err = Remote::new(&url, wrong, deadline())?
            .resolve(&main)
            .unwrap_err();
        assert!(matches!(err, Error::Authentication(_)), "{err}");
        assert!(err.to_string().contains("client certificate"), "{err}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn proxy_carries_http_and_https_traffic() -> Result<()> {
    let (repo, _, second) = fixture()?;
    let plain = GitHttpServer::start(repo.root(), HttpAuth::None).await?;
    let tls = GitHttpServer::start_tls(repo.root(), HttpAuth::None).await?;
    let proxy = HttpProxy::start(Some(("proxy-user".into(), "proxy-pass".into()))).await?;
    let proxy_secret = |password: &str| {
        ProxyConfig::from_secret(&secret(&[
            ("address", &proxy.url()),
            ("username", "proxy-user"),
            ("password", password),
        ]))
    };
    let (good, bad) = (proxy_secret("proxy-pass")?, proxy_secret("wrong")?);
    let plain_url = plain.url(&repo.bare_name());
    let tls_url = tls.url(&repo.bare_name());
    let ca = tls.ca_cert().expect("CA").to_string();
    let (rejected_before, proxied_before) = (proxy.rejected(), proxy.proxied());
    blocking(move || -> Result<()> {
        let main = GitReference::Branch("main".into());
        let remote =
            Remote::new(&plain_url, GitAuth::default(), deadline())?.with_proxy(good.clone())?;
        let dir = tempfile::tempdir()?;
        assert_eq!(remote.checkout(&main, dir.path())?.reference.commit, second);

        let auth = GitAuth::from_secret("https", &secret(&[("ca.crt", &ca)]))?;
        let remote = Remote::new(&tls_url, auth, deadline())?.with_proxy(good)?;
        assert_eq!(remote.resolve(&main)?.commit, second);

        let err = Remote::new(&plain_url, GitAuth::default(), deadline())?
            .with_proxy(bad)?
            .resolve(&main)
            .unwrap_err();
        assert!(matches!(err, Error::Authentication(_)), "{err}");
        assert!(err.to_string().contains("proxySecretRef"), "{err}");
        Ok(())
    })
    .await?;
    assert!(
        proxy.proxied() >= proxied_before + 2,
        "both servers were reached through the proxy ({} connections)",
        proxy.proxied()
    );
    assert!(
        proxy.rejected() > rejected_before,
        "wrong proxy credentials are refused"
    );
    Ok(())
}

#[tokio::test]
async fn file_urls_for_local_repositories() -> Result<()> {
    let (repo, _, second) = fixture()?;
    let url = format!("file://{}", repo.bare_path().display());
    blocking(move || -> Result<()> {
        let remote = Remote::new(&url, GitAuth::default(), deadline())?;
        let dir = tempfile::tempdir()?;
        let checkout = remote.checkout(&GitReference::Branch("main".into()), dir.path())?;
        assert_eq!(checkout.reference.commit, second);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn submodules_are_checked_out_on_request() -> Result<()> {
    let library = GitFixture::new("library")?;
    library.write("lib/values.yaml", "answer: 42\n")?;
    library.commit("library")?;
    let (app, _, _) = fixture()?;
    let library_server = GitHttpServer::start(library.root(), HttpAuth::None).await?;
    let library_url = library_server.url(&library.bare_name());
    let app = tokio::task::spawn_blocking(move || -> Result<GitFixture> {
        app.add_submodule(&library_url, "vendor/library")?;
        app.commit("add library submodule")?;
        Ok(app)
    })
    .await??;
    let app_server = GitHttpServer::start(app.root(), HttpAuth::None).await?;
    let url = app_server.url(&app.bare_name());
    blocking(move || -> Result<()> {
        let with = tempfile::tempdir()?;
        Remote::new(&url, GitAuth::default(), deadline())?
            .with_submodules(true)
            .checkout(&GitReference::Branch("main".into()), with.path())?;
        assert_eq!(
            std::fs::read_to_string(with.path().join("vendor/library/lib/values.yaml"))?,
            "answer: 42\n"
        );

        let without = tempfile::tempdir()?;
        Remote::new(&url, GitAuth::default(), deadline())?
            .checkout(&GitReference::Branch("main".into()), without.path())?;
        assert!(
            !without
                .path()
                .join("vendor/library/lib/values.yaml")
                .exists()
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn sparse_checkout_keeps_only_the_listed_directories() -> Result<()> {
    let repo = GitFixture::new("mono")?;
    repo.write("apps/a.yaml", "a\n")?;
    repo.write("infra/b.yaml", "b\n")?;
    repo.write("README.md", "readme\n")?;
    repo.commit("mono")?;
    let server = GitHttpServer::start(repo.root(), HttpAuth::None).await?;
    let url = server.url(&repo.bare_name());
    blocking(move || -> Result<()> {
        let dir = tempfile::tempdir()?;
        Remote::new(&url, GitAuth::default(), deadline())?
            .with_sparse_checkout(&["./apps".to_string()])
            .checkout(&GitReference::Branch("main".into()), dir.path())?;
        assert!(dir.path().join("apps/a.yaml").is_file());
        assert!(!dir.path().join("infra/b.yaml").exists());
        assert!(!dir.path().join("README.md").exists());
        Ok(())
    })
    .await
}
