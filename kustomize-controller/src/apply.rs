//! Server-side apply of a built set, as Flux's `ApplyAllStaged`: every object is
//! validated with a server-side dry run before anything changes, then applied
//! stage by stage (definitions, classes, the rest) with field manager
//! `kustomize-controller`, skipping objects whose dry run equals the live state.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PropagationPolicy,
};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope, pinned_kind};
use kube::{Client, ResourceExt};
use serde_json::Value;
use tracing::info;

use crate::health::{Health, health};
use crate::inventory::ObjectId;
use crate::managed_fields;
use crate::ordering::{Stage, sort_for_apply, stage};

/// Field manager of applied objects.
pub const FIELD_MANAGER: &str = "kustomize-controller";
/// Ownership labels stamped on every applied object.
pub const NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
/// See [`NAME_LABEL`].
pub const NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";
const SSA_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/ssa";
const FORCE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/force";
const RECONCILE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/reconcile";

/// What happened to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// It did not exist.
    Created,
    /// It existed and differed.
    Configured,
    /// It already matched.
    Unchanged,
    /// An annotation told us to leave it alone.
    Skipped,
}

impl Action {
    /// Flux's word for it in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Skipped => "skipped",
        }
    }
}

/// One applied object.
#[derive(Clone, Debug)]
pub struct Change {
    /// Its identity.
    pub id: ObjectId,
    /// Its API version.
    pub version: String,
    /// What happened.
    pub action: Action,
    /// The object as the API server holds it after this apply (absent when
    /// skipped without reading it), so later reconciles can tell whether
    /// anyone changed it since.
    pub live: Option<LiveVersion>,
}

/// Which version of an object an apply left behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveVersion {
    /// `metadata.resourceVersion`.
    pub resource_version: String,
    /// `metadata.generation`, when the kind maintains one.
    pub generation: Option<i64>,
}

impl LiveVersion {
    fn of(object: &DynamicObject) -> Option<Self> {
        Some(Self {
            resource_version: object.metadata.resource_version.clone()?,
            generation: object.metadata.generation,
        })
    }
}

/// Apply failures.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The server-side dry run refused objects; nothing was changed.
    #[error("{0}")]
    Validation(String),
    /// An apply or delete failed part way.
    #[error("{0}")]
    Apply(String),
    /// A kind is not served by the cluster.
    #[error("{0}")]
    Discovery(String),
}

/// Resolves kinds to API resources, caching per process.
#[derive(Default)]
pub struct Discovery {
    cache: Mutex<HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>>,
}

impl Discovery {
    /// The resource serving `gvk`, asking the API server on a cache miss.
    pub async fn resolve(
        &self,
        client: &Client,
        gvk: &GroupVersionKind,
    ) -> Result<(ApiResource, ApiCapabilities), kube::Error> {
        if let Some(found) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(gvk)
        {
            return Ok(found.clone());
        }
        let found = pinned_kind(client, gvk).await?;
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(gvk.clone(), found.clone());
        Ok(found)
    }
}

/// Applies built objects for one Kustomization.
pub struct Applier<'a> {
    /// Client (possibly impersonating the Kustomization's service account).
    pub client: &'a Client,
    /// Kind resolution.
    pub discovery: &'a Discovery,
    /// Recreate objects whose immutable fields changed (`spec.force`).
    pub force: bool,
    /// How long to wait for definitions to become ready between stages.
    pub wait_timeout: Duration,
    /// The controller's own namespace, which is never pruned: losing it
    /// would take the controllers down with it.
    pub protected_namespace: Option<&'a str>,
}

/// Server-side dry-run results by object, from validation.
pub type DryRuns = HashMap<ObjectId, DynamicObject>;

/// Live objects carrying one owner's labels, listed once per kind and
/// namespace: one LIST instead of a GET per object when comparing a large set
/// with the cluster.
#[derive(Default)]
struct LiveObjects {
    listed: HashMap<(String, String, String), HashMap<String, DynamicObject>>,
}

