//! source-controller as a real process against the real control plane, with
//! real Git and OCI servers: artifacts are produced, served and verified by
//! digest; new revisions are picked up on reconcile requests; failures end as
//! Flux conditions and events (with the served revision, and a `Succeeded`
//! event on recovery); deletion removes the stored files; a lost artifact is
//! never claimed and is rebuilt; Git over mutual TLS and through a proxy;
//! commit and tag signature verification (OpenPGP and SSH).

use std::io::Read;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use fluxrs_api::source::{GitRepository, OCIRepository};
use fluxrs_e2e::controller::ControllerProcess;
use fluxrs_e2e::git::{
    GitFixture, GitHttpServer, GpgKey, HttpAuth, HttpProxy, SshSigningKey,
    untrusted_client_identity,
};
use fluxrs_e2e::registry::Registry;
use fluxrs_e2e::{TestCluster, apply_manifests, http, install_crds, parse_documents, shared};
use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// `--artifact-max-size` of the test controller: small, so the limit is testable.
const MAX_SIZE: u64 = 1024 * 1024;

/// One source-controller for every test of this binary.
struct Running {
    process: std::sync::Mutex<ControllerProcess>,
    storage: std::path::PathBuf,
}

async fn controller(cluster: &'static TestCluster) -> &'static Running {
    static RUNNING: OnceCell<Running> = OnceCell::const_new();
    RUNNING
        .get_or_init(|| async move {
            let client = cluster.client().await.expect("client");
            install_crds(&client).await.expect("CRDs installed");
            let port = fluxrs_e2e::controller::free_port().expect("free loopback port");
            let binary = std::path::Path::new(env!("CARGO_BIN_EXE_source-controller"));
            let mut storage = std::path::PathBuf::new();
            let process = ControllerProcess::start(cluster, "source-controller", binary, |dir| {
                storage = dir.join("storage");
                {
                    let mut args = fluxrs_e2e::controller::source_controller_args(&storage, port);
                    args.push(format!("--artifact-max-size={MAX_SIZE}"));
                    args
                }
            })
            .expect("source-controller starts");
            Running {
                process: std::sync::Mutex::new(process),
                storage,
            }
        })
        .await
}

async fn setup() -> Result<(Client, String, &'static Running)> {
    let cluster = shared();
    let running = controller(cluster).await;
    let client = cluster.client().await?;
    let namespace = cluster.create_namespace(&client, "source").await?;
    Ok((client, namespace, running))
}

fn logs(running: &Running) -> String {
    let mut process = running.process.lock().unwrap_or_else(|p| p.into_inner());
    let state = match process.check_running() {
        Ok(()) => "running".to_string(),
        Err(e) => e.to_string(),
    };
    format!(
        "source-controller is {state}; log tail:\n{}",
        process.log_tail()
    )
}

async fn wait_for<K, F>(
    api: &Api<K>,
    name: &str,
    running: &Running,
    what: &str,
    mut check: F,
) -> Result<K>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    F: FnMut(&K) -> bool,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(obj) = api.get_opt(name).await? {
            if check(&obj) {
                return Ok(obj);
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "timed out waiting for {name} to be {what}; last state: {obj:#?}\n{}",
                    logs(running)
                );
            }
        } else if tokio::time::Instant::now() > deadline {
            bail!(
                "timed out waiting for {name} to be {what}: it does not exist\n{}",
                logs(running)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn condition<'a>(
    conditions: Option<&'a Vec<fluxrs_api::meta::Condition>>,
    type_: &str,
) -> Option<&'a fluxrs_api::meta::Condition> {
    conditions.and_then(|cs| cs.iter().find(|c| c.type_ == type_))
}

fn ready_with_revision(obj: &GitRepository, revision: &str) -> bool {
    let status = obj.status.as_ref();
    let ready = condition(status.and_then(|s| s.conditions.as_ref()), "Ready")
        .is_some_and(|c| c.status == "True");
    ready
        && status
            .and_then(|s| s.artifact.as_ref())
            .is_some_and(|a| a.revision == revision)
}

