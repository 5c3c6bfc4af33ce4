//! The Flux kinds the CLI works with, and what each one means to a user:
//! its `get` columns, its source, how a finished reconcile is reported.
//!
//! Commands are written once, generic over [`FluxKind`]; [`with_kind!`]
//! turns a [`Kind`] chosen at run time into a call with the right type.

mod appliers;
mod image;
mod notification;
mod sources;

use std::fmt;

use fluxrs_api::meta::FluxObject;
use fluxrs_runtime::conditions::{self, types};
use k8s_openapi::NamespaceResourceScope;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Every Flux kind the CLI knows, in the order `get all` lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// source.toolkit.fluxcd.io OCIRepository.
    OCIRepository,
    /// source.toolkit.fluxcd.io Bucket.
    Bucket,
    /// source.toolkit.fluxcd.io GitRepository.
    GitRepository,
    /// source.toolkit.fluxcd.io HelmRepository.
    HelmRepository,
    /// source.toolkit.fluxcd.io HelmChart.
    HelmChart,
    /// image.toolkit.fluxcd.io ImageRepository.
    ImageRepository,
    /// image.toolkit.fluxcd.io ImagePolicy.
    ImagePolicy,
    /// image.toolkit.fluxcd.io ImageUpdateAutomation.
    ImageUpdateAutomation,
    /// helm.toolkit.fluxcd.io HelmRelease.
    HelmRelease,
    /// kustomize.toolkit.fluxcd.io Kustomization.
    Kustomization,
    /// notification.toolkit.fluxcd.io Receiver.
    Receiver,
    /// notification.toolkit.fluxcd.io Provider.
    Provider,
    /// notification.toolkit.fluxcd.io Alert.
    Alert,
}

impl Kind {
    /// Every kind, in `flux get all` order.
    pub const ALL: [Kind; 13] = [
        Kind::OCIRepository,
        Kind::Bucket,
        Kind::GitRepository,
        Kind::HelmRepository,
        Kind::HelmChart,
        Kind::ImageRepository,
        Kind::ImagePolicy,
        Kind::ImageUpdateAutomation,
        Kind::HelmRelease,
        Kind::Kustomization,
        Kind::Receiver,
        Kind::Provider,
        Kind::Alert,
    ];

