//! `image.toolkit.fluxcd.io`: image scanning (ImageRepository, ImagePolicy)
//! and image update automation (ImageUpdateAutomation).
//!
//! Every kind is served as `v1` (storage) and `v1beta2`. The CRDs have no
//! conversion webhook: the apiserver converts by rewriting `apiVersion` and
//! prunes the fields the requested version's schema lacks. So that no field is
//! lost between versions, both versions of a kind share one schema, the union
//! of upstream's two: v1 keeps the v1beta2 ImagePolicy strings `latestImage`
//! and `observedPreviousImage` (written for v1beta2 readers), and v1beta2 gets
//! v1's additions such as the commit `signingKey.type`.

pub mod v1;
pub mod v1beta2;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of every image kind.
pub const GROUP: &str = "image.toolkit.fluxcd.io";

/// Version stored by the apiserver.
pub const STORAGE_VERSION: &str = "v1";

/// The CRDs of this group, one per kind, each serving v1 and v1beta2.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        crate::crds::merge(
            vec![v1::ImageRepository::crd(), v1beta2::ImageRepository::crd()],
            STORAGE_VERSION,
        ),
        crate::crds::merge(
            vec![v1::ImagePolicy::crd(), v1beta2::ImagePolicy::crd()],
            STORAGE_VERSION,
        ),
        crate::crds::merge(
            vec![
                v1::ImageUpdateAutomation::crd(),
                v1beta2::ImageUpdateAutomation::crd(),
            ],
            STORAGE_VERSION,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use kube::Resource;
    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};

    use super::*;
    use crate::meta::FluxObject;

    /// The ImageRepository of the seed manifests, verbatim.
    const SEED_REPOSITORY: &str = r#"
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata:
  name: api-server
  namespace: flux-system
spec:
  image: myregistry.com/api-server
  interval: 5m
  secretRef:
    name: registry-credentials
"#;

    /// The ImagePolicy of the seed manifests, verbatim.
    const SEED_POLICY: &str = r#"
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: api-server
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: api-server
  policy:
    semver:
      range: ">=1.0.0"
  filterTags:
    pattern: "^v(?P<version>[0-9]+\\.[0-9]+\\.[0-9]+)$"
    extract: "$version"
"#;

    /// The ImageUpdateAutomation of the seed manifests, verbatim.
    const SEED_AUTOMATION: &str = r#"
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageUpdateAutomation
metadata:
  name: auto-update
  namespace: flux-system
spec:
  interval: 5m
  sourceRef:
    kind: GitRepository
    name: platform-repo
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        name: flux-bot
        email: flux@myorg.com
      messageTemplate: |
        chore(image): update images

        Automated image update:
        {{range .Changed.Changes}}
        - {{.OldValue}} -> {{.NewValue}}
        {{end}}
    push:
      branch: main
  update:
    path: ./deploy
    strategy: Setters