/// Downloads an artifact, checks its digest, and returns the files in it.
fn download(url: &str, digest: &str) -> Result<Vec<(String, String)>> {
    let (code, body) = http::get(url)?;
    assert_eq!(code, 200, "GET {url}");
    assert_eq!(
        format!("sha256:{}", hex::encode(Sha256::digest(&body))),
        digest,
        "digest of {url}"
    );
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&body[..]));
    let mut files = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        if entry.header().entry_type().is_file() {
            let mut content = String::new();
            entry.read_to_string(&mut content)?;
            files.push((entry.path()?.display().to_string(), content));
        }
    }
    Ok(files)
}

async fn request_reconcile<K>(api: &Api<K>, name: &str, token: &str) -> Result<()>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = serde_json::json!({ "metadata": { "annotations": { "reconcile.fluxcd.io/requestedAt": token } } });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

fn git_repository(namespace: &str, name: &str, url: &str, secret: Option<&str>) -> String {
    let secret = secret
        .map(|s| format!("  secretRef:\n    name: {s}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  interval: 10m\n  url: {url}\n  ref:\n    branch: main\n  ignore: |\n    /*\n    !/deploy\n{secret}"
    )
}

/// A GitRepository with an arbitrary `spec` body (indented by two spaces).
fn git_repository_with(namespace: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  interval: 10m\n{spec}"
    )
}

fn ready_condition(obj: &GitRepository) -> Option<fluxrs_api::meta::Condition> {
    condition(
        obj.status.as_ref().and_then(|s| s.conditions.as_ref()),
        "Ready",
    )
    .cloned()
}

async fn wait_not_ready(
    api: &Api<GitRepository>,
    name: &str,
    running: &Running,
    reason: &str,
) -> Result<GitRepository> {
    wait_for(
        api,
        name,
        running,
        &format!("not Ready with reason {reason}"),
        |o| ready_condition(o).is_some_and(|c| c.status == "False" && c.reason == reason),
    )
    .await
}

fn basic_auth_secret(namespace: &str, name: &str, password: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\nstringData:\n  username: flux\n  password: {password}\n"
    )
}

#[tokio::test]
async fn git_repository_artifact_lifecycle() -> Result<()> {
    let (client, namespace, running) = setup().await?;
    let repo = GitFixture::new("app")?;
    repo.write("deploy/app.yaml", "kind: ConfigMap\n")?;
    repo.write("README.md", "not shipped\n")?;
    let first = repo.commit("add app")?;
    let server = GitHttpServer::start(
        repo.root(),
        HttpAuth::Basic {
            username: "flux".into(),
            password: "s3cret".into(),
        },
    )
    .await?;
    let url = server.url(&repo.bare_name());

    let manifests = format!(
        "{}---\n{}",
        basic_auth_secret(&namespace, "git-auth", "s3cret"),
        git_repository(&namespace, "app", &url, Some("git-auth"))
    );
    apply_manifests(&client, &parse_documents(&manifests)?).await?;
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let revision = format!("main@sha1:{first}");
    let obj = wait_for(&api, "app", running, "Ready with the first commit", |o| {
        ready_with_revision(o, &revision)
    })
    .await?;
    assert!(obj.finalizers().iter().any(|f| f == "finalizers.fluxcd.io"));
    let status = obj.status.clone().context("status")?;
    assert_eq!(status.observed_generation, obj.metadata.generation);
    let ready = condition(status.conditions.as_ref(), "Ready").context("Ready")?;
    assert_eq!(ready.reason, "Succeeded");
    assert_eq!(
        ready.message,
        format!("stored artifact for revision '{revision}'")
    );
    assert!(
        condition(status.conditions.as_ref(), "ArtifactInStorage")
            .is_some_and(|c| c.status == "True")
    );
    let artifact = status.artifact.clone().context("artifact")?;
    assert_eq!(
        artifact.path,
        format!("gitrepository/{namespace}/app/{first}.tar.gz")
    );
    let files = download(&artifact.url, artifact.digest.as_deref().context("digest")?)?;
    assert_eq!(
        files,
        vec![(
            "deploy/app.yaml".to_string(),
            "kind: ConfigMap\n".to_string()
        )],
        "spec.ignore keeps only deploy/"
    );

    // A new commit is picked up on a reconcile request, and the request is acknowledged.
    repo.write("deploy/app.yaml", "kind: Secret\n")?;
    let second = repo.commit("change app")?;
    request_reconcile(&api, "app", "2026-11-22T14:00:00Z").await?;
    let revision = format!("main@sha1:{second}");
    let obj = wait_for(&api, "app", running, "Ready with the second commit", |o| {
        ready_with_revision(o, &revision)
            && o.status
                .as_ref()
                .and_then(|s| s.last_handled_reconcile_at.as_deref())
                == Some("2026-11-22T14:00:00Z")
    })
    .await?;
    let artifact = obj.status.and_then(|s| s.artifact).context("artifact")?;
    let files = download(&artifact.url, artifact.digest.as_deref().context("digest")?)?;
    assert_eq!(files[0].1, "kind: Secret\n");

    // A stored file that disappears is rebuilt, not claimed.
    let stored = running.storage.join(&artifact.path);
    std::fs::remove_file(&stored)?;
    request_reconcile(&api, "app", "rebuild").await?;
    wait_for(&api, "app", running, "rebuilt", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.last_handled_reconcile_at.as_deref())
            == Some("rebuild")
            && ready_with_revision(o, &revision)
    })
    .await?;
    assert!(stored.is_file(), "the artifact file was rebuilt");

    // Deleting the object removes its stored files and the finalizer.
    api.delete("app", &DeleteParams::default()).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while api.get_opt("app").await?.is_some() {
        if tokio::time::Instant::now() > deadline {
            bail!("GitRepository was not finalized\n{}", logs(running));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !running
            .storage
            .join(format!("gitrepository/{namespace}/app"))
            .exists()
    );
    assert_eq!(http::get(&artifact.url)?.0, 404);
    Ok(())
}

