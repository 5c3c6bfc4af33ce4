//! notification-controller as a real process against the real control
//! plane, with a capture server on loopback standing in for Slack and the
//! generic webhook: events recorded on Flux objects with fluxrs-runtime's
//! EventRecorder reach the Provider in its exact format; the seed Alert's
//! severity and exclusion regex drop what they should; a failure repeated
//! with changing durations is sent once and its recovery once; Flux's HTTP
//! event API is accepted; the github and gitlab Providers list and set
//! commit statuses with the forge's exact requests, only for the events
//! upstream sends them; Receivers annotate their resources on correctly
//! signed calls and touch nothing on bad ones; CEL resource filters pick
//! the resources a call annotates, and an invalid one stalls the Receiver.

mod common;

use std::sync::Mutex;

use anyhow::{Context as _, Result};
use fluxrs_api::kustomize::Kustomization;
use fluxrs_api::notification::Receiver;
use fluxrs_api::source::GitRepository;
use fluxrs_e2e::controller::ControllerProcess;
use fluxrs_e2e::{TestCluster, install_crds, shared};
use fluxrs_runtime::events::{Event, EventRecorder, EventType};
use hmac::{Hmac, Mac};
use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::OnceCell;

use common::{Capture, Ports, apply, kustomization, secret, seed_alerting};

/// The one controller of this test binary.
struct Running {
    process: Mutex<ControllerProcess>,
    ports: Ports,
}

async fn controller(cluster: &'static TestCluster) -> &'static Running {
    static RUNNING: OnceCell<Running> = OnceCell::const_new();
    RUNNING
        .get_or_init(|| async move {
            let client = cluster.client().await.expect("client");
            install_crds(&client).await.expect("CRDs installed");
            common::create_flux_system(&client)
                .await
                .expect("flux-system");
            let ports = Ports::free().expect("ports");
            let process =
                Mutex::new(common::start_controller(cluster, &ports).expect("controller starts"));
            common::wait_started(&client, || common::logs(&process))
                .await
                .expect("controller started");
            Running { process, ports }
        })
        .await
}

async fn setup(prefix: &str) -> Result<(Client, String, &'static Running)> {
    let cluster = shared();
    let running = controller(cluster).await;
    let client = cluster.client().await?;
    let namespace = cluster.create_namespace(&client, prefix).await?;
    Ok((client, namespace, running))
}

fn logs(running: &Running) -> impl Fn() -> String + '_ {
    move || common::logs(&running.process)
}

/// A generic(-hmac) Provider and an info Alert on every Kustomization.
fn generic_alerting(namespace: &str, kind: &str, data: &[(&str, &str)]) -> String {
    format!(
        r#"{secret}---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata:
  name: webhook
  namespace: {namespace}
spec:
  type: {kind}
  secretRef:
    name: webhook
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: everything
  namespace: {namespace}
spec:
  providerRef:
    name: webhook
  eventSources:
    - kind: Kustomization
      name: "*"
"#,
        secret = secret(namespace, "webhook", data),
    )
}

/// Records an error event on a `warmup` Kustomization and waits until it
/// reaches `path`. The Alert and Provider were applied before it, so from
/// then on the controller's caches hold them and the test's own events
/// cannot race their arrival.
async fn warm_up(
    client: &Client,
    namespace: &str,
    capture: &Capture,
    path: &str,
    running: &Running,
) -> Result<()> {
    apply(client, &kustomization(namespace, "warmup")).await?;
    let warmup = get_kustomization(client, namespace, "warmup").await?;
    EventRecorder::new(client.clone(), "kustomize-controller", "")?
        .record(
            &warmup,
            &Event::new(EventType::Warning, "Progressing", "warm-up"),
        )
        .await;
    capture.wait_for(path, 1, logs(running)).await?;
    Ok(())
}

/// The requests about object `name` (generic payloads).
fn about(received: &[common::Captured], name: &str) -> Vec<serde_json::Value> {
    received
        .iter()
        .map(common::Captured::json)
        .filter(|body| body["involvedObject"]["name"] == name)
        .collect()
}

async fn get_kustomization(client: &Client, namespace: &str, name: &str) -> Result<Kustomization> {
    Ok(Api::<Kustomization>::namespaced(client.clone(), namespace)
        .get(name)
        .await?)
}