    /// The Kubernetes kind, e.g. `GitRepository`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::OCIRepository => "OCIRepository",
            Kind::Bucket => "Bucket",
            Kind::GitRepository => "GitRepository",
            Kind::HelmRepository => "HelmRepository",
            Kind::HelmChart => "HelmChart",
            Kind::ImageRepository => "ImageRepository",
            Kind::ImagePolicy => "ImagePolicy",
            Kind::ImageUpdateAutomation => "ImageUpdateAutomation",
            Kind::HelmRelease => "HelmRelease",
            Kind::Kustomization => "Kustomization",
            Kind::Receiver => "Receiver",
            Kind::Provider => "Provider",
            Kind::Alert => "Alert",
        }
    }

    /// The kind whose name matches, ignoring case (`kustomization`, `GitRepository`).
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }

    /// The words after `fluxrs reconcile|suspend|resume|export` that name this kind.
    pub fn command_path(self) -> &'static str {
        match self {
            Kind::OCIRepository => "source oci",
            Kind::Bucket => "source bucket",
            Kind::GitRepository => "source git",
            Kind::HelmRepository => "source helm",
            Kind::HelmChart => "source chart",
            Kind::ImageRepository => "image repository",
            Kind::ImagePolicy => "image policy",
            Kind::ImageUpdateAutomation => "image update",
            Kind::HelmRelease => "helmrelease",
            Kind::Kustomization => "kustomization",
            Kind::Receiver => "receiver",
            Kind::Provider => "alert-provider",
            Kind::Alert => "alert",
        }
    }

    /// The words after `fluxrs get` that list this kind.
    pub fn get_path(self) -> &'static str {
        match self {
            Kind::OCIRepository => "sources oci",
            Kind::Bucket => "sources bucket",
            Kind::GitRepository => "sources git",
            Kind::HelmRepository => "sources helm",
            Kind::HelmChart => "sources chart",
            Kind::ImageRepository => "images repository",
            Kind::ImagePolicy => "images policy",
            Kind::ImageUpdateAutomation => "images update",
            Kind::HelmRelease => "helmreleases",
            Kind::Kustomization => "kustomizations",
            Kind::Receiver => "receivers",
            Kind::Provider => "alert-providers",
            Kind::Alert => "alerts",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs `$body` with the type alias `$K` bound to the generated type of
/// `$kind` (a [`Kind`]), so generic code can be called for a kind chosen at
/// run time: `with_kind!(kind, |K| get::<K>(session).await)`.
#[macro_export]
macro_rules! with_kind {
    ($kind:expr, |$K:ident| $body:expr) => {
        match $kind {
            $crate::kinds::Kind::OCIRepository => {
                type $K = ::fluxrs_api::source::OCIRepository;
                $body
            }
            $crate::kinds::Kind::Bucket => {
                type $K = ::fluxrs_api::source::Bucket;
                $body
            }
            $crate::kinds::Kind::GitRepository => {
                type $K = ::fluxrs_api::source::GitRepository;
                $body
            }
            $crate::kinds::Kind::HelmRepository => {
                type $K = ::fluxrs_api::source::HelmRepository;
                $body
            }
            $crate::kinds::Kind::HelmChart => {
                type $K = ::fluxrs_api::source::HelmChart;
                $body
            }
            $crate::kinds::Kind::ImageRepository => {
                type $K = ::fluxrs_api::image::v1::ImageRepository;
                $body
            }
            $crate::kinds::Kind::ImagePolicy => {
                type $K = ::fluxrs_api::image::v1::ImagePolicy;
                $body
            }
            $crate::kinds::Kind::ImageUpdateAutomation => {
                type $K = ::fluxrs_api::image::v1::ImageUpdateAutomation;
                $body
            }
            $crate::kinds::Kind::HelmRelease => {
                type $K = ::fluxrs_api::helm::HelmRelease;
                $body
            }
            $crate::kinds::Kind::Kustomization => {
                type $K = ::fluxrs_api::kustomize::Kustomization;
                $body
            }
            $crate::kinds::Kind::Receiver => {
                type $K = ::fluxrs_api::notification::Receiver;
                $body
            }
            $crate::kinds::Kind::Provider => {
                type $K = ::fluxrs_api::notification::Provider;
                $body
            }
            $crate::kinds::Kind::Alert => {
                type $K = ::fluxrs_api::notification::Alert;
                $body
            }
        }
    };
}

/// A reference to a namespaced object, shown as `Kind/namespace/name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectRef {
    /// Kubernetes kind.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// A reference from its parts.
    pub fn new(
        kind: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// A reference to `name` (of `kind`) from `owner`: in `namespace` when
    /// given, in the owner's namespace otherwise.
    pub fn from_owner<K: Resource>(
        owner: &K,
        kind: impl Into<String>,
        name: &str,
        namespace: Option<&str>,
    ) -> Self {
        let namespace = namespace
            .map(str::to_owned)
            .unwrap_or_else(|| owner.namespace().unwrap_or_default());
        Self::new(kind, namespace, name)
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// What the CLI needs to know about one Flux kind beyond its generated type.
pub trait FluxKind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + FluxObject
    + Clone
    + fmt::Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    /// Which kind this is.
    const KIND: Kind;
    /// `get` columns between NAME (and SOURCE) and READY, MESSAGE.
    const COLUMNS: &'static [&'static str];
    /// Whether `get` shortens hashes in REVISION (all but HelmChart, whose
    /// revision is a chart version).
    const TRUNCATE_REVISION: bool = true;
    /// Whether `get --show-source` adds a SOURCE column.
    const SOURCE_COLUMN: bool = false;

    /// The values of [`Self::COLUMNS`], untruncated.
    fn cells(&self) -> Vec<String>;

    /// The revision this object last produced or applied, if any.
    fn revision(&self) -> Option<String>;

    /// The line printed after a successful reconcile, without the `✔`.
    fn success_message(&self) -> String;

    /// For objects that no controller reconciles in a loop (Alert, Provider,
    /// OCI HelmRepository), the fixed Ready message; such objects are always
    /// ready and cannot be reconciled on request.
    fn static_message(&self) -> Option<&'static str> {
        None
    }

    /// The object this one takes its input from (a Kustomization's
    /// `sourceRef`, a HelmChart's source, an ImagePolicy's ImageRepository).
    fn source(&self) -> Option<ObjectRef> {
        None
    }

    /// What `reconcile --with-source` reconciles first; usually [`Self::source`].
    fn reconcile_source(&self) -> Option<ObjectRef> {
        self.source()
    }

    /// Objects whose events `events --for` shows next to this object's own.
    fn related(&self) -> Vec<ObjectRef> {
        self.source().into_iter().collect()
    }
}

