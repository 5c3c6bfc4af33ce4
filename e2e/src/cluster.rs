//! A real, throwaway Kubernetes control plane: etcd, kube-apiserver (RBAC on),
//! kube-controller-manager, kube-scheduler and kwok with one fake node, on random
//! loopback ports with freshly generated certificates.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::{Namespace, Node, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use rand::Rng;
use tempfile::TempDir;

use crate::binaries::{self, ClusterBinaries};
use crate::pki::ClusterPki;
use crate::process::{ManagedProcess, Watchdog, log_tail};
use crate::{Error, Result};

/// Name of the fake node kwok manages; Pods are scheduled onto it.
pub const FAKE_NODE: &str = "kwok-node-0";

/// How long a component may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A running control plane. Dropping it stops every component and deletes its
/// files; if the process dies instead, the watchdog does the same.
pub struct TestCluster {
    // Field order is drop order: components first, then the watchdog, then files.
    processes: Vec<ManagedProcess>,
    _watchdog: Watchdog,
    dir: TempDir,
    kubeconfig: Kubeconfig,
    kubeconfig_path: PathBuf,
    server: String,
}

impl TestCluster {
    /// Builds the binaries if needed, starts every component and waits until the
    /// apiserver is ready, the fake node is Ready and the controller manager has
    /// created the `default` ServiceAccount.
    pub async fn start() -> Result<Self> {
        let binaries = tokio::task::spawn_blocking(binaries::ensure_built)
            .await
            .map_err(|e| Error::Pki(format!("binary build task failed: {e}")))??;
        let dir = tempfile::Builder::new()
            .prefix("fluxrs-cluster-")
            .tempdir()
            .map_err(|e| Error::io(Path::new("/tmp"), e))?;
        let layout = Layout::write(dir.path(), &ClusterPki::generate()?)?;
        let ports = Ports::pick()?;
        let server = format!("https://127.0.0.1:{}", ports.apiserver);
        let kubeconfig_yaml = admin_kubeconfig(&server, &layout.pki_pem)?;
        let kubeconfig_path = dir.path().join("admin.kubeconfig");
        fs::write(&kubeconfig_path, &kubeconfig_yaml)
            .map_err(|e| Error::io(&kubeconfig_path, e))?;
        let kubeconfig = Kubeconfig::from_yaml(&kubeconfig_yaml).map_err(Error::from)?;

        let etcd = ManagedProcess::spawn(
            "etcd",
            &binaries.etcd,
            &etcd_args(dir.path(), &ports),
            &layout.logs,
            0,
        )?;
        let group = etcd.id();
        let watchdog = Watchdog::arm(group, dir.path())?;
        let mut cluster = Self {
            processes: vec![etcd],
            _watchdog: watchdog,
            dir,
            kubeconfig,
            kubeconfig_path,
            server,
        };
        cluster.spawn(
            &binaries.kube_apiserver,
            "kube-apiserver",
            apiserver_args(&layout, &ports),
            group,
        )?;
        let client = cluster.client().await?;
        cluster.wait_apiserver_ready(&client).await?;
        cluster.spawn_workload_components(&binaries, &layout, &ports, group)?;
        cluster.wait_node_ready(&client).await?;
        cluster.wait_default_service_account(&client).await?;
        Ok(cluster)
    }

    /// A new client with the admin (system:masters) identity. Create one per
    /// test: clients are bound to the async runtime that created them.
    pub async fn client(&self) -> Result<Client> {
        let config =
            Config::from_custom_kubeconfig(self.kubeconfig.clone(), &KubeConfigOptions::default())
                .await
                .map_err(|e| Error::Kube(e.to_string()))?;
        Client::try_from(config).map_err(Error::from)
    }

    /// Path of the admin kubeconfig, for subprocesses (controllers, kubectl).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The admin kubeconfig itself.
    pub fn kubeconfig(&self) -> &Kubeconfig {
        &self.kubeconfig
    }

    /// HTTPS URL of the apiserver.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Folder holding every component's log file.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    /// Creates a namespace with a random suffix so tests sharing the cluster
    /// never see each other's objects.
    pub async fn create_namespace(&self, client: &Client, prefix: &str) -> Result<String> {
        let suffix: u32 = rand::rng().random_range(0..1_000_000);
        let name = format!("{prefix}-{suffix:06}");
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await?;
        Ok(name)
    }

    fn spawn(&mut self, binary: &Path, name: &str, args: Vec<String>, group: u32) -> Result<()> {
        let process = ManagedProcess::spawn(name, binary, &args, &self.log_dir(), group)?;
        self.processes.push(process);
        Ok(())
    }

    fn spawn_workload_components(
        &mut self,
        binaries: &ClusterBinaries,
        layout: &Layout,
        ports: &Ports,
        group: u32,
    ) -> Result<()> {
        self.spawn(
            &binaries.kube_controller_manager,
            "kube-controller-manager",
            controller_manager_args(layout, ports),
            group,
        )?;
        self.spawn(
            &binaries.kube_scheduler,
            "kube-scheduler",
            scheduler_args(layout, ports),
            group,
        )?;
        self.spawn(&binaries.kwok, "kwok", kwok_args(layout, ports), group)
    }

