//! Flux's end-to-end scenarios for kustomize-controller (issue #5):
//! source-controller and kustomize-controller run as real processes against
//! the real control plane (kwok nodes, so Deployments really roll out) and a
//! real Git server over smart HTTP. Covered: the seed's `api-server`
//! GitRepository and Kustomization syncing a section-8.1 production overlay;
//! a new image rolling out while a removed Service is pruned, with the change
//! set in events; hand edits reverted and `prune: disabled` honoured; an
//! invalid commit refused as a whole, then fixed; SOPS secrets encrypted by
//! the real `sops`; a dependsOn chain; a health check timing out; and
//! suspend/resume. Each test has its own namespace and Git repository; the
//! controllers are shared by the whole file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod support;

use anyhow::{Context, Result, bail, ensure};
use fluxrs_api::kustomize::Kustomization;
use fluxrs_api::meta::Condition;
use fluxrs_api::source::GitRepository;
use fluxrs_e2e::git::{GitFixture, GitHttpServer, HttpAuth};
use fluxrs_e2e::{apply_manifests, parse_documents, shared};
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::json;
use support::{Controllers, controllers, logs, request};

/// How long any single wait may take before the test fails with the logs.
const WAIT: Duration = Duration::from_secs(90);

/// One test's world: its namespace, its Git repository served over HTTP, and
/// the controllers shared by the whole file.
struct Scenario {
    client: Client,
    namespace: String,
    running: &'static Controllers,
    repo: GitFixture,
    server: GitHttpServer,
}

impl Scenario {
    async fn start(auth: HttpAuth) -> Result<Self> {
        let cluster = shared();
        let running = controllers(cluster).await;
        let client = cluster.client().await?;
        let namespace = cluster.create_namespace(&client, "scenario").await?;
        let repo = GitFixture::new("platform-config")?;
        let server = GitHttpServer::start(repo.root(), auth).await?;
        Ok(Self {
            client,
            namespace,
            running,
            repo,
            server,
        })
    }

    fn url(&self) -> String {
        self.server.url(&self.repo.bare_name())
    }

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    async fn apply(&self, yaml: &str) -> Result<()> {
        apply_manifests(&self.client, &parse_documents(yaml)?).await?;
        Ok(())
    }

    /// Commits the working tree, asks GitRepository `source` to fetch it at
    /// once, and returns the revision Flux will report.
    async fn push(&self, source: &str, message: &str) -> Result<String> {
        let commit = self.repo.commit(message)?;
        request(&self.api::<GitRepository>(), source, &commit).await?;
        Ok(format!("main@sha1:{commit}"))
    }