#[tokio::test]
async fn seed_alert_sends_errors_to_slack_except_excluded_ones() -> Result<()> {
    let (client, namespace, running) = setup("slack").await?;
    let capture = Capture::start().await?;
    apply(&client, &seed_alerting(&namespace, &capture.url("/slack"))).await?;
    warm_up(&client, &namespace, &capture, "/slack", running).await?;
    apply(&client, &kustomization(&namespace, "webapp")).await?;
    apply(
        &client,
        &format!(
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: redis\n  namespace: {namespace}\nspec:\n  interval: 10m\n  chart:\n    spec:\n      chart: redis\n      sourceRef:\n        kind: HelmRepository\n        name: bitnami\n"
        ),
    )
    .await?;
    let webapp = get_kustomization(&client, &namespace, "webapp").await?;
    let redis: fluxrs_api::helm::HelmRelease = Api::namespaced(client.clone(), &namespace)
        .get("redis")
        .await?;
    let kustomize = EventRecorder::new(client.clone(), "kustomize-controller", "")?;
    let helm = EventRecorder::new(client.clone(), "helm-controller", "")?;

    // Info: below the Alert's severity.
    kustomize
        .record(
            &webapp,
            &Event::new(
                EventType::Normal,
                "ReconciliationSucceeded",
                "Applied revision: main@sha1:1111",
            )
            .with_metadata("revision", "main@sha1:1111"),
        )
        .await;
    // Matches the exclusion regex.
    helm.record(
        &redis,
        &Event::new(
            EventType::Warning,
            "UpgradeFailed",
            "Helm upgrade failed for release redis: upgrade retries exhausted",
        ),
    )
    .await;
    let message =
        "kustomize build failed: accumulating resources: missing file 'apps.yaml'\ncheck the path";
    kustomize
        .record(
            &webapp,
            &Event::new(EventType::Warning, "BuildFailed", message)
                .with_metadata("revision", "main@sha1:2222"),
        )
        .await;

    let received = capture.wait_for("/slack", 2, logs(running)).await?;
    let author = format!("kustomization/webapp.{namespace}");
    assert_eq!(
        received[1].json(),
        json!({
            "channel": "deployments",
            "username": "kustomize-controller",
            "icon_url": "",
            "icon_emoji": "",
            "attachments": [{
                "fallback": format!("{author}: kustomize build failed: accumulating resources: missing file 'apps.yaml'"),
                "color": "danger",
                "author_name": author,
                "text": message,
                "mrkdwn_in": ["text"],
                "fields": [
                    {"title": "revision", "value": "main@sha1:2222", "short": false},
                    {"title": "summary", "value": "Flux deployment issue detected", "short": false}
                ]
            }]
        })
    );
    assert_eq!(received[1].header("content-type"), "application/json");
    // The info and excluded events were handled (in watch order) before the
    // error that arrived; nothing else may follow.
    assert_eq!(capture.settle("/slack").await.len(), 2);
    Ok(())
}

#[tokio::test]
async fn generic_hmac_provider_receives_the_signed_event() -> Result<()> {
    let (client, namespace, running) = setup("hmac").await?;
    let capture = Capture::start().await?;
    let address = capture.url("/generic");
    let data = [
        ("address", address.as_str()),
        ("token", "hmac-key"),
        ("headers", "X-Team: platform\n"),
    ];
    apply(
        &client,
        &generic_alerting(&namespace, "generic-hmac", &data),
    )
    .await?;
    warm_up(&client, &namespace, &capture, "/generic", running).await?;
    apply(&client, &kustomization(&namespace, "webapp")).await?;
    let webapp = get_kustomization(&client, &namespace, "webapp").await?;
    EventRecorder::new(client.clone(), "kustomize-controller", "")?
        .record(
            &webapp,
            &Event::new(
                EventType::Normal,
                "ReconciliationSucceeded",
                "Applied revision: main@sha1:abcd",
            )
            .with_metadata("revision", "main@sha1:abcd"),
        )
        .await;

    let received = capture.wait_for("/generic", 2, logs(running)).await?;
    let request = &received[1];
    let mut mac = Hmac::<Sha256>::new_from_slice(b"hmac-key")?;
    mac.update(&request.body);
    assert_eq!(
        request.header("x-signature"),
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    );
    assert_eq!(request.header("gotk-component"), "kustomize-controller");
    assert_eq!(request.header("x-team"), "platform");
    let body = request.json();
    let timestamp = body["timestamp"].as_str().unwrap_or_default();
    assert!(
        timestamp.len() == 20 && timestamp.ends_with('Z'),
        "RFC 3339 with seconds: {timestamp}"
    );
    assert!(
        !body["reportingInstance"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );
    // involvedObject is the recorded Event's `regarding`, verbatim.
    let recorded = Api::<K8sEvent>::namespaced(client.clone(), &namespace)
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("ReconciliationSucceeded"))
        .context("the recorded Event")?;
    let regarding = recorded.regarding.context("regarding")?;
    assert_eq!(regarding.uid, webapp.uid());
    assert_eq!(
        body,
        json!({
            "involvedObject": regarding,
            "severity": "info",
            "timestamp": timestamp,
            "message": "Applied revision: main@sha1:abcd",
            "reason": "ReconciliationSucceeded",
            "metadata": {"revision": "main@sha1:abcd"},
            "reportingController": "kustomize-controller",
            "reportingInstance": body["reportingInstance"],
        })
    );
    Ok(())
}

