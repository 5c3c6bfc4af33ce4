//! `notification.toolkit.fluxcd.io`: event forwarding (Provider, Alert) and
//! incoming webhooks (Receiver) of the notification-controller.

mod alert;
mod provider;
mod receiver;
mod reference;

pub use alert::*;
pub use provider::*;
pub use receiver::*;
pub use reference::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of every notification kind.
pub const GROUP: &str = "notification.toolkit.fluxcd.io";

/// The CRDs of this group, one per kind.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![Provider::crd(), Alert::crd(), Receiver::crd()]
}

#[cfg(test)]
mod tests {
    use kube::Resource;
    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};

    use super::*;
    use crate::meta::FluxObject;

    /// The Provider of the seed manifests, verbatim.
    const SEED_PROVIDER: &str = r#"
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata:
  name: slack
  namespace: flux-system
spec:
  type: slack
  channel: deployments
  secretRef:
    name: slack-webhook
"#;

    /// The Alert of the seed manifests, verbatim.
    const SEED_ALERT: &str = r#"
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: deployment-alerts
  namespace: flux-system
spec:
  providerRef:
    name: slack
  eventSeverity: error
  eventSources:
    - kind: Kustomization
      name: "*"
    - kind: HelmRelease
      name: "*"
  exclusionList:
    - ".*upgrade.*retries exhausted.*"
  summary: "Flux deployment issue detected"
