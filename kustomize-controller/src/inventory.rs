//! The Kustomization inventory (`status.inventory`): which objects the last
//! successful apply owns, in Flux's entry format, so pruning and `flux tree`
//! read the same thing upstream writes.

use std::collections::BTreeSet;

use fluxrs_api::meta::{ResourceInventory, ResourceRef};
use serde_json::Value;

/// Identity of one Kubernetes object, independent of its API version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId {
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// API group; empty for the core group.
    pub group: String,
    /// Kind.
    pub kind: String,
}

/// RBAC kinds whose names may contain `:`, written as `__` in entry ids.
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

impl ObjectId {
    /// The identity of a manifest (`apiVersion`, `kind`, `metadata`).
    pub fn of(object: &Value) -> Option<(Self, String)> {
        let api_version = object.get("apiVersion")?.as_str()?;
        let (group, version) = match api_version.rsplit_once('/') {
            Some((group, version)) => (group.to_string(), version.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        let metadata = object.get("metadata")?;
        let id = Self {
            namespace: metadata
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            name: metadata.get("name")?.as_str()?.to_string(),
            group,
            kind: object.get("kind")?.as_str()?.to_string(),
        };
        Some((id, version))
    }

    /// `<namespace>_<name>_<group>_<kind>`, with `:` in RBAC names as `__`.
    pub fn entry_id(&self) -> String {
        let name = if self.group == RBAC_GROUP {
            self.name.replace(':', "__")
        } else {
            self.name.clone()
        };
        format!("{}_{}_{}_{}", self.namespace, name, self.group, self.kind)
    }

    /// Parses an entry id (namespace up to the first `_`, kind after the last,
    /// group between the previous `_` and that, the rest is the name).
    pub fn parse(id: &str) -> Option<Self> {
        let (namespace, rest) = id.split_once('_')?;
        let (rest, kind) = rest.rsplit_once('_')?;
        let (name, group) = rest.rsplit_once('_')?;
        let name = if group == RBAC_GROUP {
            name.replace("__", ":")
        } else {
            name.to_string()
        };
        Some(Self {
            namespace: namespace.to_string(),
            name,
            group: group.to_string(),
            kind: kind.to_string(),
        })
    }

    /// `apiVersion` for this object at `version`.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// `Kind/namespace/name` or `Kind/name`, as Flux prints objects.
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// The inventory of `objects` (identity and API version), sorted by id.
pub fn inventory(objects: &[(ObjectId, String)]) -> ResourceInventory {
    let mut entries: Vec<ResourceRef> = objects
        .iter()
        .map(|(id, version)| ResourceRef {
            id: id.entry_id(),
            v: version.clone(),
        })
        .collect();
    entries.sort_by(|a, b| a.id.cmp(&b.id));
    entries.dedup_by(|a, b| a.id == b.id);
    ResourceInventory { entries }
}

/// Entries of `old` that are not in `new`: what a prune deletes.
pub fn stale(old: Option<&ResourceInventory>, new: &ResourceInventory) -> Vec<(ObjectId, String)> {
    let current: BTreeSet<&str> = new.entries.iter().map(|e| e.id.as_str()).collect();
    old.map(|inv| inv.entries.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|e| !current.contains(e.id.as_str()))
        .filter_map(|e| ObjectId::parse(&e.id).map(|id| (id, e.v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entry_ids_match_upstream_format() {
        let (ns, _) = ObjectId::of(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns1"}}),
        )
        .unwrap();
        assert_eq!(ns.entry_id(), "_ns1__Namespace");
        let (svc, v) = ObjectId::of(&json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "podinfo", "namespace": "default"}})).unwrap();
        assert_eq!(
            (svc.entry_id().as_str(), v.as_str()),
            ("default_podinfo__Service", "v1")
        );
        let (role, v) = ObjectId::of(&json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "system:flux"}})).unwrap();
        assert_eq!(
            (role.entry_id().as_str(), v.as_str()),
            ("_system__flux_rbac.authorization.k8s.io_ClusterRole", "v1")
        );
        assert_eq!(ObjectId::parse(&role.entry_id()).unwrap(), role);
        let deploy = ObjectId::parse("apps_my_app_apps_Deployment").unwrap();
        assert_eq!(
            (
                deploy.namespace.as_str(),
                deploy.name.as_str(),
                deploy.group.as_str()
            ),
            ("apps", "my_app", "apps")
        );
    }

    #[test]
    fn stale_entries_are_the_difference() {
        let a = (
            ObjectId::parse("default_a__ConfigMap").unwrap(),
            "v1".to_string(),
        );
        let b = (
            ObjectId::parse("default_b__ConfigMap").unwrap(),
            "v1".to_string(),
        );
        let old = inventory(&[a.clone(), b.clone()]);
        let new = inventory(std::slice::from_ref(&a));
        assert_eq!(stale(Some(&old), &new), vec![b]);
        assert!(stale(None, &new).is_empty());
    }
}