#[tokio::test]
async fn git_repository_failures_become_conditions() -> Result<()> {
    let (client, namespace, running) = setup().await?;
    let repo = GitFixture::new("app")?;
    repo.write("deploy/app.yaml", "kind: ConfigMap\n")?;
    repo.commit("add app")?;
    let server = GitHttpServer::start(
        repo.root(),
        HttpAuth::Basic {
            username: "flux".into(),
            password: "s3cret".into(),
        },
    )
    .await?;
    let url = server.url(&repo.bare_name());

    let manifests = format!(
        "{}---\n{}---\n{}",
        basic_auth_secret(&namespace, "wrong", "nope"),
        git_repository(&namespace, "bad-auth", &url, Some("wrong")),
        git_repository(&namespace, "no-secret", &url, Some("missing"))
    );
    apply_manifests(&client, &parse_documents(&manifests)?).await?;
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    for name in ["bad-auth", "no-secret"] {
        let obj = wait_for(
            &api,
            name,
            running,
            "failed with AuthenticationFailed",
            |o| {
                let conditions = o.status.as_ref().and_then(|s| s.conditions.as_ref());
                condition(conditions, "Ready")
                    .is_some_and(|c| c.status == "False" && c.reason == "AuthenticationFailed")
            },
        )
        .await?;
        let conditions = obj.status.as_ref().and_then(|s| s.conditions.as_ref());
        let fetch = condition(conditions, "FetchFailed").context("FetchFailed")?;
        assert_eq!(fetch.status, "True");
        assert!(
            condition(conditions, "Reconciling")
                .is_some_and(|c| c.reason == "ProgressingWithRetry")
        );
        assert!(
            obj.status
                .as_ref()
                .and_then(|s| s.artifact.as_ref())
                .is_none()
        );
        assert!(
            !fetch.message.contains("nope"),
            "secrets never reach conditions: {}",
            fetch.message
        );
    }
    Ok(())
}

