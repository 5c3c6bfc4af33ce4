//! `source.toolkit.fluxcd.io`: where manifests and charts come from.

mod bucket;
mod git_repository;
mod helm_chart;
mod helm_repository;
mod oci;
pub mod oci_repository;

pub use bucket::*;
pub use git_repository::*;
pub use helm_chart::*;
pub use helm_repository::*;
pub use oci::*;
pub use oci_repository::v1::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of every source kind.
pub const GROUP: &str = "source.toolkit.fluxcd.io";

/// The CRDs of this group, one per kind.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        GitRepository::crd(),
        oci_repository::crd(),
        HelmRepository::crd(),
        HelmChart::crd(),
        Bucket::crd(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
    use serde_json::Value;

    /// The GitRepository of `/work/shared/seeds/flux-manifests.yaml`, verbatim.
    const SEED_GIT_REPOSITORY: &str = r#"
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: platform-repo
  namespace: flux-system
spec:
  interval: 1m
  url: https://github.com/myorg/platform-config
  ref:
    branch: main
  secretRef:
    name: git-credentials
  ignore: |
    # exclude all
    /*
    # include deploy dir
    !/deploy
"#;

    fn crd(kind: &str) -> CustomResourceDefinition {
        crds()
            .into_iter()
            .find(|crd| crd.spec.names.kind == kind)
            .unwrap_or_else(|| panic!("no CRD for {kind}"))
    }

    fn column_names(crd: &CustomResourceDefinition, version: &str) -> Vec<String> {
        let version = crd
            .spec
            .versions
            .iter()
            .find(|v| v.name == version)
            .expect("version exists");
        version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.clone())
            .collect()
    }

    fn schema<'a>(crd: &'a CustomResourceDefinition, version: &str) -> &'a JSONSchemaProps {
        crd.spec
            .versions
            .iter()
            .find(|v| v.name == version)
            .and_then(|v| v.schema.as_ref())
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("version has a schema")
    }

    fn property<'a>(schema: &'a JSONSchemaProps, path: &[&str]) -> &'a JSONSchemaProps {
        path.iter().fold(schema, |s, name| {
            s.properties
                .as_ref()
                .and_then(|p| p.get(*name))
                .unwrap_or_else(|| panic!("no property {name} in {path:?}"))
        })
    }

    /// Asserts what every source CRD shares with upstream and returns its only
    /// or storage version's printer columns.
    fn assert_source_crd(kind: &str, short_names: &[&str]) -> Vec<String> {
        let crd = crd(kind);
        assert_eq!(crd.spec.group, GROUP);
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(
            crd.spec.names.short_names.clone().unwrap_or_default(),
            short_names
        );
        let mut categories = crd.spec.names.categories.clone().unwrap_or_default();
        categories.sort();
        assert_eq!(categories, ["all", "fluxcd", "fluxcd-sources"]);
        let storage: Vec<_> = crd
            .spec
            .versions
            .iter()
            .filter(|v| v.storage)
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(storage, ["v1"], "{kind} stores v1");
        column_names(&crd, "v1")
    }

    #[test]
    fn seed_git_repository_deserializes() {
        let repo: GitRepository = serde_yaml_ng::from_str(SEED_GIT_REPOSITORY).unwrap();
        assert_eq!(repo.metadata.name.as_deref(), Some("platform-repo"));
        assert_eq!(repo.spec.url, "https://github.com/myorg/platform-config");
        assert_eq!(repo.spec.interval, "1m");
        let reference = repo.spec.r#ref.as_ref().unwrap();
        assert_eq!(reference.branch.as_deref(), Some("main"));
        assert_eq!(
            repo.spec.secret_ref.as_ref().unwrap().name,
            "git-credentials"
        );
        assert_eq!(
            repo.spec.ignore.as_deref(),
            Some("# exclude all\n/*\n# include deploy dir\n!/deploy\n")
        );
    }

    #[test]
    fn seed_git_repository_round_trips_losslessly() {
        let original: Value = serde_yaml_ng::from_str(SEED_GIT_REPOSITORY).unwrap();
        let repo: GitRepository = serde_json::from_value(original.clone()).unwrap();
        let serialized = serde_json::to_value(&repo).unwrap();
        assert_eq!(serialized, original, "no field may be dropped or added");
        let again: GitRepository = serde_json::from_value(serialized).unwrap();
        assert_eq!(again, repo);
    }

    #[test]
    fn every_source_kind_is_served() {
        let kinds: Vec<_> = crds().into_iter().map(|c| c.spec.names.kind).collect();
        assert_eq!(
            kinds,
            [
                "GitRepository",
                "OCIRepository",
                "HelmRepository",
                "HelmChart",
                "Bucket"
            ]
        );
    }

    #[test]
    fn oci_repository_crd_matches_upstream() {
        let columns = assert_source_crd("OCIRepository", &["ocirepo"]);
        assert_eq!(columns, ["URL", "Ready", "Status", "Age"]);

        let crd = crd("OCIRepository");
        let served: Vec<_> = crd
            .spec
            .versions
            .iter()
            .filter(|v| v.served)
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(served, ["v1", "v1beta2"]);
        let v1beta2 = crd
            .spec
            .versions
            .iter()
            .find(|v| v.name == "v1beta2")
            .unwrap();
        assert_eq!(v1beta2.deprecated, Some(true));
        assert_eq!(column_names(&crd, "v1beta2"), columns);

        let v1 = schema(&crd, "v1");
        let beta = schema(&crd, "v1beta2");
        let without_description = |s: &JSONSchemaProps| JSONSchemaProps {
            description: None,
            ..s.clone()
        };
        assert_eq!(
            without_description(property(v1, &["spec"])),
            without_description(property(beta, &["spec"]))
        );
        let mut beta_status = property(beta, &["status"]).clone();
        let checksum = beta_status
            .properties
            .as_mut()
            .unwrap()
            .remove("contentConfigChecksum");
        assert!(checksum.is_some(), "v1beta2 keeps contentConfigChecksum");
        let v1_status = property(v1, &["status"]);
        assert_eq!(beta_status.properties, v1_status.properties);
        assert!(
            v1_status
                .properties
                .as_ref()
                .unwrap()
                .get("contentConfigChecksum")
                .is_none()
        );

        let url = property(v1, &["spec", "url"]);
        assert_eq!(url.pattern.as_deref(), Some("^oci://.*$"));
        let timeout = property(v1, &["spec", "timeout"]);
        assert_eq!(timeout.default.as_ref().unwrap().0, "60s");
        let provider = property(v1, &["spec", "provider"]);
        assert_eq!(provider.default.as_ref().unwrap().0, "generic");
        let verify_provider = property(v1, &["spec", "verify", "provider"]);
        assert_eq!(verify_provider.default.as_ref().unwrap().0, "cosign");
        let operation = property(v1, &["spec", "layerSelector", "operation"]);
        let operations: Vec<_> = operation
            .enum_
            .iter()
            .flatten()
            .map(|v| v.0.clone())
            .collect();
        assert_eq!(operations, ["extract", "copy"]);
    }

    #[test]
    fn oci_repository_v1beta2_status_reads_the_deprecated_checksum() {
        let status: oci_repository::v1beta2::OCIRepositoryStatus =
            serde_json::from_value(serde_json::json!({
                "observedGeneration": 3,
                "url": "http://source-controller/ocirepository/ns/name/latest.tar.gz",
                "contentConfigChecksum": "sha256:abc",
            }))
            .unwrap();
        assert_eq!(status.v1.observed_generation, Some(3));
        assert_eq!(
            status.content_config_checksum.as_deref(),
            Some("sha256:abc")
        );
    }

    #[test]
    fn helm_repository_crd_matches_upstream() {
        let columns = assert_source_crd("HelmRepository", &["helmrepo"]);
        assert_eq!(columns, ["URL", "Age", "Ready", "Status"]);
        let crd = crd("HelmRepository");
        let spec = schema(&crd, "v1");
        let required = property(spec, &["spec"])
            .required
            .clone()
            .unwrap_or_default();
        assert_eq!(required, ["url"], "interval is optional for HelmRepository");
        let types: Vec<_> = property(spec, &["spec", "type"])
            .enum_
            .iter()
            .flatten()
            .map(|v| v.0.clone())
            .collect();
        assert_eq!(types, ["default", "oci"]);
        let selectors = property(spec, &["spec", "accessFrom"]);
        assert_eq!(
            selectors.required.clone().unwrap_or_default(),
            ["namespaceSelectors"]
        );
    }

    #[test]
    fn helm_chart_crd_matches_upstream() {
        let columns = assert_source_crd("HelmChart", &["hc"]);
        assert_eq!(
            columns,
            [
                "Chart",
                "Version",
                "Source Kind",
                "Source Name",
                "Age",
                "Ready",
                "Status"
            ]
        );
        let crd = crd("HelmChart");
        let v1 = schema(&crd, "v1");
        let mut required = property(v1, &["spec"]).required.clone().unwrap_or_default();
        required.sort();
        assert_eq!(required, ["chart", "interval", "sourceRef"]);
        assert_eq!(
            property(v1, &["spec", "version"])
                .default
                .as_ref()
                .unwrap()
                .0,
            "*"
        );
        let strategy = property(v1, &["spec", "reconcileStrategy"]);
        assert_eq!(strategy.default.as_ref().unwrap().0, "ChartVersion");
        let kinds: Vec<_> = property(v1, &["spec", "sourceRef", "kind"])
            .enum_
            .iter()
            .flatten()
            .map(|v| v.0.clone())
            .collect();
        assert_eq!(kinds, ["HelmRepository", "GitRepository", "Bucket"]);
    }

    #[test]
    fn bucket_crd_matches_upstream() {
        let columns = assert_source_crd("Bucket", &[]);
        assert_eq!(columns, ["Endpoint", "Age", "Ready", "Status"]);
        let crd = crd("Bucket");
        let v1 = schema(&crd, "v1");
        let providers: Vec<_> = property(v1, &["spec", "provider"])
            .enum_
            .iter()
            .flatten()
            .map(|v| v.0.clone())
            .collect();
        assert_eq!(providers, ["generic", "aws", "gcp", "azure"]);
        let sts_endpoint = property(v1, &["spec", "sts", "endpoint"]);
        assert_eq!(sts_endpoint.pattern.as_deref(), Some("^(http|https)://.*$"));
        assert_eq!(
            property(v1, &["spec", "timeout"])
                .default
                .as_ref()
                .unwrap()
                .0,
            "60s"
        );
    }

    #[test]
    fn git_repository_crd_matches_upstream() {
        let columns = assert_source_crd("GitRepository", &["gitrepo"]);
        assert_eq!(columns, ["URL", "Age", "Ready", "Status"]);
    }
}