    /// Polls `name` until `check` accepts it; fails with the last state and
    /// the controllers' logs after [`WAIT`].
    async fn wait_for<K, F>(&self, name: &str, what: &str, mut check: F) -> Result<Option<K>>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
        F: FnMut(Option<&K>) -> bool,
    {
        let api = self.api::<K>();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let obj = api.get_opt(name).await?;
            if check(obj.as_ref()) {
                return Ok(obj);
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "timed out waiting for {name} to be {what}; last state: {obj:#?}\n{}",
                    logs(self.running)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits for Kustomization `name` to satisfy `check` and returns it.
    async fn wait_ks<F>(&self, name: &str, what: &str, check: F) -> Result<Kustomization>
    where
        F: Fn(&Kustomization) -> bool,
    {
        self.wait_for::<Kustomization, _>(name, what, |k| k.is_some_and(&check))
            .await?
            .context("kustomization")
    }

    /// Waits until `name` is Ready=True at `revision` and returns it.
    async fn wait_applied(&self, name: &str, revision: &str) -> Result<Kustomization> {
        let message = format!("Applied revision: {revision}");
        self.wait_ks(name, &format!("Ready at {revision}"), |k| {
            ready(k).is_some_and(|c| c.status == "True" && c.message == message)
        })
        .await
    }

    /// Waits until ConfigMap `name` holds `value` under `value`.
    async fn wait_config(&self, name: &str, value: &str) -> Result<()> {
        self.wait_for::<ConfigMap, _>(name, &format!("value {value}"), |c| {
            c.is_some_and(|c| config_value(c) == Some(value))
        })
        .await
        .map(drop)
    }

    /// Events (events.k8s.io) whose regarding object is Kustomization `name`.
    async fn kustomization_events(&self, name: &str) -> Result<Vec<Event>> {
        let events = self.api::<Event>().list(&ListParams::default()).await?;
        Ok(events
            .items
            .into_iter()
            .filter(|e| {
                e.regarding.as_ref().is_some_and(|r| {
                    r.kind.as_deref() == Some("Kustomization") && r.name.as_deref() == Some(name)
                })
            })
            .collect())
    }

    /// Polls Kustomization `name`'s events until one satisfies `check`
    /// (events are recorded after the status patch, so they may lag it).
    async fn wait_event<F>(&self, name: &str, what: &str, check: F) -> Result<Event>
    where
        F: Fn(&Event) -> bool,
    {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let events = self.kustomization_events(name).await?;
            if let Some(event) = events.iter().find(|e| check(e)) {
                return Ok(event.clone());
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "no event of {name} {what}; got {:#?}",
                events
                    .iter()
                    .map(|e| (&e.type_, &e.note, &e.metadata.annotations))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

fn event_revision(event: &Event) -> Option<&str> {
    event
        .metadata
        .annotations
        .as_ref()?
        .get("kustomize.toolkit.fluxcd.io/revision")
        .map(String::as_str)
}

fn note_lines(event: &Event) -> BTreeSet<&str> {
    event.note.iter().flat_map(|n| n.lines()).collect()
}

fn condition<'a>(ks: &'a Kustomization, type_: &str) -> Option<&'a Condition> {
    ks.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

fn ready(ks: &Kustomization) -> Option<&Condition> {
    condition(ks, "Ready")
}

fn failed_with(ks: &Kustomization, reason: &str) -> bool {
    ready(ks).is_some_and(|c| c.status == "False" && c.reason == reason)
}

fn last_applied(ks: &Kustomization) -> Option<&str> {
    ks.status.as_ref()?.last_applied_revision.as_deref()
}

fn inventory_ids(ks: &Kustomization) -> BTreeSet<String> {
    ks.status
        .iter()
        .flat_map(|s| s.inventory.iter())
        .flat_map(|i| i.entries.iter())
        .map(|e| e.id.clone())
        .collect()
}

fn config_value(config: &ConfigMap) -> Option<&str> {
    config.data.as_ref()?.get("value").map(String::as_str)
}

fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

/// A Deployment `name` whose container carries env `GREETING`; `extra_pod_spec`
/// is appended to the pod spec (indented by 6 spaces).
fn deployment(name: &str, replicas: &str, greeting: &str, extra_pod_spec: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: app
        image: registry.example/{name}:1.0.0
        env:
        - name: GREETING
          value: {greeting}
{extra_pod_spec}"
    )
}

/// GitRepository `app` over the test server, polled every minute (tests ask
/// for fetches with the reconcile annotation instead).
fn git_repository(namespace: &str, url: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: app\n  namespace: {namespace}\nspec:\n  interval: 1m\n  url: {url}\n  ref:\n    branch: main\n---\n"
    )
}

/// Kustomization `name` of `path` in GitRepository `app`, applying into its
/// own namespace with a short interval; `extra_spec` is appended to its spec
/// (indented by 2 spaces).
fn kustomization(namespace: &str, name: &str, path: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  interval: 30s\n  path: {path}\n  prune: true\n  targetNamespace: {namespace}\n  sourceRef:\n    kind: GitRepository\n    name: app\n{extra_spec}---\n"
    )
}

/// Whether `d` finished rolling out `replicas` replicas of `image` (what
/// `kubectl rollout status` waits for: no old pods left).
fn rolled_out(d: &Deployment, replicas: i32, image: &str) -> bool {
    let spec_image = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.as_deref());
    let Some(status) = d.status.as_ref() else {
        return false;
    };
    spec_image == Some(image)
        && d.spec.as_ref().and_then(|s| s.replicas) == Some(replicas)
        && status.observed_generation == d.metadata.generation
        && status.replicas == Some(replicas)
        && status.updated_replicas == Some(replicas)
        && status.available_replicas == Some(replicas)
}