"#;

    /// Parses a manifest into `K`, checking it is written for `K`'s
    /// apiVersion and kind, and that serializing it back loses nothing.
    fn parse_lossless<K>(yaml: &str) -> K
    where
        K: Resource<DynamicType = ()> + DeserializeOwned + serde::Serialize,
    {
        let doc: Value = serde_yaml_ng::from_str(yaml).expect("manifest is YAML");
        assert_eq!(doc["apiVersion"], K::api_version(&()).as_ref());
        assert_eq!(doc["kind"], K::kind(&()).as_ref());
        let object: K = serde_json::from_value(doc.clone()).expect("manifest matches the type");
        assert_eq!(serde_json::to_value(&object).expect("serializes"), doc);
        object
    }

    #[test]
    fn seed_provider() {
        let provider: Provider = parse_lossless(SEED_PROVIDER);
        assert_eq!(provider.spec.r#type, ProviderType::Slack);
        assert_eq!(provider.spec.channel.as_deref(), Some("deployments"));
        assert_eq!(
            provider.spec.secret_ref.as_ref().map(|s| s.name.as_str()),
            Some("slack-webhook")
        );
        assert!(!provider.suspended());
    }

    #[test]
    fn seed_alert() {
        let alert: Alert = parse_lossless(SEED_ALERT);
        assert_eq!(alert.spec.provider_ref.name, "slack");
        assert_eq!(alert.spec.event_severity, Some(EventSeverity::Error));
        let kinds: Vec<_> = alert
            .spec
            .event_sources
            .iter()
            .map(|s| (s.kind, s.name.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [(FluxKind::Kustomization, "*"), (FluxKind::HelmRelease, "*")]
        );
        assert_eq!(
            alert.spec.summary.as_deref(),
            Some("Flux deployment issue detected")
        );
    }

    #[test]
    fn provider_types_use_flux_spelling() {
        for (ty, name) in [
            (ProviderType::GenericHmac, "generic-hmac"),
            (ProviderType::MsTeams, "msteams"),
            (ProviderType::AzureDevOps, "azuredevops"),
            (
                ProviderType::GitlabMergeRequestComment,
                "gitlabmergerequestcomment",
            ),
            (ProviderType::IncidentIo, "incident.io"),
        ] {
            assert_eq!(serde_json::to_value(ty).expect("serializes"), name);
        }
        for (ty, name) in [
            (ReceiverType::GenericOidc, "generic-oidc"),
            (ReceiverType::DockerHub, "dockerhub"),
            (ReceiverType::CdEvents, "cdevents"),
        ] {
            assert_eq!(serde_json::to_value(ty).expect("serializes"), name);
        }
        assert_eq!(
            serde_json::to_value(FluxKind::OciRepository).expect("serializes"),
            "OCIRepository"
        );
    }

    #[test]
    fn receiver_round_trips() {
        let doc = json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1",
            "kind": "Receiver",
            "metadata": { "name": "github", "namespace": "flux-system" },
            "spec": {
                "type": "github",
                "interval": "10m",
                "events": ["ping", "push"],
                "resources": [
                    { "kind": "GitRepository", "name": "webapp" },
                    {
                        "apiVersion": "image.toolkit.fluxcd.io/v1",
                        "kind": "ImageRepository",
                        "name": "*",
                        "namespace": "apps",
                        "matchLabels": { "app": "web" },
                        "filter": "res.metadata.name != 'skip'"
                    }
                ],
                "resourceFilter": "true",
                "secretRef": { "name": "webhook-token" },
                "suspend": false
            },
            "status": {
                "observedGeneration": 1,
                "conditions": [{
                    "type": "Ready", "status": "True", "reason": "Succeeded",
                    "message": "Receiver initialized for path: /hook/abc",
                    "lastTransitionTime": "2024-01-01T00:00:00Z"
                }],
                "webhookPath": "/hook/abc",
                "lastHandledReconcileAt": "now"
            }
        });
        let receiver: Receiver = parse_lossless(&doc.to_string());
        assert_eq!(
            receiver.spec.resources[1].object.kind,
            FluxKind::ImageRepository
        );
        assert_eq!(receiver.interval(), Some("10m"));
        assert_eq!(receiver.conditions().len(), 1);

        let oidc = json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1",
            "kind": "Receiver",
            "metadata": { "name": "ci", "namespace": "flux-system" },
            "spec": {
                "type": "generic-oidc",
                "resources": [{ "kind": "Kustomization", "name": "apps" }],
                "oidcProviders": [{
                    "issuerURL": "https://token.actions.githubusercontent.com",
                    "audience": "flux",
                    "variables": [{ "name": "repo", "expression": "claims.repository" }],
                    "validations": [{ "expression": "variables.repo == 'org/app'", "message": "wrong repo" }]
                }]
            }
        });
        let receiver: Receiver = parse_lossless(&oidc.to_string());
        assert_eq!(receiver.spec.r#type, ReceiverType::GenericOidc);
        assert!(receiver.spec.secret_ref.is_none());
    }

    /// The schema of `.spec` of the only version of a CRD.
    fn spec_schema(crd: &CustomResourceDefinition) -> Value {
        let crd = serde_json::to_value(crd).expect("CRD serializes");
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
    }

    #[test]
    fn crds_match_flux() {
        for crd in crds() {
            assert_eq!(crd.spec.group, GROUP);
            assert_eq!(crd.spec.names.short_names, None);
            let mut categories = crd.spec.names.categories.clone().unwrap_or_default();
            categories.sort();
            assert_eq!(categories, ["all", "fluxcd", "fluxcd-notifications"]);
            let [version] = crd.spec.versions.as_slice() else {
                panic!("{} has exactly one version", crd.spec.names.kind);
            };
            assert!(version.served && version.storage);
            let columns: Vec<_> = version
                .additional_printer_columns
                .iter()
                .flatten()
                .map(|c| c.name.as_str())
                .collect();
            let (expected_version, expected_columns, has_status): (_, &[&str], _) =
                match crd.spec.names.kind.as_str() {
                    "Provider" | "Alert" => ("v1beta3", &["Age"], false),
                    "Receiver" => ("v1", &["Age", "Ready", "Status"], true),
                    other => panic!("unexpected kind {other}"),
                };
            assert_eq!(version.name, expected_version);
            assert_eq!(columns, expected_columns);
            assert_eq!(version.subresources.is_some(), has_status);
        }

        let alert = spec_schema(&Alert::crd());
        assert_eq!(alert["properties"]["eventSeverity"]["default"], "info");
        assert_eq!(
            alert["properties"]["eventSeverity"]["enum"],
            json!(["info", "error"])
        );
        assert_eq!(alert["required"], json!(["eventSources", "providerRef"]));

        let provider = spec_schema(&Provider::crd());
        assert_eq!(provider["required"], json!(["type"]));
        assert_eq!(
            provider["properties"]["timeout"]["pattern"],
            crate::meta::TIMEOUT_PATTERN
        );
        assert!(provider["x-kubernetes-validations"][0]["rule"].is_string());

        let receiver = spec_schema(&Receiver::crd());
        assert_eq!(receiver["properties"]["interval"]["default"], "10m");
        assert_eq!(receiver["required"], json!(["resources", "type"]));
        let resource = &receiver["properties"]["resources"]["items"];
        assert_eq!(resource["required"], json!(["kind", "name"]));
        assert!(resource["properties"]["filter"].is_object());
        assert!(resource["properties"]["matchLabels"].is_object());
    }
}
