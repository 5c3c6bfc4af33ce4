//! `cargo xtask bench kustomize`: kustomize-controller on Flux's own "mean time
//! to production" workload (fluxcd/flux-benchmark) and on one large
//! Kustomization (see docs/BENCHMARKS.md).
//!
//! 1. **N apps at once**: N GitRepositories and N Kustomizations, each app a
//!    Deployment scaled to 0, a ServiceAccount, a Service and an Ingress, all
//!    created together; timed until every Kustomization is Ready, with the peak
//!    RSS of both controllers (one run for N >= 1000, `runs` otherwise).
//! 2. **One Kustomization of 2,000 objects**: timed until Ready, against
//!    `kubectl apply --server-side` of the same manifests; plus the API
//!    requests of one no-op reconcile of it.
//! 3. **Steady state**: the first N apps at a 1m interval for a window of
//!    minutes: API requests (`rest_client_requests_total`), CPU seconds and
//!    reconciles of kustomize-controller; then the same with
//!    `--skip-unchanged=false`, which dry-runs every object at every interval
//!    as Flux does: the reference for what the shortcut saves.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fluxrs_api::kustomize::Kustomization;
use fluxrs_api::source::GitRepository;
use fluxrs_e2e::controller::{ControllerProcess, free_port, source_controller_args};
use fluxrs_e2e::git::{GitFixture, GitHttpServer, HttpAuth};
use fluxrs_e2e::{TestCluster, install_crds};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use super::{Machine, Memory, Sampler, ScratchDir, find_pid, list, loadavg, median, mib, utc_now};

/// Longest one measured phase may take.
const PHASE_TIMEOUT: Duration = Duration::from_secs(1800);
/// How often readiness is polled while timing.
const POLL: Duration = Duration::from_millis(250);
/// Objects in the large Kustomization.
const LARGE_OBJECTS: usize = 2_000;

/// Command-line knobs of the kustomize suite.
#[derive(Clone, Debug)]
pub struct KustomizeOptions {
    /// App counts of the "N apps at once" runs; the first also runs the
    /// steady-state window.
    pub apps: Vec<usize>,
    /// Length of each steady-state window, in minutes.
    pub steady_minutes: u64,
}

/// One "N apps" measurement.
struct AppsRun {
    apps: usize,
    seconds: Vec<f64>,
    kustomize_peak: Memory,
    source_peak: Memory,
}

/// Counters of a steady-state window.
struct Window {
    minutes: f64,
    requests: u64,
    cpu_seconds: f64,
    reconciles: u64,
}

/// Everything measured.
struct Results {
    apps: Vec<AppsRun>,
    large_ours: Vec<f64>,
    large_reference: Vec<f64>,
    large_noop_ours: f64,
    large_noop_full: f64,
    steady_apps: usize,
    steady_ours: Window,
    steady_full: Window,
}

/// The kustomize-controller process with what the benchmark reads from it.
struct Kustomize {
    process: ControllerProcess,
    pid: u32,
    metrics: u16,
}

impl Kustomize {
    fn start(cluster: &TestCluster, binary: &Path, skip_unchanged: bool) -> Result<Self> {
        let metrics = free_port()?;
        let metrics_arg = format!("--metrics-addr=127.0.0.1:{metrics}");
        let args = vec![
            metrics_arg.clone(),
            "--health-addr=0".into(),
            "--log-encoding=json".into(),
            "--log-level=error".into(),
            format!("--skip-unchanged={skip_unchanged}"),
        ];
        let process = ControllerProcess::start(cluster, "kustomize-controller", binary, |_| args)?;
        let pid = find_pid(&metrics_arg)?;
        Ok(Self {
            process,
            pid,
            metrics,
        })
    }