fn greeting(d: &Deployment) -> Option<&str> {
    d.spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .first()?
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == "GREETING")?
        .value
        .as_deref()
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scenarios")
        .join(path)
}

/// Copies fixture folder `from` into the repository's working tree, with
/// `@namespace@` replaced by the test namespace.
fn write_tree(repo: &GitFixture, from: &Path, prefix: &str, namespace: &str) -> Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let target = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if entry.file_type()?.is_dir() {
            write_tree(repo, &entry.path(), &target, namespace)?;
        } else {
            let content = std::fs::read_to_string(entry.path())?;
            repo.write(&target, &content.replace("@namespace@", namespace))?;
        }
    }
    Ok(())
}

const SEED_USER: &str = "flux";
const SEED_PASSWORD: &str = "seed-password";
const BASE: &str = "deploy/apps/api-server/base";

/// The seed's GitRepository and Kustomization as written, except: both
/// live in the test namespace (so does the health-checked Deployment) and
/// the URL points at the test server.
fn seed_objects(namespace: &str, url: &str) -> Result<Vec<DynamicObject>> {
    let mut objects = parse_documents(&std::fs::read_to_string(fixture("seed.yaml"))?)?;
    for object in &mut objects {
        object.metadata.namespace = Some(namespace.to_string());
        let kind = object.types.as_ref().map(|t| t.kind.clone());
        match kind.as_deref() {
            Some("GitRepository") => object.data["spec"]["url"] = json!(url),
            Some("Kustomization") => {
                for check in object.data["spec"]["healthChecks"]
                    .as_array_mut()
                    .context("seed healthChecks")?
                {
                    check["namespace"] = json!(namespace);
                }
            }
            other => bail!("unexpected seed object {other:?}"),
        }
    }
    Ok(objects)
}

/// Starts the seed scenario: the section-8.1 repository behind basic auth,
/// its credentials Secret, and the seed objects. Returns the first revision.
async fn start_seed() -> Result<(Scenario, String)> {
    let s = Scenario::start(HttpAuth::Basic {
        username: SEED_USER.into(),
        password: SEED_PASSWORD.into(),
    })
    .await?;
    write_tree(&s.repo, &fixture("platform-config"), "", &s.namespace)?;
    let commit = s.repo.commit("api-server: base and production overlay")?;
    let credentials = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("git-credentials".into()),
            ..Default::default()
        },
        string_data: Some(
            [("username", SEED_USER), ("password", SEED_PASSWORD)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    };
    s.api::<Secret>()
        .create(&PostParams::default(), &credentials)
        .await?;
    apply_manifests(&s.client, &seed_objects(&s.namespace, &s.url())?).await?;
    Ok((s, format!("main@sha1:{commit}")))
}