/// A commit status Provider of `kind` at `address` with an info Alert on
/// every Kustomization; returns the Provider's UID.
async fn commit_status_alerting(
    client: &Client,
    namespace: &str,
    kind: &str,
    address: &str,
    token: &str,
) -> Result<String> {
    apply(
        client,
        &format!(
            r#"{secret}---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata:
  name: forge
  namespace: {namespace}
spec:
  type: {kind}
  address: {address}
  secretRef:
    name: forge-token
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: commits
  namespace: {namespace}
spec:
  providerRef:
    name: forge
  eventSources:
    - kind: Kustomization
      name: "*"
"#,
            secret = secret(namespace, "forge-token", &[("token", token)]),
        ),
    )
    .await?;
    let provider: fluxrs_api::notification::Provider = Api::namespaced(client.clone(), namespace)
        .get("forge")
        .await?;
    provider.uid().context("the Provider's UID")
}

/// A 40-digit commit SHA made of `digit`.
fn sha(digit: char) -> String {
    std::iter::repeat_n(digit, 40).collect()
}

/// Records a failure of a `warmup` Kustomization at commit `sha('0')` and
/// waits for its status at `create_path`: from then on the controller's
/// caches hold the Alert and Provider.
async fn warm_up_forge(
    client: &Client,
    namespace: &str,
    capture: &Capture,
    create_path: &str,
    running: &Running,
) -> Result<()> {
    apply(client, &kustomization(namespace, "warmup")).await?;
    let warmup = get_kustomization(client, namespace, "warmup").await?;
    EventRecorder::new(client.clone(), "kustomize-controller", "")?
        .record(
            &warmup,
            &Event::new(EventType::Warning, "BuildFailed", "warm-up")
                .with_metadata("revision", format!("main@sha1:{}", sha('0'))),
        )
        .await;
    capture.wait_for(create_path, 1, logs(running)).await?;
    Ok(())
}

/// What kustomize-controller records on a Kustomization: progress, a
/// plain success (no commit status), the success marked as commit status
/// update at commit `sha('1')`, and a build failure at commit `sha('2')`.
async fn record_reconciliations(client: &Client, namespace: &str) -> Result<()> {
    apply(client, &kustomization(namespace, "webapp")).await?;
    let webapp = get_kustomization(client, namespace, "webapp").await?;
    let recorder = EventRecorder::new(client.clone(), "kustomize-controller", "")?;
    let applied = format!("main@sha1:{}", sha('1'));
    recorder
        .record(
            &webapp,
            &Event::new(
                EventType::Normal,
                "Progressing",
                "Deployment/apps/web created",
            )
            .with_metadata("revision", &applied),
        )
        .await;
    recorder
        .record(
            &webapp,
            &Event::new(
                EventType::Normal,
                "DependencyReady",
                "all dependencies are ready",
            )
            .with_metadata("revision", &applied),
        )
        .await;
    recorder
        .record(
            &webapp,
            &Event::new(
                EventType::Normal,
                "ReconciliationSucceeded",
                "Reconciliation finished in 1.2s, next run in 5m",
            )
            .with_metadata("revision", &applied)
            .with_metadata("commit_status", "update"),
        )
        .await;
    recorder
        .record(
            &webapp,
            &Event::new(EventType::Warning, "BuildFailed", "kustomize build failed")
                .with_metadata("revision", format!("main/{}", sha('2'))),
        )
        .await;
    Ok(())
}

