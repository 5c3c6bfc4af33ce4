//! notification-controller with the real source-controller and
//! kustomize-controller as processes, a real Git server over smart HTTP and
//! a capture server standing in for Slack and GitHub: a bad manifest pushed
//! to Git makes the Kustomization fail and the seed Alert sends exactly one
//! Slack message with the error and the revision, however often the failure
//! repeats; a `github` Provider marks the applied commit as success and the
//! broken one as failure; a GitHub-signed push webhook to a `github`
//! Receiver makes the GitRepository (interval 1h) fetch the new commit at
//! once, and the test prints the push-to-applied latency of a few runs and
//! their median (docs/BENCHMARKS.md, "notification-controller (issue 7)").

#[allow(
    dead_code,
    reason = "helpers shared by the test binaries; each uses a subset"
)]
mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use fluxrs_api::kustomize::Kustomization;
use fluxrs_api::notification::Receiver;
use fluxrs_e2e::controller::{
    ControllerProcess, free_port, source_controller_args, workspace_binary,
};
use fluxrs_e2e::git::{GitFixture, GitHttpServer, HttpAuth};
use fluxrs_e2e::{TestCluster, install_crds, shared};
use hmac::{Hmac, Mac};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::OnceCell;

use common::{Capture, Ports, TIMEOUT, apply, secret, seed_alerting};

/// Webhook runs measured for the latency benchmark.
const LATENCY_RUNS: usize = 5;

/// How long a Kustomization may take to reach a state: three controllers,
/// a Git server and the control plane share a small, busy machine.
const RECONCILE_TIMEOUT: Duration = Duration::from_secs(120);

/// The three controllers of this test binary.
struct Controllers {
    source: Mutex<ControllerProcess>,
    kustomize: Mutex<ControllerProcess>,
    notification: Mutex<ControllerProcess>,
    ports: Ports,
}

async fn controllers(cluster: &'static TestCluster) -> &'static Controllers {
    static RUNNING: OnceCell<Controllers> = OnceCell::const_new();
    RUNNING
        .get_or_init(|| async move {
            let client = cluster.client().await.expect("client");
            install_crds(&client).await.expect("CRDs installed");
            common::create_flux_system(&client)
                .await
                .expect("flux-system");
            let port = free_port().expect("free loopback port");
            let source = ControllerProcess::start(
                cluster,
                "source-controller",
                &workspace_binary("source-controller").expect("source-controller binary"),
                |dir| source_controller_args(&dir.join("storage"), port),
            )
            .expect("source-controller starts");
            let kustomize = ControllerProcess::start(
                cluster,
                "kustomize-controller",
                &workspace_binary("kustomize-controller").expect("kustomize-controller binary"),
                |_| {
                    vec![
                        "--metrics-addr=0".into(),
                        "--health-addr=0".into(),
                        "--log-encoding=console".into(),
                    ]
                },
            )
            .expect("kustomize-controller starts");
            let ports = Ports::free().expect("ports");
            let notification = Mutex::new(
                common::start_controller(cluster, &ports).expect("notification-controller starts"),
            );
            common::wait_started(&client, || common::logs(&notification))
                .await
                .expect("notification-controller started");
            Controllers {
                source: Mutex::new(source),
                kustomize: Mutex::new(kustomize),
                notification,
                ports,
            }
        })
        .await
}

/// The log tails of the three controllers, for failure messages.
fn logs(running: &Controllers) -> impl Fn() -> String + '_ {
    move || {
        let tail = |p: &Mutex<ControllerProcess>| {
            let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
            let state = p
                .check_running()
                .map(|()| "running".to_owned())
                .unwrap_or_else(|e| e.to_string());
            format!("{state}\n{}", p.log_tail())
        };
        format!(
            "source-controller: {}\n\nkustomize-controller: {}\n\n{}",
            tail(&running.source),
            tail(&running.kustomize),
            common::logs(&running.notification)
        )
    }
}

