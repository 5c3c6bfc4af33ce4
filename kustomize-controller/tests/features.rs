//! kustomize-controller behaviour beyond the core loop, with both controllers
//! as real processes: no-op reconciles that cost almost no API requests while
//! drift is still corrected, the prune guard, impersonation bounded by RBAC,
//! applying through a kubeconfig Secret, SOPS-encrypted generator inputs
//! decrypted with the controller-wide `--sops-age-secret`, CEL health checks
//! and dependency ready expressions.

mod support;

use std::time::Duration;

use anyhow::{Context, Result};
use fluxrs_api::kustomize::Kustomization;
use fluxrs_api::source::GitRepository;
use fluxrs_e2e::git::{GitFixture, GitHttpServer, HttpAuth};
use fluxrs_e2e::{apply_manifests, parse_documents, shared};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use support::{
    GLOBAL_AGE_SECRET, api_requests, config_map, flux_objects, ready, reconcile_now, request,
    setup, wait_for,
};

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
";

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
";

const SERVICE_ACCOUNT: &str = "apiVersion: v1
kind: ServiceAccount
metadata:
  name: web
";

/// Serves `repo` over smart HTTP and applies the GitRepository and
/// Kustomization `app` (its spec extended with `extra_spec`); returns the
/// server (keep it alive) and the Kustomization API.
async fn serve_app(
    client: &kube::Client,
    namespace: &str,
    repo: &GitFixture,
    extra_spec: &str,
) -> Result<(GitHttpServer, Api<Kustomization>)> {
    let server = GitHttpServer::start(repo.root(), HttpAuth::None).await?;
    let url = server.url(&repo.bare_name());
    apply_manifests(
        client,
        &parse_documents(&flux_objects(namespace, &url, extra_spec))?,
    )
    .await?;
    Ok((server, Api::namespaced(client.clone(), namespace)))
}

/// [`serve_app`], then waits until `commit` is
/// applied; returns the server (keep it alive), the Kustomization API and the
/// revision.
async fn sync_app(
    client: &kube::Client,
    namespace: &str,
    running: &support::Controllers,
    repo: &GitFixture,
    commit: &str,
    extra_spec: &str,
) -> Result<(GitHttpServer, Api<Kustomization>, String)> {
    let (server, kustomizations) = serve_app(client, namespace, repo, extra_spec).await?;
    let revision = format!("main@sha1:{commit}");
    wait_for(
        &kustomizations,
        "app",
        running,
        "Ready",
        Duration::from_secs(120),
        |k| is_ready_at(k, &revision),
    )
    .await?;
    Ok((server, kustomizations, revision))
}

fn is_ready_at(k: Option<&Kustomization>, revision: &str) -> bool {
    ready(k).is_some_and(|(s, _, m)| s == "True" && m == format!("Applied revision: {revision}"))
}