/// The one request with `method` on `path`, after the others settled.
fn only(received: &[common::Captured], method: &str) -> Result<common::Captured> {
    let matching: Vec<_> = received.iter().filter(|r| r.method == method).collect();
    anyhow::ensure!(
        matching.len() == 1,
        "expected one {method}, got {}: {received:#?}",
        matching.len()
    );
    Ok(matching[0].clone())
}

#[tokio::test]
async fn github_provider_sets_commit_statuses() -> Result<()> {
    let (client, namespace, running) = setup("github").await?;
    let capture = Capture::start().await?;
    let uid = commit_status_alerting(
        &client,
        &namespace,
        "github",
        &capture.url("/org/app.git"),
        "ghp_test",
    )
    .await?;
    let statuses = |digit| format!("/api/v3/repos/org/app/statuses/{}", sha(digit));
    let listing = |digit| format!("/api/v3/repos/org/app/commits/{}/statuses", sha(digit));
    warm_up_forge(&client, &namespace, &capture, &statuses('0'), running).await?;
    record_reconciliations(&client, &namespace).await?;

    capture.wait_for(&statuses('2'), 1, logs(running)).await?;
    let context = format!(
        "kustomization/webapp/{}",
        uid.split('-').next().unwrap_or_default()
    );
    for (digit, state, description) in [
        ('1', "success", "reconciliation succeeded"),
        ('2', "failure", "build failed"),
    ] {
        let lookup = only(&capture.settle(&listing(digit)).await, "GET")?;
        assert_eq!(lookup.query, "per_page=50");
        assert_eq!(lookup.header("authorization"), "Bearer ghp_test");
        assert_eq!(lookup.header("accept"), "application/vnd.github.v3+json");
        assert_eq!(lookup.header("x-github-api-version"), "2022-11-28");
        let create = only(&capture.received(&statuses(digit)), "POST")?;
        assert_eq!(create.query, "");
        assert_eq!(create.header("authorization"), "Bearer ghp_test");
        assert_eq!(create.header("content-type"), "application/json");
        assert_eq!(
            create.json(),
            json!({"state": state, "description": description, "context": context})
        );
    }
    Ok(())
}

#[tokio::test]
async fn gitlab_provider_sets_commit_statuses() -> Result<()> {
    let (client, namespace, running) = setup("gitlab").await?;
    let capture = Capture::start().await?;
    let uid = commit_status_alerting(
        &client,
        &namespace,
        "gitlab",
        &capture.url("/group/sub/app"),
        "glpat-test",
    )
    .await?;
    let project = "/api/v4/projects/group%2Fsub%2Fapp";
    let statuses = |digit| format!("{project}/statuses/{}", sha(digit));
    let listing = |digit| format!("{project}/repository/commits/{}/statuses", sha(digit));
    warm_up_forge(&client, &namespace, &capture, &statuses('0'), running).await?;
    record_reconciliations(&client, &namespace).await?;

    capture.wait_for(&statuses('2'), 1, logs(running)).await?;
    let name = format!(
        "kustomization/webapp/{}",
        uid.split('-').next().unwrap_or_default()
    );
    for (digit, state, description) in [
        ('1', "success", "reconciliation succeeded"),
        ('2', "failed", "build failed"),
    ] {
        let lookup = only(&capture.settle(&listing(digit)).await, "GET")?;
        assert_eq!(lookup.query, format!("name={}", name.replace('/', "%2F")));
        assert_eq!(lookup.header("private-token"), "glpat-test");
        let create = only(&capture.received(&statuses(digit)), "POST")?;
        assert_eq!(create.header("private-token"), "glpat-test");
        assert_eq!(create.header("content-type"), "application/json");
        assert_eq!(
            create.json(),
            json!({"state": state, "name": name, "description": description})
        );
    }
    Ok(())
}