#[tokio::test]
async fn oci_repository_artifact_from_registry() -> Result<()> {
    let (client, namespace, running) = setup().await?;
    let registry = Registry::start(None)?;
    let content = {
        let src = tempfile::tempdir()?;
        std::fs::create_dir_all(src.path().join("deploy"))?;
        std::fs::write(src.path().join("deploy/app.yaml"), "kind: ConfigMap\n")?;
        let out = tempfile::NamedTempFile::new()?;
        let filter = source_controller::ignore::IgnoreFilter::for_tree(src.path(), None)?;
        source_controller::storage::write_archive(src.path(), &filter, out.reopen()?, u64::MAX)?;
        std::fs::read(out.path())?
    };
    let digest = registry
        .push_flux_artifact(
            "manifests/app",
            "1.0.0",
            content,
            "https://github.com/org/app",
            "main@sha1:abc",
        )
        .await?;
    let manifest = format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: app\n  namespace: {namespace}\nspec:\n  interval: 10m\n  url: {}\n  insecure: true\n  ref:\n    semver: \">=1.0.0\"\n",
        registry.url("manifests/app")
    );
    apply_manifests(&client, &parse_documents(&manifest)?).await?;
    let api: Api<OCIRepository> = Api::namespaced(client, &namespace);
    let revision = format!("1.0.0@{digest}");
    let obj = wait_for(&api, "app", running, "Ready", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.artifact.as_ref())
            .is_some_and(|a| a.revision == revision)
    })
    .await?;
    let status = obj.status.context("status")?;
    let artifact = status.artifact.clone().context("artifact")?;
    let latest = status.url.context("status.url")?;
    assert!(
        latest.ends_with(&format!("/ocirepository/{namespace}/app/latest.tar.gz")),
        "{latest}"
    );
    download(&latest, artifact.digest.as_deref().context("digest")?)?;
    let escape = running
        .storage
        .join(format!("ocirepository/{namespace}/app/escape.tar.gz"));
    std::os::unix::fs::symlink("/etc/hostname", &escape)?;
    let escape_url = latest.replace("latest.tar.gz", "escape.tar.gz");
    assert_eq!(
        http::get(&escape_url)?.0,
        404,
        "links out of the store are not served"
    );
    std::fs::remove_file(&escape)?;
    assert_eq!(
        artifact
            .metadata
            .as_ref()
            .and_then(|m| m.get("org.opencontainers.image.revision"))
            .map(String::as_str),
        Some("main@sha1:abc")
    );
    let files = download(&artifact.url, artifact.digest.as_deref().context("digest")?)?;
    assert_eq!(
        files,
        vec![(
            "deploy/app.yaml".to_string(),
            "kind: ConfigMap\n".to_string()
        )]
    );
    Ok(())
}

#[tokio::test]
async fn git_repository_includes_other_repositories() -> Result<()> {
    let (client, namespace, running) = setup().await?;
    let base = GitFixture::new("base")?;
    base.write("manifests/base.yaml", "kind: Base\n")?;
    base.commit("base v1")?;
    let app = GitFixture::new("app")?;
    app.write("deploy/app.yaml", "kind: App\n")?;
    app.commit("app")?;
    let base_server = GitHttpServer::start(base.root(), HttpAuth::None).await?;
    let app_server = GitHttpServer::start(app.root(), HttpAuth::None).await?;

    let manifests = format!(
        "{}---\n{}",
        git_repository_with(
            &namespace,
            "base",
            &format!(
                "  url: {}\n  ref:\n    branch: main\n",
                base_server.url(&base.bare_name())
            )
        ),
        git_repository_with(
            &namespace,
            "app",
            &format!(
                "  url: {}\n  ref:\n    branch: main\n  include:\n  - repository:\n      name: base\n    fromPath: manifests\n    toPath: deploy/base\n",
                app_server.url(&app.bare_name())
            )
        ),
    );
    apply_manifests(&client, &parse_documents(&manifests)?).await?;
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let obj = wait_for(&api, "app", running, "Ready with the include", |o| {
        ready_condition(o).is_some_and(|c| c.status == "True")
            && o.status
                .as_ref()
                .and_then(|s| s.included_artifacts.as_ref())
                .is_some_and(|a| a.len() == 1)
    })
    .await?;
    let artifact = obj.status.and_then(|s| s.artifact).context("artifact")?;
    let files = download(&artifact.url, artifact.digest.as_deref().context("digest")?)?;
    assert!(
        files.contains(&(
            "deploy/base/base.yaml".to_string(),
            "kind: Base\n".to_string()
        )),
        "{files:?}"
    );

    // A new revision of the included repository rebuilds the includer without a request.
    base.write("manifests/base.yaml", "kind: BaseV2\n")?;
    base.commit("base v2")?;
    request_reconcile(&api, "base", "base-v2").await?;
    let obj = wait_for(&api, "app", running, "rebuilt with the new include", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.artifact.as_ref())
            .is_some_and(|a| a.digest != artifact.digest)
    })
    .await?;
    let artifact = obj.status.and_then(|s| s.artifact).context("artifact")?;
    let files = download(&artifact.url, artifact.digest.as_deref().context("digest")?)?;
    assert!(
        files.contains(&(
            "deploy/base/base.yaml".to_string(),
            "kind: BaseV2\n".to_string()
        )),
        "{files:?}"
    );

    // An include of a missing repository waits with IncludeUnavailable.
    let missing = git_repository_with(
        &namespace,
        "orphan",
        &format!(
            "  url: {}\n  ref:\n    branch: main\n  include:\n  - repository:\n      name: nowhere\n",
            app_server.url(&app.bare_name())
        ),
    );
    apply_manifests(&client, &parse_documents(&missing)?).await?;
    let obj = wait_not_ready(&api, "orphan", running, "NotFound").await?;
    let include = condition(
        obj.status.as_ref().and_then(|s| s.conditions.as_ref()),
        "IncludeUnavailable",
    )
    .context("IncludeUnavailable")?;
    assert_eq!(include.status, "True");
    assert!(include.message.contains("nowhere"), "{}", include.message);
    Ok(())
}