impl LiveObjects {
    /// The live `object` (which must exist), from the per-kind list, else a GET
    /// (an existing object without our labels yet).
    async fn get(
        &mut self,
        api: &Api<DynamicObject>,
        object: &Value,
        id: &ObjectId,
    ) -> Result<Option<DynamicObject>, ApplyError> {
        let owner = (
            label_value(object, NAME_LABEL),
            label_value(object, NAMESPACE_LABEL),
        );
        if let (Some(name), Some(namespace)) = owner {
            let key = (
                format!("{}/{}", id.group, id.kind),
                id.namespace.clone(),
                format!("{name}/{namespace}"),
            );
            if !self.listed.contains_key(&key) {
                let types = item_types(object);
                // An identity allowed to get but not to list (impersonation
                // with narrow RBAC) falls back to one GET per object.
                let by_name = list_owned(api, (&name, &namespace), types)
                    .await
                    .unwrap_or_default();
                self.listed.insert(key.clone(), by_name);
            }
            if let Some(found) = self.listed.get_mut(&key).and_then(|m| m.remove(&id.name)) {
                return Ok(Some(found));
            }
        }
        api.get_opt(&id.name)
            .await
            .map_err(|e| ApplyError::Apply(format!("{}: {}", id.display(), api_message(&e))))
    }
}

/// The objects `api` serves that carry `owner`'s (name, namespace) labels, by
/// name. List items come without `apiVersion` and `kind`; `types` fills them
/// in, since comparisons and health rules need them.
pub async fn list_owned(
    api: &Api<DynamicObject>,
    owner: (&str, &str),
    types: Option<kube::core::TypeMeta>,
) -> Result<HashMap<String, DynamicObject>, kube::Error> {
    let selector = format!("{NAME_LABEL}={},{NAMESPACE_LABEL}={}", owner.0, owner.1);
    let listed = api.list(&ListParams::default().labels(&selector)).await?;
    Ok(listed
        .items
        .into_iter()
        .filter_map(|mut o| {
            o.types = o.types.or_else(|| types.clone());
            Some((o.metadata.name.clone()?, o))
        })
        .collect())
}

/// `apiVersion` and `kind` of the manifest `object`.
fn item_types(object: &Value) -> Option<kube::core::TypeMeta> {
    Some(kube::core::TypeMeta {
        api_version: object.get("apiVersion")?.as_str()?.to_string(),
        kind: object.get("kind")?.as_str()?.to_string(),
    })
}

/// A label's exact value (ownership labels are case-sensitive).
fn label_value(object: &Value, key: &str) -> Option<String> {
    object
        .pointer(&format!("/metadata/labels/{}", key.replace('/', "~1")))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn gvk_of(object: &Value) -> Result<GroupVersionKind, ApplyError> {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    if kind.is_empty() || version.is_empty() {
        return Err(ApplyError::Validation(format!(
            "object without apiVersion or kind: {object}"
        )));
    }
    Ok(GroupVersionKind::gvk(group, version, kind))
}

fn display(object: &Value) -> String {
    ObjectId::of(object)
        .map(|(id, _)| id.display())
        .unwrap_or_else(|| "object".into())
}

fn policy(object: &Value, key: &str) -> Option<String> {
    ["annotations", "labels"]
        .iter()
        .find_map(|field| {
            object
                .pointer(&format!("/metadata/{field}/{}", key.replace('/', "~1")))
                .and_then(Value::as_str)
        })
        .map(str::to_lowercase)
}

/// Adds the ownership labels to every object.
pub fn label(objects: &mut [Value], name: &str, namespace: &str) {
    for object in objects {
        if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            let labels = metadata
                .entry("labels")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(labels) = labels.as_object_mut() {
                labels.insert(NAME_LABEL.into(), name.into());
                labels.insert(NAMESPACE_LABEL.into(), namespace.into());
            }
        }
    }
}

/// The object without fields that change on every write, for comparing a dry
/// run with the live object.
fn comparable(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "managedFields",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "uid",
        ] {
            metadata.remove(field);
        }
    }
    object
}

