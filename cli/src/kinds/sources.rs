//! source.toolkit.fluxcd.io kinds: their REVISION is the stored artifact's.

use fluxrs_api::meta::{Artifact, FluxObject};
use fluxrs_api::source::{
    Bucket, GitRepository, HelmChart, HelmRepository, HelmRepositoryType, OCIRepository,
};

use super::{FluxKind, Kind, ObjectRef, enum_name};
use crate::output::text::title_bool;

const COLUMNS: &[&str] = &["REVISION", "SUSPENDED"];

fn artifact_revision(artifact: Option<&Artifact>) -> Option<String> {
    artifact.map(|a| a.revision.clone())
}

/// Implements the parts every source kind shares; `$extra` adds or
/// overrides items.
macro_rules! source_kind {
    ($type:ty, $kind:expr $(, { $($extra:tt)* })?) => {
        impl FluxKind for $type {
            const KIND: Kind = $kind;
            const COLUMNS: &'static [&'static str] = COLUMNS;

            fn cells(&self) -> Vec<String> {
                vec![
                    self.revision().unwrap_or_default(),
                    title_bool(self.suspended()),
                ]
            }

            fn revision(&self) -> Option<String> {
                artifact_revision(self.status.as_ref().and_then(|s| s.artifact.as_ref()))
            }

            fn success_message(&self) -> String {
                format!("fetched revision {}", self.revision().unwrap_or_default())
            }

            $($($extra)*)?
        }
    };
}

source_kind!(GitRepository, Kind::GitRepository);
source_kind!(OCIRepository, Kind::OCIRepository);
source_kind!(Bucket, Kind::Bucket);
source_kind!(HelmRepository, Kind::HelmRepository, {
    fn static_message(&self) -> Option<&'static str> {
        (self.spec.r#type == Some(HelmRepositoryType::Oci)).then_some("Helm repository is Ready")
    }
});
source_kind!(HelmChart, Kind::HelmChart, {
    const TRUNCATE_REVISION: bool = false;

    fn source(&self) -> Option<ObjectRef> {
        let source = &self.spec.source_ref;
        Some(ObjectRef::from_owner(
            self,
            enum_name(&source.kind),
            &source.name,
            None,
        ))
    }
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::ready_cells;

    #[test]
    fn oci_helm_repository_is_static() {
        let repo: HelmRepository = serde_json::from_value(serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmRepository",
            "metadata": {"name": "podinfo", "namespace": "apps"},
            "spec": {"url": "oci://ghcr.io/stefanprodan/charts", "type": "oci"}
        }))
        .unwrap();
        assert_eq!(
            ready_cells(&repo),
            ("True".into(), "Helm repository is Ready".into())
        );
        assert_eq!(repo.cells(), ["", "False"]);
    }

    #[test]
    fn source_columns_show_the_artifact_revision() {
        let repo: GitRepository = serde_json::from_value(serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "app", "namespace": "apps"},
            "spec": {"url": "https://example.com/app", "interval": "1m", "suspend": true},
            "status": {"artifact": {
                "path": "p", "url": "u", "revision": "main@sha1:abc",
                "lastUpdateTime": "2026-01-01T00:00:00Z"
            }}
        }))
        .unwrap();
        assert_eq!(repo.cells(), ["main@sha1:abc", "True"]);
        assert_eq!(repo.success_message(), "fetched revision main@sha1:abc");
    }
}