"#;

    /// Parses a manifest into `K`, checking it is written for `K`'s
    /// apiVersion and kind, and that serializing it back loses nothing.
    fn parse_lossless<K>(manifest: &str) -> K
    where
        K: Resource<DynamicType = ()> + DeserializeOwned + serde::Serialize,
    {
        let doc: Value = serde_yaml_ng::from_str(manifest).expect("manifest is YAML");
        assert_eq!(doc["apiVersion"], K::api_version(&()).as_ref());
        assert_eq!(doc["kind"], K::kind(&()).as_ref());
        let object: K = serde_json::from_value(doc.clone()).expect("manifest matches the type");
        assert_eq!(serde_json::to_value(&object).expect("serializes"), doc);
        object
    }

    /// Rewrites `apiVersion` as the apiserver does when serving another
    /// version of an object.
    fn as_version(mut doc: Value, version: &str) -> Value {
        doc["apiVersion"] = json!(format!("{GROUP}/{version}"));
        doc
    }

    #[test]
    fn seed_image_repository() {
        let repo: v1beta2::ImageRepository = parse_lossless(SEED_REPOSITORY);
        assert_eq!(repo.spec.v1.image, "myregistry.com/api-server");
        assert_eq!(
            repo.spec.v1.secret_ref.as_ref().map(|s| s.name.as_str()),
            Some("registry-credentials")
        );

        let repo = v1::ImageRepository::from(repo);
        assert_eq!(repo.interval(), Some("5m"));
        let back = v1beta2::ImageRepository::from(repo.clone());
        assert_eq!(
            serde_json::to_value(&back).expect("serializes"),
            as_version(serde_json::to_value(&repo).expect("serializes"), "v1beta2")
        );
    }

    #[test]
    fn seed_image_policy() {
        let policy: v1beta2::ImagePolicy = parse_lossless(SEED_POLICY);
        let spec = &policy.spec.v1;
        assert_eq!(spec.image_repository_ref.name, "api-server");
        assert_eq!(
            spec.policy.semver.as_ref().map(|s| s.range.as_str()),
            Some(">=1.0.0")
        );
        let filter = spec.filter_tags.as_ref().expect("filterTags");
        assert_eq!(
            filter.pattern.as_deref(),
            Some(r"^v(?P<version>[0-9]+\.[0-9]+\.[0-9]+)$")
        );
        assert_eq!(filter.extract.as_deref(), Some("$version"));
        assert_eq!(v1::ImagePolicy::from(policy).interval(), None);
    }

    #[test]
    fn seed_image_update_automation() {
        let automation: v1beta2::ImageUpdateAutomation = parse_lossless(SEED_AUTOMATION);
        let spec = &automation.spec.v1;
        assert_eq!(
            spec.source_ref.kind,
            v1::AutomationSourceKind::GitRepository
        );
        let git = spec.git.as_ref().expect("git");
        let checkout = git.checkout.as_ref().expect("checkout");
        assert_eq!(checkout.reference.branch.as_deref(), Some("main"));
        assert_eq!(git.commit.author.email, "flux@myorg.com");
        assert!(
            git.commit
                .message_template
                .as_deref()
                .is_some_and(|t| t.contains("{{range .Changed.Changes}}"))
        );
        assert_eq!(
            git.push.as_ref().and_then(|p| p.branch.as_deref()),
            Some("main")
        );
        let update = spec.update.as_ref().expect("update");
        assert_eq!(update.strategy, Some(v1::UpdateStrategyName::Setters));
        assert_eq!(update.path.as_deref(), Some("./deploy"));
    }

    /// A v1beta2 ImagePolicy as written by an older controller, with both the
    /// deprecated strings and the structured references.
    fn v1beta2_policy_with_status() -> Value {
        json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1beta2",
            "kind": "ImagePolicy",
            "metadata": { "name": "podinfo", "namespace": "flux-system" },
            "spec": {
                "imageRepositoryRef": { "name": "podinfo", "namespace": "images" },
                "policy": { "alphabetical": { "order": "desc" } },
                "digestReflectionPolicy": "Always",
                "interval": "10m",
                "suspend": false
            },
            "status": {
                "latestImage": "ghcr.io/stefanprodan/podinfo:6.2.1@sha256:abc",
                "observedPreviousImage": "ghcr.io/stefanprodan/podinfo:6.0.0",
                "latestRef": { "name": "ghcr.io/stefanprodan/podinfo", "tag": "6.2.1", "digest": "sha256:abc" },
                "observedPreviousRef": { "name": "ghcr.io/stefanprodan/podinfo", "tag": "6.0.0" },
                "observedGeneration": 3,
                "conditions": [{
                    "type": "Ready", "status": "True", "reason": "Succeeded",
                    "message": "Latest image tag for ghcr.io/stefanprodan/podinfo resolved to 6.2.1",
                    "lastTransitionTime": "2024-01-01T00:00:00Z"
                }],
                "lastHandledReconcileAt": "1"
            }
        })
    }

    #[test]
    fn image_policy_status_survives_both_versions() {
        let v1beta2_doc = v1beta2_policy_with_status();
        let old: v1beta2::ImagePolicy = parse_lossless(&v1beta2_doc.to_string());

        // Stored as v1, read back as v1beta2: nothing may be dropped.
        let stored: v1::ImagePolicy =
            parse_lossless(&as_version(v1beta2_doc.clone(), "v1").to_string());
        let status = stored.status.as_ref().expect("status");
        assert_eq!(
            status.latest_image.as_deref(),
            Some("ghcr.io/stefanprodan/podinfo:6.2.1@sha256:abc")
        );
        assert_eq!(
            status.latest_ref.as_ref().map(ToString::to_string),
            status.latest_image
        );
        assert_eq!(v1beta2::ImagePolicy::from(stored), old);
    }

    #[test]
    fn image_update_automation_round_trips_in_both_versions() {
        let doc = json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImageUpdateAutomation",
            "metadata": { "name": "apps", "namespace": "flux-system" },
            "spec": {
                "sourceRef": { "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "name": "fleet", "namespace": "flux-system" },
                "git": {
                    "checkout": { "ref": { "branch": "main" } },
                    "commit": {
                        "author": { "email": "flux@example.com" },
                        "signingKey": { "secretRef": { "name": "ssh-signing" }, "type": "ssh" },
                        "messageTemplate": "{{ .Values.env }}",
                        "messageTemplateValues": { "env": "prod" }
                    },
                    "push": { "branch": "auto", "refspec": "refs/heads/auto:refs/heads/auto-pr", "options": { "ci.skip": "" } }
                },
                "interval": "30m",
                "policySelector": { "matchLabels": { "team": "a" } },
                "update": { "strategy": "Setters" },
                "suspend": true
            },
            "status": {
                "lastAutomationRunTime": "2024-01-01T00:00:00Z",
                "lastPushCommit": "0123456789abcdef0123456789abcdef01234567",
                "lastPushTime": "2024-01-01T00:00:00Z",
                "observedGeneration": 1,
                "observedPolicies": { "podinfo": { "name": "ghcr.io/stefanprodan/podinfo", "tag": "6.2.1" } },
                "observedSourceRevision": "main@sha1:0123456789abcdef0123456789abcdef01234567",
                "lastHandledReconcileAt": "1"
            }
        });
        let automation: v1::ImageUpdateAutomation = parse_lossless(&doc.to_string());
        assert!(automation.suspended());
        let _: v1beta2::ImageUpdateAutomation =
            parse_lossless(&as_version(doc, "v1beta2").to_string());
    }

    #[test]
    fn image_repository_round_trips_in_both_versions() {
        let doc = json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImageRepository",
            "metadata": { "name": "podinfo", "namespace": "images" },
            "spec": {
                "image": "ghcr.io/stefanprodan/podinfo",
                "interval": "1h",
                "timeout": "60s",
                "secretRef": { "name": "regcred" },
                "proxySecretRef": { "name": "proxy" },
                "serviceAccountName": "scanner",
                "certSecretRef": { "name": "tls" },
                "suspend": false,
                "accessFrom": { "namespaceSelectors": [{ "matchLabels": { "kubernetes.io/metadata.name": "flux-system" } }] },
                "exclusionList": ["^.*\\.sig$", "^sha-"],
                "provider": "gcp",
                "insecure": true
            },
            "status": {
                "observedGeneration": 2,
                "canonicalImageName": "ghcr.io/stefanprodan/podinfo",
                "lastScanResult": { "revision": "sha256:f00", "tagCount": 42, "scanTime": "2024-01-01T00:00:00Z", "latestTags": ["6.2.1", "6.2.0"] },
                "observedExclusionList": ["^.*\\.sig$"],
                "lastHandledReconcileAt": "1"
            }
        });
        let _: v1::ImageRepository = parse_lossless(&doc.to_string());
        let _: v1beta2::ImageRepository = parse_lossless(&as_version(doc, "v1beta2").to_string());
    }

    /// A schema with its (version-specific) descriptions removed.
    fn without_descriptions(mut schema: Value) -> Value {
        match &mut schema {
            Value::Object(map) => {
                map.remove("description");
                for value in map.values_mut() {
                    *value = without_descriptions(value.take());
                }
            }
            Value::Array(items) => {
                for item in items {
                    *item = without_descriptions(item.take());
                }
            }
            _ => {}
        }
        schema
    }

    #[test]
    fn crds_serve_both_versions_with_one_schema() {
        let crds = crds();
        let expected = [
            (
                "imagerepositories",
                vec!["imgrepo", "imagerepo"],
                vec!["Image", "Tags", "Ready", "Status", "Last scan", "Age"],
            ),
            (
                "imagepolicies",
                vec!["imgpol", "imagepol"],
                vec!["Image", "Tag", "Ready", "Status", "Age"],
            ),
            (
                "imageupdateautomations",
                vec!["iua", "imgupd", "imgauto"],
                vec!["Ready", "Status", "Last run", "Age"],
            ),
        ];
        assert_eq!(crds.len(), expected.len());
        for (crd, (plural, short_names, columns)) in crds.iter().zip(expected) {
            assert_eq!(crd.spec.group, GROUP);
            assert_eq!(crd.spec.names.plural, plural);
            assert_eq!(
                crd.spec.names.short_names.as_deref().unwrap_or_default(),
                short_names
            );
            let mut categories = crd.spec.names.categories.clone().unwrap_or_default();
            categories.sort();
            assert_eq!(categories, ["all", "fluxcd", "fluxcd-images"]);

            let versions: Vec<_> = crd
                .spec
                .versions
                .iter()
                .map(|v| (v.name.as_str(), v.served, v.storage))
                .collect();
            assert_eq!(
                versions,
                [("v1", true, true), ("v1beta2", true, false)],
                "{plural}"
            );
            for version in &crd.spec.versions {
                let names: Vec<_> = version
                    .additional_printer_columns
                    .iter()
                    .flatten()
                    .map(|c| c.name.as_str())
                    .collect();
                assert_eq!(names, columns, "{plural} {}", version.name);
                assert!(
                    version
                        .subresources
                        .as_ref()
                        .and_then(|s| s.status.as_ref())
                        .is_some()
                );
            }
            let [stored, served] = crd.spec.versions.as_slice() else {
                panic!("{plural} has two versions");
            };
            assert_eq!(
                without_descriptions(
                    serde_json::to_value(&stored.schema).expect("schema serializes")
                ),
                without_descriptions(
                    serde_json::to_value(&served.schema).expect("schema serializes")
                ),
                "{plural}: v1 and v1beta2 must accept and keep the same fields"
            );
            assert_eq!(served.deprecated, Some(true));
        }
    }

    #[test]
    fn crd_schemas_carry_upstream_defaults_and_rules() {
        let crds = serde_json::to_value(crds()).expect("CRDs serialize");
        let spec = |i: usize| {
            crds[i]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
                .clone()
        };

        let repository = spec(0);
        assert_eq!(
            repository["properties"]["exclusionList"]["default"],
            json!([r"^.*\.sig$"])
        );
        assert_eq!(repository["properties"]["exclusionList"]["maxItems"], 25);
        assert_eq!(repository["properties"]["provider"]["default"], "generic");
        assert_eq!(repository["required"], json!(["image", "interval"]));

        let policy = spec(1);
        assert_eq!(
            policy["properties"]["digestReflectionPolicy"]["default"],
            "Never"
        );
        assert_eq!(
            policy["x-kubernetes-validations"].as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(policy["required"], json!(["imageRepositoryRef", "policy"]));

        let automation = spec(2);
        assert_eq!(
            automation["properties"]["update"]["default"],
            json!({ "strategy": "Setters" })
        );
        assert_eq!(
            automation["properties"]["sourceRef"]["properties"]["kind"]["default"],
            "GitRepository"
        );
        let signing =
            &automation["properties"]["git"]["properties"]["commit"]["properties"]["signingKey"];
        assert_eq!(signing["properties"]["type"]["enum"], json!(["gpg", "ssh"]));
    }
}