#[tokio::test]
async fn seed_api_server_syncs_the_production_overlay() -> Result<()> {
    let (s, revision) = start_seed().await?;
    let ns = &s.namespace;
    let ks = s.wait_applied("api-server", &revision).await?;
    let status = ks.status.clone().context("status")?;
    assert_eq!(
        status.last_applied_revision.as_deref(),
        Some(revision.as_str())
    );
    assert_eq!(status.observed_generation, ks.metadata.generation);
    let healthy = condition(&ks, "Healthy").context("Healthy condition")?;
    assert_eq!(healthy.status, "True", "{healthy:?}");

    // wait: true held Ready until the rollout finished; the Kustomization's
    // patch (5) won over the overlay's (3).
    let api = s
        .api::<Deployment>()
        .get("prod-api-server")
        .await
        .context("the overlay's prefixed Deployment")?;
    assert!(
        rolled_out(&api, 5, "registry.example/myorg/api-server:1.0.0"),
        "{:#?}",
        api.status
    );
    let container = api
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .context("container")?;
    let requests = container
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .context("the resources patch")?;
    assert_eq!(requests.get("cpu").map(|q| q.0.as_str()), Some("100m"));
    let labels = api.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("app").map(String::as_str), Some("api-server"));
    assert_eq!(
        labels
            .get("kustomize.toolkit.fluxcd.io/name")
            .map(String::as_str),
        Some("api-server")
    );

    // The generated ConfigMap is referenced by its hashed name.
    let config = container
        .env_from
        .as_ref()
        .and_then(|e| e.first())
        .and_then(|e| e.config_map_ref.as_ref())
        .map(|r| r.name.clone())
        .context("envFrom")?;
    assert!(
        config.starts_with("prod-api-config-") && config.len() > "prod-api-config-".len(),
        "{config}"
    );
    let data = s.api::<ConfigMap>().get(&config).await?.data;
    let data = data.unwrap_or_default();
    assert_eq!(data.get("LOG_LEVEL").map(String::as_str), Some("warn"));
    assert_eq!(
        data.get("ENVIRONMENT").map(String::as_str),
        Some("production")
    );
    let hpa = s
        .api::<HorizontalPodAutoscaler>()
        .get("prod-api-server")
        .await?;
    let hpa_spec = hpa.spec.context("hpa spec")?;
    assert_eq!(
        (hpa_spec.min_replicas, hpa_spec.max_replicas),
        (Some(2), 10)
    );
    assert_eq!(hpa_spec.scale_target_ref.name, "prod-api-server");

    let expected: BTreeSet<String> = [
        format!("{ns}_{config}__ConfigMap"),
        format!("{ns}_prod-api-server__Service"),
        format!("{ns}_prod-api-server_apps_Deployment"),
        format!("{ns}_prod-api-server_autoscaling_HorizontalPodAutoscaler"),
    ]
    .into_iter()
    .collect();
    assert_eq!(inventory_ids(&ks), expected);
    let hpa_version = status
        .inventory
        .iter()
        .flat_map(|i| i.entries.iter())
        .find(|e| e.id.ends_with("_HorizontalPodAutoscaler"))
        .map(|e| e.v.clone());
    assert_eq!(hpa_version.as_deref(), Some("v2"));
    Ok(())
}