    fn check_processes(&mut self) -> Result<()> {
        self.processes
            .iter_mut()
            .try_for_each(ManagedProcess::check_running)
    }

    fn not_ready(&self, component: &str) -> Error {
        Error::NotReady {
            component: component.to_string(),
            seconds: READY_TIMEOUT.as_secs(),
            log: log_tail(&self.log_dir().join(format!("{component}.log"))),
        }
    }

    async fn wait_apiserver_ready(&mut self, client: &Client) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            self.check_processes()?;
            let request = http::Request::get("/readyz")
                .body(Vec::new())
                .map_err(|e| Error::Kube(e.to_string()))?;
            if client
                .request_text(request)
                .await
                .is_ok_and(|body| body.trim() == "ok")
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(self.not_ready("kube-apiserver"))
    }

    async fn wait_node_ready(&mut self, client: &Client) -> Result<()> {
        let nodes: Api<Node> = Api::all(client.clone());
        nodes.create(&PostParams::default(), &fake_node()).await?;
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            self.check_processes()?;
            let node = nodes.get(FAKE_NODE).await?;
            let ready = node
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            if ready {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(self.not_ready("kwok"))
    }

    async fn wait_default_service_account(&mut self, client: &Client) -> Result<()> {
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            self.check_processes()?;
            if accounts.get_opt("default").await?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(self.not_ready("kube-controller-manager"))
    }
}

/// The cluster shared by every test of one test binary, started on first use.
///
/// Panics with the startup error (which names the failing component or build
/// command) if the cluster cannot start: a test must never be skipped silently.
pub fn shared() -> &'static TestCluster {
    static CLUSTER: OnceLock<std::result::Result<TestCluster, String>> = OnceLock::new();
    let cluster = CLUSTER.get_or_init(|| {
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime
                .block_on(TestCluster::start())
                .map_err(|e| e.to_string())
        })
        .join()
        .unwrap_or_else(|_| Err("the cluster start thread panicked".to_string()))
    });
    match cluster {
        Ok(cluster) => cluster,
        Err(message) => panic!("the test cluster could not start: {message}"),
    }
}

/// Files the components read, inside the cluster's directory.
struct Layout {
    dir: PathBuf,
    logs: PathBuf,
    pki_pem: PkiFiles,
}

/// Paths of the PEM files plus the contents a kubeconfig embeds.
struct PkiFiles {
    ca_cert: PathBuf,
    serving_cert: PathBuf,
    serving_key: PathBuf,
    sa_key: PathBuf,
    sa_pub: PathBuf,
    ca_pem: String,
    admin_cert_pem: String,
    admin_key_pem: String,
}

impl Layout {
    fn write(dir: &Path, pki: &ClusterPki) -> Result<Self> {
        let pki_dir = dir.join("pki");
        let logs = dir.join("logs");
        for d in [&pki_dir, &logs] {
            fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        let write = |name: &str, pem: &str| -> Result<PathBuf> {
            let path = pki_dir.join(name);
            fs::write(&path, pem).map_err(|e| Error::io(&path, e))?;
            Ok(path)
        };
        let pki_pem = PkiFiles {
            ca_cert: write("ca.crt", &pki.ca_cert)?,
            serving_cert: write("apiserver.crt", &pki.serving_cert)?,
            serving_key: write("apiserver.key", &pki.serving_key)?,
            sa_key: write("sa.key", &pki.service_account_key)?,
            sa_pub: write("sa.pub", &pki.service_account_pub)?,
            ca_pem: pki.ca_cert.clone(),
            admin_cert_pem: pki.admin_cert.clone(),
            admin_key_pem: pki.admin_key.clone(),
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            logs,
            pki_pem,
        })
    }

    fn kubeconfig(&self) -> String {
        self.dir.join("admin.kubeconfig").display().to_string()
    }
}

/// Loopback ports, picked by binding to port 0 and releasing the socket.
struct Ports {
    etcd_client: u16,
    etcd_peer: u16,
    apiserver: u16,
    controller_manager: u16,
    scheduler: u16,
    kwok: u16,
}

