//! Writing status, and the finalizer.
//!
//! Status is the contract between controllers and tools, so it is written in
//! one way only: [`apply_status`] server-side-applies the whole status under a
//! stable field manager (the controller's name, or e.g.
//! `gotk-kustomize-controller`), separate from any manager that applies user
//! objects. Applying the whole status every time means fields the controller
//! stops setting are removed, and `force` means the controller always wins
//! conflicts over its own status.
//!
//! [`acknowledge_reconcile_request`] is the one exception: suspended objects
//! get only `status.lastHandledReconcileAt` updated, with a merge patch, since
//! applying a partial status would drop every other status field this manager
//! owns.
//!
//! The [`finalizer`] submodule handles `finalizers.fluxcd.io`.

pub mod finalizer;

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::reconcile_request;
use fluxrs_api::meta::FluxObject;

/// The `Api` for the namespace `obj` lives in.
pub(crate) fn object_api<K>(client: &Client, obj: &K) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
{
    match obj.meta().namespace.as_deref() {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::default_namespaced(client.clone()),
    }
}

/// The object's name, which every object read from the API server has.
pub(crate) fn object_name<K: Resource<DynamicType = ()>>(obj: &K) -> Result<&str> {
    obj.meta()
        .name
        .as_deref()
        .ok_or_else(|| Error::MissingName(K::kind(&()).into_owned()))
}

/// The apply configuration for a status: `apiVersion`, `kind` and `status`
/// only, so the patch claims no other field.
pub fn status_apply_body<K, S>(status: &S) -> Result<Value>
where
    K: Resource<DynamicType = ()>,
    S: Serialize,
{
    let status = serde_json::to_value(status).map_err(Error::SerializeStatus)?;
    Ok(json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    }))
}

/// Server-side-applies `status` as the object's whole status, on the status
/// subresource, forcing ownership, as `field_manager`.
///
/// Guarantees: only `status` is written (spec and metadata are untouched);
/// fields absent from `status` that this manager set before are removed;
/// returns the object as stored after the patch.
///
/// Errors: [`Error::PatchStatus`] when the API server rejects the patch.
pub async fn apply_status<K, S>(
    client: &Client,
    obj: &K,
    field_manager: &str,
    status: &S,
) -> Result<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
    S: Serialize,
{
    let name = object_name(obj)?;
    let body = status_apply_body::<K, S>(status)?;
    let params = PatchParams::apply(field_manager).force();
    object_api(client, obj)
        .patch_status(name, &params, &Patch::Apply(&body))
        .await
        .map_err(|source| Error::PatchStatus {
            name: name.to_owned(),
            source,
        })
}

/// Records that the current reconcile request was handled, for objects the
/// controller does not otherwise touch (suspended ones): merge-patches
/// `status.lastHandledReconcileAt` when a request is pending, and does
/// nothing otherwise.
pub async fn acknowledge_reconcile_request<K>(
    client: &Client,
    obj: &K,
    field_manager: &str,
) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + FluxObject
        + Clone
        + DeserializeOwned
        + Debug,
{
    if !reconcile_request::is_pending(obj) {
        return Ok(());
    }
    let name = object_name(obj)?;
    let patch = json!({
        "status": { "lastHandledReconcileAt": reconcile_request::requested_at(obj) }
    });
    let params = PatchParams {
        field_manager: Some(field_manager.to_owned()),
        ..PatchParams::default()
    };
    object_api(client, obj)
        .patch_status(name, &params, &Patch::Merge(&patch))
        .await
        .map(drop)
        .map_err(|source| Error::PatchStatus {
            name: name.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;

    use super::*;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Status {
        observed_generation: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        last_handled_reconcile_at: Option<String>,
    }

    #[test]
    fn apply_body_claims_only_status() {
        let body = status_apply_body::<ConfigMap, _>(&Status {
            observed_generation: 3,
            last_handled_reconcile_at: None,
        });
        assert_eq!(
            body.ok(),
            Some(json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "status": {"observedGeneration": 3}
            }))
        );
    }
}