#[tokio::test]
async fn new_image_rolls_out_and_removed_service_is_pruned() -> Result<()> {
    let (s, first) = start_seed().await?;
    let ns = &s.namespace;
    s.wait_applied("api-server", &first).await?;

    let tree = fixture("platform-config").join(BASE);
    let deployment = std::fs::read_to_string(tree.join("deployment.yaml"))?;
    s.repo.write(
        &format!("{BASE}/deployment.yaml"),
        &deployment.replace("api-server:1.0.0", "api-server:1.1.0"),
    )?;
    let kustomization = std::fs::read_to_string(tree.join("kustomization.yaml"))?;
    s.repo.write(
        &format!("{BASE}/kustomization.yaml"),
        &kustomization.replace("  - service.yaml\n", ""),
    )?;
    s.repo.remove(&format!("{BASE}/service.yaml"))?;
    let second = s
        .push("platform-repo", "api-server 1.1.0, no Service")
        .await?;

    s.wait_for::<Deployment, _>("prod-api-server", "rolled out to 1.1.0", |d| {
        d.is_some_and(|d| rolled_out(d, 5, "registry.example/myorg/api-server:1.1.0"))
    })
    .await?;
    s.wait_for::<Service, _>("prod-api-server", "pruned", |svc| svc.is_none())
        .await?;
    let ks = s.wait_applied("api-server", &second).await?;
    assert!(!inventory_ids(&ks).contains(&format!("{ns}_prod-api-server__Service")));

    let configured = format!("Deployment/{ns}/prod-api-server configured");
    let deleted = format!("Service/{ns}/prod-api-server deleted");
    s.wait_event(
        "api-server",
        &format!("listing {configured:?} and {deleted:?} at {second}"),
        |e| {
            let lines = note_lines(e);
            event_revision(e) == Some(second.as_str())
                && lines.contains(configured.as_str())
                && lines.contains(deleted.as_str())
        },
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn hand_edits_are_reverted_and_prune_disabled_objects_survive() -> Result<()> {
    let s = Scenario::start(HttpAuth::None).await?;
    let ns = &s.namespace;
    s.repo
        .write("deploy/web.yaml", &deployment("web", "2", "hello", ""))?;
    let keep = config_map("keep", "kept").replace(
        "  name: keep\n",
        "  name: keep\n  annotations:\n    kustomize.toolkit.fluxcd.io/prune: disabled\n",
    );
    s.repo.write("deploy/keep.yaml", &keep)?;
    s.repo
        .write("deploy/gone.yaml", &config_map("gone", "pruned"))?;
    // Two objects that stay, so that dropping two of five stays under the
    // prune guard's default 50%.
    for name in ["stays-1", "stays-2"] {
        s.repo
            .write(&format!("deploy/{name}.yaml"), &config_map(name, "here"))?;
    }
    let first = s.repo.commit("web, keep, gone and two more")?;
    s.apply(&format!(
        "{}{}",
        git_repository(ns, &s.url()),
        kustomization(ns, "app", "./deploy", "")
    ))
    .await?;
    s.wait_applied("app", &format!("main@sha1:{first}")).await?;

    // Another field manager changes replicas and an env var.
    let edit = json!({"spec": {"replicas": 4, "template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "GREETING", "value": "bonjour"}]}
    ]}}}});
    let edited = s
        .api::<Deployment>()
        .patch(
            "web",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..Default::default()
            },
            &Patch::Strategic(&edit),
        )
        .await?;
    assert_eq!(edited.spec.as_ref().and_then(|s| s.replicas), Some(4));
    assert_eq!(greeting(&edited), Some("bonjour"));
    request(&s.api::<Kustomization>(), "app", "revert-hand-edit").await?;
    s.wait_for::<Deployment, _>("web", "put back", |d| {
        d.is_some_and(|d| {
            d.spec.as_ref().and_then(|s| s.replicas) == Some(2) && greeting(d) == Some("hello")
        })
    })
    .await?;
    s.wait_ks("app", "acknowledging the request", |k| {
        k.status
            .as_ref()
            .and_then(|s| s.last_handled_reconcile_at.as_deref())
            == Some("revert-hand-edit")
    })
    .await?;

    // Both ConfigMaps leave Git: only the unprotected one is pruned.
    s.repo.remove("deploy/keep.yaml")?;
    s.repo.remove("deploy/gone.yaml")?;
    let second = s.push("app", "drop keep and gone").await?;
    let ks = s.wait_applied("app", &second).await?;
    s.wait_for::<ConfigMap, _>("gone", "pruned", |c| {
        c.is_none_or(|c| c.metadata.deletion_timestamp.is_some())
    })
    .await?;
    let kept = s.api::<ConfigMap>().get_opt("keep").await?;
    assert!(
        kept.is_some_and(|c| c.metadata.deletion_timestamp.is_none()),
        "prune: disabled kept the ConfigMap"
    );
    let expected: BTreeSet<String> = [
        format!("{ns}_stays-1__ConfigMap"),
        format!("{ns}_stays-2__ConfigMap"),
        format!("{ns}_web_apps_Deployment"),
    ]
    .into();
    assert_eq!(inventory_ids(&ks), expected);
    Ok(())
}

#[tokio::test]
async fn invalid_commit_is_refused_whole_and_a_fix_recovers() -> Result<()> {
    let s = Scenario::start(HttpAuth::None).await?;
    let ns = &s.namespace;
    let image = "registry.example/web:1.0.0";
    s.repo
        .write("deploy/web.yaml", &deployment("web", "2", "hello", ""))?;
    s.repo
        .write("deploy/settings.yaml", &config_map("settings", "one"))?;
    let first = format!("main@sha1:{}", s.repo.commit("web and settings")?);
    s.apply(&format!(
        "{}{}",
        git_repository(ns, &s.url()),
        kustomization(ns, "app", "./deploy", "  wait: true\n")
    ))
    .await?;
    s.wait_applied("app", &first).await?;

    // A wrong field type next to two valid changes.
    s.repo
        .write("deploy/web.yaml", &deployment("web", "two", "hello", ""))?;
    s.repo
        .write("deploy/settings.yaml", &config_map("settings", "two"))?;
    s.repo
        .write("deploy/extra.yaml", &config_map("extra", "new"))?;
    let broken = s.push("app", "replicas: two").await?;
    let ks = s
        .wait_ks("app", "failed at the broken revision", |k| {
            failed_with(k, "ReconciliationFailed")
                && k.status
                    .as_ref()
                    .and_then(|s| s.last_attempted_revision.as_deref())
                    == Some(broken.as_str())
        })
        .await?;
    let message = &ready(&ks).context("Ready")?.message;
    assert!(
        message.contains(&format!("Deployment/{ns}/web")),
        "{message}"
    );
    assert_eq!(last_applied(&ks), Some(first.as_str()));
    let settings = s.api::<ConfigMap>().get("settings").await?;
    assert_eq!(
        config_value(&settings),
        Some("one"),
        "nothing of the commit applied"
    );
    assert!(s.api::<ConfigMap>().get_opt("extra").await?.is_none());
    let web = s.api::<Deployment>().get("web").await?;
    assert!(rolled_out(&web, 2, image), "{:#?}", web.status);
    let invalid = format!("Deployment/{ns}/web");
    s.wait_event("app", "warning about the invalid Deployment", |e| {
        e.type_.as_deref() == Some("Warning")
            && e.note.as_ref().is_some_and(|n| n.contains(&invalid))
    })
    .await?;

    s.repo
        .write("deploy/web.yaml", &deployment("web", "3", "hello", ""))?;
    let fixed = s.push("app", "replicas: 3").await?;
    s.wait_applied("app", &fixed).await?;
    s.wait_config("settings", "two").await?;
    s.wait_config("extra", "new").await?;
    let web = s.api::<Deployment>().get("web").await?;
    assert!(rolled_out(&web, 3, image), "{:#?}", web.status);
    Ok(())
}