impl Ports {
    fn pick() -> Result<Self> {
        // Hold all listeners until every port is chosen so none is picked twice.
        let listeners = (0..6)
            .map(|_| {
                TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io(Path::new("127.0.0.1:0"), e))
            })
            .collect::<Result<Vec<_>>>()?;
        let port = |i: usize| -> Result<u16> {
            listeners[i]
                .local_addr()
                .map(|a| a.port())
                .map_err(|e| Error::io(Path::new("127.0.0.1:0"), e))
        };
        Ok(Self {
            etcd_client: port(0)?,
            etcd_peer: port(1)?,
            apiserver: port(2)?,
            controller_manager: port(3)?,
            scheduler: port(4)?,
            kwok: port(5)?,
        })
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn etcd_args(dir: &Path, ports: &Ports) -> Vec<String> {
    let client = format!("http://127.0.0.1:{}", ports.etcd_client);
    let peer = format!("http://127.0.0.1:{}", ports.etcd_peer);
    vec![
        format!("--data-dir={}", path(&dir.join("etcd"))),
        format!("--listen-client-urls={client}"),
        format!("--advertise-client-urls={client}"),
        format!("--listen-peer-urls={peer}"),
        format!("--initial-advertise-peer-urls={peer}"),
        format!("--initial-cluster=default={peer}"),
        "--unsafe-no-fsync=true".into(),
        "--log-level=warn".into(),
    ]
}

fn apiserver_args(layout: &Layout, ports: &Ports) -> Vec<String> {
    let pki = &layout.pki_pem;
    vec![
        format!("--etcd-servers=http://127.0.0.1:{}", ports.etcd_client),
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        format!("--secure-port={}", ports.apiserver),
        format!("--cert-dir={}", path(&layout.dir.join("apiserver-certs"))),
        format!("--tls-cert-file={}", path(&pki.serving_cert)),
        format!("--tls-private-key-file={}", path(&pki.serving_key)),
        format!("--client-ca-file={}", path(&pki.ca_cert)),
        format!("--service-account-key-file={}", path(&pki.sa_pub)),
        format!("--service-account-signing-key-file={}", path(&pki.sa_key)),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
        // Room for thousands of Services (the kustomize benchmark creates 1,500).
        "--service-cluster-ip-range=10.0.0.0/16".into(),
        "--authorization-mode=RBAC".into(),
        "--enable-priority-and-fairness=false".into(),
        "--allow-privileged=true".into(),
        "--profiling=false".into(),
        "--v=1".into(),
    ]
}

fn controller_manager_args(layout: &Layout, ports: &Ports) -> Vec<String> {
    let pki = &layout.pki_pem;
    vec![
        format!("--kubeconfig={}", layout.kubeconfig()),
        format!("--authentication-kubeconfig={}", layout.kubeconfig()),
        format!("--authorization-kubeconfig={}", layout.kubeconfig()),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={}", ports.controller_manager),
        format!("--cert-dir={}", path(&layout.dir.join("kcm-certs"))),
        format!("--service-account-private-key-file={}", path(&pki.sa_key)),
        format!("--root-ca-file={}", path(&pki.ca_cert)),
        "--use-service-account-credentials=false".into(),
        "--leader-elect=false".into(),
        "--profiling=false".into(),
        "--v=1".into(),
    ]
}

fn scheduler_args(layout: &Layout, ports: &Ports) -> Vec<String> {
    vec![
        format!("--kubeconfig={}", layout.kubeconfig()),
        format!("--authentication-kubeconfig={}", layout.kubeconfig()),
        format!("--authorization-kubeconfig={}", layout.kubeconfig()),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={}", ports.scheduler),
        format!("--cert-dir={}", path(&layout.dir.join("scheduler-certs"))),
        "--leader-elect=false".into(),
        "--profiling=false".into(),
        "--v=1".into(),
    ]
}

fn kwok_args(layout: &Layout, ports: &Ports) -> Vec<String> {
    vec![
        format!("--kubeconfig={}", layout.kubeconfig()),
        "--manage-all-nodes=false".into(),
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake".into(),
        "--node-lease-duration-seconds=40".into(),
        "--cidr=10.0.1.0/24".into(),
        "--node-ip=127.0.0.1".into(),
        format!("--server-address=127.0.0.1:{}", ports.kwok),
    ]
}

/// The node kwok makes Ready; untainted so ordinary Pods land on it.
fn fake_node() -> Node {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": FAKE_NODE,
            "annotations": { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": FAKE_NODE,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/role": "agent"
            }
        },
        "status": {
            "allocatable": { "cpu": "32", "memory": "256Gi", "pods": "110" },
            "capacity": { "cpu": "32", "memory": "256Gi", "pods": "110" }
        }
    }))
    .expect("the fake node literal is a valid Node")
}

fn admin_kubeconfig(server: &str, pki: &PkiFiles) -> Result<String> {
    let b64 = |s: &str| STANDARD.encode(s.as_bytes());
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": "fluxrs-e2e", "cluster": {
            "server": server,
            "certificate-authority-data": b64(&pki.ca_pem),
        }}],
        "users": [{ "name": "admin", "user": {
            "client-certificate-data": b64(&pki.admin_cert_pem),
            "client-key-data": b64(&pki.admin_key_pem),
        }}],
        "contexts": [{ "name": "fluxrs-e2e", "context": { "cluster": "fluxrs-e2e", "user": "admin" }}],
        "current-context": "fluxrs-e2e",
    });
    serde_yaml_ng::to_string(&config)
        .map_err(|e| Error::Kube(format!("rendering the kubeconfig: {e}")))
}
