//! The real `fluxrs` binary against a real cluster (one per test binary,
//! each test in its own namespace): install and check; the GitRepository
//! lifecycle with the real source-controller and a real Git server (create,
//! get, reconcile picking up a new commit, suspend, refused reconcile,
//! resume, export, events); get/watch/status selectors, tree and why on
//! Kustomizations; failures with their exit codes and hints.
//!
//! There is no kustomize-controller yet: Kustomization status (inventory,
//! conditions, applied revision) is written by the tests through the status
//! subresource, exactly where the controller will write it.

mod support;

use std::time::Duration;

use anyhow::{Context, Result};
use fluxrs_api::kustomize::Kustomization;
use fluxrs_api::source::GitRepository;
use fluxrs_e2e::git::{GitFixture, GitHttpServer, HttpAuth};
use fluxrs_e2e::{apply_manifests, parse_documents};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use support::{eventually, fluxrs, installed, namespace, run_on, source_controller};
use tokio::io::{AsyncBufReadExt, BufReader};

/// A Git repository with `deploy/app.yaml`, served over smart HTTP.
async fn git_repo() -> Result<(GitFixture, GitHttpServer, String, String)> {
    let repo = GitFixture::new("app")?;
    repo.write(
        "deploy/app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n",
    )?;
    let first = repo.commit("add app")?;
    let server = GitHttpServer::start(repo.root(), HttpAuth::None).await?;
    let url = server.url(&repo.bare_name());
    Ok((repo, server, url, first))
}

fn short(sha: &str) -> &str {
    &sha[..8]
}