/// What the SOPS scenario needs: an encrypted Secret and two age keys.
struct SopsMaterial {
    encrypted: String,
    right_key: String,
    wrong_key: String,
    /// Where they come from, for failure messages.
    origin: String,
}

/// Runs `generate.sh` with the real `sops` and `age-keygen` when both are
/// installed, else reads the committed output of that same script.
fn sops_material() -> Result<SopsMaterial> {
    let dir = fixture("sops");
    let home = std::env::var("HOME").unwrap_or_default();
    let sops = std::env::var("SOPS")
        .unwrap_or_else(|_| format!("{home}/.cache/flux-rs/tools/sops-v3.13.3/sops"));
    let runs = |program: &str| {
        std::process::Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let generated = tempfile::tempdir()?;
    let from = if runs(&sops) && runs("age-keygen") {
        let output = std::process::Command::new("bash")
            .arg(dir.join("generate.sh"))
            .arg(generated.path())
            .env("SOPS", &sops)
            .output()?;
        ensure!(
            output.status.success(),
            "generate.sh failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        generated.path().to_path_buf()
    } else {
        dir
    };
    let read = |path: &str| std::fs::read_to_string(from.join(path));
    Ok(SopsMaterial {
        encrypted: read("db-credentials.enc.yaml")?,
        right_key: read("keys/right.agekey")?,
        wrong_key: read("keys/wrong.agekey")?,
        origin: from.display().to_string(),
    })
}

const SOPS_PASSWORD: &str = "correct-horse-battery-staple";

fn age_secret(key: &str) -> Secret {
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("sops-age".into()),
            ..Default::default()
        },
        data: Some(
            [(
                "identity.agekey".to_string(),
                ByteString(key.as_bytes().to_vec()),
            )]
            .into(),
        ),
        ..Default::default()
    }
}

