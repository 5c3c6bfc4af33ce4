//! `fluxrs build kustomization` and `fluxrs diff kustomization`: the real
//! binary against a real cluster (one for this test binary, each test in its
//! own namespace). Kustomizations are created with the real CRDs; the
//! inventory a controller would have written is written through the status
//! subresource. `--dry-run` builds run without any cluster.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use fluxrs_api::kustomize::Kustomization;
use fluxrs_e2e::{apply_manifests, install_crds, parse_documents, shared};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tempfile::TempDir;
use tokio::sync::OnceCell;

/// What one `fluxrs` run printed.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn exit(self, code: i32) -> Result<Self> {
        if self.code != Some(code) {
            bail!(
                "fluxrs exited with {:?}, expected {code}: {self:#?}",
                self.code
            );
        }
        Ok(self)
    }
}

/// Runs `fluxrs <args>` with `kubeconfig`, colours off.
async fn run(kubeconfig: &Path, args: &[&str]) -> Result<Run> {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_fluxrs"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env_remove("FLUX_SYSTEM_NAMESPACE")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .await
        .context("running fluxrs")?;
    Ok(Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Runs `fluxrs <args>` against the shared cluster.
async fn fluxrs(args: &[&str]) -> Result<Run> {
    run(shared().kubeconfig_path(), args).await
}

/// A client, with the Flux CRDs installed once, and a fresh namespace.
async fn cluster(prefix: &str) -> Result<(Client, String)> {
    static CRDS: OnceCell<()> = OnceCell::const_new();
    let client = shared().client().await?;
    CRDS.get_or_try_init(|| async { install_crds(&client).await })
        .await?;
    let ns = shared().create_namespace(&client, prefix).await?;
    Ok((client, ns))
}

/// A Git checkout (it has a `.git` folder) holding `files`.
fn checkout(files: &[(&str, &str)]) -> Result<TempDir> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join(".git"))?;
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().context("a parent")?)?;
        std::fs::write(path, text)?;
    }
    Ok(dir)
}

async fn apply(client: &Client, yaml: &str) -> Result<()> {
    apply_manifests(client, &parse_documents(yaml)?).await?;
    Ok(())
}

/// A Kustomization `name` in `ns` targeting `ns`, with more `spec` lines.
fn kustomization(ns: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  interval: 10m\n  prune: true\n  path: ./deploy\n  targetNamespace: {ns}\n  sourceRef:\n    kind: GitRepository\n    name: repo\n{spec}"
    )
}