#[tokio::test]
async fn no_op_reconciles_cost_almost_nothing_and_drift_is_still_corrected() -> Result<()> {
    let _lock = support::exclusive_lock().await;
    let (client, namespace, running) = setup("steady").await?;
    let repo = GitFixture::new("steady")?;
    repo.write("deploy/web.yaml", DEPLOYMENT)?;
    repo.write("deploy/service.yaml", SERVICE)?;
    repo.write("deploy/account.yaml", SERVICE_ACCOUNT)?;
    repo.write("deploy/settings.yaml", &config_map("settings", "one"))?;
    let commit = repo.commit("app")?;
    let server = GitHttpServer::start(repo.root(), HttpAuth::None).await?;
    let url = server.url(&repo.bare_name());
    apply_manifests(
        &client,
        &parse_documents(&flux_objects(&namespace, &url, "  wait: true\n"))?,
    )
    .await?;
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    let revision = format!("main@sha1:{commit}");
    wait_for(
        &kustomizations,
        "app",
        running,
        "Ready",
        Duration::from_secs(120),
        |k| is_ready_at(k, &revision),
    )
    .await?;

    // Let the watches of the managed kinds sync and the Deployment settle.
    for token in ["warm-1", "warm-2"] {
        reconcile_now(&kustomizations, "app", running, token).await?;
    }
    let before = api_requests(running)?;
    const RECONCILES: u64 = 5;
    for n in 0..RECONCILES {
        let ks = reconcile_now(&kustomizations, "app", running, &format!("noop-{n}")).await?;
        assert!(is_ready_at(Some(&ks), &revision), "{:?}", ready(Some(&ks)));
    }
    let spent = api_requests(running)? - before;
    println!("{spent} API requests for {RECONCILES} no-op reconciles of 4 objects");
    assert!(
        spent <= 2 * RECONCILES,
        "a no-op reconcile must cost at most two requests, {RECONCILES} cost {spent}"
    );

    // Drift is still seen and corrected: an edited ConfigMap, a deleted
    // Service, a changed container image.
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let by_hand = PatchParams::default();
    configmaps
        .patch(
            "settings",
            &by_hand,
            &Patch::Merge(&serde_json::json!({"data": {"value": "edited"}})),
        )
        .await?;
    services.delete("web", &DeleteParams::default()).await?;
    deployments
        .patch(
            "web",
            &by_hand,
            &Patch::Strategic(&serde_json::json!({"spec": {"template": {"spec": {
                "containers": [{"name": "web", "image": "nginx:edited"}]}}}})),
        )
        .await?;
    let before = api_requests(running)?;
    reconcile_now(&kustomizations, "app", running, "after-drift").await?;
    let spent = api_requests(running)? - before;
    println!("{spent} API requests to correct drift on 3 of 4 objects");
    let settings = configmaps.get("settings").await?;
    assert_eq!(
        settings
            .data
            .unwrap_or_default()
            .get("value")
            .map(String::as_str),
        Some("one")
    );
    assert!(
        services.get_opt("web").await?.is_some(),
        "Service recreated"
    );
    let image = deployments
        .get("web")
        .await?
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers.first().and_then(|c| c.image.clone()));
    assert_eq!(image.as_deref(), Some("nginx:1.27"));
    Ok(())
}

