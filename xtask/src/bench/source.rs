//! `cargo xtask bench source`: source-controller benchmarks (see docs/BENCHMARKS.md).
//!
//! Builds source-controller in release mode, starts a throwaway cluster and a
//! Git smart-HTTP server on loopback, and measures, each repeated `runs` times:
//!
//! 1. a 10,000-file repository: from the reconcile request after a push to
//!    `status.artifact.revision` showing the new commit, against a reference of
//!    `git clone --depth 1` + `tar czf` of the same repository over the same server;
//! 2. 200 GitRepositories created together: until all are Ready, against a
//!    reference of 200 × (`git clone --depth 1` + `tar czf`) run by `xargs -P 2`
//!    (two at a time, like source-controller's default `--concurrent=2`);
//! 3. the controller's RSS (`VmRSS`, `VmHWM` from `/proc/<pid>/status`): idle
//!    after startup, and the peak during each of the two workloads.
//!
//! Reference and controller runs alternate so that load from other processes on
//! the machine hits both alike. Nothing here asserts on time: the numbers are
//! printed as Markdown (and saved to target/bench/source.md) for docs/BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{
    Machine, Memory, Sampler, ScratchDir, find_pid, list, loadavg, median, mib, proc_status,
    utc_now,
};

use anyhow::{Context, Result, bail};
use fluxrs_api::source::GitRepository;
use fluxrs_e2e::controller::ControllerProcess;
use fluxrs_e2e::git::{GitFixture, GitHttpServer, HttpAuth};
use fluxrs_e2e::{TestCluster, install_crds};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};

/// Files in the large repository.
const LARGE_FILES: usize = 10_000;
/// GitRepositories created at once.
const MANY: usize = 200;
/// Longest a single measured run may take before the benchmark gives up.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);
/// How often the API is polled while a run is timed.
const POLL: Duration = Duration::from_millis(50);

/// Everything measured, in seconds and kibibytes.
#[derive(Default)]
struct Results {
    large_push: Vec<f64>,
    large_ours: Vec<f64>,
    large_reference: Vec<f64>,
    large_first: f64,
    many_ours: Vec<f64>,
    many_reference: Vec<f64>,
    idle: Memory,
    large_peak: Memory,
    many_peak: Memory,
}

/// Runs the source benchmarks against `binary` and returns the Markdown report.
pub async fn source(binary: &Path, runs: usize) -> Result<String> {
    let machine = Machine::read();
    let started = utc_now();
    println!("starting a throwaway cluster...");
    let cluster = TestCluster::start().await?;
    let client = cluster.client().await?;
    install_crds(&client).await?;

    println!("writing the {LARGE_FILES}-file repository...");
    let large = tokio::task::spawn_blocking(large_repository).await??;
    let small = tokio::task::spawn_blocking(small_repository).await??;
    let large_server = GitHttpServer::start(large.root(), HttpAuth::None).await?;
    let small_server = GitHttpServer::start(small.root(), HttpAuth::None).await?;
    let large_url = large_server.url(&large.bare_name());
    let small_url = small_server.url(&small.bare_name());

    let port = fluxrs_e2e::controller::free_port()?;
    let mut storage = PathBuf::new();
    let mut controller = ControllerProcess::start(&cluster, "source-controller", binary, |dir| {
        storage = dir.join("storage");
        fluxrs_e2e::controller::source_controller_args(&storage, port)
    })?;
    let pid = find_pid(&format!("--storage-path={}", storage.display()))?;
    let mut results = Results::default();

    // Idle: started, caches synced, no objects of ours.
    tokio::time::sleep(Duration::from_secs(5)).await;
    controller.check_running()?;
    let (rss, hwm) = proc_status(pid)?;
    results.idle = Memory {
        rss_kib: rss,
        hwm_kib: hwm,
    };
    println!("idle: VmRSS {rss} KiB, VmHWM {hwm} KiB");

    let outcome = async {
        bench_large(
            &cluster,
            &client,
            pid,
            &large,
            &large_url,
            runs,
            &mut results,
        )
        .await?;
        bench_many(&cluster, &client, pid, &small_url, runs, &mut results).await
    }
    .await;
    if let Err(e) = outcome {
        bail!(
            "{e:#}\nsource-controller: {}\nlog tail:\n{}",
            controller
                .check_running()
                .map_or_else(|e| e.to_string(), |()| "running".into()),
            controller.log_tail()
        );
    }
    let finished = utc_now();
    Ok(report(&machine, &started, &finished, runs, &results))
}

/// The 10,000-file repository: 100 folders of 100 small YAML files.
fn large_repository() -> Result<GitFixture> {
    let repo = GitFixture::new("large")?;
    for i in 0..LARGE_FILES {
        repo.write(
            &format!("dir-{:03}/file-{:05}.yaml", i / 100, i),
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:05}\n  namespace: default\ndata:\n  index: \"{i}\"\n  payload: \"{}\"\n",
                "x".repeat(64)
            ),
        )?;
    }
    repo.commit("10k files")?;
    Ok(repo)
}