/// Writes the inventory kustomize-controller would have recorded.
async fn write_inventory(client: &Client, ns: &str, name: &str, ids: &[String]) -> Result<()> {
    let entries: Vec<_> = ids.iter().map(|id| json!({"id": id, "v": "v1"})).collect();
    let status = json!({"status": {"inventory": {"entries": entries}}});
    Api::<Kustomization>::namespaced(client.clone(), ns)
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

const SUBSTITUTED: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  labels:\n    team: ${team}\ndata:\n  greeting: ${greeting}\n  color: ${color}\n  password: ${password}\n  size: ${size:=small}\n";

const SOPS_SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\ndata:\n  token: RU5DW0FFUzI1Nl9HQ00sZGF0YTp4XQ==\nsops:\n  mac: ENC[AES256_GCM,data:abc]\n  version: 3.8.1\n";

#[tokio::test(flavor = "multi_thread")]
async fn build_applies_overrides_and_substitutes_from_the_cluster() -> Result<()> {
    let (client, ns) = cluster("cli-build").await?;
    apply(
        &client,
        &format!(
            "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vars\n  namespace: {ns}\ndata:\n  color: blue\n  team: ops\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: {ns}\nstringData:\n  password: hunter2\n",
            kustomization(
                &ns,
                "apps",
                "  namePrefix: web-\n  commonMetadata:\n    annotations:\n      owner: platform\n  postBuild:\n    substitute:\n      greeting: hello\n    substituteFrom:\n    - kind: ConfigMap\n      name: vars\n    - kind: Secret\n      name: creds\n    - kind: ConfigMap\n      name: absent\n      optional: true\n"
            )
        ),
    )
    .await?;
    // No kustomization.yaml: generated like the controller does, in a copy.
    let repo = checkout(&[
        ("deploy/app.yaml", SUBSTITUTED),
        ("deploy/token.yaml", SOPS_SECRET),
    ])?;
    let path = repo.path().join("deploy");
    let path = path.to_str().context("utf-8 path")?;

    let built = fluxrs(&["build", "kustomization", "apps", "--path", path, "-n", &ns])
        .await?
        .exit(0)?;
    assert_eq!(
        built.stdout,
        format!(
            "apiVersion: v1\ndata:\n  color: blue\n  greeting: hello\n  password: hunter2\n  size: small\nkind: ConfigMap\nmetadata:\n  annotations:\n    owner: platform\n  labels:\n    kustomize.toolkit.fluxcd.io/name: apps\n    kustomize.toolkit.fluxcd.io/namespace: {ns}\n    team: ops\n  name: web-app\n  namespace: {ns}\n---\napiVersion: v1\ndata:\n  token: KipTT1BTKio=\nkind: Secret\nmetadata:\n  annotations:\n    owner: platform\n  labels:\n    kustomize.toolkit.fluxcd.io/name: apps\n    kustomize.toolkit.fluxcd.io/namespace: {ns}\n  name: web-token\n  namespace: {ns}\n"
        ),
        "{}",
        built.stderr
    );
    assert!(
        !repo.path().join("deploy/kustomization.yaml").exists(),
        "the user's folder is left untouched"
    );

    // Strict substitution refuses undefined variables.
    let strict = checkout(&[(
        "deploy/app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: ${undefined_var}\n",
    )])?;
    let strict_path = strict.path().join("deploy");
    let strict_path = strict_path.to_str().context("utf-8 path")?;
    let lenient = fluxrs(&["build", "ks", "apps", "--path", strict_path, "-n", &ns])
        .await?
        .exit(0)?;
    assert!(lenient.stdout.contains("  a: null\n"), "{}", lenient.stdout);
    let refused = fluxrs(&[
        "build",
        "ks",
        "apps",
        "--path",
        strict_path,
        "-n",
        &ns,
        "--strict-substitute",
    ])
    .await?
    .exit(1)?;
    assert!(
        refused
            .stderr
            .contains("variable not set (strict mode): \"undefined_var\""),
        "{}",
        refused.stderr
    );

    // A missing Kustomization or path is a clear failure.
    let missing = fluxrs(&["build", "ks", "nope", "--path", path, "-n", &ns])
        .await?
        .exit(1)?;
    assert!(
        missing.stderr.contains(&format!(
            "Kustomization object 'nope' not found in \"{ns}\" namespace"
        )),
        "{}",
        missing.stderr
    );
    let bad_path = fluxrs(&["build", "ks", "apps", "--path", "/no/such/dir", "-n", &ns])
        .await?
        .exit(1)?;
    assert!(
        bad_path
            .stderr
            .contains("invalid resource path \"/no/such/dir\""),
        "{}",
        bad_path.stderr
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_builds_from_a_file_without_a_cluster() -> Result<()> {
    let repo = checkout(&[
        ("apps/base/kustomization.yaml", "resources: [app.yaml]\n"),
        ("apps/base/app.yaml", SUBSTITUTED),
        (
            "apps/prod/kustomization.yaml",
            "resources: [../base]\nnameSuffix: -prod\n",
        ),
        (
            "ks.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\nspec:\n  interval: 5m\n  prune: true\n  path: ./apps/prod\n  targetNamespace: prod\n  sourceRef:\n    kind: GitRepository\n    name: repo\n  images:\n  - name: unused\n    newTag: v2\n  postBuild:\n    substitute:\n      greeting: hi\n      team: dev\n    substituteFrom:\n    - kind: ConfigMap\n      name: never-read\n",
        ),
    ])?;
    let path = repo.path().join("apps/prod");
    let file = repo.path().join("ks.yaml");
    let unreachable = repo.path().join("no-kubeconfig");
    let args = [
        "build",
        "kustomization",
        "apps",
        "--path",
        path.to_str().context("utf-8")?,
        "--kustomization-file",
        file.to_str().context("utf-8")?,
        "--dry-run",
    ];
    let built = run(&unreachable, &args).await?.exit(0)?;
    assert_eq!(
        built.stdout,
        "apiVersion: v1\ndata:\n  color: null\n  greeting: hi\n  password: null\n  size: small\nkind: ConfigMap\nmetadata:\n  labels:\n    kustomize.toolkit.fluxcd.io/name: apps\n    kustomize.toolkit.fluxcd.io/namespace: flux-system\n    team: dev\n  name: app-prod\n  namespace: prod\n"
    );
    let before = std::fs::read_to_string(repo.path().join("apps/prod/kustomization.yaml"))?;
    assert_eq!(before, "resources: [../base]\nnameSuffix: -prod\n");

    // --dry-run needs the file; the file must hold the named Kustomization.
    let no_file = run(&unreachable, &args[..5]).await?;
    assert_ne!(no_file.code, Some(0));
    let no_file = run(
        &unreachable,
        &["build", "ks", "apps", "--path", args[4], "--dry-run"],
    )
    .await?;
    assert!(
        no_file.stderr.contains("--kustomization-file"),
        "{no_file:#?}"
    );
    let mut other = args.to_vec();
    other[2] = "other";
    let wrong_name = run(&unreachable, &other).await?.exit(1)?;
    assert!(
        wrong_name
            .stderr
            .contains("no Kustomization with name 'other' and namespace 'flux-system'"),
        "{}",
        wrong_name.stderr
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_reports_created_drifted_skipped_and_pruned_objects() -> Result<()> {
    let (client, ns) = cluster("cli-diff").await?;
    let owner = format!(
        "  labels:\n    kustomize.toolkit.fluxcd.io/name: apps\n    kustomize.toolkit.fluxcd.io/namespace: {ns}\n"
    );
    apply(
        &client,
        &format!(
            "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: {ns}\n{owner}data:\n  key: old\n  same: kept\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gone\n  namespace: {ns}\n{owner}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: {ns}\n{owner}stringData:\n  password: old-password\n",
            kustomization(&ns, "apps", "")
        ),
    )
    .await?;
    let id = |name: &str, kind: &str| format!("{ns}_{name}__{kind}");
    write_inventory(
        &client,
        &ns,
        "apps",
        &[
            id("app", "ConfigMap"),
            id("gone", "ConfigMap"),
            id("creds", "Secret"),
        ],
    )
    .await?;
    let repo = checkout(&[
        (
            "deploy/app.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  key: new\n  same: kept\n",
        ),
        (
            "deploy/new.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: new\n",
        ),
        (
            "deploy/skip.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: skip\n  annotations:\n    kustomize.toolkit.fluxcd.io/reconcile: disabled\n",
        ),
        (
            "deploy/creds.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: new-password\n",
        ),
    ])?;
    let path = repo.path().join("deploy");
    let path = path.to_str().context("utf-8 path")?;

    let diff = fluxrs(&["diff", "kustomization", "apps", "--path", path, "-n", &ns])
        .await?
        .exit(1)?;
    let out = &diff.stdout;
    for expected in [
        format!("► ConfigMap/{ns}/app drifted\n--- live\n+++ merged\n"),
        "-  key: old\n+  key: new\n".to_string(),
        format!("► ConfigMap/{ns}/new created\n"),
        format!("► ConfigMap/{ns}/skip skipped\n"),
        format!("► Secret/{ns}/creds drifted\n"),
        "-  password: '*** (before)'\n+  password: '*** (after)'\n".to_string(),
        format!("► ConfigMap/{ns}/gone deleted\n"),
    ] {
        assert!(out.contains(&expected), "missing {expected:?} in:\n{out}");
    }
    assert!(
        !out.contains("same: kept\n-") && out.contains("   same: kept\n"),
        "{out}"
    );
    for secret in [
        "old-password",
        "new-password",
        "b2xkLXBhc3N3b3Jk",
        "bmV3LXBhc3N3b3Jk",
    ] {
        assert!(!out.contains(secret), "{secret} leaked:\n{out}");
    }
    assert!(!out.contains("managedFields"), "{out}");
    assert!(
        diff.stderr
            .contains("identified at least one change, exiting with non-zero exit code"),
        "{}",
        diff.stderr
    );
    assert!(
        Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), &ns)
            .get_opt("new")
            .await?
            .is_none(),
        "diff changes nothing"
    );

    // Once applied (with the ownership labels of the build) and recorded in
    // the inventory, nothing is left to report.
    let built = fluxrs(&["build", "ks", "apps", "--path", path, "-n", &ns])
        .await?
        .exit(0)?;
    let applied: Vec<_> = parse_documents(&built.stdout)?
        .into_iter()
        .filter(|o| o.metadata.name.as_deref() != Some("skip"))
        .collect();
    apply_manifests(&client, &applied).await?;
    write_inventory(
        &client,
        &ns,
        "apps",
        &[
            id("app", "ConfigMap"),
            id("new", "ConfigMap"),
            id("creds", "Secret"),
        ],
    )
    .await?;
    let clean = fluxrs(&["diff", "ks", "apps", "--path", path, "-n", &ns])
        .await?
        .exit(0)?;
    assert_eq!(clean.stdout, format!("► ConfigMap/{ns}/skip skipped\n"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_errors_exit_2() -> Result<()> {
    let (client, ns) = cluster("cli-diff-err").await?;
    apply(&client, &kustomization(&ns, "apps", "")).await?;
    let repo = checkout(&[(
        "deploy/widget.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
    )])?;
    let path = repo.path().join("deploy");
    let path = path.to_str().context("utf-8 path")?;
    let unknown = fluxrs(&["diff", "ks", "apps", "--path", path, "-n", &ns])
        .await?
        .exit(2)?;
    assert!(
        unknown.stderr.contains(&format!("Widget/{ns}/w")),
        "{}",
        unknown.stderr
    );
    let missing = fluxrs(&["diff", "ks", "nope", "--path", path, "-n", &ns])
        .await?
        .exit(2)?;
    assert!(
        missing
            .stderr
            .contains("Kustomization object 'nope' not found"),
        "{}",
        missing.stderr
    );
    Ok(())
}