#[tokio::test]
async fn bad_input_keeps_the_previous_artifact_and_says_why() -> Result<()> {
    let (client, namespace, running) = setup().await?;
    let repo = GitFixture::new("app")?;
    repo.write("deploy/app.yaml", "kind: App\n")?;
    let first = repo.commit("app")?;
    repo.tag("v1.0.0")?;
    let server = GitHttpServer::start(repo.root(), HttpAuth::None).await?;
    let url = server.url(&repo.bare_name());
    apply_manifests(
        &client,
        &parse_documents(&git_repository(&namespace, "app", &url, None))?,
    )
    .await?;
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let revision = format!("main@sha1:{first}");
    let good = wait_for(&api, "app", running, "Ready", |o| {
        ready_with_revision(o, &revision)
    })
    .await?;
    let artifact = good.status.and_then(|s| s.artifact).context("artifact")?;

    let cases = [
        (
            "  url: URL\n  ref:\n    branch: does-not-exist\n",
            "GitOperationFailed",
            "unable to resolve ref 'does-not-exist'",
        ),
        (
            "  url: URL\n  ref:\n    semver: '>=5.0.0'\n",
            "GitOperationFailed",
            "no match found for semver: >=5.0.0",
        ),
        (
            "  url: http://127.0.0.1:1/unreachable.git\n",
            "GitOperationFailed",
            "'http://127.0.0.1:1/unreachable.git': git operation failed: failed to connect",
        ),
        (
            "  url: URL\n  secretRef:\n    name: missing-secret\n",
            "AuthenticationFailed",
            "missing-secret",
        ),
    ];
    for (spec, reason, message) in cases {
        let manifest = git_repository_with(&namespace, "app", &spec.replace("URL", &url));
        apply_manifests(&client, &parse_documents(&manifest)?).await?;
        let obj = wait_for(
            &api,
            "app",
            running,
            &format!("failing with {reason}"),
            |o| {
                ready_condition(o).is_some_and(|c| {
                    c.status == "False" && c.reason == reason && c.message.contains(message)
                })
            },
        )
        .await?;
        let kept = obj
            .status
            .and_then(|s| s.artifact)
            .context("the previous artifact stays in status")?;
        assert_eq!(kept.revision, revision);
        assert_eq!(
            http::get(&kept.url)?.0,
            200,
            "the previous artifact stays served"
        );
    }
    assert_eq!(artifact.revision, revision);

    // Content over --artifact-max-size fails with a clear message.
    repo.write("deploy/big.bin", &"x".repeat((MAX_SIZE + 1) as usize))?;
    repo.commit("too big")?;
    apply_manifests(
        &client,
        &parse_documents(&git_repository(&namespace, "app", &url, None))?,
    )
    .await?;
    let huge = git_repository_with(
        &namespace,
        "app",
        &format!("  url: {url}\n  ref:\n    branch: main\n"),
    );
    apply_manifests(&client, &parse_documents(&huge)?).await?;
    wait_for(&api, "app", running, "failing on size", |o| {
        ready_condition(o)
            .is_some_and(|c| c.status == "False" && c.message.contains("exceeds the limit"))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn suspended_repositories_do_not_change() -> Result<()> {
    let (client, namespace, running) = setup().await?;
    let repo = GitFixture::new("app")?;
    repo.write("deploy/app.yaml", "kind: App\n")?;
    let first = repo.commit("app")?;
    let server = GitHttpServer::start(repo.root(), HttpAuth::None).await?;
    let url = server.url(&repo.bare_name());
    apply_manifests(
        &client,
        &parse_documents(&git_repository(&namespace, "app", &url, None))?,
    )
    .await?;
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let revision = format!("main@sha1:{first}");
    wait_for(&api, "app", running, "Ready", |o| {
        ready_with_revision(o, &revision)
    })
    .await?;

    api.patch(
        "app",
        &PatchParams::default(),
        &Patch::Merge(&serde_json::json!({ "spec": { "suspend": true } })),
    )
    .await?;
    repo.write("deploy/app.yaml", "kind: Changed\n")?;
    repo.commit("change while suspended")?;
    request_reconcile(&api, "app", "while-suspended").await?;
    let obj = wait_for(&api, "app", running, "acknowledged while suspended", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.last_handled_reconcile_at.as_deref())
            == Some("while-suspended")
    })
    .await?;
    assert_eq!(
        obj.status.and_then(|s| s.artifact).map(|a| a.revision),
        Some(revision),
        "nothing changes while suspended"
    );
    Ok(())
}

/// A Secret manifest with `string_data`, as JSON (which is YAML).
fn secret_manifest(namespace: &str, name: &str, string_data: &[(&str, &str)]) -> String {
    let data: serde_json::Map<String, serde_json::Value> = string_data
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": name, "namespace": namespace },
        "stringData": data,
    })
    .to_string()
}

