//! The `finalizers.fluxcd.io` finalizer.
//!
//! Flux controllers must clean up after the objects they reconcile (delete
//! stored artifacts, prune applied objects, uninstall releases) before those
//! objects disappear, so every reconcile goes through [`with_finalizer`].
//!
//! # Expected flow
//!
//! 1. A new object has no finalizer: [`with_finalizer`] adds it, then runs
//!    [`Step::Apply`] with the object returned by the API server.
//! 2. Later reconciles run [`Step::Apply`].
//! 3. The object is deleted: the API server sets `deletionTimestamp` and keeps
//!    the object because of the finalizer; [`Step::Cleanup`] runs, and when it
//!    succeeds the finalizer is removed and the object goes away.
//!
//! # Guarantees
//!
//! * Apply never runs before the finalizer is stored, so no work can be done
//!   that cleanup would not see.
//! * The finalizer is removed only after Cleanup succeeded; a failed cleanup
//!   is retried like any failed reconcile.
//! * Finalizer updates are merge patches preconditioned on the object's
//!   `resourceVersion`, so other finalizers are never lost to a race.
//!
//! # Caveats
//!
//! * Objects deleted before the finalizer was added are never cleaned up
//!   (nothing was done for them).
//! * Removing the finalizer by hand skips cleanup.
//!
//! # Errors
//!
//! Failures to add or remove the finalizer are transient
//! [`ReconcileError`]s (reason `PatchOperationFailed`); errors from the steps
//! are returned unchanged.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use kube::Resource;
use kube::api::{Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use fluxrs_api::meta::FINALIZER;

use super::{object_api, object_name};
use crate::error::Error;
use crate::outcome::{Next, ReconcileError};

/// What the reconciler must do for this object.
#[derive(Debug)]
pub enum Step<K> {
    /// Bring the cluster to the desired state (the finalizer is present).
    Apply(Arc<K>),
    /// The object is being deleted: undo what Apply did.
    Cleanup(Arc<K>),
}

/// Whether the object carries [`FINALIZER`].
pub fn has_finalizer<K: Resource>(obj: &K) -> bool {
    obj.meta()
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|name| name == FINALIZER))
}

/// The merge patch that sets `finalizers`, preconditioned on `resource_version`.
fn finalizers_patch(finalizers: Vec<String>, resource_version: Option<&str>) -> Value {
    json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": resource_version,
        }
    })
}

/// The object's finalizers plus [`FINALIZER`] at the end.
fn with_ours<K: Resource>(obj: &K) -> Vec<String> {
    let mut finalizers = obj.meta().finalizers.clone().unwrap_or_default();
    finalizers.push(FINALIZER.to_owned());
    finalizers
}

/// The object's finalizers without [`FINALIZER`].
fn without_ours<K: Resource>(obj: &K) -> Vec<String> {
    let mut finalizers = obj.meta().finalizers.clone().unwrap_or_default();
    finalizers.retain(|name| name != FINALIZER);
    finalizers
}

/// Runs `reconcile` for `obj` with the finalizer protocol described in the
/// module docs, and returns what it returned (Cleanup yields
/// [`Next::AwaitChange`] once the finalizer is gone).
pub async fn with_finalizer<K, F, Fut>(
    client: &kube::Client,
    obj: Arc<K>,
    reconcile: F,
) -> Result<Next, ReconcileError>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
    F: FnOnce(Step<K>) -> Fut,
    Fut: Future<Output = Result<Next, ReconcileError>>,
{
    let deleting = obj.meta().deletion_timestamp.is_some();
    match (deleting, has_finalizer(obj.as_ref())) {
        (true, false) => Ok(Next::AwaitChange),
        (true, true) => {
            reconcile(Step::Cleanup(Arc::clone(&obj))).await?;
            patch_finalizers(
                client,
                obj.as_ref(),
                without_ours(obj.as_ref()),
                |name, source| Error::RemoveFinalizer { name, source },
            )
            .await?;
            Ok(Next::AwaitChange)
        }
        (false, true) => reconcile(Step::Apply(obj)).await,
        (false, false) => {
            let updated = patch_finalizers(
                client,
                obj.as_ref(),
                with_ours(obj.as_ref()),
                |name, source| Error::AddFinalizer { name, source },
            )
            .await?;
            reconcile(Step::Apply(Arc::new(updated))).await
        }
    }
}

/// Sets the object's finalizers; `error` names the failed operation.
async fn patch_finalizers<K>(
    client: &kube::Client,
    obj: &K,
    finalizers: Vec<String>,
    error: fn(String, kube::Error) -> Error,
) -> crate::Result<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let name = object_name(obj)?;
    let patch = finalizers_patch(finalizers, obj.meta().resource_version.as_deref());
    object_api(client, obj)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|source| error(name.to_owned(), source))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn cm(finalizers: Option<&[&str]>) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                finalizers: finalizers.map(|f| f.iter().map(|s| (*s).to_owned()).collect()),
                resource_version: Some("12".to_owned()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    #[test]
    fn detects_our_finalizer_only() {
        assert!(!has_finalizer(&cm(None)));
        assert!(!has_finalizer(&cm(Some(&["other.io/x"]))));
        assert!(has_finalizer(&cm(Some(&["other.io/x", FINALIZER]))));
    }

    #[test]
    fn adding_keeps_other_finalizers() {
        assert_eq!(with_ours(&cm(None)), [FINALIZER]);
        assert_eq!(
            with_ours(&cm(Some(&["other.io/x"]))),
            ["other.io/x", FINALIZER]
        );
    }

    #[test]
    fn removing_keeps_other_finalizers() {
        assert_eq!(
            without_ours(&cm(Some(&[FINALIZER, "other.io/x"]))),
            ["other.io/x"]
        );
        assert!(without_ours(&cm(Some(&[FINALIZER]))).is_empty());
    }

    #[test]
    fn patch_is_preconditioned_on_resource_version() {
        let obj = cm(None);
        assert_eq!(
            finalizers_patch(with_ours(&obj), obj.meta().resource_version.as_deref()),
            json!({"metadata": {"finalizers": [FINALIZER], "resourceVersion": "12"}})
        );
    }
}