#[tokio::test]
async fn sops_secrets_are_applied_decrypted_and_a_wrong_key_applies_nothing() -> Result<()> {
    let s = Scenario::start(HttpAuth::None).await?;
    let ns = &s.namespace;
    let material = sops_material()?;
    s.repo
        .write("deploy/db-credentials.enc.yaml", &material.encrypted)?;
    s.repo
        .write("deploy/settings.yaml", &config_map("settings", "one"))?;
    let revision = format!("main@sha1:{}", s.repo.commit("encrypted secret")?);
    let secrets = s.api::<Secret>();
    secrets
        .create(&PostParams::default(), &age_secret(&material.wrong_key))
        .await?;
    let decryption = "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n";
    s.apply(&format!(
        "{}{}",
        git_repository(ns, &s.url()),
        kustomization(ns, "app", "./deploy", decryption)
    ))
    .await?;

    let ks = s
        .wait_ks("app", "failing to decrypt", |k| {
            failed_with(k, "BuildFailed")
        })
        .await?;
    let message = &ready(&ks).context("Ready")?.message;
    assert!(
        message.contains("decrypt") && message.contains(&format!("Secret/{ns}/db-credentials")),
        "{message} (material from {})",
        material.origin
    );
    assert!(!message.contains(SOPS_PASSWORD));
    assert!(last_applied(&ks).is_none());
    assert!(secrets.get_opt("db-credentials").await?.is_none());
    assert!(s.api::<ConfigMap>().get_opt("settings").await?.is_none());

    secrets
        .replace(
            "sops-age",
            &PostParams::default(),
            &age_secret(&material.right_key),
        )
        .await?;
    request(&s.api::<Kustomization>(), "app", "right-key").await?;
    s.wait_applied("app", &revision).await?;
    let data = secrets
        .get("db-credentials")
        .await?
        .data
        .context("decrypted data")?;
    let value = |key: &str| {
        data.get(key)
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
    };
    assert_eq!(value("password").as_deref(), Some(SOPS_PASSWORD));
    assert_eq!(value("username").as_deref(), Some("api"));
    assert!(!data.contains_key("sops"), "sops metadata is not applied");
    for event in s.kustomization_events("app").await? {
        let note = event.note.unwrap_or_default();
        assert!(
            !note.contains(SOPS_PASSWORD),
            "plaintext in an event: {note}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn depends_on_chain_applies_in_order() -> Result<()> {
    let s = Scenario::start(HttpAuth::None).await?;
    let ns = &s.namespace;
    for name in ["a", "b", "c"] {
        s.repo
            .write(&format!("{name}/config.yaml"), &config_map(name, name))?;
    }
    let revision = format!("main@sha1:{}", s.repo.commit("a, b and c")?);
    let depends_on = |on: &str| format!("  dependsOn:\n  - name: {on}\n");
    s.apply(&format!(
        "{}{}{}",
        git_repository(ns, &s.url()),
        kustomization(ns, "b", "./b", &depends_on("a")),
        kustomization(ns, "c", "./c", &depends_on("b"))
    ))
    .await?;
    for (name, on) in [("b", "a"), ("c", "b")] {
        let ks = s
            .wait_ks(name, "waiting for its dependency", |k| {
                failed_with(k, "DependencyNotReady")
            })
            .await?;
        let message = &ready(&ks).context("Ready")?.message;
        assert!(message.contains(&format!("{ns}/{on}")), "{message}");
    }
    let configs = s.api::<ConfigMap>();
    for name in ["a", "b", "c"] {
        assert!(
            configs.get_opt(name).await?.is_none(),
            "{name} applied early"
        );
    }

    s.apply(&kustomization(ns, "a", "./a", "")).await?;
    let kustomizations = s.api::<Kustomization>();
    let applied = |k: &Kustomization| last_applied(k) == Some(revision.as_str());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        // Read the end of the chain first: whatever exists then must have
        // had its dependencies before.
        let mut seen = Vec::new();
        for name in ["c", "b", "a"] {
            let done = kustomizations.get(name).await.map(|k| applied(&k))?;
            let exists = configs.get_opt(name).await?.is_some();
            seen.push((name, done, exists));
        }
        for pair in seen.windows(2) {
            let ((later, later_done, later_exists), (earlier, earlier_done, earlier_exists)) =
                (pair[0], pair[1]);
            ensure!(
                !later_exists || earlier_exists,
                "{later} was applied before {earlier}"
            );
            ensure!(
                !later_done || earlier_done,
                "{later} was Ready before {earlier}"
            );
        }
        if seen.iter().all(|(_, done, exists)| *done && *exists) {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "chain not applied: {seen:?}\n{}",
            logs(s.running)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for name in ["a", "b", "c"] {
        s.wait_applied(name, &revision).await?;
    }
    Ok(())
}

#[tokio::test]
async fn health_check_timeout_names_the_unhealthy_deployment() -> Result<()> {
    let s = Scenario::start(HttpAuth::None).await?;
    let ns = &s.namespace;
    // No node has this label, so the pods stay Pending and never get Available.
    let nowhere = "      nodeSelector:\n        flux-rs.dev/no-such-node: \"true\"\n";
    s.repo.write(
        "deploy/stuck.yaml",
        &deployment("stuck", "1", "hello", nowhere),
    )?;
    let revision = format!("main@sha1:{}", s.repo.commit("unschedulable")?);
    let checks = "  timeout: 30s\n  healthChecks:\n  - apiVersion: apps/v1\n    kind: Deployment\n    name: stuck\n";
    s.apply(&format!(
        "{}{}",
        git_repository(ns, &s.url()),
        kustomization(ns, "app", "./deploy", checks)
    ))
    .await?;
    let ks = s
        .wait_ks("app", "failing its health check", |k| {
            failed_with(k, "HealthCheckFailed")
        })
        .await?;
    let message = &ready(&ks).context("Ready")?.message;
    assert!(
        message.contains(&format!("Deployment/{ns}/stuck")),
        "{message}"
    );
    let healthy = condition(&ks, "Healthy").context("Healthy condition")?;
    assert_eq!(
        (healthy.status.as_str(), healthy.reason.as_str()),
        ("False", "HealthCheckFailed")
    );
    let status = ks.status.as_ref().context("status")?;
    assert_eq!(
        status.last_attempted_revision.as_deref(),
        Some(revision.as_str())
    );
    assert!(status.last_applied_revision.is_none());
    let unhealthy = format!("Deployment/{ns}/stuck");
    s.wait_event("app", "warning about the unhealthy Deployment", |e| {
        e.type_.as_deref() == Some("Warning")
            && e.reason.as_deref() == Some("HealthCheckFailed")
            && e.note.as_ref().is_some_and(|n| n.contains(&unhealthy))
    })
    .await?;
    let stuck = s.api::<Deployment>().get("stuck").await?;
    assert_eq!(
        stuck.status.and_then(|s| s.available_replicas).unwrap_or(0),
        0,
        "the Deployment was applied but never became available"
    );
    Ok(())
}

#[tokio::test]
async fn suspended_kustomization_applies_nothing_until_resumed() -> Result<()> {
    let s = Scenario::start(HttpAuth::None).await?;
    let ns = &s.namespace;
    s.repo
        .write("deploy/settings.yaml", &config_map("settings", "one"))?;
    let first = format!("main@sha1:{}", s.repo.commit("one")?);
    s.apply(&format!(
        "{}{}",
        git_repository(ns, &s.url()),
        kustomization(ns, "app", "./deploy", "")
    ))
    .await?;
    s.wait_applied("app", &first).await?;

    // Suspend and request in one patch: the acknowledged request proves the
    // controller saw the suspended object.
    let kustomizations = s.api::<Kustomization>();
    let suspend = |on: bool, token: &str| {
        json!({
            "metadata": { "annotations": { "reconcile.fluxcd.io/requestedAt": token } },
            "spec": { "suspend": on }
        })
    };
    let handled = |token: &'static str| {
        move |k: &Kustomization| {
            k.status
                .as_ref()
                .and_then(|s| s.last_handled_reconcile_at.as_deref())
                == Some(token)
        }
    };
    kustomizations
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(&suspend(true, "suspend")),
        )
        .await?;
    s.wait_ks("app", "suspended", handled("suspend")).await?;

    s.repo
        .write("deploy/settings.yaml", &config_map("settings", "two"))?;
    let second = s.push("app", "two").await?;
    s.wait_for::<GitRepository, _>("app", "at the second revision", |g| {
        g.and_then(|g| g.status.as_ref())
            .and_then(|s| s.artifact.as_ref())
            .is_some_and(|a| a.revision == second)
    })
    .await?;
    request(&kustomizations, "app", "while-suspended").await?;
    let ks = s
        .wait_ks(
            "app",
            "acknowledging while suspended",
            handled("while-suspended"),
        )
        .await?;
    assert_eq!(last_applied(&ks), Some(first.as_str()));
    let settings = s.api::<ConfigMap>().get("settings").await?;
    assert_eq!(
        config_value(&settings),
        Some("one"),
        "applied while suspended"
    );

    kustomizations
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(&suspend(false, "resume")),
        )
        .await?;
    s.wait_applied("app", &second).await?;
    s.wait_config("settings", "two").await?;
    Ok(())
}
