//! Group/version/kind and resource ids, with kustomize's selection and
//! equality rules.

use super::scope::is_cluster_scoped;

/// A group, version and kind; empty fields act as wildcards in selectors.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Deserialize)]
pub struct Gvk {
    /// API group (empty for core).
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
}

impl Gvk {
    /// Splits an `apiVersion` into group and version.
    pub fn from_api_version(api_version: &str, kind: &str) -> Self {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
        }
    }

    /// Whether `selector` selects this gvk (empty selector fields match
    /// anything).
    pub fn is_selected_by(&self, selector: &Gvk) -> bool {
        (selector.group.is_empty() || selector.group == self.group)
            && (selector.version.is_empty() || selector.version == self.version)
            && (selector.kind.is_empty() || selector.kind == self.kind)
    }

    /// Whether objects of this kind are cluster-scoped.
    pub fn is_cluster_scoped(&self) -> bool {
        is_cluster_scoped(&self.group, &self.kind)
    }

    /// `Kind.version.group` with kustomize's placeholders for empty fields.
    pub fn display(&self) -> String {
        let or = |s: &str, d: &str| {
            if s.is_empty() {
                d.to_string()
            } else {
                s.to_string()
            }
        };
        format!(
            "{}.{}.{}",
            or(&self.kind, "[noKind]"),
            or(&self.version, "[noVer]"),
            or(&self.group, "[noGrp]")
        )
    }
}

/// A resource's identity: gvk, name and namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResId {
    /// Group/version/kind.
    pub gvk: Gvk,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` as written (may be empty).
    pub namespace: String,
}

impl ResId {
    /// Builds an id.
    pub fn new(gvk: Gvk, name: &str, namespace: &str) -> Self {
        Self {
            gvk,
            name: name.into(),
            namespace: namespace.into(),
        }
    }

    /// The namespace as the API server sees it: empty for cluster-scoped
    /// kinds, `default` for namespaced objects without one.
    pub fn effective_namespace(&self) -> &str {
        if self.gvk.is_cluster_scoped() {
            ""
        } else if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }

    /// Namespace equality with `""` meaning `default`.
    pub fn ns_equals(&self, other: &ResId) -> bool {
        self.effective_namespace() == other.effective_namespace()
    }

    /// kustomize's `ResId.Equals`.
    pub fn same_as(&self, other: &ResId) -> bool {
        self.gvk == other.gvk && self.name == other.name && self.ns_equals(other)
    }

    /// kustomize's `ResId.String()`: `Kind.version.group/name.namespace`.
    pub fn display(&self) -> String {
        let ns = if self.namespace.is_empty() {
            "[noNs]"
        } else {
            &self.namespace
        };
        format!("{}/{}.{}", self.gvk.display(), self.name, ns)
    }
}