async fn setup(prefix: &str) -> Result<(Client, String, &'static Controllers)> {
    let cluster = shared();
    let running = controllers(cluster).await;
    let client = cluster.client().await?;
    let namespace = cluster.create_namespace(&client, prefix).await?;
    Ok((client, namespace, running))
}

fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

/// A GitRepository and a Kustomization named `app`, both on a 1h interval:
/// nothing but a watch or a reconcile request moves them.
fn gitops(namespace: &str, url: &str) -> String {
    format!(
        r#"apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: app
  namespace: {namespace}
spec:
  interval: 1h
  url: {url}
  ref:
    branch: main
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: app
  namespace: {namespace}
spec:
  interval: 1h
  retryInterval: 1h
  path: ./deploy
  prune: true
  targetNamespace: {namespace}
  sourceRef:
    kind: GitRepository
    name: app
"#
    )
}

/// Polls the Kustomization `app` until `check` holds.
async fn wait_kustomization(
    client: &Client,
    namespace: &str,
    running: &Controllers,
    what: &str,
    check: impl Fn(&Kustomization) -> bool,
) -> Result<Kustomization> {
    let api: Api<Kustomization> = Api::namespaced(client.clone(), namespace);
    let deadline = tokio::time::Instant::now() + RECONCILE_TIMEOUT;
    loop {
        if let Some(ks) = api.get_opt("app").await?
            && check(&ks)
        {
            return Ok(ks);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "timed out waiting for the Kustomization to be {what}: {:#?}\n{}",
                api.get_opt("app").await?.and_then(|k| k.status),
                logs(running)()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ready(ks: &Kustomization) -> Option<(String, String)> {
    let condition = ks
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    Some((condition.status.clone(), condition.message.clone()))
}

fn applied(ks: &Kustomization) -> Option<&str> {
    ks.status.as_ref()?.last_applied_revision.as_deref()
}

fn handled(ks: &Kustomization) -> Option<&str> {
    ks.status.as_ref()?.last_handled_reconcile_at.as_deref()
}

/// Asks `kind`/`name` to reconcile now, as `flux reconcile` does.
async fn request_reconcile<K>(api: &Api<K>, name: &str, token: &str) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

#[tokio::test]
async fn bad_manifest_in_git_sends_one_slack_message() -> Result<()> {
    let (client, namespace, running) = setup("e2e-slack").await?;
    let capture = Capture::start().await?;
    apply(&client, &seed_alerting(&namespace, &capture.url("/slack"))).await?;
    let repo = GitFixture::new("app")?;
    repo.write("deploy/settings.yaml", &config_map("settings", "one"))?;
    let good = repo.commit("settings")?;
    let server = GitHttpServer::start(repo.root(), HttpAuth::None).await?;
    apply(&client, &gitops(&namespace, &server.url(&repo.bare_name()))).await?;
    let good_revision = format!("main@sha1:{good}");
    wait_kustomization(&client, &namespace, running, "applied", |ks| {
        applied(ks) == Some(good_revision.as_str())
    })
    .await?;

    repo.write(
        "deploy/broken.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata: [unclosed\n",
    )?;
    let bad = repo.commit("a broken manifest")?;
    let bad_revision = format!("main@sha1:{bad}");
    let sources: Api<fluxrs_api::source::GitRepository> =
        Api::namespaced(client.clone(), &namespace);
    request_reconcile(&sources, "app", "push").await?;
    let failed = wait_kustomization(&client, &namespace, running, "failed", |ks| {
        ks.status
            .as_ref()
            .and_then(|s| s.last_attempted_revision.as_deref())
            == Some(bad_revision.as_str())
            && ready(ks).is_some_and(|(status, _)| status == "False")
    })
    .await?;
    let (_, error) = ready(&failed).context("Ready condition")?;

    let received = capture.wait_for("/slack", 1, logs(running)).await?;
    let author = format!("kustomization/app.{namespace}");
    let first_line = error.lines().next().unwrap_or_default();
    assert_eq!(
        received[0].json(),
        json!({
            "channel": "deployments",
            "username": "kustomize-controller",
            "icon_url": "",
            "icon_emoji": "",
            "attachments": [{
                "fallback": format!("{author}: {first_line}"),
                "color": "danger",
                "author_name": author,
                "text": error,
                "mrkdwn_in": ["text"],
                "fields": [
                    {"title": "revision", "value": bad_revision, "short": false},
                    {"title": "summary", "value": "Flux deployment issue detected", "short": false}
                ]
            }]
        })
    );

    // The same failure again, twice: no second message.
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    for token in ["again-1", "again-2"] {
        request_reconcile(&kustomizations, "app", token).await?;
        wait_kustomization(&client, &namespace, running, "handled", |ks| {
            handled(ks) == Some(token)
        })
        .await?;
    }
    assert_eq!(
        capture.settle("/slack").await.len(),
        1,
        "a repeated failure is announced once"
    );
    Ok(())
}

/// A `github` Provider at `address` and an info Alert on every Kustomization.
fn github_alerting(namespace: &str, address: &str) -> String {
    format!(
        r#"{secret}---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata:
  name: github
  namespace: {namespace}
spec:
  type: github
  address: {address}
  secretRef:
    name: github-token
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: commit-statuses
  namespace: {namespace}
spec:
  providerRef:
    name: github
  eventSources:
    - kind: Kustomization
      name: "*"
"#,
        secret = secret(namespace, "github-token", &[("token", "ghp_e2e")]),
    )
}

/// `BuildFailed` → `build failed`: how a commit status describes a reason.
fn words(reason: &str) -> String {
    let mut words = String::new();
    for c in reason.chars() {
        if c.is_ascii_uppercase() && !words.is_empty() {
            words.push(' ');
        }
        words.push(c.to_ascii_lowercase());
    }
    words
}

/// The JSON of the one status POSTed for commit `sha`.
async fn github_status(
    capture: &Capture,
    sha: &str,
    running: &Controllers,
) -> Result<serde_json::Value> {
    let path = format!("/api/v3/repos/org/app/statuses/{sha}");
    let received = capture.wait_for(&path, 1, logs(running)).await?;
    anyhow::ensure!(received.len() == 1, "one status for {sha}: {received:#?}");
    Ok(received[0].json())
}

#[tokio::test]
async fn github_commit_statuses_follow_real_reconciliations() -> Result<()> {
    let (client, namespace, running) = setup("e2e-github").await?;
    let capture = Capture::start().await?;
    apply(
        &client,
        &github_alerting(&namespace, &capture.url("/org/app")),
    )
    .await?;
    let provider: fluxrs_api::notification::Provider = Api::namespaced(client.clone(), &namespace)
        .get("github")
        .await?;
    let uid = kube::ResourceExt::uid(&provider).context("the Provider's UID")?;
    let context = format!(
        "kustomization/app/{}",
        uid.split('-').next().unwrap_or_default()
    );
    let repo = GitFixture::new("app")?;
    repo.write("deploy/settings.yaml", &config_map("settings", "one"))?;
    let good = repo.commit("settings")?;
    let server = GitHttpServer::start(repo.root(), HttpAuth::None).await?;
    apply(&client, &gitops(&namespace, &server.url(&repo.bare_name()))).await?;

    assert_eq!(
        github_status(&capture, &good, running).await?,
        json!({"state": "success", "description": "reconciliation succeeded", "context": context})
    );

    repo.write("deploy/broken.yaml", "kind: ConfigMap\ndata: [unclosed\n")?;
    let bad = repo.commit("a broken manifest")?;
    let sources: Api<fluxrs_api::source::GitRepository> =
        Api::namespaced(client.clone(), &namespace);
    request_reconcile(&sources, "app", "push").await?;
    let failure = github_status(&capture, &bad, running).await?;
    let failed = wait_kustomization(&client, &namespace, running, "failed", |ks| {
        ready(ks).is_some_and(|(status, _)| status == "False")
    })
    .await?;
    let reason = failed
        .status
        .and_then(|s| s.conditions)
        .and_then(|c| c.into_iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.reason)
        .context("Ready reason")?;
    assert_eq!(
        failure,
        json!({"state": "failure", "description": words(&reason), "context": context})
    );
    Ok(())
}

/// `sha256=<hex HMAC-SHA256(body, key)>`, GitHub's `X-Hub-Signature-256`.
fn github_signature(key: &str, body: &[u8]) -> Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// A `github` Receiver for push events that reconciles GitRepository `app`.
fn github_receiver(namespace: &str) -> String {
    format!(
        r#"{secret}---
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata:
  name: github
  namespace: {namespace}
spec:
  type: github
  events:
    - push
  secretRef:
    name: webhook-token
  resources:
    - kind: GitRepository
      name: app
"#,
        secret = secret(namespace, "webhook-token", &[("token", "github-secret")]),
    )
}

/// The Receiver's webhook path once it is Ready.
async fn webhook_path(client: &Client, namespace: &str, running: &Controllers) -> Result<String> {
    let api: Api<Receiver> = Api::namespaced(client.clone(), namespace);
    common::eventually("the Receiver to be Ready", logs(running), || {
        let api = api.clone();
        async move {
            let status = api.get("github").await?.status.unwrap_or_default();
            let ready = status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            Ok(ready.then_some(status.webhook_path).flatten())
        }
    })
    .await
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted[sorted.len() / 2]
}

#[tokio::test]
async fn github_webhook_applies_the_pushed_commit_at_once() -> Result<()> {
    let (client, namespace, running) = setup("e2e-webhook").await?;
    let repo = GitFixture::new("app")?;
    repo.write("deploy/settings.yaml", &config_map("settings", "0"))?;
    let first = repo.commit("settings 0")?;
    let server = GitHttpServer::start(repo.root(), HttpAuth::None).await?;
    apply(&client, &github_receiver(&namespace)).await?;
    apply(&client, &gitops(&namespace, &server.url(&repo.bare_name()))).await?;
    let first_revision = format!("main@sha1:{first}");
    wait_kustomization(&client, &namespace, running, "applied", |ks| {
        applied(ks) == Some(first_revision.as_str())
    })
    .await?;
    let path = webhook_path(&client, &namespace, running).await?;
    let url = format!("http://127.0.0.1:{}{path}", running.ports.receiver);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().timeout(TIMEOUT).build()?;

    let mut latencies = Vec::with_capacity(LATENCY_RUNS);
    for run in 1..=LATENCY_RUNS {
        repo.write(
            "deploy/settings.yaml",
            &config_map("settings", &run.to_string()),
        )?;
        let commit = repo.commit(&format!("settings {run}"))?;
        let revision = format!("main@sha1:{commit}");
        let body = serde_json::to_vec(&json!({"ref": "refs/heads/main", "after": commit}))?;
        let sent = Instant::now();
        let response = http
            .post(&url)
            .header("Content-Type", "application/json")
            .header("X-GitHub-Event", "push")
            .header(
                "X-Hub-Signature-256",
                github_signature("github-secret", &body)?,
            )
            .body(body)
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), 200, "run {run}");
        wait_kustomization(&client, &namespace, running, "at the pushed commit", |ks| {
            applied(ks) == Some(revision.as_str())
        })
        .await?;
        latencies.push(sent.elapsed());
    }
    println!(
        "push-to-applied latency over {LATENCY_RUNS} webhook runs: {:?}; median {:?}",
        latencies,
        median(&latencies)
    );
    Ok(())
}
