//! The CustomResourceDefinitions of every kind flux-rs serves, as installed in a
//! cluster and written to `crds/`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSON,
};
use kube::core::crd::merge_crds;
use serde_json::json;

/// Annotation that stops kustomize-controller from running `${var}` substitution
/// on our CRDs (upstream sets it on all of its CRDs).
const SUBSTITUTE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// All CRDs, one per kind, sorted by file name.
pub fn all() -> Vec<CustomResourceDefinition> {
    let mut crds: Vec<_> = [
        crate::source::crds(),
        crate::kustomize::crds(),
        crate::helm::crds(),
        crate::notification::crds(),
        crate::image::crds(),
    ]
    .into_iter()
    .flatten()
    .map(finalize)
    .collect();
    crds.sort_by_key(file_name);
    crds
}

/// Merges the single-version CRDs of one kind into one multi-version CRD whose
/// storage version is `storage`.
///
/// Panics if the versions disagree on group, kind or scope: that is a bug in the
/// type definitions, caught by the CRD tests.
pub(crate) fn merge(
    versions: Vec<CustomResourceDefinition>,
    storage: &str,
) -> CustomResourceDefinition {
    merge_crds(versions, storage)
        .expect("CRD versions of one kind must agree on group, kind and scope")
}

/// The file under `crds/` that holds a CRD: `<group>_<plural>.yaml`, as upstream names them.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// Renders a CRD as the YAML committed under `crds/`.
pub fn to_yaml(crd: &CustomResourceDefinition) -> String {
    let yaml = serde_yaml_ng::to_string(crd).expect("a CRD always serializes to YAML");
    format!("---\n{yaml}")
}

/// Applies what every Flux CRD has and the derive cannot express: the
/// substitution opt-out annotation and the `observedGeneration: -1` status default.
fn finalize(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    crd.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(SUBSTITUTE_ANNOTATION.to_string(), "disabled".to_string());
    for version in &mut crd.spec.versions {
        let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        else {
            continue;
        };
        if let Some(status) = schema.properties.as_mut().and_then(|p| p.get_mut("status")) {
            status.default = Some(JSON(json!({ "observedGeneration": -1 })));
        }
    }
    crd
}
