//! Deletion of a Kustomization: prune as `deletionPolicy` says.

use fluxrs_api::kustomize::{DeletionPolicy, Kustomization};
use fluxrs_api::meta::{FluxObject, ResourceInventory};
use fluxrs_runtime::conditions::reasons;
use fluxrs_runtime::events::{Event, EventType};
use fluxrs_runtime::outcome::{Next, ReconcileError};
use kube::ResourceExt;
use tracing::warn;

use super::{Context, timeout};
use crate::apply::{Applier, Discovery};
use crate::inventory::{ObjectId, stale};

/// On deletion: prune the inventory as `deletionPolicy` says (nothing when
/// suspended), as the Kustomization's own identity.
pub(super) async fn cleanup(obj: &Kustomization, ctx: &Context) -> Result<Next, ReconcileError> {
    ctx.steady.forget(&obj.uid().unwrap_or_default());
    let policy = obj.spec.deletion_policy.unwrap_or_default();
    let delete = match policy {
        DeletionPolicy::MirrorPrune => obj.spec.prune,
        DeletionPolicy::Delete | DeletionPolicy::WaitForTermination => true,
        DeletionPolicy::Orphan => false,
    };
    let Some(inventory) = obj.status.as_ref().and_then(|s| s.inventory.as_ref()) else {
        return Ok(Next::AwaitChange);
    };
    if !delete || obj.suspended() || inventory.entries.is_empty() {
        return Ok(Next::AwaitChange);
    }
    if let Some((namespace, name)) = ctx.targets.service_account(obj)
        && obj.spec.kube_config.is_none()
        && !ctx.targets.service_account_exists(&namespace, &name).await
    {
        let message =
            format!("skipping garbage collection: service account '{namespace}/{name}' not found");
        ctx.events
            .record(
                obj,
                &Event::new(EventType::Warning, reasons::PRUNE_FAILED, message),
            )
            .await;
        return Ok(Next::AwaitChange);
    }
    let target = ctx
        .targets
        .for_kustomization(obj)
        .await
        .map_err(|e| ReconcileError::transient(reasons::PRUNE_FAILED, e.to_string()))?;
    let remote_discovery = Discovery::default();
    let applier = Applier {
        client: &target.client,
        discovery: if target.remote {
            &remote_discovery
        } else {
            &ctx.discovery
        },
        force: false,
        wait_timeout: timeout(obj),
        protected_namespace: ctx.runtime_namespace.as_deref(),
    };
    let entries = stale(Some(inventory), &ResourceInventory::default());
    let name = obj.name_any();
    let namespace = obj.namespace().unwrap_or_default();
    let (deleted, failed) = applier.prune(&entries, (&name, &namespace)).await;
    if !deleted.is_empty() {
        let message: Vec<String> = deleted
            .iter()
            .map(|id| format!("{} deleted", id.display()))
            .collect();
        ctx.events
            .record(
                obj,
                &Event::new(EventType::Normal, "Deleted", message.join("\n")),
            )
            .await;
    }
    if let Some(((id, _), error)) = failed.first() {
        return Err(ReconcileError::transient(
            reasons::PRUNE_FAILED,
            format!("failed to delete {}: {error}", id.display()),
        ));
    }
    if policy == DeletionPolicy::WaitForTermination
        && let Err(remaining) = applier.wait_gone(&entries).await
    {
        let message = format!(
            "timeout waiting for termination of: {}",
            remaining
                .iter()
                .map(ObjectId::display)
                .collect::<Vec<_>>()
                .join(", ")
        );
        warn!(%message, "deletion did not finish");
        ctx.events
            .record(
                obj,
                &Event::new(EventType::Warning, reasons::PRUNE_FAILED, message),
            )
            .await;
    }
    Ok(Next::AwaitChange)
}