#[tokio::test]
async fn repeated_failure_is_sent_once_and_recovery_once() -> Result<()> {
    let (client, namespace, running) = setup("dedupe").await?;
    let capture = Capture::start().await?;
    let address = capture.url("/generic");
    apply(
        &client,
        &generic_alerting(&namespace, "generic", &[("address", &address)]),
    )
    .await?;
    warm_up(&client, &namespace, &capture, "/generic", running).await?;
    apply(&client, &kustomization(&namespace, "webapp")).await?;
    apply(&client, &kustomization(&namespace, "sentinel")).await?;
    let webapp = get_kustomization(&client, &namespace, "webapp").await?;
    let sentinel = get_kustomization(&client, &namespace, "sentinel").await?;
    let recorder = EventRecorder::new(client.clone(), "kustomize-controller", "")?;

    for attempt in 1..=5 {
        let message = format!(
            "health check failed after {attempt}m{}s: timeout waiting for Deployment/apps/web, retrying in {}s",
            attempt * 7,
            30 * attempt
        );
        recorder
            .record(
                &webapp,
                &Event::new(EventType::Warning, "HealthCheckFailed", message)
                    .with_metadata("revision", "main@sha1:3333"),
            )
            .await;
    }
    let recovered = Event::new(
        EventType::Normal,
        "ReconciliationSucceeded",
        "Applied revision: main@sha1:3333",
    )
    .with_metadata("revision", "main@sha1:3333");
    recorder.record(&webapp, &recovered).await;
    recorder.record(&webapp, &recovered).await;
    recorder
        .record(
            &sentinel,
            &Event::new(EventType::Normal, "ReconciliationSucceeded", "sentinel"),
        )
        .await;

    capture.wait_for("/generic", 4, logs(running)).await?;
    let received = capture.settle("/generic").await;
    let webapp_messages = about(&received, "webapp");
    let mut reasons: Vec<&str> = webapp_messages
        .iter()
        .map(|body| body["reason"].as_str().unwrap_or_default())
        .collect();
    reasons.sort_unstable();
    assert_eq!(
        reasons,
        ["HealthCheckFailed", "ReconciliationSucceeded"],
        "one failure and one recovery: {webapp_messages:#?}"
    );
    let first = webapp_messages
        .iter()
        .find(|b| b["reason"] == "HealthCheckFailed")
        .context("the failure")?;
    assert!(
        first["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("health check failed after 1m7s"),
        "the first failure is the one sent: {first}"
    );
    Ok(())
}

#[tokio::test]
async fn flux_event_api_accepts_posts_and_rate_limits_repeats() -> Result<()> {
    let (client, namespace, running) = setup("events-api").await?;
    let capture = Capture::start().await?;
    let address = capture.url("/generic");
    apply(
        &client,
        &generic_alerting(&namespace, "generic", &[("address", &address)]),
    )
    .await?;
    warm_up(&client, &namespace, &capture, "/generic", running).await?;

    let url = format!("http://127.0.0.1:{}/", running.ports.events);
    let event = json!({
        "involvedObject": {"kind": "Kustomization", "namespace": namespace, "name": "posted",
                           "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
        "severity": "error", "timestamp": "2024-01-01T00:00:00Z",
        "message": "posted by an upstream controller", "reason": "BuildFailed",
        "metadata": {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:4444",
                     "kustomize.toolkit.fluxcd.io/checksum": "dropped"},
        "reportingController": "kustomize-controller"
    });
    let http = http()?;
    let first = http.post(&url).json_body(&event)?.send().await?;
    assert_eq!(first.status().as_u16(), 202);
    let again = http.post(&url).json_body(&event)?.send().await?;
    assert_eq!(again.status().as_u16(), 429);
    let invalid = http.post(&url).body("not json").send().await?;
    assert_eq!(invalid.status().as_u16(), 400);

    let received = capture.wait_for("/generic", 2, logs(running)).await?;
    let posted = received[1].json();
    assert_eq!(posted["involvedObject"]["name"], "posted");
    assert_eq!(posted["metadata"], json!({"revision": "main@sha1:4444"}));
    Ok(())
}

/// A client for plain-HTTP calls to the controller.
fn http() -> Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .context("HTTP client")
}

/// Helper so tests can POST JSON without reqwest's `json` feature.
trait JsonBody {
    fn json_body(self, value: &serde_json::Value) -> Result<reqwest::RequestBuilder>;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, value: &serde_json::Value) -> Result<reqwest::RequestBuilder> {
        Ok(self
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(value)?))
    }
}

fn sign(key: &str, body: &[u8]) -> Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

