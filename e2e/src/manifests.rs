//! Putting manifests into a test cluster: our CRDs, and arbitrary multi-document
//! YAML applied the way a user's `kubectl apply --server-side` would.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::pinned_kind;
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, ResourceExt};

use crate::{Error, Result};

/// Field manager for everything the test harness applies.
const FIELD_MANAGER: &str = "fluxrs-e2e";

/// How long a CRD may take to become Established.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);

/// Applies every flux-rs CRD (server-side) and waits until each is Established,
/// so objects of our kinds can be created right after.
pub async fn install_crds(client: &Client) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let crds = fluxrs_api::crds::all();
    for crd in &crds {
        api.patch(&crd.name_any(), &params, &Patch::Apply(crd))
            .await?;
    }
    for crd in &crds {
        let name = crd.name_any();
        let established = await_condition(api.clone(), &name, conditions::is_crd_established());
        tokio::time::timeout(ESTABLISH_TIMEOUT, established)
            .await
            .map_err(|_| {
                Error::Kube(format!(
                    "CRD {name} was not Established within {}s",
                    ESTABLISH_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| Error::Kube(format!("waiting for CRD {name}: {e}")))?;
    }
    Ok(())
}

/// Splits multi-document YAML into objects, skipping empty documents (a file
/// that is only comments, or a trailing `---`).
pub fn parse_documents(yaml: &str) -> Result<Vec<DynamicObject>> {
    let mut objects = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(yaml) {
        let value: serde_json::Value = serde::Deserialize::deserialize(document)
            .map_err(|e| Error::Manifest(e.to_string()))?;
        if value.is_null() {
            continue;
        }
        let object: DynamicObject =
            serde_json::from_value(value).map_err(|e| Error::Manifest(e.to_string()))?;
        objects.push(object);
    }
    Ok(objects)
}

/// Server-side applies `objects` in order and returns what the apiserver stored.
/// The first rejected object stops the run with the apiserver's message.
pub async fn apply_manifests(
    client: &Client,
    objects: &[DynamicObject],
) -> Result<Vec<DynamicObject>> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut applied = Vec::with_capacity(objects.len());
    for object in objects {
        let types = object.types.as_ref().ok_or_else(|| {
            Error::Manifest(format!("{} has no apiVersion/kind", object.name_any()))
        })?;
        let gvk = GroupVersionKind::try_from(types).map_err(|e| Error::Manifest(e.to_string()))?;
        let (resource, capabilities) = pinned_kind(client, &gvk).await?;
        let api: Api<DynamicObject> =
            match (capabilities.scope, object.metadata.namespace.as_deref()) {
                (kube::discovery::Scope::Namespaced, Some(ns)) => {
                    Api::namespaced_with(client.clone(), ns, &resource)
                }
                (kube::discovery::Scope::Namespaced, None) => {
                    Api::default_namespaced_with(client.clone(), &resource)
                }
                (kube::discovery::Scope::Cluster, _) => Api::all_with(client.clone(), &resource),
            };
        applied.push(
            api.patch(&object.name_any(), &params, &Patch::Apply(object))
                .await?,
        );
    }
    Ok(applied)
}
