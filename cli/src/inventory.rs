//! Inventory entry ids (`status.inventory.entries[].id`) of Kustomizations
//! and HelmReleases: `<namespace>_<name>_<group>_<kind>`, see
//! `shared/spec/kustomize.md` §3.

use std::fmt;

use kube::core::GroupVersionKind;
use serde::Serialize;

/// The RBAC group, whose names may contain `:`, written `__` in ids.
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const RBAC_KINDS: [&str; 4] = ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"];

/// One object of an inventory, serialized like upstream's `ObjMetadata`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ObjMetadata {
    /// Namespace, empty for cluster-scoped objects.
    #[serde(rename = "Namespace")]
    pub namespace: String,
    /// Name.
    #[serde(rename = "Name")]
    pub name: String,
    /// Group and kind.
    #[serde(rename = "GroupKind")]
    pub group_kind: GroupKind,
}

/// An API group (empty for the core group) and a kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct GroupKind {
    /// API group, empty for core.
    #[serde(rename = "Group")]
    pub group: String,
    /// Kind.
    #[serde(rename = "Kind")]
    pub kind: String,
}

impl ObjMetadata {
    /// Parses an inventory id: namespace up to the first `_`, kind after the
    /// last, group between the previous `_` and that, the rest is the name
    /// (with `__` turned back into `:` for RBAC kinds).
    pub fn parse(id: &str) -> Result<Self, String> {
        let invalid =
            || format!("invalid inventory id {id:?}, expected <namespace>_<name>_<group>_<kind>");
        let (namespace, rest) = id.split_once('_').ok_or_else(invalid)?;
        let (rest, kind) = rest.rsplit_once('_').ok_or_else(invalid)?;
        let (name, group) = rest.rsplit_once('_').ok_or_else(invalid)?;
        if name.is_empty() || kind.is_empty() {
            return Err(invalid());
        }
        let name = if group == RBAC_GROUP && RBAC_KINDS.contains(&kind) {
            name.replace("__", ":")
        } else {
            name.to_string()
        };
        Ok(Self {
            namespace: namespace.into(),
            name,
            group_kind: GroupKind {
                group: group.into(),
                kind: kind.into(),
            },
        })
    }

    /// The group/version/kind, with the entry's API version `v`.
    pub fn gvk(&self, version: &str) -> GroupVersionKind {
        GroupVersionKind::gvk(&self.group_kind.group, version, &self.group_kind.kind)
    }

    /// The namespace, `None` for cluster-scoped objects.
    pub fn namespace(&self) -> Option<&str> {
        (!self.namespace.is_empty()).then_some(self.namespace.as_str())
    }
}

/// `Kind/namespace/name`, or `Kind/name` for cluster-scoped objects, as `flux tree` prints.
impl fmt::Display for ObjMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.namespace() {
            Some(ns) => write!(f, "{}/{ns}/{}", self.group_kind.kind, self.name),
            None => write!(f, "{}/{}", self.group_kind.kind, self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(id: &str) -> ObjMetadata {
        ObjMetadata::parse(id).unwrap()
    }

    #[test]
    fn namespaced_object_of_a_named_group() {
        let obj = parse("default_podinfo_apps_Deployment");
        assert_eq!(obj.namespace, "default");
        assert_eq!(obj.name, "podinfo");
        assert_eq!(obj.group_kind.group, "apps");
        assert_eq!(obj.group_kind.kind, "Deployment");
        assert_eq!(obj.to_string(), "Deployment/default/podinfo");
        assert_eq!(obj.gvk("v1").api_version(), "apps/v1");
    }

    #[test]
    fn core_group_is_empty() {
        let obj = parse("default_podinfo__Service");
        assert_eq!(obj.group_kind.group, "");
        assert_eq!(obj.name, "podinfo");
        assert_eq!(obj.gvk("v1").api_version(), "v1");
    }

    #[test]
    fn cluster_scoped_has_no_namespace() {
        let obj = parse("_ns1__Namespace");
        assert_eq!(obj.namespace(), None);
        assert_eq!(obj.name, "ns1");
        assert_eq!(obj.to_string(), "Namespace/ns1");
    }

    #[test]
    fn rbac_names_get_their_colons_back() {
        let obj = parse("_system__controller_rbac.authorization.k8s.io_ClusterRole");
        assert_eq!(obj.name, "system:controller");
        assert_eq!(obj.group_kind.group, "rbac.authorization.k8s.io");
        // Other kinds keep double underscores as written.
        assert_eq!(parse("ns_a__b_example.com_Widget").name, "a__b");
    }

    #[test]
    fn dotted_groups_and_names() {
        let obj = parse("apps_podinfo.v2_kustomize.toolkit.fluxcd.io_Kustomization");
        assert_eq!(obj.name, "podinfo.v2");
        assert_eq!(obj.group_kind.group, "kustomize.toolkit.fluxcd.io");
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in ["", "nounderscore", "ns_name", "ns__Kind", "ns_name_group_"] {
            assert!(ObjMetadata::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serializes_like_upstream_obj_metadata() {
        assert_eq!(
            serde_json::to_value(parse("default_app__ConfigMap")).unwrap(),
            serde_json::json!({"Namespace": "default", "Name": "app", "GroupKind": {"Group": "", "Kind": "ConfigMap"}})
        );
    }
}
