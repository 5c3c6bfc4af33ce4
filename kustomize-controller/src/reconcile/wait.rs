//! Waiting for applied objects to become healthy (`wait`, `healthChecks`,
//! `healthCheckExprs`).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use fluxrs_api::kustomize::Kustomization;
use fluxrs_runtime::conditions::reasons;
use fluxrs_runtime::interval::format_duration;
use fluxrs_runtime::outcome::ReconcileError;
use kube::api::{Api, DynamicObject};
use kube::{Client, ResourceExt};

use super::{Failure, retry_interval};
use crate::apply::{Action, Change, Discovery, list_owned};
use crate::health::{Health, health};
use crate::health_exprs::{self, HealthExpr};
use crate::inventory::ObjectId;

/// Health check result: `healthy` is `None` when no health checking is
/// configured; `current` has the `resourceVersion` at which each checked
/// object was seen Current.
pub(super) struct HealthResult {
    pub(super) healthy: Option<bool>,
    pub(super) current: HashMap<ObjectId, String>,
}

/// With `wait`, every applied object must become Current; with `healthChecks`,
/// the listed ones.
pub(super) async fn wait_healthy(
    obj: &Kustomization,
    client: &Client,
    discovery: &Discovery,
    applied: &[Change],
    deadline: Duration,
    exprs: &[HealthExpr],
) -> Result<HealthResult, Failure> {
    let targets = health_targets(obj, applied);
    let mut current = HashMap::new();
    if targets.is_empty() {
        return Ok(HealthResult {
            healthy: None,
            current,
        });
    }
    let started = Instant::now();
    let owner = (obj.name_any(), obj.namespace().unwrap_or_default());
    loop {
        let mut waiting = Vec::new();
        let pending: Vec<&(ObjectId, String)> = targets
            .iter()
            .filter(|(id, _)| !current.contains_key(id))
            .collect();
        let mut live = fetch_live(client, discovery, &pending, &owner).await;
        for (id, _) in pending {
            let found = live.remove(id).unwrap_or_else(|| Err("not read".into()));
            match live_health(found, exprs) {
                (Health::Current, resource_version) => {
                    current.insert(id.clone(), resource_version.unwrap_or_default());
                }
                (Health::Failed(message), _) => {
                    let message = format!(
                        "health check failed after {}: {} failed: {message}",
                        format_duration(started.elapsed()),
                        id.display()
                    );
                    return Err(Failure {
                        error: ReconcileError::retry_after(
                            reasons::HEALTH_CHECK_FAILED,
                            message,
                            retry_interval(obj),
                        ),
                        healthy: Some(false),
                    });
                }
                (Health::InProgress(message), _) => {
                    waiting.push(format!("{} status: '{message}'", id.display()))
                }
            }
        }
        if waiting.is_empty() {
            return Ok(HealthResult {
                healthy: Some(true),
                current,
            });
        }
        if started.elapsed() > deadline {
            let message = format!("timeout waiting for: [{}]", waiting.join(", "));
            return Err(Failure {
                error: ReconcileError::retry_after(
                    reasons::HEALTH_CHECK_FAILED,
                    message,
                    retry_interval(obj),
                ),
                healthy: Some(false),
            });
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// The objects to health check: all applied ones with `wait`, else those in
/// `healthChecks`.
pub(super) fn health_targets(obj: &Kustomization, applied: &[Change]) -> Vec<(ObjectId, String)> {
    if obj.spec.wait.unwrap_or(false) {
        return applied
            .iter()
            .filter(|c| c.action != Action::Skipped)
            .map(|c| (c.id.clone(), c.version.clone()))
            .collect();
    }
    obj.spec
        .health_checks
        .iter()
        .flatten()
        .map(|check| {
            let api_version = check.api_version.clone().unwrap_or_else(|| "v1".into());
            let (group, version) = api_version
                .rsplit_once('/')
                .map(|(g, v)| (g.to_string(), v.to_string()))
                .unwrap_or((String::new(), api_version));
            let namespace = check
                .namespace
                .clone()
                .unwrap_or_else(|| obj.namespace().unwrap_or_default());
            let id = ObjectId {
                namespace,
                name: check.name.clone(),
                group,
                kind: check.kind.clone(),
            };
            (id, version)
        })
        .collect()
}

/// Reads the live state of `targets`: one LIST per kind and namespace
/// (objects carrying `owner`'s labels) when several share them, a GET for
/// the rest, so waiting for a large set costs a handful of requests a round.
pub(super) async fn fetch_live(
    client: &Client,
    discovery: &Discovery,
    targets: &[&(ObjectId, String)],
    owner: &(String, String),
) -> HashMap<ObjectId, Result<Option<DynamicObject>, String>> {
    let mut groups: BTreeMap<(String, String, String, String), Vec<&ObjectId>> = BTreeMap::new();
    for (id, version) in targets {
        let key = (
            id.group.clone(),
            version.clone(),
            id.kind.clone(),
            id.namespace.clone(),
        );
        groups.entry(key).or_default().push(id);
    }
    let mut live = HashMap::new();
    for ((group, version, kind, namespace), ids) in groups {
        let gvk = kube::core::GroupVersionKind::gvk(&group, &version, &kind);
        let Ok((resource, capabilities)) = discovery.resolve(client, &gvk).await else {
            for id in ids {
                live.insert(id.clone(), Err("kind not served".to_string()));
            }
            continue;
        };
        let api: Api<DynamicObject> = match capabilities.scope {
            kube::discovery::Scope::Namespaced => {
                Api::namespaced_with(client.clone(), &namespace, &resource)
            }
            kube::discovery::Scope::Cluster => Api::all_with(client.clone(), &resource),
        };
        let mut listed = HashMap::new();
        if ids.len() > 1 {
            let types = kube::core::TypeMeta {
                api_version: resource.api_version.clone(),
                kind: resource.kind.clone(),
            };
            let owner = (owner.0.as_str(), owner.1.as_str());
            listed = list_owned(&api, owner, Some(types))
                .await
                .unwrap_or_default();
        }
        for id in ids {
            let found = match listed.remove(&id.name) {
                Some(object) => Ok(Some(object)),
                None => api.get_opt(&id.name).await.map_err(|e| e.to_string()),
            };
            live.insert(id.clone(), found);
        }
    }
    live
}

/// The health of one object as read, by its `healthCheckExprs` if a set
/// matches its kind, else by kstatus; with the `resourceVersion` seen.
pub(super) fn live_health(
    found: Result<Option<DynamicObject>, String>,
    exprs: &[HealthExpr],
) -> (Health, Option<String>) {
    match found {
        Ok(Some(live)) => {
            let resource_version = live.metadata.resource_version.clone();
            let live = serde_json::to_value(live).unwrap_or_default();
            let health = match health_exprs::find(exprs, &live) {
                Some(expr) => expr.health(&live),
                None => health(&live),
            };
            (health, resource_version)
        }
        Ok(None) => (Health::InProgress("NotFound".into()), None),
        Err(e) => (Health::InProgress(e), None),
    }
}