/// Events (events.k8s.io) about GitRepository `name` with `reason`.
async fn events_with_reason(
    client: &Client,
    namespace: &str,
    name: &str,
    reason: &str,
) -> Result<Vec<K8sEvent>> {
    let events: Api<K8sEvent> = Api::namespaced(client.clone(), namespace);
    Ok(events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| {
            e.regarding.as_ref().is_some_and(|r| {
                r.kind.as_deref() == Some("GitRepository") && r.name.as_deref() == Some(name)
            }) && e.reason.as_deref() == Some(reason)
        })
        .collect())
}

/// Polls until an event about `name` with `reason` exists and returns it.
async fn wait_for_event(
    client: &Client,
    namespace: &str,
    name: &str,
    reason: &str,
    running: &Running,
) -> Result<K8sEvent> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(event) = events_with_reason(client, namespace, name, reason)
            .await?
            .pop()
        {
            return Ok(event);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("no {reason} event for {name}\n{}", logs(running));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn event_revision(event: &K8sEvent) -> Option<&str> {
    event
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("source.toolkit.fluxcd.io/revision"))
        .map(String::as_str)
}

#[tokio::test]
async fn git_repository_over_mutual_tls() -> Result<()> {
    let (client, namespace, running) = setup().await?;
    let repo = GitFixture::new("app")?;
    repo.write("deploy/app.yaml", "kind: App\n")?;
    let first = repo.commit("app")?;
    let server = GitHttpServer::start_mtls(repo.root(), HttpAuth::None).await?;
    let url = server.url(&repo.bare_name());
    let ca = server.ca_cert().context("CA")?;
    let trusted = server.client_identity().context("client identity")?;
    let untrusted = untrusted_client_identity()?;
    let manifests = [
        secret_manifest(
            &namespace,
            "mtls",
            &[
                ("ca.crt", ca),
                ("tls.crt", &trusted.cert),
                ("tls.key", &trusted.key),
            ],
        ),
        secret_manifest(&namespace, "ca-only", &[("ca.crt", ca)]),
        secret_manifest(
            &namespace,
            "other-cert",
            &[
                ("ca.crt", ca),
                ("tls.crt", &untrusted.cert),
                ("tls.key", &untrusted.key),
            ],
        ),
        git_repository(&namespace, "mtls", &url, Some("mtls")),
        git_repository(&namespace, "ca-only", &url, Some("ca-only")),
        git_repository(&namespace, "other-cert", &url, Some("other-cert")),
    ]
    .join("\n---\n");
    apply_manifests(&client, &parse_documents(&manifests)?).await?;
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let revision = format!("main@sha1:{first}");
    let obj = wait_for(&api, "mtls", running, "Ready over mutual TLS", |o| {
        ready_with_revision(o, &revision)
    })
    .await?;
    let artifact = obj.status.and_then(|s| s.artifact).context("artifact")?;
    download(&artifact.url, artifact.digest.as_deref().context("digest")?)?;
    for name in ["ca-only", "other-cert"] {
        let obj = wait_not_ready(&api, name, running, "AuthenticationFailed").await?;
        let fetch = condition(
            obj.status.as_ref().and_then(|s| s.conditions.as_ref()),
            "FetchFailed",
        )
        .context("FetchFailed")?;
        assert_eq!(fetch.status, "True");
        assert!(
            fetch.message.contains("refused the client certificate"),
            "{name}: {}",
            fetch.message
        );
    }
    Ok(())
}