    /// Sum of the series of `metric` on /metrics.
    fn counter(&self, metric: &str) -> Result<f64> {
        let (status, body) =
            fluxrs_e2e::http::get(&format!("http://127.0.0.1:{}/metrics", self.metrics))?;
        if status != 200 {
            bail!("metrics answered {status}");
        }
        Ok(String::from_utf8(body)?
            .lines()
            .filter(|l| l.starts_with(&format!("{metric}{{")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    fn requests(&self) -> Result<u64> {
        Ok(self.counter("rest_client_requests_total")? as u64)
    }

    fn reconciles(&self) -> Result<u64> {
        Ok(self.counter("controller_runtime_reconcile_total")? as u64)
    }

    /// User + system CPU time of the process, in seconds.
    fn cpu_seconds(&self) -> Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        // Fields after the command name (which may contain spaces): utime is
        // the 14th field overall, stime the 15th.
        let rest = stat
            .rsplit_once(") ")
            .context("malformed /proc/<pid>/stat")?
            .1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
        Ok(ticks as f64 / clock_ticks())
    }

    fn failure(&mut self, error: anyhow::Error) -> anyhow::Error {
        let state = self
            .process
            .check_running()
            .map_or_else(|e| e.to_string(), |()| "running".into());
        anyhow::anyhow!(
            "{error:#}\nkustomize-controller: {state}\nlog tail:\n{}",
            self.process.log_tail()
        )
    }
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Runs the kustomize suite and returns the Markdown report.
pub async fn kustomize(
    source_binary: &Path,
    kustomize_binary: &Path,
    runs: usize,
    options: &KustomizeOptions,
) -> Result<String> {
    let machine = Machine::read();
    let started = utc_now();
    println!("starting a throwaway cluster...");
    let cluster = TestCluster::start().await?;
    let client = cluster.client().await?;
    install_crds(&client).await?;
    let apps_repo = tokio::task::spawn_blocking(apps_repository).await??;
    let large_repo = tokio::task::spawn_blocking(large_repository).await??;
    let apps_server = GitHttpServer::start(apps_repo.root(), HttpAuth::None).await?;
    let large_server = GitHttpServer::start(large_repo.root(), HttpAuth::None).await?;
    let apps_url = apps_server.url(&apps_repo.bare_name());
    let large_url = large_server.url(&large_repo.bare_name());

    let port = free_port()?;
    let mut storage = PathBuf::new();
    let _source = ControllerProcess::start(&cluster, "source-controller", source_binary, |dir| {
        storage = dir.join("storage");
        source_controller_args(&storage, port)
    })?;
    let source_pid = find_pid(&format!("--storage-path={}", storage.display()))?;
    let mut kustomize = Kustomize::start(&cluster, kustomize_binary, true)?;

    let bench = Bench {
        cluster: &cluster,
        client: &client,
        source_pid,
    };
    let results = bench
        .all(
            &mut kustomize,
            kustomize_binary,
            &apps_url,
            &large_url,
            runs,
            options,
        )
        .await;
    let results = match results {
        Ok(results) => results,
        Err(e) => return Err(kustomize.failure(e)),
    };
    Ok(report(&machine, &started, &utc_now(), runs, &results))
}

struct Bench<'a> {
    cluster: &'a TestCluster,
    client: &'a Client,
    source_pid: u32,
}

impl Bench<'_> {
    async fn all(
        &self,
        kustomize: &mut Kustomize,
        kustomize_binary: &Path,
        apps_url: &str,
        large_url: &str,
        runs: usize,
        options: &KustomizeOptions,
    ) -> Result<Results> {
        let mut apps = Vec::new();
        for &count in &options.apps {
            apps.push(self.apps_at_once(kustomize, apps_url, count, runs).await?);
        }

        println!("\n== one Kustomization of {LARGE_OBJECTS} objects ==");
        let (large_ours, large_reference, namespace) = self.large(large_url, runs).await?;
        let large_noop_ours = self.noop_requests(kustomize, &namespace).await?;
        *kustomize = Kustomize::start(self.cluster, kustomize_binary, false)?;
        let large_noop_full = self.noop_requests(kustomize, &namespace).await?;
        self.delete_all(&namespace).await?;

        let steady_apps = options.apps.first().copied().unwrap_or(100);
        let window = Duration::from_secs(options.steady_minutes * 60);
        *kustomize = Kustomize::start(self.cluster, kustomize_binary, true)?;
        let namespace = self.cluster.create_namespace(self.client, "steady").await?;
        self.create_apps(&namespace, apps_url, steady_apps, "1m")
            .await?;
        self.wait_all_ready(&namespace, steady_apps, Instant::now())
            .await?;
        // Let the first interval pass so every Kustomization has a record.
        tokio::time::sleep(Duration::from_secs(70)).await;
        println!("\n== steady state, {steady_apps} apps, --skip-unchanged=true ==");
        let steady_ours = self.window(kustomize, window).await?;
        *kustomize = Kustomize::start(self.cluster, kustomize_binary, false)?;
        self.wait_reconciles(kustomize, steady_apps as u64).await?;
        println!("\n== steady state, {steady_apps} apps, --skip-unchanged=false (as Flux) ==");
        let steady_full = self.window(kustomize, window).await?;
        Ok(Results {
            apps,
            large_ours,
            large_reference,
            large_noop_ours,
            large_noop_full,
            steady_apps,
            steady_ours,
            steady_full,
        })
    }

    async fn apps_at_once(
        &self,
        kustomize: &Kustomize,
        url: &str,
        count: usize,
        runs: usize,
    ) -> Result<AppsRun> {
        // A thousand apps take minutes at the default client QPS: one run.
        let runs = if count >= 1000 { 1 } else { runs };
        println!("\n== {count} apps created at once ({runs} runs) ==");
        let kustomize_sampler = Sampler::start(kustomize.pid);
        let source_sampler = Sampler::start(self.source_pid);
        let mut seconds = Vec::new();
        for run in 0..runs {
            let namespace = self.cluster.create_namespace(self.client, "apps").await?;
            let since = Instant::now();
            self.create_apps(&namespace, url, count, "10m").await?;
            let elapsed = self.wait_all_ready(&namespace, count, since).await?;
            println!(
                "run {}: {count} Kustomizations Ready in {elapsed:.2}s",
                run + 1
            );
            seconds.push(elapsed);
            self.delete_all(&namespace).await?;
        }
        Ok(AppsRun {
            apps: count,
            seconds,
            kustomize_peak: kustomize_sampler.stop()?,
            source_peak: source_sampler.stop()?,
        })
    }

    /// Creates `count` apps (GitRepository + Kustomization each), 16 requests
    /// in flight at a time.
    async fn create_apps(
        &self,
        namespace: &str,
        url: &str,
        count: usize,
        interval: &str,
    ) -> Result<()> {
        let sources: Api<GitRepository> = Api::namespaced(self.client.clone(), namespace);
        let kustomizations: Api<Kustomization> = Api::namespaced(self.client.clone(), namespace);
        let mut creates = tokio::task::JoinSet::new();
        for i in 0..count {
            let name = format!("app-{i:04}");
            let source = git_repository(&name, namespace, url)?;
            let kustomization = kustomization(&name, namespace, "./app", interval)?;
            let (sources, kustomizations) = (sources.clone(), kustomizations.clone());
            creates.spawn(async move {
                sources.create(&PostParams::default(), &source).await?;
                kustomizations
                    .create(&PostParams::default(), &kustomization)
                    .await?;
                Ok::<_, kube::Error>(())
            });
            if creates.len() >= 16
                && let Some(done) = creates.join_next().await
            {
                done??;
            }
        }
        while let Some(done) = creates.join_next().await {
            done??;
        }
        Ok(())
    }

    async fn wait_all_ready(&self, namespace: &str, count: usize, since: Instant) -> Result<f64> {
        let api: Api<Kustomization> = Api::namespaced(self.client.clone(), namespace);
        loop {
            let ready = api
                .list(&ListParams::default())
                .await?
                .items
                .iter()
                .filter(|k| is_ready(k))
                .count();
            if ready >= count {
                return Ok(since.elapsed().as_secs_f64());
            }
            if since.elapsed() > PHASE_TIMEOUT {
                bail!("only {ready}/{count} Kustomizations Ready in {namespace}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Deletes the Kustomizations (pruning their objects) and sources of
    /// `namespace` and waits until they are gone.
    async fn delete_all(&self, namespace: &str) -> Result<()> {
        let kustomizations: Api<Kustomization> = Api::namespaced(self.client.clone(), namespace);
        let sources: Api<GitRepository> = Api::namespaced(self.client.clone(), namespace);
        kustomizations
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await?;
        wait_empty(&kustomizations).await?;
        sources
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await?;
        wait_empty(&sources).await
    }

    /// The 2,000-object Kustomization, `runs` times, each against a
    /// `kubectl apply --server-side` of the same manifests; the last one is
    /// left in place (its namespace is returned).
    async fn large(&self, url: &str, runs: usize) -> Result<(Vec<f64>, Vec<f64>, String)> {
        let manifests = ScratchDir::new("fluxrs-bench-large")?;
        std::fs::write(manifests.path().join("all.yaml"), large_manifests())?;
        let mut ours = Vec::new();
        let mut reference = Vec::new();
        let mut last = String::new();
        for run in 0..runs {
            let namespace = self
                .cluster
                .create_namespace(self.client, "kubectl")
                .await?;
            let seconds =
                kubectl_apply(self.cluster, &manifests.path().join("all.yaml"), &namespace)?;
            reference.push(seconds);

            let namespace = self.cluster.create_namespace(self.client, "large").await?;
            let since = Instant::now();
            let sources: Api<GitRepository> = Api::namespaced(self.client.clone(), &namespace);
            let kustomizations: Api<Kustomization> =
                Api::namespaced(self.client.clone(), &namespace);
            sources
                .create(
                    &PostParams::default(),
                    &git_repository("large", &namespace, url)?,
                )
                .await?;
            kustomizations
                .create(
                    &PostParams::default(),
                    &kustomization("large", &namespace, "./large", "10m")?,
                )
                .await?;
            let elapsed = self.wait_all_ready(&namespace, 1, since).await?;
            println!(
                "run {}: Ready in {elapsed:.2}s; kubectl apply --server-side {seconds:.2}s",
                run + 1
            );
            ours.push(elapsed);
            if run + 1 < runs {
                self.delete_all(&namespace).await?;
            }
            last = namespace;
        }
        Ok((ours, reference, last))
    }

    /// API requests of one requested reconcile of `large` in `namespace`
    /// (median of three, after two to let a restarted controller finish its
    /// start-up reconciles).
    async fn noop_requests(&self, kustomize: &Kustomize, namespace: &str) -> Result<f64> {
        let api: Api<Kustomization> = Api::namespaced(self.client.clone(), namespace);
        let mut counts = Vec::new();
        for n in 0..5 {
            let before = kustomize.requests()?;
            let token = format!("noop-{}-{n}", kustomize.metrics);
            let patch = serde_json::json!({"metadata": {"annotations": {
                "reconcile.fluxcd.io/requestedAt": token}}});
            api.patch("large", &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            let since = Instant::now();
            loop {
                let ks = api.get("large").await?;
                let handled = ks
                    .status
                    .as_ref()
                    .and_then(|s| s.last_handled_reconcile_at.as_deref())
                    == Some(token.as_str());
                if handled && is_ready(&ks) {
                    break;
                }
                if since.elapsed() > PHASE_TIMEOUT {
                    bail!("reconcile {token} of {namespace}/large not handled");
                }
                tokio::time::sleep(POLL).await;
            }
            let spent = kustomize.requests()? - before;
            println!("requested reconcile {n}: {spent} API requests");
            if n > 1 {
                counts.push(spent as f64);
            }
        }
        Ok(median(&counts))
    }

    /// Waits until the controller has done `count` reconciles since start.
    async fn wait_reconciles(&self, kustomize: &Kustomize, count: u64) -> Result<()> {
        let since = Instant::now();
        while kustomize.reconciles()? < count {
            if since.elapsed() > PHASE_TIMEOUT {
                bail!("fewer than {count} reconciles after a restart");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok(())
    }

    async fn window(&self, kustomize: &Kustomize, length: Duration) -> Result<Window> {
        let requests = kustomize.requests()?;
        let cpu = kustomize.cpu_seconds()?;
        let reconciles = kustomize.reconciles()?;
        let since = Instant::now();
        tokio::time::sleep(length).await;
        let window = Window {
            minutes: since.elapsed().as_secs_f64() / 60.0,
            requests: kustomize.requests()? - requests,
            cpu_seconds: kustomize.cpu_seconds()? - cpu,
            reconciles: kustomize.reconciles()? - reconciles,
        };
        println!(
            "{:.1} min: {} reconciles, {} API requests, {:.2} CPU s",
            window.minutes, window.reconciles, window.requests, window.cpu_seconds
        );
        Ok(window)
    }
}

async fn wait_empty<K>(api: &Api<K>) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let since = Instant::now();
    while !api.list(&ListParams::default()).await?.items.is_empty() {
        if since.elapsed() > PHASE_TIMEOUT {
            bail!("objects still present after deletion");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

fn kubectl_apply(cluster: &TestCluster, file: &Path, namespace: &str) -> Result<f64> {
    let since = Instant::now();
    let output = std::process::Command::new("kubectl")
        .args([
            "apply",
            "--server-side",
            "--field-manager=bench",
            "-n",
            namespace,
            "-f",
        ])
        .arg(file)
        .env("KUBECONFIG", cluster.kubeconfig_path())
        .output()
        .context("running kubectl")?;
    let elapsed = since.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!(
            "kubectl apply failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(elapsed)
}

fn is_ready(k: &Kustomization) -> bool {
    k.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn git_repository(name: &str, namespace: &str, url: &str) -> Result<GitRepository> {
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": { "name": name, "namespace": namespace },
        "spec": { "interval": "1h", "url": url, "ref": { "branch": "main" } }
    }))?)
}

/// A Kustomization of `path` whose objects are prefixed with its own name, so
/// that apps sharing a repository and namespace do not collide.
fn kustomization(name: &str, namespace: &str, path: &str, interval: &str) -> Result<Kustomization> {
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": { "name": name, "namespace": namespace },
        "spec": {
            "interval": interval,
            "path": path,
            "prune": true,
            "wait": true,
            "timeout": "5m",
            "namePrefix": format!("{name}-"),
            "targetNamespace": namespace,
            "sourceRef": { "kind": "GitRepository", "name": name }
        }
    }))?)
}

/// flux-benchmark's app: a Deployment scaled to 0, a ServiceAccount, a
/// Service and an Ingress.
fn apps_repository() -> Result<GitFixture> {
    let repo = GitFixture::new("bench-apps")?;
    repo.write(
        "app/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 0\n  selector:\n    matchLabels:\n      app: app\n  template:\n    metadata:\n      labels:\n        app: app\n    spec:\n      serviceAccountName: app\n      containers:\n      - name: app\n        image: ghcr.io/stefanprodan/podinfo:6.7.0\n        ports:\n        - containerPort: 9898\n",
    )?;
    repo.write(
        "app/serviceaccount.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: app\n",
    )?;
    repo.write(
        "app/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: app\nspec:\n  selector:\n    app: app\n  ports:\n  - port: 80\n    targetPort: 9898\n",
    )?;
    repo.write(
        "app/ingress.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: app\nspec:\n  rules:\n  - host: app.example.com\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: app\n            port:\n              number: 80\n",
    )?;
    repo.commit("app")?;
    Ok(repo)
}

/// The 2,000 objects: ConfigMaps, ServiceAccounts and Services in a 2:1:1 mix.
fn large_manifests() -> String {
    (0..LARGE_OBJECTS)
        .map(|i| match i % 4 {
            0 | 1 => format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:04}\ndata:\n  index: \"{i}\"\n"
            ),
            2 => format!("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa-{i:04}\n"),
            _ => format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i:04}\nspec:\n  selector:\n    app: a{i}\n  ports:\n  - port: 80\n"
            ),
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

fn large_repository() -> Result<GitFixture> {
    let repo = GitFixture::new("bench-large")?;
    repo.write("large/all.yaml", &large_manifests())?;
    repo.commit("2000 objects")?;
    Ok(repo)
}

fn report(machine: &Machine, started: &str, finished: &str, runs: usize, r: &Results) -> String {
    let mut apps = String::new();
    for run in &r.apps {
        apps.push_str(&format!(
            "| {n} apps ({objects} objects) created at once -> all Ready | {median:.2} s [{runs}] | {k_rss} / {k_hwm} | {s_rss} / {s_hwm} |\n",
            n = run.apps,
            objects = run.apps * 4,
            median = median(&run.seconds),
            runs = list(&run.seconds),
            k_rss = mib(run.kustomize_peak.rss_kib),
            k_hwm = mib(run.kustomize_peak.hwm_kib),
            s_rss = mib(run.source_peak.rss_kib),
            s_hwm = mib(run.source_peak.hwm_kib),
        ));
    }
    let per_reconcile = |w: &Window| w.requests as f64 / w.reconciles.max(1) as f64;
    let large = median(&r.large_ours);
    let large_ref = median(&r.large_reference);
    format!(
        "### Run of {started}\n\n\
         - command: `cargo xtask bench kustomize --runs {runs}` (finished {finished})\n\
         - machine: {cpus} CPUs ({model}), {memory} RAM, Linux {kernel}; load average {load_before} before, {load_after} after\n\n\
         | flux-benchmark workload | median [runs] | kustomize-controller peak VmRSS / VmHWM | source-controller peak VmRSS / VmHWM |\n\
         |---|---|---|---|\n\
         {apps}\n\
         | one Kustomization of {LARGE_OBJECTS} objects | ours | reference | ours / reference |\n\
         |---|---|---|---|\n\
         | created -> Ready (GitRepository + Kustomization) | {large:.2} s [{large_runs}] | {large_ref:.2} s [{large_ref_runs}] (`kubectl apply --server-side` of the same file) | {ratio:.2} |\n\
         | API requests of one no-op reconcile | {noop_ours:.0} | {noop_full:.0} (`--skip-unchanged=false`, Flux's dry-run of every object) | {noop_ratio:.4} |\n\n\
         | steady state, {steady} apps, interval 1m | window | reconciles | API requests | per reconcile | CPU seconds |\n\
         |---|---|---|---|---|---|\n\
         | ours (`--skip-unchanged=true`) | {ow:.1} min | {orc} | {oreq} | {oper:.2} | {ocpu:.2} |\n\
         | as Flux (`--skip-unchanged=false`) | {fw:.1} min | {frc} | {freq} | {fper:.2} | {fcpu:.2} |\n",
        cpus = machine.cpus,
        model = machine.cpu_model,
        memory = machine.memory,
        kernel = machine.kernel,
        load_before = machine.load_before,
        load_after = loadavg(),
        large_runs = list(&r.large_ours),
        large_ref_runs = list(&r.large_reference),
        ratio = large / large_ref,
        noop_ours = r.large_noop_ours,
        noop_full = r.large_noop_full,
        noop_ratio = r.large_noop_ours / r.large_noop_full.max(1.0),
        steady = r.steady_apps,
        ow = r.steady_ours.minutes,
        orc = r.steady_ours.reconciles,
        oreq = r.steady_ours.requests,
        oper = per_reconcile(&r.steady_ours),
        ocpu = r.steady_ours.cpu_seconds,
        fw = r.steady_full.minutes,
        frc = r.steady_full.reconciles,
        freq = r.steady_full.requests,
        fper = per_reconcile(&r.steady_full),
        fcpu = r.steady_full.cpu_seconds,
    )
}