#[tokio::test]
async fn prune_guard_blocks_mass_deletion_until_approved() -> Result<()> {
    let _lock = support::shared_lock().await;
    let (client, namespace, running) = setup("guard").await?;
    let repo = GitFixture::new("guard")?;
    for name in ["a", "b", "c", "d"] {
        repo.write(&format!("deploy/{name}.yaml"), &config_map(name, name))?;
    }
    let first = repo.commit("four settings")?;
    let (_server, kustomizations) = serve_app(&client, &namespace, &repo, "").await?;
    let sources: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let revision = format!("main@sha1:{first}");
    wait_for(
        &kustomizations,
        "app",
        running,
        "Ready",
        Duration::from_secs(120),
        |k| is_ready_at(k, &revision),
    )
    .await?;

    // Dropping three of four objects (75% > 50%) applies but does not prune.
    for name in ["b", "c", "d"] {
        repo.remove(&format!("deploy/{name}.yaml"))?;
    }
    repo.write("deploy/a.yaml", &config_map("a", "changed"))?;
    let second = repo.commit("drop three")?;
    request(&sources, "app", "second").await?;
    let blocked = wait_for(
        &kustomizations,
        "app",
        running,
        "blocked",
        Duration::from_secs(60),
        |k| ready(k).is_some_and(|(s, r, _)| s == "False" && r == "PruneBlocked"),
    )
    .await?
    .context("kustomization")?;
    let (_, _, message) = ready(Some(&blocked)).context("Ready")?;
    let second_revision = format!("main@sha1:{second}");
    assert!(message.contains("would delete 3 of 4 objects"), "{message}");
    assert!(
        message.contains(&format!("ConfigMap/{namespace}/b")),
        "{message}"
    );
    assert!(
        message.contains(&format!("flux-rs.io/approve-prune={second_revision}")),
        "{message}"
    );
    for name in ["b", "c", "d"] {
        assert!(
            configmaps.get_opt(name).await?.is_some(),
            "{name} was pruned"
        );
    }
    let a = configmaps.get("a").await?;
    assert_eq!(
        a.data.unwrap_or_default().get("value").map(String::as_str),
        Some("changed"),
        "the rest of the change is applied"
    );
    let entries = blocked
        .status
        .as_ref()
        .and_then(|s| s.inventory.as_ref())
        .map(|i| i.entries.len());
    assert_eq!(entries, Some(4), "blocked objects stay in the inventory");
    let history = blocked
        .status
        .as_ref()
        .and_then(|s| s.history.clone())
        .unwrap_or_default();
    let outcomes: Vec<(&str, Option<&str>)> = history
        .iter()
        .map(|s| {
            let revision = s.metadata.as_ref().and_then(|m| m.get("revision"));
            (
                s.last_reconciled_status.as_str(),
                revision.map(String::as_str),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("PruneBlocked", Some(second_revision.as_str())),
            ("ReconciliationSucceeded", Some(revision.as_str())),
        ],
        "status.history, newest first"
    );

    // Approving this revision with the CLI lets the prune through.
    let fluxrs = fluxrs_e2e::controller::workspace_binary("fluxrs")?;
    let approved = std::process::Command::new(fluxrs)
        .args([
            "reconcile",
            "kustomization",
            "app",
            "--approve-prune",
            "-n",
            &namespace,
        ])
        .env("KUBECONFIG", shared().kubeconfig_path())
        .output()?;
    assert!(
        approved.status.success(),
        "fluxrs reconcile --approve-prune failed: {}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let ks = kustomizations.get("app").await?;
    assert!(
        is_ready_at(Some(&ks), &second_revision),
        "{:?}",
        ready(Some(&ks))
    );
    assert_eq!(
        ks.metadata
            .annotations
            .unwrap_or_default()
            .get("flux-rs.io/approve-prune"),
        Some(&second_revision)
    );
    for name in ["b", "c", "d"] {
        assert!(
            configmaps.get_opt(name).await?.is_none(),
            "{name} not pruned"
        );
    }

    // A build with no objects never prunes unapproved, whatever the share.
    repo.remove("deploy/a.yaml")?;
    repo.write("deploy/README.md", "nothing to deploy\n")?;
    repo.commit("empty")?;
    request(&sources, "app", "third").await?;
    let empty = wait_for(
        &kustomizations,
        "app",
        running,
        "blocked",
        Duration::from_secs(60),
        |k| ready(k).is_some_and(|(s, r, _)| s == "False" && r == "PruneBlocked"),
    )
    .await?
    .context("kustomization")?;
    let (_, _, message) = ready(Some(&empty)).context("Ready")?;
    assert!(
        message.contains("the build produced no objects"),
        "{message}"
    );
    assert!(configmaps.get_opt("a").await?.is_some());
    Ok(())
}

#[tokio::test]
async fn impersonation_is_bounded_by_rbac() -> Result<()> {
    let _lock = support::shared_lock().await;
    let (client, namespace, running) = setup("impersonate").await?;
    let rbac = |verbs_on_deployments: &str| {
        format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: deployer\n  namespace: {namespace}\n---\n\
             apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: deployer\n  namespace: {namespace}\n\
             rules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [\"*\"]\n\
             - apiGroups: [apps]\n  resources: [deployments]\n  verbs: {verbs_on_deployments}\n---\n\
             apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: deployer\n  namespace: {namespace}\n\
             roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: deployer\n\
             subjects:\n- kind: ServiceAccount\n  name: deployer\n  namespace: {namespace}\n"
        )
    };
    apply_manifests(&client, &parse_documents(&rbac("[get]"))?).await?;
    let repo = GitFixture::new("impersonate")?;
    repo.write("deploy/web.yaml", DEPLOYMENT)?;
    repo.write("deploy/settings.yaml", &config_map("settings", "one"))?;
    let commit = repo.commit("app")?;
    let (_server, kustomizations) = serve_app(
        &client,
        &namespace,
        &repo,
        "  serviceAccountName: deployer\n",
    )
    .await?;
    let denied = wait_for(
        &kustomizations,
        "app",
        running,
        "denied",
        Duration::from_secs(120),
        |k| ready(k).is_some_and(|(s, _, m)| s == "False" && m.contains("forbidden")),
    )
    .await?
    .context("kustomization")?;
    let (_, _, message) = ready(Some(&denied)).context("Ready")?;
    assert!(
        message.contains(&format!("system:serviceaccount:{namespace}:deployer"))
            && message.contains("deployments"),
        "{message}"
    );
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    assert!(
        configmaps.get_opt("settings").await?.is_none(),
        "nothing is applied when one object is denied"
    );

    // Enough to apply, not to list: the controller falls back to GETs.
    apply_manifests(&client, &parse_documents(&rbac("[get, create, patch]"))?).await?;
    request(&kustomizations, "app", "granted").await?;
    let revision = format!("main@sha1:{commit}");
    wait_for(
        &kustomizations,
        "app",
        running,
        "Ready",
        Duration::from_secs(60),
        |k| is_ready_at(k, &revision),
    )
    .await?;
    let web = Api::<Deployment>::namespaced(client.clone(), &namespace)
        .get("web")
        .await?;
    let applied_by = web
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| f.manager)
        .collect::<Vec<_>>();
    assert!(
        applied_by.iter().any(|m| m == "kustomize-controller"),
        "{applied_by:?}"
    );

    // Drift is corrected although the account may not list Deployments.
    let deployments = Api::<Deployment>::namespaced(client.clone(), &namespace);
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({"spec": {"replicas": 3}})),
        )
        .await?;
    reconcile_now(&kustomizations, "app", running, "drift").await?;
    let replicas = deployments.get("web").await?.spec.and_then(|s| s.replicas);
    assert_eq!(replicas, Some(1));
    Ok(())
}