#[tokio::test(flavor = "multi_thread")]
async fn install_is_idempotent_and_check_passes() -> Result<()> {
    installed().await?;
    let again = fluxrs(&["install"]).await?.ok()?;
    assert!(
        again.stderr.contains(
            "CustomResourceDefinition/gitrepositories.source.toolkit.fluxcd.io unchanged"
        ),
        "{}",
        again.stderr
    );
    assert!(again.stderr.contains("✔ install finished"));

    let check = fluxrs(&["check"]).await?.ok()?;
    assert!(check.stderr.contains("✔ Kubernetes 1."), "{}", check.stderr);
    assert!(
        check
            .stderr
            .contains("✔ gitrepositories.source.toolkit.fluxcd.io/v1")
    );
    assert!(
        check
            .stderr
            .contains("✔ kustomizations.kustomize.toolkit.fluxcd.io/v1")
    );
    assert!(check.stderr.contains("✔ all checks passed"));
    fluxrs(&["check", "--pre"]).await?.ok()?;

    let export = fluxrs(&["install", "--export"]).await?.ok()?;
    let documents = parse_documents(&export.stdout)?;
    assert_eq!(documents.len(), fluxrs_api::crds::all().len() + 1);
    assert_eq!(
        documents[0].types.as_ref().map(|t| t.kind.as_str()),
        Some("Namespace")
    );
    assert_eq!(documents[0].labels()["app.kubernetes.io/part-of"], "flux");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn git_repository_lifecycle_with_source_controller() -> Result<()> {
    let client = installed().await?;
    source_controller().await?;
    let ns = namespace(&client, "cli-git").await?;
    let (repo, _server, url, first) = git_repo().await?;

    let created = fluxrs(&[
        "create",
        "source",
        "git",
        "app",
        "--url",
        &url,
        "--branch",
        "main",
        "--interval",
        "10m",
        "-n",
        &ns,
    ])
    .await?
    .ok()?;
    assert!(
        created.stderr.contains("✔ GitRepository source created"),
        "{}",
        created.stderr
    );
    assert!(
        created
            .stderr
            .contains(&format!("✔ fetched revision: main@sha1:{first}")),
        "{}",
        created.stderr
    );

    let table = fluxrs(&["get", "sources", "git", "-n", &ns])
        .await?
        .ok()?
        .stdout;
    let row = table.lines().nth(1).context("one row")?;
    assert!(table.starts_with("NAME"), "{table}");
    assert!(row.starts_with("app"), "{table}");
    assert!(
        row.contains(&format!("main@sha1:{}\t", short(&first))),
        "{table}"
    );
    assert!(row.contains("\tFalse"), "not suspended: {table}");
    assert!(row.contains("\tTrue"), "ready: {table}");

    let json: Value = serde_json::from_str(
        &fluxrs(&["get", "sources", "git", "app", "-n", &ns, "-o", "json"])
            .await?
            .ok()?
            .stdout,
    )?;
    assert_eq!(json[0]["name"], "app");
    assert_eq!(json[0]["namespace"], ns.as_str());
    assert_eq!(json[0]["revision"], format!("main@sha1:{first}"));
    assert_eq!(json[0]["ready"], "True");

    // A new commit is fetched on request, with the upstream protocol.
    repo.write(
        "deploy/app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app2\n",
    )?;
    let second = repo.commit("second")?;
    let reconciled = fluxrs(&["reconcile", "source", "git", "app", "-n", &ns])
        .await?
        .ok()?;
    assert!(
        reconciled
            .stderr
            .contains(&format!("► annotating GitRepository app in {ns} namespace")),
        "{}",
        reconciled.stderr
    );
    assert!(
        reconciled
            .stderr
            .contains(&format!("✔ fetched revision main@sha1:{second}")),
        "{}",
        reconciled.stderr
    );
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &ns);
    let live = api.get("app").await?;
    let token = live
        .annotations()
        .get("reconcile.fluxcd.io/requestedAt")
        .cloned()
        .context("annotated")?;
    assert!(
        token.parse::<k8s_openapi::jiff::Timestamp>().is_ok(),
        "RFC 3339 token {token}"
    );
    assert_eq!(
        live.status
            .as_ref()
            .and_then(|s| s.last_handled_reconcile_at.clone()),
        Some(token)
    );

    // Suspended objects are not reconciled; the hint says how to resume.
    fluxrs(&["suspend", "source", "git", "app", "-n", &ns])
        .await?
        .ok()?;
    assert_eq!(api.get("app").await?.spec.suspend, Some(true));
    let table = fluxrs(&["get", "sources", "git", "-n", &ns])
        .await?
        .ok()?
        .stdout;
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|r| r.contains("\tTrue ") || r.contains("\tTrue\t")),
        "{table}"
    );
    let refused = fluxrs(&["reconcile", "source", "git", "app", "-n", &ns])
        .await?
        .exit(1)?;
    assert!(
        refused.stderr.contains("is suspended"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains(&format!(
            "hint: resume it with 'fluxrs resume source git app -n {ns}'"
        )),
        "{}",
        refused.stderr
    );

    // Resume removes the field and waits for the reconcile it triggers.
    repo.write(
        "deploy/app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app3\n",
    )?;
    let third = repo.commit("third")?;
    let resumed = fluxrs(&["resume", "source", "git", "app", "-n", &ns])
        .await?
        .ok()?;
    assert!(
        resumed
            .stderr
            .contains("✔ GitRepository app reconciliation completed"),
        "{}",
        resumed.stderr
    );
    assert!(
        resumed
            .stderr
            .contains(&format!("✔ fetched revision main@sha1:{third}")),
        "{}",
        resumed.stderr
    );
    assert_eq!(api.get("app").await?.spec.suspend, None);

    // Export is clean YAML that applies as is.
    let exported = fluxrs(&["export", "source", "git", "app", "-n", &ns])
        .await?
        .ok()?
        .stdout;
    assert!(
        exported.starts_with("---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n"),
        "{exported}"
    );
    for server_field in [
        "status:",
        "uid:",
        "resourceVersion:",
        "managedFields:",
        "creationTimestamp:",
        "generation:",
    ] {
        assert!(
            !exported.contains(server_field),
            "{server_field} in {exported}"
        );
    }
    let documents = parse_documents(&exported)?;
    assert_eq!(documents[0].data["spec"]["url"], url.as_str());
    apply_manifests(&client, &documents).await?;

    // Events carry the revisions.
    let events = fluxrs(&["events", "--for", "GitRepository/app", "-n", &ns])
        .await?
        .ok()?
        .stdout;
    assert!(events.starts_with("LAST SEEN"), "{events}");
    assert!(events.contains("GitRepository/app"), "{events}");
    assert!(
        events.contains(&format!("main@sha1:{}", short(&second))),
        "{events}"
    );

    let everywhere = fluxrs(&["get", "sources", "git", "-A"]).await?.ok()?.stdout;
    assert!(everywhere.starts_with("NAMESPACE"), "{everywhere}");
    assert!(
        everywhere.lines().any(|l| l.starts_with(&ns)),
        "{everywhere}"
    );

    let all = fluxrs(&["get", "all", "-n", &ns]).await?.ok()?.stdout;
    assert!(all.contains("gitrepository/app"), "{all}");
    Ok(())
}