/// The READY and MESSAGE cells of an object: its Ready condition, `False` /
/// `waiting to be reconciled` without one, `True` and a fixed message for
/// static objects.
pub fn ready_cells<K: FluxKind>(obj: &K) -> (String, String) {
    if let Some(message) = obj.static_message() {
        return ("True".into(), message.into());
    }
    match conditions::get(obj.conditions(), types::READY) {
        Some(ready) => (ready.status.clone(), ready.message.clone()),
        None => ("False".into(), "waiting to be reconciled".into()),
    }
}

/// `Kind/namespace/name` of an object.
pub fn object_ref<K: FluxKind>(obj: &K) -> ObjectRef {
    ObjectRef::new(
        K::KIND.name(),
        obj.namespace().unwrap_or_default(),
        obj.name_any(),
    )
}

/// The serialized name of a unit enum value (`GitRepository` for
/// `KustomizationSourceKind::GitRepository`).
pub fn enum_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use fluxrs_api::kustomize::Kustomization;
    use fluxrs_api::notification::Alert;
    use fluxrs_api::source::GitRepository;
    use fluxrs_runtime::conditions::{Status, mark_failed, mark_ready};

    use super::*;

    fn git_repository() -> GitRepository {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "app", "namespace": "apps", "generation": 1},
            "spec": {"url": "https://example.com/app", "interval": "1m"}
        }))
        .unwrap()
    }

    #[test]
    fn kind_names_resolve_ignoring_case() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_name(&kind.name().to_lowercase()), Some(kind));
        }
        assert_eq!(Kind::from_name("Deployment"), None);
    }

    #[test]
    fn readiness_without_ready_condition_is_waiting() {
        let repo = git_repository();
        assert_eq!(
            ready_cells(&repo),
            ("False".into(), "waiting to be reconciled".into())
        );
    }

    #[test]
    fn readiness_follows_the_ready_condition() {
        let mut repo = git_repository();
        let mut conditions = Vec::new();
        mark_ready(&mut conditions, Some(1), "Succeeded", "stored artifact");
        repo.status = Some(fluxrs_api::source::GitRepositoryStatus {
            conditions: Some(conditions.clone()),
            ..Default::default()
        });
        assert_eq!(
            ready_cells(&repo),
            ("True".into(), "stored artifact".into())
        );

        mark_failed(
            &mut conditions,
            Some(1),
            "GitOperationFailed",
            "auth failed",
        );
        repo.status.as_mut().unwrap().conditions = Some(conditions);
        assert_eq!(ready_cells(&repo).0, Status::False.as_str());
        assert_eq!(ready_cells(&repo).1, "auth failed");
    }

    #[test]
    fn static_objects_are_always_ready() {
        let alert: Alert = serde_json::from_value(serde_json::json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
            "kind": "Alert",
            "metadata": {"name": "slack", "namespace": "apps"},
            "spec": {"providerRef": {"name": "slack"}, "eventSources": [{"kind": "GitRepository", "name": "*"}]}
        }))
        .unwrap();
        assert_eq!(
            ready_cells(&alert),
            ("True".into(), "Alert is Ready".into())
        );
        assert_eq!(
            alert.source(),
            Some(ObjectRef::new("Provider", "apps", "slack"))
        );
    }

    #[test]
    fn kustomization_source_defaults_to_its_namespace() {
        let ks: Kustomization = serde_json::from_value(serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {"interval": "10m", "prune": true, "sourceRef": {"kind": "OCIRepository", "name": "manifests"}}
        }))
        .unwrap();
        assert_eq!(
            ks.source().map(|s| s.to_string()).as_deref(),
            Some("OCIRepository/flux-system/manifests")
        );
    }
}