/// A small repository: a few manifests.
fn small_repository() -> Result<GitFixture> {
    let repo = GitFixture::new("small")?;
    for i in 0..5 {
        repo.write(
            &format!("deploy/cm-{i}.yaml"),
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  i: \"{i}\"\n"
            ),
        )?;
    }
    repo.commit("small")?;
    Ok(repo)
}

fn git_repository(name: &str, namespace: &str, url: &str) -> Result<GitRepository> {
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": { "name": name, "namespace": namespace },
        "spec": { "interval": "1h", "url": url, "ref": { "branch": "main" } }
    }))?)
}

fn is_ready(repo: &GitRepository) -> bool {
    repo.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        && repo.status.as_ref().is_some_and(|s| s.artifact.is_some())
}

fn revision(repo: &GitRepository) -> Option<&str> {
    repo.status
        .as_ref()
        .and_then(|s| s.artifact.as_ref())
        .map(|a| a.revision.as_str())
}

/// Polls `name` until its artifact has `wanted` as revision; returns the elapsed time.
async fn wait_revision(
    api: &Api<GitRepository>,
    name: &str,
    wanted: &str,
    since: Instant,
) -> Result<f64> {
    let deadline = since + RUN_TIMEOUT;
    loop {
        let repo = api.get(name).await?;
        if revision(&repo) == Some(wanted) {
            return Ok(since.elapsed().as_secs_f64());
        }
        if Instant::now() > deadline {
            bail!(
                "{name} did not reach {wanted} within {}s; status: {:?}",
                RUN_TIMEOUT.as_secs(),
                repo.status
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn bench_large(
    cluster: &TestCluster,
    client: &Client,
    pid: u32,
    repo: &GitFixture,
    url: &str,
    runs: usize,
    results: &mut Results,
) -> Result<()> {
    println!("\n== {LARGE_FILES}-file repository: commit to artifact ==");
    let namespace = cluster.create_namespace(client, "bench-large").await?;
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let sampler = Sampler::start(pid);
    let head = git_head(repo)?;
    let since = Instant::now();
    api.create(
        &PostParams::default(),
        &git_repository("large", &namespace, url)?,
    )
    .await?;
    results.large_first = wait_revision(&api, "large", &format!("main@sha1:{head}"), since).await?;
    println!(
        "first artifact (clone from nothing): {:.2}s",
        results.large_first
    );

    for run in 0..runs {
        // Reference: what a naive implementation does for each new commit.
        let reference = reference_clone_tar(url, 1, 1).await?;
        results.large_reference.push(reference);

        let pushed = Instant::now();
        let sha = tokio::task::block_in_place(|| {
            repo.write("dir-000/file-00000.yaml", &format!("run: \"{run}\"\n"))?;
            repo.commit(&format!("run {run}"))
        })?;
        let push = pushed.elapsed().as_secs_f64();
        let requested = Instant::now();
        let patch = serde_json::json!({ "metadata": { "annotations": {
            "reconcile.fluxcd.io/requestedAt": format!("bench-{run}") } } });
        api.patch("large", &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        let ours = wait_revision(&api, "large", &format!("main@sha1:{sha}"), requested).await?;
        results.large_push.push(push);
        results.large_ours.push(ours);
        println!(
            "run {}: commit+push {push:.2}s, reconcile request -> artifact {ours:.2}s, reference clone+tar {reference:.2}s",
            run + 1
        );
    }
    results.large_peak = sampler.stop()?;
    api.delete("large", &DeleteParams::default()).await?;
    wait_gone(&api).await
}

async fn bench_many(
    cluster: &TestCluster,
    client: &Client,
    pid: u32,
    url: &str,
    runs: usize,
    results: &mut Results,
) -> Result<()> {
    println!("\n== {MANY} GitRepositories at once ==");
    let sampler = Sampler::start(pid);
    for run in 0..runs {
        let reference = reference_clone_tar(url, MANY, 2).await?;
        results.many_reference.push(reference);

        let namespace = cluster.create_namespace(client, "bench-many").await?;
        let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
        let objects = (0..MANY)
            .map(|i| git_repository(&format!("repo-{i:03}"), &namespace, url))
            .collect::<Result<Vec<_>>>()?;
        let since = Instant::now();
        let mut creates = tokio::task::JoinSet::new();
        for object in objects {
            let api = api.clone();
            creates.spawn(async move { api.create(&PostParams::default(), &object).await });
        }
        while let Some(created) = creates.join_next().await {
            created??;
        }
        let deadline = since + RUN_TIMEOUT;
        let ours = loop {
            let list = api.list(&ListParams::default()).await?;
            let ready = list.items.iter().filter(|r| is_ready(r)).count();
            if ready == MANY {
                break since.elapsed().as_secs_f64();
            }
            if Instant::now() > deadline {
                bail!(
                    "only {ready}/{MANY} GitRepositories Ready after {}s",
                    RUN_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(POLL).await;
        };
        results.many_ours.push(ours);
        println!(
            "run {}: all {MANY} Ready {ours:.2}s, reference {MANY}x clone+tar (xargs -P 2) {reference:.2}s",
            run + 1
        );
        api.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await?;
        wait_gone(&api).await?;
    }
    results.many_peak = sampler.stop()?;
    Ok(())
}

/// Waits (bounded) until the controller has removed every object's finalizer.
async fn wait_gone(api: &Api<GitRepository>) -> Result<()> {
    for _ in 0..600 {
        let left = api.list(&ListParams::default()).await?;
        if left.items.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let names: Vec<_> = api
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|r| r.name_any())
        .collect();
    bail!("GitRepositories still present after 120s: {names:?}")
}

/// `count` × (`git clone --depth 1` + `tar czf` without `.git`), `parallel` at a
/// time through `xargs -P`; returns the wall time.
async fn reference_clone_tar(url: &str, count: usize, parallel: usize) -> Result<f64> {
    let dir = ScratchDir::new("fluxrs-bench-ref")?;
    let script = format!(
        "seq 1 {count} | xargs -P {parallel} -I{{}} sh -c \
         'git clone --quiet --depth 1 --branch main {url} \"$0/c{{}}\" && \
          tar czf \"$0/a{{}}.tar.gz\" --exclude=.git -C \"$0/c{{}}\" .' {dir}",
        dir = dir.path().display()
    );
    let since = Instant::now();
    let output = tokio::time::timeout(
        RUN_TIMEOUT,
        tokio::process::Command::new("sh")
            .args(["-c", &script])
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir.path())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .context("the reference run timed out")??;
    let elapsed = since.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!(
            "reference run failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(elapsed)
}

fn git_head(repo: &GitFixture) -> Result<String> {
    let output = Command::new("git")
        .args(["rev-parse", "refs/heads/main"])
        .current_dir(repo.bare_path())
        .output()?;
    if !output.status.success() {
        bail!(
            "git rev-parse failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn report(machine: &Machine, started: &str, finished: &str, runs: usize, r: &Results) -> String {
    let large = median(&r.large_ours);
    let large_ref = median(&r.large_reference);
    let many = median(&r.many_ours);
    let many_ref = median(&r.many_reference);
    format!(
        "### Run of {started}\n\n\
         - command: `cargo xtask bench source --runs {runs}` (finished {finished})\n\
         - machine: {cpus} CPUs ({model}), {memory} RAM, Linux {kernel}; load average {load_before} before, {load_after} after\n\n\
         | benchmark | ours (median of {runs}) | reference (median of {runs}) | ours / reference |\n\
         |---|---|---|---|\n\
         | {LARGE_FILES}-file repo: reconcile request after push -> new `status.artifact.revision` | {large:.2} s | {large_ref:.2} s (`git clone --depth 1` + `tar czf`) | {ratio_large:.2} |\n\
         | {MANY} GitRepositories created together -> all Ready | {many:.2} s | {many_ref:.2} s ({MANY}x clone + tar, `xargs -P 2`) | {ratio_many:.2} |\n\n\
         Runs (seconds): {LARGE_FILES}-file ours [{large_runs}], reference [{large_ref_runs}]; \
         commit + push before each (not counted) [{push_runs}]; first artifact of the {LARGE_FILES}-file repo from nothing {first:.2} s. \
         {MANY} repos ours [{many_runs}], reference [{many_ref_runs}].\n\n\
         | source-controller memory | VmRSS | VmHWM |\n\
         |---|---|---|\n\
         | idle, 5 s after start, no objects | {idle_rss} | {idle_hwm} |\n\
         | peak during the {LARGE_FILES}-file runs | {large_rss} (sampled max) | {large_hwm} |\n\
         | peak during the {MANY}-repo runs | {many_rss} (sampled max) | {many_hwm} |\n",
        cpus = machine.cpus,
        model = machine.cpu_model,
        memory = machine.memory,
        kernel = machine.kernel,
        load_before = machine.load_before,
        load_after = loadavg(),
        ratio_large = large / large_ref,
        ratio_many = many / many_ref,
        large_runs = list(&r.large_ours),
        large_ref_runs = list(&r.large_reference),
        push_runs = list(&r.large_push),
        first = r.large_first,
        many_runs = list(&r.many_ours),
        many_ref_runs = list(&r.many_reference),
        idle_rss = mib(r.idle.rss_kib),
        idle_hwm = mib(r.idle.hwm_kib),
        large_rss = mib(r.large_peak.rss_kib),
        large_hwm = mib(r.large_peak.hwm_kib),
        many_rss = mib(r.many_peak.rss_kib),
        many_hwm = mib(r.many_peak.hwm_kib),
    )
}