#[tokio::test]
async fn applies_through_a_kubeconfig_secret() -> Result<()> {
    let _lock = support::shared_lock().await;
    let (client, namespace, running) = setup("remote").await?;
    let kubeconfig = std::fs::read_to_string(shared().kubeconfig_path())?;
    let secrets = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: remote\n  namespace: {namespace}\nstringData:\n  value.yaml: |\n{}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata:\n  name: broken\n  namespace: {namespace}\nstringData:\n  value: \"not: [a kubeconfig\"\n",
        kubeconfig
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    apply_manifests(&client, &parse_documents(&secrets)?).await?;
    let repo = GitFixture::new("remote")?;
    repo.write("deploy/settings.yaml", &config_map("settings", "remote"))?;
    let commit = repo.commit("settings")?;
    let (_server, kustomizations) = serve_app(
        &client,
        &namespace,
        &repo,
        "  kubeConfig:\n    secretRef:\n      name: broken\n",
    )
    .await?;
    let broken = wait_for(
        &kustomizations,
        "app",
        running,
        "failed",
        Duration::from_secs(120),
        |k| ready(k).is_some_and(|(s, _, m)| s == "False" && m.contains("kubeconfig")),
    )
    .await?;
    let (_, _, message) = ready(broken.as_ref()).context("Ready")?;
    assert!(
        message.contains("invalid kubeconfig in secret 'broken'"),
        "{message}"
    );

    let fixed = serde_json::json!({"spec": {"kubeConfig": {"secretRef": {"name": "remote"}}}});
    kustomizations
        .patch("app", &PatchParams::default(), &Patch::Merge(&fixed))
        .await?;
    let revision = format!("main@sha1:{commit}");
    wait_for(
        &kustomizations,
        "app",
        running,
        "Ready",
        Duration::from_secs(60),
        |k| is_ready_at(k, &revision),
    )
    .await?;
    let settings = Api::<ConfigMap>::namespaced(client.clone(), &namespace)
        .get("settings")
        .await?;
    assert_eq!(
        settings
            .data
            .unwrap_or_default()
            .get("value")
            .map(String::as_str),
        Some("remote")
    );
    Ok(())
}

fn sops_fixture(name: &str) -> Result<Vec<u8>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sops")
        .join(name);
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

