//! `helm.toolkit.fluxcd.io`: Helm releases reconciled by the helm-controller.

mod actions;
mod helm_release;
mod status;

pub use actions::*;
pub use helm_release::*;
pub use status::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of the HelmRelease kind.
pub const GROUP: &str = "helm.toolkit.fluxcd.io";

/// The CRDs of this group, one per kind.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![HelmRelease::crd()]
}

#[cfg(test)]
mod tests {
    use kube::Resource;
    use serde_json::{Value, json};

    use super::*;
    use crate::meta::FluxObject;

    /// The HelmRelease of the seed manifests, verbatim.
    const SEED: &str = r#"
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: redis
  namespace: production
spec:
  interval: 10m
  chart:
    spec:
      chart: redis
      version: "18.x"
      sourceRef:
        kind: HelmRepository
        name: bitnami
        namespace: flux-system
  values:
    architecture: replication
    auth:
      enabled: true
      existingSecret: redis-auth
    replica:
      replicaCount: 3
      resources:
        requests:
          cpu: 250m
          memory: 256Mi
        limits:
          cpu: "1"
          memory: 1Gi
  valuesFrom:
    - kind: ConfigMap
      name: redis-values
      valuesKey: values.yaml
  upgrade:
    remediation:
      retries: 3
  rollback:
    cleanupOnFail: true
"#;

    fn seed_value() -> Value {
        serde_yaml_ng::from_str(SEED).expect("seed is YAML")
    }

    #[test]
    fn seed_deserializes() {
        let hr: HelmRelease = serde_yaml_ng::from_str(SEED).expect("seed is a HelmRelease");
        let doc = seed_value();
        assert_eq!(doc["apiVersion"], HelmRelease::api_version(&()).as_ref());
        assert_eq!(doc["kind"], HelmRelease::kind(&()).as_ref());

        let chart = hr.spec.chart.as_ref().expect("chart template");
        assert_eq!(chart.spec.chart, "redis");
        assert_eq!(chart.spec.version.as_deref(), Some("18.x"));
        assert_eq!(
            chart.spec.source_ref.kind,
            HelmChartSourceKind::HelmRepository
        );
        assert_eq!(
            chart.spec.source_ref.namespace.as_deref(),
            Some("flux-system")
        );
        assert_eq!(
            hr.spec.values.as_ref().expect("values")["replica"]["replicaCount"],
            3
        );
        let values_from = hr.spec.values_from.as_deref().expect("valuesFrom");
        assert_eq!(values_from[0].kind, ValuesKind::ConfigMap);
        assert_eq!(values_from[0].values_key.as_deref(), Some("values.yaml"));
        let remediation = hr
            .spec
            .upgrade
            .as_ref()
            .and_then(|u| u.remediation.as_ref());
        assert_eq!(remediation.and_then(|r| r.retries), Some(3));
        assert_eq!(
            hr.spec.rollback.as_ref().and_then(|r| r.cleanup_on_fail),
            Some(true)
        );
        assert_eq!(hr.interval(), Some("10m"));
        assert!(!hr.suspended());
    }

    #[test]
    fn seed_round_trips_without_loss() {
        let hr: HelmRelease = serde_yaml_ng::from_str(SEED).expect("seed is a HelmRelease");
        assert_eq!(serde_json::to_value(&hr).expect("serializes"), seed_value());
    }