impl Applier<'_> {
    async fn api(&self, object: &Value) -> Result<Option<Api<DynamicObject>>, ApplyError> {
        let gvk = gvk_of(object)?;
        let (resource, capabilities) = match self.discovery.resolve(self.client, &gvk).await {
            Ok(found) => found,
            Err(_) => return Ok(None),
        };
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str);
        Ok(Some(match (capabilities.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => {
                Api::namespaced_with(self.client.clone(), ns, &resource)
            }
            (Scope::Namespaced, None) => {
                Api::default_namespaced_with(self.client.clone(), &resource)
            }
            (Scope::Cluster, _) => Api::all_with(self.client.clone(), &resource),
        }))
    }

    async fn server_side_apply(
        &self,
        api: &Api<DynamicObject>,
        object: &Value,
        dry_run: bool,
    ) -> Result<DynamicObject, kube::Error> {
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        params.dry_run = dry_run;
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        api.patch(name, &params, &Patch::Apply(object)).await
    }

    /// Dry-runs every object; fails listing each refusal unless all pass.
    /// Objects whose kind or namespace the set itself creates cannot be checked
    /// before those exist and are checked when applied. Returns the dry-run
    /// results, which the apply reuses instead of asking again.
    pub async fn validate(&self, objects: &[Value]) -> Result<DryRuns, ApplyError> {
        let namespaces: BTreeSet<&str> = objects
            .iter()
            .filter(|o| o.get("kind").and_then(Value::as_str) == Some("Namespace"))
            .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str))
            .collect();
        let defines_crds = objects
            .iter()
            .any(|o| o.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"));
        let mut refusals = Vec::new();
        let mut dry_runs = DryRuns::new();
        for object in objects {
            let Some(api) = self.api(object).await? else {
                if !defines_crds {
                    refusals.push(format!(
                        "{}: no matches for kind in the cluster",
                        display(object)
                    ));
                }
                continue;
            };
            match self.server_side_apply(&api, object, true).await {
                Ok(planned) => {
                    if let Some((id, _)) = ObjectId::of(object) {
                        dry_runs.insert(id, planned);
                    }
                }
                Err(error) => {
                    let namespace = object
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let missing_namespace = matches!(&error, kube::Error::Api(s) if s.code == 404)
                        && namespaces.contains(namespace);
                    let immutable = is_immutable_error(&error)
                        && (self.force
                            || policy(object, FORCE_ANNOTATION).as_deref() == Some("enabled"));
                    if !missing_namespace && !immutable {
                        refusals.push(format!(
                            "{} dry-run failed: {}",
                            display(object),
                            api_message(&error)
                        ));
                    }
                }
            }
        }
        if refusals.is_empty() {
            Ok(dry_runs)
        } else {
            Err(ApplyError::Validation(refusals.join("\n")))
        }
    }

    /// Applies `objects` in stages and returns what happened to each.
    pub async fn apply_all(&self, mut objects: Vec<Value>) -> Result<Vec<Change>, ApplyError> {
        sort_for_apply(&mut objects);
        let mut dry_runs = self.validate(&objects).await?;
        let mut live = LiveObjects::default();
        let mut changes = Vec::with_capacity(objects.len());
        for wanted in [Stage::Definitions, Stage::Classes, Stage::Rest] {
            let staged: Vec<&Value> = objects.iter().filter(|o| stage(o) == wanted).collect();
            for object in &staged {
                let planned = ObjectId::of(object).and_then(|(id, _)| dry_runs.remove(&id));
                changes.push(self.apply_one(object, planned, &mut live).await?);
            }
            if wanted == Stage::Definitions && !staged.is_empty() {
                self.wait_ready(&staged).await?;
            }
        }
        Ok(changes)
    }

    /// Applies one object. `planned` is its dry run from validation, if it
    /// could be validated then; an empty `resourceVersion` there means the
    /// object does not exist yet.
    async fn apply_one(
        &self,
        object: &Value,
        planned: Option<DynamicObject>,
        live_objects: &mut LiveObjects,
    ) -> Result<Change, ApplyError> {
        let (id, version) = ObjectId::of(object)
            .ok_or_else(|| ApplyError::Validation(format!("object without identity: {object}")))?;
        let skipped = |live: Option<&DynamicObject>| Change {
            id: id.clone(),
            version: version.clone(),
            action: Action::Skipped,
            live: live.and_then(LiveVersion::of),
        };
        if policy(object, RECONCILE_ANNOTATION).as_deref() == Some("disabled")
            || policy(object, SSA_ANNOTATION).as_deref() == Some("ignore")
        {
            return Ok(skipped(None));
        }
        let api = self.api(object).await?.ok_or_else(|| {
            ApplyError::Discovery(format!(
                "{}: no matches for kind in the cluster",
                id.display()
            ))
        })?;
        let planned = match planned {
            Some(planned) => planned,
            None => match self.server_side_apply(&api, object, true).await {
                Ok(planned) => planned,
                Err(error)
                    if is_immutable_error(&error)
                        && (self.force
                            || policy(object, FORCE_ANNOTATION).as_deref() == Some("enabled")) =>
                {
                    return self.recreate(&api, object, id, version).await;
                }
                Err(error) => {
                    return Err(ApplyError::Apply(format!(
                        "{} dry-run failed: {}",
                        id.display(),
                        api_message(&error)
                    )));
                }
            },
        };
        let exists = planned
            .metadata
            .resource_version
            .as_deref()
            .is_some_and(|rv| !rv.is_empty());
        let live = if exists {
            live_objects.get(&api, object, &id).await?
        } else {
            None
        };
        if live.is_some() && policy(object, SSA_ANNOTATION).as_deref() == Some("ifnotpresent") {
            return Ok(skipped(live.as_ref()));
        }
        let action = match &live {
            None => Action::Created,
            Some(live) => {
                let current = serde_json::to_value(live).unwrap_or_default();
                let planned = serde_json::to_value(&planned).unwrap_or_default();
                let handed_over = policy(object, SSA_ANNOTATION).as_deref() != Some("merge")
                    && self.clean_managed_fields(&api, &id, &current).await?;
                if !handed_over && comparable(&current) == comparable(&planned) {
                    return Ok(Change {
                        id,
                        version,
                        action: Action::Unchanged,
                        live: LiveVersion::of(live),
                    });
                }
                Action::Configured
            }
        };
        let applied = self.apply_for_real(&api, object, &id).await?;
        Ok(Change {
            id,
            version,
            action,
            live: LiveVersion::of(&applied),
        })
    }

    /// Hands fields edited by `kubectl` over to us (see
    /// [`crate::managed_fields`]); true when the object was patched, and so
    /// must be applied even if the dry run showed no difference.
    async fn clean_managed_fields(
        &self,
        api: &Api<DynamicObject>,
        id: &ObjectId,
        live: &Value,
    ) -> Result<bool, ApplyError> {
        let Some(patch) = managed_fields::cleanup_patch(live) else {
            return Ok(false);
        };
        api.patch(&id.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| {
                ApplyError::Apply(format!(
                    "{} managed fields cleanup failed: {}",
                    id.display(),
                    api_message(&e)
                ))
            })?;
        Ok(true)
    }

    /// The server-side apply that changes the cluster.
    async fn apply_for_real(
        &self,
        api: &Api<DynamicObject>,
        object: &Value,
        id: &ObjectId,
    ) -> Result<DynamicObject, ApplyError> {
        self.server_side_apply(api, object, false)
            .await
            .map_err(|e| {
                ApplyError::Apply(format!(
                    "{} apply failed: {}",
                    id.display(),
                    api_message(&e)
                ))
            })
    }

    /// Deletes an object whose immutable fields changed and applies it anew.
    async fn recreate(
        &self,
        api: &Api<DynamicObject>,
        object: &Value,
        id: ObjectId,
        version: String,
    ) -> Result<Change, ApplyError> {
        info!(object = %id.display(), "recreating object with changed immutable fields");
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        api.delete(&id.name, &params)
            .await
            .map_err(|e| ApplyError::Apply(format!("{}: {}", id.display(), api_message(&e))))?;
        self.wait_deleted(api, &id).await?;
        let created = self.apply_for_real(api, object, &id).await?;
        Ok(Change {
            id,
            version,
            action: Action::Created,
            live: LiveVersion::of(&created),
        })
    }

    async fn wait_deleted(
        &self,
        api: &Api<DynamicObject>,
        id: &ObjectId,
    ) -> Result<(), ApplyError> {
        let deadline = tokio::time::Instant::now() + self.wait_timeout;
        while api
            .get_opt(&id.name)
            .await
            .map_err(|e| ApplyError::Apply(api_message(&e)))?
            .is_some()
        {
            if tokio::time::Instant::now() > deadline {
                return Err(ApplyError::Apply(format!(
                    "{} was not deleted in time for recreation",
                    id.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(())
    }

    /// Waits until CRDs are established and namespaces active.
    async fn wait_ready(&self, objects: &[&Value]) -> Result<(), ApplyError> {
        let deadline = tokio::time::Instant::now() + self.wait_timeout;
        for object in objects {
            let Some(api) = self.api(object).await? else {
                continue;
            };
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            loop {
                let live = api
                    .get_opt(name)
                    .await
                    .map_err(|e| ApplyError::Apply(api_message(&e)))?;
                let current = live
                    .map(|l| {
                        health(&serde_json::to_value(l).unwrap_or_default()) == Health::Current
                    })
                    .unwrap_or(false);
                if current {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(ApplyError::Apply(format!(
                        "{} did not become ready",
                        display(object)
                    )));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        Ok(())
    }

    /// Deletes stale objects that carry our ownership labels and allow pruning.
    /// Returns the deleted ids and the ids that failed (kept in the inventory).
    pub async fn prune(
        &self,
        stale: &[(ObjectId, String)],
        owner: (&str, &str),
    ) -> (Vec<ObjectId>, Vec<((ObjectId, String), String)>) {
        let mut deleted = Vec::new();
        let mut failed = Vec::new();
        for (id, version) in stale {
            if id.group.is_empty()
                && id.kind == "Namespace"
                && Some(id.name.as_str()) == self.protected_namespace
            {
                info!(object = %id.display(), "not pruning the controller's own namespace");
                continue;
            }
            let probe = serde_json::json!({
                "apiVersion": id.api_version(version),
                "kind": id.kind,
                "metadata": { "name": id.name, "namespace": (!id.namespace.is_empty()).then_some(&id.namespace) },
            });
            let api = match self.api(&probe).await {
                Ok(Some(api)) => api,
                Ok(None) => continue,
                Err(error) => {
                    failed.push(((id.clone(), version.clone()), error.to_string()));
                    continue;
                }
            };
            let live = match api.get_opt(&id.name).await {
                Ok(Some(live)) => live,
                Ok(None) => continue,
                Err(error) => {
                    failed.push(((id.clone(), version.clone()), api_message(&error)));
                    continue;
                }
            };
            let labels = live.labels();
            let ours = labels.get(NAME_LABEL).map(String::as_str) == Some(owner.0)
                && labels.get(NAMESPACE_LABEL).map(String::as_str) == Some(owner.1);
            let live_value = serde_json::to_value(&live).unwrap_or_default();
            let protected = policy(&live_value, "kustomize.toolkit.fluxcd.io/prune").as_deref()
                == Some("disabled")
                || policy(&live_value, RECONCILE_ANNOTATION).as_deref() == Some("disabled")
                || policy(&live_value, SSA_ANNOTATION).as_deref() == Some("ignore");
            if !ours || protected || live.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let params = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Background),
                ..DeleteParams::default()
            };
            match api.delete(&id.name, &params).await {
                Ok(_) => deleted.push(id.clone()),
                Err(error) => failed.push(((id.clone(), version.clone()), api_message(&error))),
            }
        }
        (deleted, failed)
    }
}

impl Applier<'_> {
    /// Polls every 2s until the `deleted` objects are gone, for at most
    /// `wait_timeout`; returns those still there at the end.
    pub async fn wait_gone(&self, deleted: &[(ObjectId, String)]) -> Result<(), Vec<ObjectId>> {
        let deadline = tokio::time::Instant::now() + self.wait_timeout;
        loop {
            let mut remaining = Vec::new();
            for (id, version) in deleted {
                let probe = serde_json::json!({
                    "apiVersion": id.api_version(version),
                    "kind": id.kind,
                    "metadata": { "name": id.name, "namespace": (!id.namespace.is_empty()).then_some(&id.namespace) },
                });
                if let Ok(Some(api)) = self.api(&probe).await
                    && !matches!(api.get_opt(&id.name).await, Ok(None))
                {
                    remaining.push(id.clone());
                }
            }
            if remaining.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(remaining);
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

fn is_immutable_error(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 422 && status.message.contains("immutable"))
}

/// The API server's message for an error, without the client's wrapping.
pub fn api_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}