#[tokio::test]
async fn encrypted_generator_inputs_are_decrypted_with_the_controller_wide_key() -> Result<()> {
    let _lock = support::shared_lock().await;
    let (client, namespace, running) = setup("sops-global").await?;
    let key = String::from_utf8(sops_fixture("keys/throwaway-test-1.agekey")?)?;
    let global = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata:\n  name: {GLOBAL_AGE_SECRET}\n  namespace: flux-system\n\
         stringData:\n  identity.agekey: |\n{}\n",
        key.lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    apply_manifests(&client, &parse_documents(&global)?).await?;
    let repo = GitFixture::new("sops-global")?;
    repo.write(
        "deploy/kustomization.yaml",
        "secretGenerator:\n- name: app\n  envs:\n  - app.env\n  options:\n    disableNameSuffixHash: true\n",
    )?;
    repo.write(
        "deploy/app.env",
        &String::from_utf8(sops_fixture("app.enc.env")?)?,
    )?;
    let commit = repo.commit("encrypted env")?;
    let (_server, _, _) = sync_app(
        &client,
        &namespace,
        running,
        &repo,
        &commit,
        "  decryption:\n    provider: sops\n",
    )
    .await?;
    let secret = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), &namespace)
        .get("app")
        .await?;
    let expected = String::from_utf8(sops_fixture("expected/app.env")?)?;
    let data = secret.data.unwrap_or_default();
    for line in expected
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name, value) = line.split_once('=').context("KEY=value")?;
        assert_eq!(
            data.get(name)
                .map(|v| String::from_utf8_lossy(&v.0).into_owned()),
            Some(value.to_string()),
            "{name}"
        );
    }
    Ok(())
}

fn kustomization_named(namespace: &str, name: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: {namespace}\n\
         spec:\n  interval: 10m\n  path: ./{name}\n  prune: true\n  targetNamespace: {namespace}\n  sourceRef:\n    kind: GitRepository\n    name: app\n{extra_spec}"
    )
}

#[tokio::test]
async fn cel_health_checks_and_ready_expressions() -> Result<()> {
    let _lock = support::shared_lock().await;
    let (client, namespace, running) = setup("cel").await?;
    let repo = GitFixture::new("cel")?;
    repo.write("deploy/gate.yaml", &config_map("gate", "broken"))?;
    repo.write("after/after.yaml", &config_map("after", "x"))?;
    repo.write("never/never.yaml", &config_map("never", "x"))?;
    repo.commit("gate")?;
    let server = GitHttpServer::start(repo.root(), HttpAuth::None).await?;
    let checks = "  healthChecks:\n  - kind: ConfigMap\n    name: gate\n  healthCheckExprs:\n  - apiVersion: v1\n    kind: ConfigMap\n    current: data.value == 'yes'\n    failed: data.value == 'broken'\n";
    apply_manifests(
        &client,
        &parse_documents(&flux_objects(
            &namespace,
            &server.url(&repo.bare_name()),
            checks,
        ))?,
    )
    .await?;
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    let failing = wait_for(
        &kustomizations,
        "app",
        running,
        "failing its CEL health check",
        Duration::from_secs(120),
        |k| ready(k).is_some_and(|(s, r, _)| s == "False" && r == "HealthCheckFailed"),
    )
    .await?;
    let (_, _, message) = ready(failing.as_ref()).context("Ready")?;
    assert!(
        message.contains(&format!("ConfigMap/{namespace}/gate"))
            && message.contains("healthCheckExprs failed expression holds"),
        "{message}"
    );

    // readyExpr replaces the built-in check: `after` waits for an annotation
    // on `app`, not for `app` to be Ready.
    let ready_expr = "  dependsOn:\n  - name: app\n    readyExpr: \"has(dep.metadata.annotations) && 'go' in dep.metadata.annotations\"\n";
    let invalid = "  dependsOn:\n  - name: app\n    readyExpr: \"dep.status.(\"\n";
    apply_manifests(
        &client,
        &parse_documents(&format!(
            "{}---\n{}",
            kustomization_named(&namespace, "after", ready_expr),
            kustomization_named(&namespace, "never", invalid)
        ))?,
    )
    .await?;
    wait_for(
        &kustomizations,
        "after",
        running,
        "waiting for its dependency",
        Duration::from_secs(60),
        |k| ready(k).is_some_and(|(_, r, _)| r == "DependencyNotReady"),
    )
    .await?;
    let stalled = wait_for(
        &kustomizations,
        "never",
        running,
        "stalled on an invalid readyExpr",
        Duration::from_secs(60),
        |k| ready(k).is_some_and(|(s, r, _)| s == "False" && r == "InvalidCELExpression"),
    )
    .await?
    .context("never")?;
    let stalled_condition = stalled
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Stalled"))
        .map(|c| c.status.clone());
    assert_eq!(stalled_condition.as_deref(), Some("True"));

    let go = serde_json::json!({"metadata": {"annotations": {"go": "now"}}});
    kustomizations
        .patch("app", &PatchParams::default(), &Patch::Merge(&go))
        .await?;
    wait_for(
        &kustomizations,
        "after",
        running,
        "Ready once the readyExpr holds",
        Duration::from_secs(60),
        |k| ready(k).is_some_and(|(s, _, _)| s == "True"),
    )
    .await?;

    // The CEL `current` expression turns the health check green.
    repo.write("deploy/gate.yaml", &config_map("gate", "yes"))?;
    let fixed = repo.commit("gate open")?;
    request(
        &Api::<GitRepository>::namespaced(client.clone(), &namespace),
        "app",
        "fixed",
    )
    .await?;
    let revision = format!("main@sha1:{fixed}");
    wait_for(
        &kustomizations,
        "app",
        running,
        "healthy",
        Duration::from_secs(60),
        |k| is_ready_at(k, &revision),
    )
    .await?;
    Ok(())
}