#[tokio::test]
async fn git_repository_through_a_proxy() -> Result<()> {
    let (client, namespace, running) = setup().await?;
    let repo = GitFixture::new("app")?;
    repo.write("deploy/app.yaml", "kind: App\n")?;
    let first = repo.commit("app")?;
    let server = GitHttpServer::start(repo.root(), HttpAuth::None).await?;
    let proxy = HttpProxy::start(Some(("proxy".into(), "pr0xy".into()))).await?;
    let manifests = [
        secret_manifest(
            &namespace,
            "proxy",
            &[
                ("address", &proxy.url()),
                ("username", "proxy"),
                ("password", "pr0xy"),
            ],
        ),
        git_repository_with(
            &namespace,
            "app",
            &format!(
                "  url: {}\n  ref:\n    branch: main\n  proxySecretRef:\n    name: proxy\n",
                server.url(&repo.bare_name())
            ),
        ),
    ]
    .join("\n---\n");
    apply_manifests(&client, &parse_documents(&manifests)?).await?;
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let revision = format!("main@sha1:{first}");
    wait_for(&api, "app", running, "Ready through the proxy", |o| {
        ready_with_revision(o, &revision)
    })
    .await?;
    assert!(proxy.proxied() > 0, "the fetch went through the proxy");
    assert_eq!(proxy.rejected(), 0);
    Ok(())
}

#[tokio::test]
async fn recovery_from_a_failure_is_announced() -> Result<()> {
    let (client, namespace, running) = setup().await?;
    let repo = GitFixture::new("app")?;
    repo.write("deploy/app.yaml", "kind: App\n")?;
    let first = repo.commit("app")?;
    let server = GitHttpServer::start(
        repo.root(),
        HttpAuth::Basic {
            username: "flux".into(),
            password: "s3cret".into(),
        },
    )
    .await?;
    let url = server.url(&repo.bare_name());
    let manifests = format!(
        "{}---\n{}",
        basic_auth_secret(&namespace, "auth", "s3cret"),
        git_repository(&namespace, "app", &url, Some("auth"))
    );
    apply_manifests(&client, &parse_documents(&manifests)?).await?;
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let revision = format!("main@sha1:{first}");
    wait_for(&api, "app", running, "Ready", |o| {
        ready_with_revision(o, &revision)
    })
    .await?;
    assert!(
        events_with_reason(&client, &namespace, "app", "Succeeded")
            .await?
            .is_empty(),
        "no recovery event without a failure"
    );

    let broken = basic_auth_secret(&namespace, "auth", "wrong");
    apply_manifests(&client, &parse_documents(&broken)?).await?;
    request_reconcile(&api, "app", "break").await?;
    wait_not_ready(&api, "app", running, "AuthenticationFailed").await?;
    let failure =
        wait_for_event(&client, &namespace, "app", "AuthenticationFailed", running).await?;
    assert_eq!(failure.type_.as_deref(), Some("Warning"));
    assert_eq!(
        event_revision(&failure),
        Some(revision.as_str()),
        "failure events carry the served revision"
    );

    let fixed = basic_auth_secret(&namespace, "auth", "s3cret");
    apply_manifests(&client, &parse_documents(&fixed)?).await?;
    request_reconcile(&api, "app", "fix").await?;
    wait_for(&api, "app", running, "Ready again", |o| {
        ready_with_revision(o, &revision)
            && o.status
                .as_ref()
                .and_then(|s| s.last_handled_reconcile_at.as_deref())
                == Some("fix")
    })
    .await?;
    let recovered = wait_for_event(&client, &namespace, "app", "Succeeded", running).await?;
    assert_eq!(recovered.type_.as_deref(), Some("Normal"));
    assert_eq!(event_revision(&recovered), Some(revision.as_str()));
    assert_eq!(
        recovered.note.as_deref(),
        Some(format!("stored artifact for revision '{revision}'").as_str())
    );
    assert!(
        events_with_reason(&client, &namespace, "app", "NewArtifact")
            .await?
            .len()
            == 1,
        "recovering with the same artifact stores nothing new"
    );
    Ok(())
}

