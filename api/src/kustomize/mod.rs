//! `kustomize.toolkit.fluxcd.io`: Kustomizations, which build a path of a source
//! artifact with kustomize and apply the result to the cluster.

mod kustomization;

pub use kustomization::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of the Kustomization kind.
pub const GROUP: &str = "kustomize.toolkit.fluxcd.io";

/// Approves a prune the flux-rs prune guard held back; the value must be the
/// source revision being applied (`status.lastAttemptedRevision`), so an
/// approval never outlives its change. A flux-rs addition, hence not in
/// Flux's annotation namespace.
pub const APPROVE_PRUNE_ANNOTATION: &str = "flux-rs.io/approve-prune";

/// The CRDs of this group, one per kind.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![Kustomization::crd()]
}

#[cfg(test)]
mod tests {
    use super::*;

    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        JSONSchemaProps, JSONSchemaPropsOrArray,
    };
    use serde_json::{Value, json};

    /// The first Kustomization of `/work/shared/seeds/flux-manifests.yaml`, verbatim.
    const SEED_API_SERVER: &str = r#"
# Kustomization: 何をどこにデプロイするか定義
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: api-server
  namespace: flux-system
spec:
  interval: 5m
  retryInterval: 2m
  timeout: 3m
  sourceRef:
    kind: GitRepository
    name: platform-repo
  path: ./deploy/apps/api-server/production
  prune: true
  wait: true
  healthChecks:
    - apiVersion: apps/v1
      kind: Deployment
      name: api-server
      namespace: production
  patches:
    - patch: |
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: api-server
        spec:
          replicas: 5
      target:
        kind: Deployment
        name: api-server
"#;

    /// The last Kustomization of the seed file, verbatim: the seed is cut off
    /// after `secretRef:`, which YAML reads as `null`.
    const SEED_API_SERVER_DECRYPTED: &str = r#"
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: api-server
  namespace: flux-system
spec:
  interval: 5m
  sourceRef:
    kind: GitRepository
    name: platform-repo
  path: ./deploy/apps/api-server
  prune: true
  decryption:
    provider: sops
    secretRef:
"#;

    fn crd() -> CustomResourceDefinition {
        let crds = crds();
        assert_eq!(crds.len(), 1);
        crds.into_iter().next().unwrap()
    }

    /// The schema of the items of an array, or `schema` itself for other types.
    fn items(schema: &JSONSchemaProps) -> &JSONSchemaProps {
        match &schema.items {
            Some(JSONSchemaPropsOrArray::Schema(items)) => items,
            Some(JSONSchemaPropsOrArray::Schemas(_)) => panic!("tuple schemas are not used"),
            None => schema,
        }
    }

    /// Walks `path` down the properties, looking through arrays.
    fn property<'a>(schema: &'a JSONSchemaProps, path: &[&str]) -> &'a JSONSchemaProps {
        path.iter().fold(schema, |s, name| {
            items(s)
                .properties
                .as_ref()
                .and_then(|p| p.get(*name))
                .unwrap_or_else(|| panic!("no property {name} in {path:?}"))
        })
    }

    fn enum_values(schema: &JSONSchemaProps) -> Vec<Value> {
        schema.enum_.iter().flatten().map(|v| v.0.clone()).collect()
    }

    #[test]
    fn seed_kustomization_deserializes() {
        let ks: Kustomization = serde_yaml_ng::from_str(SEED_API_SERVER).unwrap();
        assert_eq!(ks.metadata.name.as_deref(), Some("api-server"));
        assert_eq!(ks.metadata.namespace.as_deref(), Some("flux-system"));
        assert_eq!(ks.spec.interval, "5m");
        assert_eq!(ks.spec.retry_interval.as_deref(), Some("2m"));
        assert_eq!(ks.spec.timeout.as_deref(), Some("3m"));
        assert_eq!(
            ks.spec.source_ref.kind,
            KustomizationSourceKind::GitRepository
        );
        assert_eq!(ks.spec.source_ref.name, "platform-repo");
        assert_eq!(
            ks.spec.path.as_deref(),
            Some("./deploy/apps/api-server/production")
        );
        assert!(ks.spec.prune);
        assert_eq!(ks.spec.wait, Some(true));
        let checks = ks.spec.health_checks.as_deref().unwrap();
        assert_eq!(checks[0].api_version.as_deref(), Some("apps/v1"));
        assert_eq!(checks[0].namespace.as_deref(), Some("production"));
        let patches = ks.spec.patches.as_deref().unwrap();
        assert!(patches[0].patch.contains("replicas: 5"));
        let target = patches[0].target.as_ref().unwrap();
        assert_eq!(target.kind.as_deref(), Some("Deployment"));
        assert_eq!(target.name.as_deref(), Some("api-server"));
    }

    #[test]
    fn seed_kustomization_round_trips_losslessly() {
        let original: Value = serde_yaml_ng::from_str(SEED_API_SERVER).unwrap();
        let ks: Kustomization = serde_json::from_value(original.clone()).unwrap();
        let serialized = serde_json::to_value(&ks).unwrap();
        assert_eq!(serialized, original, "no field may be dropped or added");
        let again: Kustomization = serde_json::from_value(serialized).unwrap();
        assert_eq!(again, ks);
    }

    #[test]
    fn seed_kustomization_with_truncated_decryption_deserializes() {
        let ks: Kustomization = serde_yaml_ng::from_str(SEED_API_SERVER_DECRYPTED).unwrap();
        let decryption = ks.spec.decryption.as_ref().unwrap();
        assert_eq!(decryption.provider, DecryptionProvider::Sops);
        assert_eq!(decryption.secret_ref, None);
        let again: Kustomization =
            serde_json::from_value(serde_json::to_value(&ks).unwrap()).unwrap();
        assert_eq!(again, ks);
    }

    #[test]
    fn full_status_round_trips_losslessly() {
        let status = json!({
            "observedGeneration": 4,
            "lastHandledReconcileAt": "2026-06-01T10:00:00.000000000Z",
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "reason": "ReconciliationSucceeded",
                "message": "Applied revision: main@sha1:132f4e71",
                "lastTransitionTime": "2026-06-01T10:00:05Z",
                "observedGeneration": 4,
            }],
            "lastAppliedRevision": "main@sha1:132f4e71",
            "lastAppliedOriginRevision": "v1.2.3@sha1:132f4e71",
            "lastAttemptedRevision": "main@sha1:132f4e71",
            "inventory": {"entries": [
                {"id": "_ns1__Namespace", "v": "v1"},
                {"id": "default_podinfo_apps_Deployment", "v": "v1"},
            ]},
            "history": [{
                "digest": "sha256:4a3b",
                "firstReconciled": "2026-06-01T09:00:00Z",
                "lastReconciled": "2026-06-01T10:00:05Z",
                "lastReconciledDuration": "1.5s",
                "lastReconciledStatus": "ReconciliationSucceeded",
                "totalReconciliations": 7,
                "metadata": {"revision": "main@sha1:132f4e71"},
            }],
        });
        let parsed: KustomizationStatus = serde_json::from_value(status.clone()).unwrap();
        let inventory = parsed.inventory.as_ref().unwrap();
        assert_eq!(inventory.entries[1].id, "default_podinfo_apps_Deployment");
        assert_eq!(parsed.history.as_ref().unwrap()[0].total_reconciliations, 7);
        assert_eq!(serde_json::to_value(&parsed).unwrap(), status);
    }

    #[test]
    fn prune_is_required() {
        let missing = json!({
            "interval": "5m",
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
        });
        assert!(serde_json::from_value::<KustomizationSpec>(missing).is_err());
    }

    #[test]
    fn crd_matches_upstream() {
        let crd = crd();
        assert_eq!(crd.spec.group, GROUP);
        assert_eq!(crd.spec.names.kind, "Kustomization");
        assert_eq!(
            crd.spec.names.short_names.as_deref(),
            Some(&["ks".to_string()][..])
        );
        assert_eq!(
            crd.spec.names.categories.clone().unwrap_or_default(),
            ["all", "fluxcd", "fluxcd-appliers"]
        );
        let versions: Vec<_> = crd
            .spec
            .versions
            .iter()
            .map(|v| (v.name.as_str(), v.served, v.storage))
            .collect();
        assert_eq!(versions, [("v1", true, true)]);
        let version = &crd.spec.versions[0];
        let columns: Vec<_> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| (c.name.as_str(), c.json_path.as_str()))
            .collect();
        assert_eq!(
            columns,
            [
                ("Age", ".metadata.creationTimestamp"),
                ("Ready", r#".status.conditions[?(@.type=="Ready")].status"#),
                (
                    "Status",
                    r#".status.conditions[?(@.type=="Ready")].message"#
                ),
            ]
        );

        let root = version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .unwrap();
        let mut required = property(root, &["spec"])
            .required
            .clone()
            .unwrap_or_default();
        required.sort();
        assert_eq!(required, ["interval", "prune", "sourceRef"]);
        assert_eq!(
            enum_values(property(root, &["spec", "sourceRef", "kind"])),
            [
                "OCIRepository",
                "GitRepository",
                "Bucket",
                "ExternalArtifact"
            ]
        );
        assert_eq!(
            enum_values(property(root, &["spec", "deletionPolicy"])),
            ["MirrorPrune", "Delete", "WaitForTermination", "Orphan"]
        );
        assert_eq!(
            enum_values(property(root, &["spec", "postBuild", "substituteStrategy"])),
            ["WithVariables", "Always"]
        );
        assert_eq!(
            enum_values(items(property(root, &["spec", "buildMetadata"]))),
            ["originAnnotations", "transformerAnnotations"]
        );
        assert_eq!(
            enum_values(property(root, &["spec", "decryption", "provider"])),
            ["sops"]
        );
        for (field, max) in [
            ("namePrefix", 200),
            ("nameSuffix", 200),
            ("targetNamespace", 63),
        ] {
            let schema = property(root, &["spec", field]);
            assert_eq!(
                (schema.min_length, schema.max_length),
                (Some(1), Some(max)),
                "{field}"
            );
        }
        let substitute_from = property(root, &["spec", "postBuild", "substituteFrom", "name"]);
        assert_eq!(
            (substitute_from.min_length, substitute_from.max_length),
            (Some(1), Some(253))
        );
        assert_eq!(
            property(root, &["spec", "force"])
                .default
                .as_ref()
                .unwrap()
                .0,
            false
        );
        let inventory = property(root, &["status", "inventory", "entries", "v"]);
        assert_eq!(inventory.type_.as_deref(), Some("string"));
    }

    #[test]
    fn installed_crd_defaults_observed_generation() {
        let installed = crate::crds::all()
            .into_iter()
            .find(|c| c.spec.group == GROUP)
            .expect("crds::all() installs the Kustomization CRD");
        let root = installed.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .unwrap();
        let default = property(root, &["status"]).default.as_ref().map(|d| &d.0);
        assert_eq!(default, Some(&json!({"observedGeneration": -1})));
    }
}