/// A Kustomization of `source` at `path`, with optional owner labels.
fn kustomization(ns: &str, name: &str, source: &str, owner: Option<&str>) -> String {
    let labels = owner
        .map(|o| format!("  labels:\n    kustomize.toolkit.fluxcd.io/name: {o}\n    kustomize.toolkit.fluxcd.io/namespace: {ns}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: {ns}\n{labels}spec:\n  interval: 10m\n  prune: true\n  path: ./deploy\n  sourceRef:\n    kind: GitRepository\n    name: {source}\n"
    )
}

fn config_map(ns: &str, name: &str, owner: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    kustomize.toolkit.fluxcd.io/name: {owner}\n    kustomize.toolkit.fluxcd.io/namespace: {ns}\ndata:\n  k: v\n"
    )
}

/// Writes what kustomize-controller would: inventory, Ready, applied revision.
async fn write_status(
    api: &Api<Kustomization>,
    name: &str,
    inventory: &[&str],
    ready: bool,
    message: &str,
    revision: &str,
) -> Result<()> {
    let generation = api.get(name).await?.metadata.generation;
    let entries: Vec<Value> = inventory
        .iter()
        .map(|id| json!({ "id": id, "v": "v1" }))
        .collect();
    let status = json!({ "status": {
        "observedGeneration": generation,
        "lastAppliedRevision": revision,
        "inventory": { "entries": entries },
        "conditions": [{
            "type": "Ready",
            "status": if ready { "True" } else { "False" },
            "reason": if ready { "ReconciliationSucceeded" } else { "HealthCheckFailed" },
            "message": message,
            "lastTransitionTime": "2026-01-01T00:00:00Z",
            "observedGeneration": generation,
        }],
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn tree_why_and_kustomization_tables() -> Result<()> {
    let client = installed().await?;
    source_controller().await?;
    let ns = namespace(&client, "cli-tree").await?;
    let (_repo, _server, url, first) = git_repo().await?;
    fluxrs(&[
        "create", "source", "git", "app", "--url", &url, "--branch", "main", "-n", &ns,
    ])
    .await?
    .ok()?;
    let revision = format!("main@sha1:{first}");

    let manifests = [
        kustomization(&ns, "apps", "app", None),
        kustomization(&ns, "child", "app", Some("apps")),
        config_map(&ns, "app-config", "apps"),
        config_map(&ns, "child-config", "child"),
    ]
    .join("---\n");
    apply_manifests(&client, &parse_documents(&manifests)?).await?;
    let api: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
    let apps_inventory = [
        format!("{ns}_app-config__ConfigMap"),
        format!("{ns}_child_kustomize.toolkit.fluxcd.io_Kustomization"),
        format!("{ns}_gone__Service"),
    ];
    let apps_inventory: Vec<&str> = apps_inventory.iter().map(String::as_str).collect();
    write_status(
        &api,
        "apps",
        &apps_inventory,
        true,
        &format!("Applied revision: {revision}"),
        &revision,
    )
    .await?;
    let child_inventory = format!("{ns}_child-config__ConfigMap");
    write_status(
        &api,
        "child",
        &[&child_inventory],
        false,
        "health check failed",
        &revision,
    )
    .await?;

    let tree = fluxrs(&["tree", "kustomization", "apps", "-n", &ns])
        .await?
        .ok()?
        .stdout;
    assert_eq!(
        tree,
        format!(
            "Kustomization/{ns}/apps (Current)\n\
             ├── ConfigMap/{ns}/app-config (Current)\n\
             ├── Kustomization/{ns}/child (Failed)\n\
             │   └── ConfigMap/{ns}/child-config (Current)\n\
             └── Service/{ns}/gone (NotFound)\n"
        )
    );
    let tree: Value = serde_json::from_str(
        &fluxrs(&["tree", "ks", "apps", "-n", &ns, "-o", "json"])
            .await?
            .ok()?
            .stdout,
    )?;
    assert_eq!(
        tree["resources"][1]["resources"][0]["resource"]["Name"],
        "child-config"
    );
    assert_eq!(
        tree["resources"][1]["health"]["message"],
        "health check failed"
    );
    let compact = fluxrs(&["tree", "ks", "apps", "-n", &ns, "--compact"])
        .await?
        .ok()?
        .stdout;
    assert_eq!(compact.lines().count(), 2, "{compact}");

    let why = fluxrs(&["why", "configmap/child-config", "-n", &ns])
        .await?
        .ok()?
        .stdout;
    let expected_start = format!(
        "ConfigMap/{ns}/child-config\n  ← applied by Kustomization/{ns}/child (Ready: False)\n      path: ./deploy\n      revision: {revision}\n      commit: {first} on main\n      message: health check failed\n  ← from source GitRepository/{ns}/app (Ready: True)\n      url: {url}\n      revision: {revision}\n      commit: {first} on main\n  ← applied by Kustomization/{ns}/apps (Ready: True)\n"
    );
    assert!(why.starts_with(&expected_start), "{why}");
    let why: Value = serde_json::from_str(
        &fluxrs(&["why", "ConfigMap/app-config", "-n", &ns, "-o", "json"])
            .await?
            .ok()?
            .stdout,
    )?;
    assert_eq!(why["chain"][0]["object"]["name"], "apps");
    assert_eq!(why["chain"][1]["commit"]["sha"], first.as_str());
    let unmanaged = fluxrs(&["why", "serviceaccount/default", "-n", &ns])
        .await?
        .exit(1)?;
    assert!(
        unmanaged.stderr.contains("is not managed by Flux"),
        "{}",
        unmanaged.stderr
    );

    let table = fluxrs(&["get", "kustomizations", "-n", &ns, "--show-source"])
        .await?
        .ok()?
        .stdout;
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains(&format!("GitRepository/{ns}/app")),
        "{table}"
    );
    assert!(
        table.contains(&format!("main@sha1:{}", short(&first))),
        "{table}"
    );
    let not_ready = fluxrs(&[
        "get",
        "ks",
        "-n",
        &ns,
        "--status-selector",
        "ready=false",
        "-o",
        "json",
    ])
    .await?
    .ok()?
    .stdout;
    let not_ready: Value = serde_json::from_str(&not_ready)?;
    assert_eq!(not_ready.as_array().map(Vec::len), Some(1), "{not_ready}");
    assert_eq!(not_ready[0]["name"], "child");

    // No kustomize-controller: the source is reconciled, the Kustomization times out.
    let timed_out = fluxrs(&[
        "reconcile",
        "ks",
        "apps",
        "--with-source",
        "-n",
        &ns,
        "--timeout",
        "15s",
    ])
    .await?
    .exit(1)?;
    assert!(
        timed_out
            .stderr
            .contains(&format!("✔ fetched revision {revision}")),
        "{}",
        timed_out.stderr
    );
    assert!(
        timed_out
            .stderr
            .contains("timed out after 15s waiting for Kustomization reconciliation"),
        "{}",
        timed_out.stderr
    );
    assert!(
        timed_out
            .stderr
            .contains("hint: is the controller running?"),
        "{}",
        timed_out.stderr
    );

    let events = fluxrs(&["events", "--for", "Kustomization/apps", "-n", &ns])
        .await?
        .ok()?
        .stdout;
    assert!(
        events.contains("GitRepository/app"),
        "a Kustomization's events include its source's: {events}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_prints_changes_as_they_happen() -> Result<()> {
    let client = installed().await?;
    let ns = namespace(&client, "cli-watch").await?;
    let mut child = support::command(
        fluxrs_e2e::shared(),
        &["get", "ks", "-n", &ns, "--watch", "--timeout", "2m"],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();

    apply_manifests(
        &client,
        &parse_documents(&kustomization(&ns, "late", "app", None))?,
    )
    .await?;
    let api: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
    let mut seen = Vec::new();
    let limit = Duration::from_secs(60);
    tokio::time::timeout(
        limit,
        read_until(&mut lines, &mut seen, "waiting to be reconciled"),
    )
    .await??;
    write_status(
        &api,
        "late",
        &[],
        true,
        "Applied revision: main@sha1:0123456789",
        "main@sha1:0123456789",
    )
    .await?;
    tokio::time::timeout(limit, read_until(&mut lines, &mut seen, "Applied revision")).await??;
    assert!(seen[0].starts_with("NAME"), "{seen:?}");
    assert!(
        seen.iter().filter(|l| l.starts_with("NAME")).count() == 1,
        "header once: {seen:?}"
    );
    child.kill().await?;
    Ok(())
}

/// Reads lines (keeping them in `seen`) until one contains `marker`.
async fn read_until(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    seen: &mut Vec<String>,
    marker: &str,
) -> Result<()> {
    while let Some(line) = lines.next_line().await? {
        seen.push(line.clone());
        if line.contains(marker) {
            return Ok(());
        }
    }
    anyhow::bail!("watch ended before {marker:?}: {seen:?}")
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_exit_non_zero_with_a_reason_and_a_hint() -> Result<()> {
    let client = installed().await?;
    let ns = namespace(&client, "cli-fail").await?;

    let missing = fluxrs(&["reconcile", "source", "git", "missing", "-n", &ns])
        .await?
        .exit(1)?;
    assert!(
        missing.stderr.contains(&format!(
            "✗ GitRepository object 'missing' not found in \"{ns}\" namespace"
        )),
        "{}",
        missing.stderr
    );
    assert!(
        missing.stderr.contains(&format!(
            "hint: list them with 'fluxrs get sources git -n {ns}'"
        )),
        "{}",
        missing.stderr
    );

    let empty = fluxrs(&["get", "sources", "git", "-n", &ns])
        .await?
        .exit(1)?;
    assert!(
        empty.stderr.contains(&format!(
            "no GitRepository objects found in \"{ns}\" namespace"
        )),
        "{}",
        empty.stderr
    );

    let no_config = fluxrs(&["get", "all", "--kubeconfig", "/nonexistent/kubeconfig"])
        .await?
        .exit(1)?;
    assert!(
        no_config.stderr.contains("unable to load the kubeconfig"),
        "{}",
        no_config.stderr
    );
    let no_context = fluxrs(&["get", "all", "--context", "nowhere"])
        .await?
        .exit(1)?;
    assert!(
        no_context.stderr.contains("nowhere"),
        "{}",
        no_context.stderr
    );

    let bad_flag = fluxrs(&["get", "ks", "--status-selector", "ready"])
        .await?
        .exit(2)?;
    assert!(
        bad_flag.stderr.contains("invalid status selector"),
        "{}",
        bad_flag.stderr
    );

    let no_ref = fluxrs(&[
        "create",
        "source",
        "git",
        "x",
        "--url",
        "https://example.com/x",
        "--export",
    ])
    .await?
    .exit(1)?;
    assert!(
        no_ref.stderr.contains("a Git ref is required"),
        "{}",
        no_ref.stderr
    );

    // Resume with several names, one missing: reported, the rest still resumed.
    apply_manifests(
        &client,
        &parse_documents(&kustomization(&ns, "a", "app", None))?,
    )
    .await?;
    fluxrs(&["suspend", "ks", "--all", "-n", &ns]).await?.ok()?;
    let api: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
    assert_eq!(api.get("a").await?.spec.suspend, Some(true));
    let resumed = fluxrs(&["resume", "ks", "a", "nope", "-n", &ns])
        .await?
        .ok()?;
    assert!(
        resumed
            .stderr
            .contains(&format!("✗ Kustomization nope not found in {ns} namespace")),
        "{}",
        resumed.stderr
    );
    assert_eq!(api.get("a").await?.spec.suspend, None);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_and_secrets_without_and_with_a_cluster() -> Result<()> {
    let client = installed().await?;
    let ns = namespace(&client, "cli-create").await?;
    let exported = fluxrs(&[
        "create",
        "kustomization",
        "podinfo",
        "--source",
        "GitRepository/podinfo",
        "--path",
        "./kustomize",
        "--prune",
        "--export",
        "-n",
        "flux-system",
    ])
    .await?
    .ok()?;
    assert_eq!(
        exported.stdout,
        "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: podinfo\n  namespace: flux-system\nspec:\n  interval: 1m0s\n  path: ./kustomize\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: podinfo\n"
    );

    let dir = tempfile::tempdir()?;
    let key = dir.path().join("identity");
    let hosts = dir.path().join("known_hosts");
    std::fs::write(
        &key,
        "-----BEGIN OPENSSH PRIVATE KEY-----\nkey\n-----END OPENSSH PRIVATE KEY-----\n",
    )?;
    std::fs::write(
        &hosts,
        "other.example.com ssh-ed25519 AAAA1\n[git.example.com]:2222 ssh-ed25519 AAAA2\n",
    )?;
    fluxrs(&[
        "create",
        "secret",
        "git",
        "ssh-auth",
        "--url",
        "ssh://git@git.example.com:2222/org/repo",
        "--private-key-file",
        key.to_str().context("utf-8")?,
        "--known-hosts-file",
        hosts.to_str().context("utf-8")?,
        "-n",
        &ns,
    ])
    .await?
    .ok()?;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), &ns);
    let secret = secrets.get("ssh-auth").await?;
    let data = secret.data.context("data")?;
    assert_eq!(
        data["known_hosts"].0,
        b"[git.example.com]:2222 ssh-ed25519 AAAA2\n"
    );
    assert!(data.contains_key("identity"));

    // A Kustomization applied without a controller: created, then the wait times out.
    let created = fluxrs(&[
        "create",
        "ks",
        "apps",
        "--source",
        "app",
        "--path",
        "deploy",
        "-n",
        &ns,
        "--timeout",
        "5s",
    ])
    .await?
    .exit(1)?;
    assert!(
        created.stderr.contains("✔ Kustomization created"),
        "{}",
        created.stderr
    );
    assert!(
        created.stderr.contains("timed out after 5s"),
        "{}",
        created.stderr
    );
    let api: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
    assert_eq!(
        api.get("apps").await?.spec.path.as_deref(),
        Some("./deploy")
    );

    let version = fluxrs(&["version", "--client"]).await?.ok()?;
    assert_eq!(
        version.stdout,
        format!("fluxrs: v{}\n", env!("CARGO_PKG_VERSION"))
    );
    let completion = fluxrs(&["completion", "bash"]).await?.ok()?;
    assert!(
        completion.stdout.contains("_fluxrs"),
        "a bash completion script"
    );
    Ok(())
}

/// On a cluster of its own (it deletes the CRDs every other test uses):
/// uninstall keeps Flux objects and CRDs by default; `--delete-crds` removes
/// the finalizers no controller would remove, then the CRDs and the namespace.
#[tokio::test(flavor = "multi_thread")]
async fn uninstall_keeps_objects_unless_asked_to_delete_crds() -> Result<()> {
    let cluster = fluxrs_e2e::TestCluster::start().await?;
    let client = cluster.client().await?;
    run_on(&cluster, &["install"]).await?.ok()?;
    let repo = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: kept\n  namespace: flux-system\n  finalizers: [finalizers.fluxcd.io]\nspec:\n  interval: 1m\n  url: https://example.com/repo\n";
    apply_manifests(&client, &parse_documents(repo)?).await?;

    let kept = run_on(&cluster, &["uninstall"]).await?.ok()?;
    assert!(
        kept.stderr.contains("kept the Flux CRDs"),
        "{}",
        kept.stderr
    );
    let repos: Api<GitRepository> = Api::namespaced(client.clone(), "flux-system");
    assert!(repos.get_opt("kept").await?.is_some());

    let removed = run_on(&cluster, &["uninstall", "--delete-crds"])
        .await?
        .ok()?;
    assert!(
        removed
            .stderr
            .contains("✔ GitRepository/flux-system/kept finalizers deleted"),
        "{}",
        removed.stderr
    );
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    eventually(
        Duration::from_secs(60),
        "the Flux CRDs to be deleted",
        || async {
            let left = crds.list(&Default::default()).await?.items;
            Ok(left
                .iter()
                .all(|c| !c.spec.group.ends_with("toolkit.fluxcd.io"))
                .then_some(()))
        },
    )
    .await?;
    let check = run_on(&cluster, &["check"]).await?.exit(1)?;
    assert!(
        check
            .stderr
            .contains("✗ gitrepositories.source.toolkit.fluxcd.io not found"),
        "{}",
        check.stderr
    );
    Ok(())
}
