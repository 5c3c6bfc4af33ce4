//! Helpers shared by the notification-controller integration tests: the
//! controller process, a webhook capture server standing in for Slack and
//! the other providers, manifests, and waiting with deadlines.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use fluxrs_e2e::controller::ControllerProcess;
use fluxrs_e2e::{TestCluster, apply_manifests, parse_documents};
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, PostParams};

/// How long any awaited state may take; only reached when something is broken.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// How long a test waits to show that no further message arrives. Proving
/// an absence needs some bounded wait; every message the controller could
/// still send was dispatched before the message the test already waited
/// for, so this only covers the HTTP round trip.
pub const QUIET: Duration = Duration::from_secs(2);

/// Ports the controller listens on.
pub struct Ports {
    /// `--events-addr`.
    pub events: u16,
    /// `--receiverAddr`.
    pub receiver: u16,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Ports {
    /// Two free loopback ports.
    pub fn free() -> Result<Self> {
        Ok(Self {
            events: free_port()?,
            receiver: free_port()?,
        })
    }
}

/// Starts notification-controller against `cluster` on `ports`.
pub fn start_controller(cluster: &TestCluster, ports: &Ports) -> Result<ControllerProcess> {
    let binary = Path::new(env!("CARGO_BIN_EXE_notification-controller"));
    let (events, receiver) = (ports.events, ports.receiver);
    Ok(ControllerProcess::start(
        cluster,
        "notification-controller",
        binary,
        |_| {
            vec![
                format!("--events-addr=127.0.0.1:{events}"),
                format!("--receiverAddr=127.0.0.1:{receiver}"),
                "--metrics-addr=0".into(),
                "--health-addr=0".into(),
                "--log-encoding=console".into(),
                "--log-level=debug".into(),
            ]
        },
    )?)
}

/// Waits until the controller has persisted its starting point (the state
/// ConfigMap exists): events recorded from then on are announced, earlier
/// ones are the past of a first start.
pub async fn wait_started(client: &Client, logs: impl Fn() -> String) -> Result<()> {
    let state: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), "flux-system");
    eventually("the controller to persist its state", logs, || {
        let state = state.clone();
        async move {
            Ok(state
                .get_opt("notification-controller-state")
                .await?
                .map(drop))
        }
    })
    .await
}

/// Creates the controller's namespace (`RUNTIME_NAMESPACE=flux-system`).
pub async fn create_flux_system(client: &Client) -> Result<()> {
    let namespace = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some("flux-system".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    match Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Applies multi-document YAML.
pub async fn apply(client: &Client, yaml: &str) -> Result<()> {
    apply_manifests(client, &parse_documents(yaml)?).await?;
    Ok(())
}

/// A Secret with string data.
pub fn secret(namespace: &str, name: &str, data: &[(&str, &str)]) -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\nstringData:\n"
    );
    for (key, value) in data {
        let value = serde_json::to_string(value).unwrap_or_default();
        yaml.push_str(&format!("  {key}: {value}\n"));
    }
    yaml
}

/// The seed Provider and Alert (deployment-alerts) in `namespace`, the
/// Provider's Secret pointing at `address`.
pub fn seed_alerting(namespace: &str, address: &str) -> String {
    format!(
        r#"{secret}---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata:
  name: slack
  namespace: {namespace}
spec:
  type: slack
  channel: deployments
  secretRef:
    name: slack-webhook
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: deployment-alerts
  namespace: {namespace}
spec:
  providerRef:
    name: slack
  eventSeverity: error
  eventSources:
    - kind: Kustomization
      name: "*"
    - kind: HelmRelease
      name: "*"
  exclusionList:
    - ".*upgrade.*retries exhausted.*"
  summary: "Flux deployment issue detected"
"#,
        secret = secret(namespace, "slack-webhook", &[("address", address)]),
    )
}

/// A Kustomization with a valid spec (nothing reconciles it in these tests).
pub fn kustomization(namespace: &str, name: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  interval: 5m\n  path: ./deploy\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: platform-repo\n"
    )
}

/// One request received by the capture server.
#[derive(Clone, Debug)]
pub struct Captured {
    /// Request method.
    pub method: String,
    /// Request path, percent-encoded as sent.
    pub path: String,
    /// Query string (empty without one).
    pub query: String,
    /// Request headers.
    pub headers: HeaderMap,
    /// Raw body.
    pub body: Vec<u8>,
}

impl Captured {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A header value as text.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A loopback HTTP server recording every request and answering 200, in
/// place of Slack and the other providers.
#[derive(Clone)]
pub struct Capture {
    address: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<Captured>>>,
}

/// Records the request; answers GETs with an empty JSON list (a forge
/// without commit statuses) and everything else with `ok`.
async fn record(
    State(requests): State<Arc<Mutex<Vec<Captured>>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Captured {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or_default().to_owned(),
            headers,
            body: body.to_vec(),
        });
    if method == Method::GET { "[]" } else { "ok" }
}

impl Capture {
    /// Starts the server on 127.0.0.1 with a free port.
    pub async fn start() -> Result<Self> {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .fallback(record)
            .with_state(Arc::clone(&requests));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { address, requests })
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Requests received on `path` so far.
    pub fn received(&self, path: &str) -> Vec<Captured> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` received at least `count` requests.
    pub async fn wait_for(
        &self,
        path: &str,
        count: usize,
        logs: impl Fn() -> String,
    ) -> Result<Vec<Captured>> {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let received = self.received(path);
            if received.len() >= count {
                return Ok(received);
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "timed out waiting for {count} requests on {path}, got {}: {:#?}\n{}",
                    received.len(),
                    received.iter().map(Captured::json).collect::<Vec<_>>(),
                    logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits [`QUIET`] and returns everything `path` received.
    pub async fn settle(&self, path: &str) -> Vec<Captured> {
        tokio::time::sleep(QUIET).await;
        self.received(path)
    }
}

/// The log tail of the controller, for failure messages.
pub fn logs(process: &Mutex<ControllerProcess>) -> String {
    let mut process = process.lock().unwrap_or_else(|p| p.into_inner());
    let state = match process.check_running() {
        Ok(()) => "running".to_owned(),
        Err(e) => e.to_string(),
    };
    format!(
        "notification-controller is {state}; log tail:\n{}",
        process.log_tail()
    )
}

/// Polls `check` until it returns `Some`, failing after [`TIMEOUT`].
pub async fn eventually<T, F, Fut>(what: &str, logs: impl Fn() -> String, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("timed out waiting for {what}\n{}", logs());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
