//! Asking a Receiver's resources to reconcile now.
//!
//! Each entry of `spec.resources` names one object, or with `name: *` every
//! object of the kind carrying `matchLabels`, in the entry's namespace (the
//! Receiver's by default). Each gets `reconcile.fluxcd.io/requestedAt` set
//! by a merge patch to the current time in Go's `time.Time.String()` format,
//! as upstream receivers write it. Kinds without a default API version
//! (spec §6) must name one. With CEL filters ([`super::filter`]), each
//! object is read first and annotated only if the filters accept it.

use fluxrs_api::meta::RECONCILE_REQUEST_ANNOTATION;
use fluxrs_api::notification::{FluxKind, Receiver, ReceiverResource};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::{Client, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use super::filter::CallFilter;
use crate::matching::kind_name;

/// The `apiVersion` used for a kind when the resource entry names none.
pub fn default_api_version(kind: FluxKind) -> Option<&'static str> {
    match kind {
        FluxKind::Bucket
        | FluxKind::GitRepository
        | FluxKind::HelmChart
        | FluxKind::HelmRepository
        | FluxKind::OciRepository => Some("source.toolkit.fluxcd.io/v1"),
        FluxKind::ImageRepository => Some("image.toolkit.fluxcd.io/v1"),
        _ => None,
    }
}

/// `now` as Go's `time.Time.String()` prints a UTC time
/// (`2024-01-02 15:04:05.123456789 +0000 UTC`).
pub fn go_time_string(now: Timestamp) -> String {
    now.strftime("%Y-%m-%d %H:%M:%S%.f +0000 UTC").to_string()
}

/// The filters of one call and the index of the resource entry being
/// handled, which selects its `spec.resources[].filter`.
#[derive(Clone, Copy)]
struct EntryFilter<'a> {
    filter: &'a CallFilter,
    entry: usize,
}

/// Annotates every resource of `receiver` that `filter` (if any) accepts;
/// returns the failures (one message per resource entry that could not be
/// fully handled).
pub async fn request_reconciliation(
    client: &Client,
    receiver: &Receiver,
    no_cross_namespace_refs: bool,
    filter: Option<&CallFilter>,
) -> Vec<String> {
    let token = go_time_string(Timestamp::now());
    let receiver_namespace = receiver.namespace().unwrap_or_default();
    let mut failures = Vec::new();
    for (entry, resource) in receiver.spec.resources.iter().enumerate() {
        let filter = filter.map(|filter| EntryFilter { filter, entry });
        if let Err(message) = annotate_entry(
            client,
            resource,
            &receiver_namespace,
            no_cross_namespace_refs,
            &token,
            filter,
        )
        .await
        {
            warn!(receiver = %receiver.name_any(), namespace = %receiver_namespace, error = %message, "unable to request reconciliation");
            failures.push(message);
        }
    }
    failures
}

async fn annotate_entry(
    client: &Client,
    entry: &ReceiverResource,
    receiver_namespace: &str,
    no_cross_namespace_refs: bool,
    token: &str,
    filter: Option<EntryFilter<'_>>,
) -> Result<(), String> {
    let reference = &entry.object;
    let kind = kind_name(reference.kind);
    let namespace = reference.namespace.as_deref().unwrap_or(receiver_namespace);
    if no_cross_namespace_refs && namespace != receiver_namespace {
        return Err(format!(
            "cannot access {kind} in namespace '{namespace}': cross-namespace references are not allowed"
        ));
    }
    let api_version = reference
        .api_version
        .as_deref()
        .or_else(|| default_api_version(reference.kind))
        .ok_or_else(|| format!("apiVersion must be specified for kind '{kind}'"))?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, &kind);
    let (resource, _) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .map_err(|e| format!("unable to discover {api_version} {kind}: {e}"))?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    if reference.name == "*" {
        let labels = reference.match_labels.as_ref().ok_or_else(|| {
            "matchLabels field not set when using wildcard '*' as name".to_owned()
        })?;
        let selector = labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let objects = api
            .list_metadata(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| {
                format!(
                    "failed listing {kind} in namespace '{namespace}' by labels '{selector}': {e}"
                )
            })?;
        if objects.items.is_empty() {
            warn!(%kind, %namespace, %selector, "no resources found with matching labels");
        }
        for object in objects.items {
            if accepted(filter, &resource, &object.metadata)? {
                annotate(&api, &resource, &object.name_any(), namespace, token).await?;
            }
        }
        Ok(())
    } else {
        if filter.is_some() {
            let object = api.get_metadata(&reference.name).await.map_err(|e| {
                format!(
                    "unable to read {kind} '{namespace}/{}': {e}",
                    reference.name
                )
            })?;
            if !accepted(filter, &resource, &object.metadata)? {
                return Ok(());
            }
        }
        annotate(&api, &resource, &reference.name, namespace, token).await
    }
}

/// Whether the filters accept the object with `metadata`; `res` is its
/// `apiVersion`, `kind` and `metadata`, as upstream passes a
/// `PartialObjectMetadata`.
fn accepted(
    filter: Option<EntryFilter<'_>>,
    resource: &ApiResource,
    metadata: &ObjectMeta,
) -> Result<bool, String> {
    let Some(EntryFilter { filter, entry }) = filter else {
        return Ok(true);
    };
    let res = json!({
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "metadata": metadata,
    });
    let accepted = filter.accepts(entry, &res).map_err(|e| e.to_string())?;
    if !accepted {
        let name = metadata.name.as_deref().unwrap_or_default();
        let namespace = metadata.namespace.as_deref().unwrap_or_default();
        info!(kind = %resource.kind, %namespace, %name, "resource not annotated because the CEL filter returned false");
    }
    Ok(accepted)
}

async fn annotate(
    api: &Api<DynamicObject>,
    resource: &ApiResource,
    name: &str,
    namespace: &str,
    token: &str,
) -> Result<(), String> {
    let patch = json!({ "metadata": { "annotations": { RECONCILE_REQUEST_ANNOTATION: token } } });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| {
            format!(
                "unable to annotate {} '{namespace}/{name}': {e}",
                resource.kind
            )
        })?;
    info!(kind = %resource.kind, %namespace, %name, "reconciliation requested");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_token_is_go_time_string() {
        let t = Timestamp::from_second(1_704_207_845).expect("time");
        assert_eq!(go_time_string(t), "2024-01-02 15:04:05 +0000 UTC");
        let t = Timestamp::new(1_704_207_845, 123_456_000).expect("time");
        assert_eq!(go_time_string(t), "2024-01-02 15:04:05.123456 +0000 UTC");
    }

    #[test]
    fn default_api_versions_follow_upstream() {
        assert_eq!(
            default_api_version(FluxKind::GitRepository),
            Some("source.toolkit.fluxcd.io/v1")
        );
        assert_eq!(
            default_api_version(FluxKind::ImageRepository),
            Some("image.toolkit.fluxcd.io/v1")
        );
        assert_eq!(default_api_version(FluxKind::Kustomization), None);
    }
}