fn kubectl(args: &[&str]) -> Result<()> {
    let output = std::process::Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", shared().kubeconfig_path())
        .output()
        .context("running kubectl")?;
    anyhow::ensure!(
        output.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn fields_added_with_kubectl_are_removed_unless_merge() -> Result<()> {
    let _lock = support::shared_lock().await;
    let (client, namespace, running) = setup("kubectl-edits").await?;
    let repo = GitFixture::new("kubectl-edits")?;
    repo.write("deploy/settings.yaml", &config_map("settings", "one"))?;
    repo.write(
        "deploy/merged.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: merged\n  annotations:\n    kustomize.toolkit.fluxcd.io/ssa: Merge\ndata:\n  value: \"one\"\n",
    )?;
    let commit = repo.commit("two settings")?;
    let (_server, kustomizations, _) =
        sync_app(&client, &namespace, running, &repo, &commit, "").await?;

    for name in ["settings", "merged"] {
        kubectl(&[
            "patch",
            "configmap",
            name,
            "-n",
            &namespace,
            "--type",
            "merge",
            "-p",
            r#"{"data":{"extra":"by-hand"}}"#,
        ])?;
    }
    reconcile_now(&kustomizations, "app", running, "after-kubectl").await?;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let data = |c: ConfigMap| c.data.unwrap_or_default();
    let settings = data(configmaps.get("settings").await?);
    assert_eq!(settings.get("extra"), None, "kubectl's field is removed");
    assert_eq!(settings.get("value").map(String::as_str), Some("one"));
    let merged = data(configmaps.get("merged").await?);
    assert_eq!(
        merged.get("extra").map(String::as_str),
        Some("by-hand"),
        "ssa: Merge keeps fields of other managers"
    );
    Ok(())
}

#[tokio::test]
async fn the_controllers_own_namespace_is_never_pruned() -> Result<()> {
    let _lock = support::shared_lock().await;
    let (client, namespace, running) = setup("own-namespace").await?;
    let repo = GitFixture::new("own-namespace")?;
    repo.write(
        "deploy/flux-system.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n",
    )?;
    for name in ["a", "b", "c"] {
        repo.write(&format!("deploy/{name}.yaml"), &config_map(name, name))?;
    }
    let first = repo.commit("namespace and settings")?;
    let (_server, kustomizations, _) =
        sync_app(&client, &namespace, running, &repo, &first, "").await?;

    repo.remove("deploy/flux-system.yaml")?;
    let second = repo.commit("drop the namespace")?;
    request(
        &Api::<GitRepository>::namespaced(client.clone(), &namespace),
        "app",
        "second",
    )
    .await?;
    let revision = format!("main@sha1:{second}");
    wait_for(
        &kustomizations,
        "app",
        running,
        "Ready at the second revision",
        Duration::from_secs(60),
        |k| is_ready_at(k, &revision),
    )
    .await?;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let flux_system = namespaces.get("flux-system").await?;
    assert!(
        flux_system.metadata.deletion_timestamp.is_none(),
        "the runtime namespace was pruned"
    );
    Ok(())
}