fn git_repository(namespace: &str, name: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  interval: 10m\n  url: https://github.com/stefanprodan/podinfo\n  ref:\n    branch: main\n"
    )
}

fn receiver(namespace: &str, name: &str, kind: &str, extra: &str) -> String {
    format!(
        "apiVersion: notification.toolkit.fluxcd.io/v1\nkind: Receiver\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  type: {kind}\n{extra}  resources:\n    - kind: GitRepository\n      name: podinfo\n  secretRef:\n    name: webhook-token\n"
    )
}

/// Waits for the Receiver to be Ready and returns its webhook path.
async fn ready_path(
    client: &Client,
    namespace: &str,
    name: &str,
    running: &Running,
) -> Result<String> {
    let api: Api<Receiver> = Api::namespaced(client.clone(), namespace);
    common::eventually(&format!("Receiver {name} Ready"), logs(running), || {
        let api = api.clone();
        async move {
            let receiver = api.get(name).await?;
            let status = receiver.status.unwrap_or_default();
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

async fn requested_at(client: &Client, namespace: &str) -> Result<Option<String>> {
    requested_at_of(client, namespace, "podinfo").await
}

async fn requested_at_of(client: &Client, namespace: &str, name: &str) -> Result<Option<String>> {
    let repo: GitRepository = Api::namespaced(client.clone(), namespace).get(name).await?;
    Ok(repo
        .annotations()
        .get("reconcile.fluxcd.io/requestedAt")
        .cloned())
}

#[tokio::test]
async fn generic_hmac_receiver_annotates_only_on_valid_signatures() -> Result<()> {
    let (client, namespace, running) = setup("receiver-hmac").await?;
    apply(&client, &git_repository(&namespace, "podinfo")).await?;
    apply(
        &client,
        &secret(&namespace, "webhook-token", &[("token", "receiver-token")]),
    )
    .await?;
    apply(
        &client,
        &receiver(&namespace, "generic", "generic-hmac", ""),
    )
    .await?;
    let path = ready_path(&client, &namespace, "generic", running).await?;
    let expected = format!(
        "/hook/{}",
        hex::encode(<Sha256 as sha2::Digest>::digest(
            format!("receiver-tokengeneric{namespace}").as_bytes()
        ))
    );
    assert_eq!(path, expected);
    let http = http()?;
    let url = format!("http://127.0.0.1:{}{path}", running.ports.receiver);
    let body = br#"{"action":"push"}"#;

    let forged = http
        .post(&url)
        .header("X-Signature", sign("wrong-token", body)?)
        .body(body.to_vec())
        .send()
        .await?;
    assert_eq!(forged.status().as_u16(), 401);
    let unsigned = http.post(&url).body(body.to_vec()).send().await?;
    assert_eq!(unsigned.status().as_u16(), 401);
    assert_eq!(
        requested_at(&client, &namespace).await?,
        None,
        "nothing touched"
    );

    let signed = http
        .post(&url)
        .header("X-Signature", sign("receiver-token", body)?)
        .body(body.to_vec())
        .send()
        .await?;
    assert_eq!(signed.status().as_u16(), 200);
    let token = requested_at(&client, &namespace)
        .await?
        .context("annotated")?;
    assert!(token.ends_with(" +0000 UTC"), "Go time.String(): {token}");

    let unknown = http
        .post(format!(
            "http://127.0.0.1:{}/hook/0000",
            running.ports.receiver
        ))
        .body(body.to_vec())
        .send()
        .await?;
    assert_eq!(unknown.status().as_u16(), 404);

    Api::<Receiver>::namespaced(client.clone(), &namespace)
        .patch(
            "generic",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": true}})),
        )
        .await?;
    common::eventually("a suspended Receiver answering 503", logs(running), || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let response = http
                .post(&url)
                .header("X-Signature", sign("receiver-token", body)?)
                .body(body.to_vec())
                .send()
                .await?;
            Ok((response.status().as_u16() == 503).then_some(()))
        }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn github_receiver_checks_signature_and_event_type() -> Result<()> {
    let (client, namespace, running) = setup("receiver-github").await?;
    apply(&client, &git_repository(&namespace, "podinfo")).await?;
    apply(
        &client,
        &secret(&namespace, "webhook-token", &[("token", "github-secret")]),
    )
    .await?;
    apply(
        &client,
        &receiver(&namespace, "github", "github", "  events:\n    - push\n"),
    )
    .await?;
    let path = ready_path(&client, &namespace, "github", running).await?;
    let http = http()?;
    let url = format!("http://127.0.0.1:{}{path}", running.ports.receiver);
    let body = br#"{"ref":"refs/heads/main","after":"0123456789abcdef"}"#;
    let call = |event: &'static str, signature: String| {
        http.post(&url)
            .header("Content-Type", "application/json")
            .header("X-GitHub-Event", event)
            .header("X-Hub-Signature-256", signature)
            .body(body.to_vec())
            .send()
    };

    let forged = call("push", sign("not-the-secret", body)?).await?;
    assert_eq!(forged.status().as_u16(), 401);
    let ping = call("ping", sign("github-secret", body)?).await?;
    assert_eq!(ping.status().as_u16(), 400, "only push events are accepted");
    assert_eq!(
        requested_at(&client, &namespace).await?,
        None,
        "nothing touched"
    );

    let push = call("push", sign("github-secret", body)?).await?;
    assert_eq!(push.status().as_u16(), 200);
    assert!(requested_at(&client, &namespace).await?.is_some());
    Ok(())
}

/// A GitRepository labelled `app: web`, for wildcard Receiver entries.
fn labelled_git_repository(namespace: &str, name: &str) -> String {
    git_repository(namespace, name).replacen(
        &format!("  name: {name}\n"),
        &format!("  name: {name}\n  labels:\n    app: web\n"),
        1,
    )
}

#[tokio::test]
async fn resource_filters_choose_the_annotated_resources() -> Result<()> {
    let (client, namespace, running) = setup("receiver-cel").await?;
    for name in ["podinfo", "skipped"] {
        apply(&client, &labelled_git_repository(&namespace, name)).await?;
    }
    apply(
        &client,
        &secret(&namespace, "webhook-token", &[("token", "cel-token")]),
    )
    .await?;
    let manifest = format!(
        r#"apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata:
  name: filtered
  namespace: {namespace}
spec:
  type: generic
  resourceFilter: "req.ref == 'refs/heads/main'"
  resources:
    - kind: GitRepository
      name: "*"
      matchLabels:
        app: web
      filter: "res.metadata.name != 'skipped' && res.kind == 'GitRepository'"
  secretRef:
    name: webhook-token
"#
    );
    apply(&client, &manifest).await?;
    let path = ready_path(&client, &namespace, "filtered", running).await?;
    let http = http()?;
    let url = format!("http://127.0.0.1:{}{path}", running.ports.receiver);

    let dev = http
        .post(&url)
        .json_body(&json!({"ref": "refs/heads/dev"}))?
        .send()
        .await?;
    assert_eq!(dev.status().as_u16(), 200);
    assert_eq!(
        requested_at(&client, &namespace).await?,
        None,
        "filtered out by ref"
    );

    let not_json = http.post(&url).body("ref=main").send().await?;
    assert_eq!(
        not_json.status().as_u16(),
        500,
        "req.ref missing from an empty req"
    );
    assert_eq!(requested_at(&client, &namespace).await?, None);

    let main = http
        .post(&url)
        .json_body(&json!({"ref": "refs/heads/main"}))?
        .send()
        .await?;
    assert_eq!(main.status().as_u16(), 200);
    assert!(requested_at(&client, &namespace).await?.is_some());
    assert_eq!(
        requested_at_of(&client, &namespace, "skipped").await?,
        None,
        "refused by the entry's filter"
    );

    let invalid = manifest.replace("req.ref == 'refs/heads/main'", "req.ref == ");
    apply(&client, &invalid).await?;
    let api: Api<Receiver> = Api::namespaced(client.clone(), &namespace);
    let stalled = common::eventually("Receiver stalled on invalid CEL", logs(running), || {
        let api = api.clone();
        async move {
            let receiver = api.get("filtered").await?;
            let stalled = receiver
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .into_iter()
                .find(|c| c.type_ == "Stalled" && c.status == "True");
            Ok(stalled)
        }
    })
    .await?;
    assert_eq!(stalled.reason, "InvalidCELExpression");
    assert_eq!(
        stalled.message,
        "invalid CEL expression in spec.resourceFilter: syntax error at line 1, column 12: unexpected end of expression"
    );
    Ok(())
}