    #[test]
    fn full_object_round_trips() {
        let doc = json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": { "name": "podinfo", "namespace": "apps" },
            "spec": {
                "chartRef": { "kind": "OCIRepository", "name": "podinfo", "namespace": "flux-system" },
                "interval": "5m",
                "kubeConfig": { "secretRef": { "name": "kubeconfig", "key": "value" } },
                "suspend": false,
                "releaseName": "podinfo",
                "targetNamespace": "apps",
                "storageNamespace": "apps",
                "dependsOn": [{ "name": "cert-manager", "namespace": "infra", "readyExpr": "dep.status.ready" }],
                "timeout": "5m0s",
                "maxHistory": 0,
                "serviceAccountName": "deployer",
                "persistentClient": true,
                "driftDetection": {
                    "mode": "enabled",
                    "ignore": [{ "paths": ["/spec/replicas"], "target": { "kind": "Deployment" } }]
                },
                "install": {
                    "timeout": "10m",
                    "remediation": { "retries": -1, "ignoreTestFailures": true, "remediateLastFailure": false },
                    "strategy": { "name": "RetryOnFailure", "retryInterval": "2m" },
                    "disableTakeOwnership": true,
                    "disableWait": true,
                    "disableWaitForJobs": true,
                    "disableHooks": true,
                    "disableOpenAPIValidation": true,
                    "disableSchemaValidation": true,
                    "replace": true,
                    "skipCRDs": true,
                    "crds": "CreateReplace",
                    "createNamespace": true,
                    "serverSideApply": false
                },
                "upgrade": {
                    "remediation": { "retries": 2, "remediateLastFailure": true, "strategy": "uninstall" },
                    "strategy": { "name": "RemediateOnFailure" },
                    "disableOpenAPIValidation": true,
                    "force": true,
                    "preserveValues": true,
                    "cleanupOnFail": true,
                    "crds": "Skip",
                    "serverSideApply": "auto",
                    "chartNameChangeStrategy": "InPlaceUpdate"
                },
                "test": {
                    "enable": true,
                    "ignoreFailures": false,
                    "filters": [{ "name": "smoke", "exclude": true }]
                },
                "rollback": { "recreate": true, "force": true, "serverSideApply": "disabled" },
                "uninstall": { "keepHistory": true, "deletionPropagation": "orphan" },
                "values": { "replicaCount": 2, "list": [1, "two", null] },
                "postRenderers": [{ "kustomize": {
                    "patches": [{ "patch": "- op: remove\n  path: /spec/replicas", "target": { "kind": "Deployment" } }],
                    "images": [{ "name": "podinfo", "newTag": "6.5.0" }]
                } }],
                "postRenderStrategy": "separate",
                "commonMetadata": { "labels": { "team": "a" } },
                "waitStrategy": { "name": "legacy" },
                "healthCheckExprs": [{ "apiVersion": "example.com/v1", "kind": "Thing", "current": "true" }]
            },
            "status": {
                "observedGeneration": 2,
                "observedPostRenderersDigest": "sha256:aa",
                "observedCommonMetadataDigest": "sha256:bb",
                "lastAttemptedGeneration": 2,
                "conditions": [{
                    "type": "Ready", "status": "True", "reason": "UpgradeSucceeded",
                    "message": "Helm upgrade succeeded", "lastTransitionTime": "2024-01-01T00:00:00Z"
                }],
                "helmChart": "flux-system/apps-podinfo",
                "storageNamespace": "apps",
                "history": [{
                    "apiVersion": "v2",
                    "digest": "sha256:cc",
                    "name": "podinfo",
                    "namespace": "apps",
                    "version": 2,
                    "status": "deployed",
                    "action": "upgrade",
                    "chartName": "podinfo",
                    "chartVersion": "6.5.0",
                    "appVersion": "6.5.0",
                    "configDigest": "sha256:dd",
                    "firstDeployed": "2024-01-01T00:00:00Z",
                    "lastDeployed": "2024-01-02T00:00:00Z",
                    "testHooks": { "podinfo-smoke": {
                        "lastStarted": "2024-01-02T00:00:00Z",
                        "lastCompleted": "2024-01-02T00:01:00Z",
                        "phase": "Succeeded"
                    } },
                    "ociDigest": "sha256:ee"
                }],
                "inventory": { "entries": [{ "id": "apps_podinfo_apps_Deployment", "v": "v1" }] },
                "lastAttemptedReleaseAction": "upgrade",
                "lastAttemptedReleaseActionDuration": "12s",
                "failures": 1,
                "installFailures": 0,
                "upgradeFailures": 1,
                "lastAttemptedRevision": "6.5.0+ee",
                "lastAttemptedRevisionDigest": "sha256:ee",
                "lastAttemptedValuesChecksum": "da39a3ee",
                "lastReleaseRevision": 2,
                "lastAttemptedConfigDigest": "sha256:dd",
                "lastHandledReconcileAt": "1",
                "lastHandledForceAt": "2",
                "lastHandledResetAt": "3"
            }
        });
        let hr: HelmRelease = serde_json::from_value(doc.clone()).expect("a HelmRelease");
        assert_eq!(serde_json::to_value(&hr).expect("serializes"), doc);
    }

    #[test]
    fn crd_names_columns_and_version() {
        let crd = HelmRelease::crd();
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("helmreleases.helm.toolkit.fluxcd.io")
        );
        assert_eq!(crd.spec.group, GROUP);
        assert_eq!(crd.spec.names.short_names, Some(vec!["hr".to_string()]));
        let mut categories = crd.spec.names.categories.clone().unwrap_or_default();
        categories.sort();
        assert_eq!(categories, ["all", "fluxcd", "fluxcd-appliers"]);

        let [version] = crd.spec.versions.as_slice() else {
            panic!("HelmRelease has exactly one version");
        };
        assert_eq!(version.name, "v2");
        assert!(version.served && version.storage);
        let columns: Vec<_> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(columns, ["Age", "Ready", "Status"]);
    }

    #[test]
    fn crd_schema_keeps_values_and_validates_chart_choice() {
        let crd = serde_json::to_value(HelmRelease::crd()).expect("CRD serializes");
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(
            spec["properties"]["values"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert_eq!(
            spec["x-kubernetes-validations"][0]["message"],
            "either chart or chartRef must be set"
        );
        assert_eq!(spec["required"], json!(["interval"]));
        let chart_spec = &spec["properties"]["chart"]["properties"]["spec"]["properties"];
        assert_eq!(chart_spec["version"]["default"], "*");
        assert_eq!(chart_spec["reconcileStrategy"]["default"], "ChartVersion");
        assert_eq!(
            spec["properties"]["uninstall"]["properties"]["deletionPropagation"]["default"],
            "background"
        );
        assert_eq!(
            spec["properties"]["chartRef"]["properties"]["kind"]["enum"],
            json!(["OCIRepository", "HelmChart", "ExternalArtifact"])
        );
    }
}