#[tokio::test]
async fn commit_signatures_are_verified() -> Result<()> {
    let (client, namespace, running) = setup().await?;
    let signer = GpgKey::generate("Flux Signer", "signer@flux-rs.dev")?;
    let repo = GitFixture::new("app")?;
    repo.write("deploy/app.yaml", "kind: App\n")?;
    let signed = repo.commit_signed("signed", &signer)?;
    let server = GitHttpServer::start(repo.root(), HttpAuth::None).await?;
    let manifests = [
        secret_manifest(&namespace, "keys", &[("author.asc", signer.public_key())]),
        git_repository_with(
            &namespace,
            "app",
            &format!(
                "  url: {}\n  ref:\n    branch: main\n  verify:\n    mode: HEAD\n    secretRef:\n      name: keys\n",
                server.url(&repo.bare_name())
            ),
        ),
    ]
    .join("\n---\n");
    apply_manifests(&client, &parse_documents(&manifests)?).await?;
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let revision = format!("main@sha1:{signed}");
    let obj = wait_for(&api, "app", running, "Ready and verified", |o| {
        ready_with_revision(o, &revision)
    })
    .await?;
    let status = obj.status.context("status")?;
    let verified =
        condition(status.conditions.as_ref(), "SourceVerified").context("SourceVerified")?;
    assert_eq!(
        (verified.status.as_str(), verified.reason.as_str()),
        ("True", "Succeeded")
    );
    let key_id = &signer.fingerprint()[signer.fingerprint().len() - 16..];
    assert_eq!(
        verified.message,
        format!("verified signature of\n\t- commit '{signed}' with key '{key_id}'")
    );
    assert_eq!(
        serde_json::to_value(status.source_verification_mode)?,
        serde_json::json!("HEAD")
    );

    repo.write("deploy/app.yaml", "kind: Unsigned\n")?;
    let unsigned = repo.commit("unsigned")?;
    request_reconcile(&api, "app", "unsigned").await?;
    let obj = wait_not_ready(&api, "app", running, "InvalidCommitSignature").await?;
    let status = obj.status.context("status")?;
    let verified =
        condition(status.conditions.as_ref(), "SourceVerified").context("SourceVerified")?;
    assert_eq!(verified.status, "False");
    assert!(
        verified.message.contains(&format!("commit '{unsigned}'")),
        "{}",
        verified.message
    );
    assert_eq!(
        status.artifact.map(|a| a.revision),
        Some(revision),
        "an unverified commit is never stored"
    );
    Ok(())
}

#[tokio::test]
async fn ssh_signed_tags_and_commits_are_verified() -> Result<()> {
    let (client, namespace, running) = setup().await?;
    let signer = SshSigningKey::generate("ed25519")?;
    let repo = GitFixture::new("app")?;
    repo.write("deploy/app.yaml", "kind: App\n")?;
    let signed = repo.commit_signed("signed with ssh", &signer)?;
    repo.tag_signed("v1.0.0", &signer)?;
    let server = GitHttpServer::start(repo.root(), HttpAuth::None).await?;
    let manifests = [
        secret_manifest(
            &namespace,
            "keys",
            &[("authors.sshpub", &format!("{}\n", signer.public_key()))],
        ),
        git_repository_with(
            &namespace,
            "app",
            &format!(
                "  url: {}\n  ref:\n    tag: v1.0.0\n  verify:\n    mode: TagAndHEAD\n    secretRef:\n      name: keys\n",
                server.url(&repo.bare_name())
            ),
        ),
    ]
    .join("\n---\n");
    apply_manifests(&client, &parse_documents(&manifests)?).await?;
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let revision = format!("v1.0.0@sha1:{signed}");
    let obj = wait_for(&api, "app", running, "Ready and verified", |o| {
        ready_with_revision(o, &revision)
    })
    .await?;
    let status = obj.status.context("status")?;
    let verified =
        condition(status.conditions.as_ref(), "SourceVerified").context("SourceVerified")?;
    assert_eq!(
        verified.message,
        format!(
            "verified signature of\n\t- tag 'v1.0.0' with key '{id}'\n\t- commit '{signed}' with key '{id}'",
            id = signer.fingerprint()
        )
    );
    assert_eq!(
        serde_json::to_value(status.source_verification_mode)?,
        serde_json::json!("TagAndHEAD")
    );
    Ok(())
}
