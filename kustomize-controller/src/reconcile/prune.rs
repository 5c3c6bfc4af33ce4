//! Pruning after a successful apply, through the prune guard.

use fluxrs_api::kustomize::{Kustomization, KustomizationStatus};
use fluxrs_api::meta::ResourceInventory;
use fluxrs_runtime::conditions::reasons;
use kube::ResourceExt;
use tracing::warn;

use super::{Context, Failure};
use crate::apply::Applier;
use crate::inventory::{ObjectId, inventory, stale};
use crate::prune_guard;

/// What pruning left: the inventory to record, the deleted objects, and the
/// failure to report (prune errors or a blocked prune).
pub(super) struct Pruned {
    pub(super) inventory: ResourceInventory,
    pub(super) deleted: Vec<ObjectId>,
    pub(super) failure: Option<Failure>,
}

pub(super) async fn prune(
    obj: &Kustomization,
    ctx: &Context,
    applier: &Applier<'_>,
    status: &KustomizationStatus,
    revision: &str,
    entries: &[(ObjectId, String)],
) -> Pruned {
    let stale_entries = stale(status.inventory.as_ref(), &inventory(entries));
    let keep_stale = |failure: Failure| {
        let mut all = entries.to_vec();
        all.extend(stale_entries.iter().cloned());
        Pruned {
            inventory: inventory(&all),
            deleted: Vec::new(),
            failure: Some(failure),
        }
    };
    if !obj.spec.prune || stale_entries.is_empty() {
        return Pruned {
            inventory: inventory(entries),
            deleted: Vec::new(),
            failure: None,
        };
    }
    let total = status
        .inventory
        .as_ref()
        .map(|i| i.entries.len())
        .unwrap_or_default();
    let stale_ids: Vec<ObjectId> = stale_entries.iter().map(|(id, _)| id.clone()).collect();
    if let Err(blocked) = prune_guard::check(
        obj,
        revision,
        ctx.prune_guard_percent,
        entries.len(),
        total,
        &stale_ids,
    ) {
        warn!(
            revision,
            objects = stale_ids.len(),
            "prune blocked by the prune guard"
        );
        return keep_stale(Failure::retry(
            prune_guard::PRUNE_BLOCKED,
            blocked.to_string(),
            obj,
        ));
    }
    let owner = (obj.name_any(), obj.namespace().unwrap_or_default());
    let (deleted, failed) = applier.prune(&stale_entries, (&owner.0, &owner.1)).await;
    let mut all = entries.to_vec();
    all.extend(failed.iter().map(|(entry, _)| entry.clone()));
    let failure = (!failed.is_empty()).then(|| {
        let message: Vec<String> = failed
            .iter()
            .map(|((id, _), e)| format!("{}: {e}", id.display()))
            .collect();
        Failure::retry(
            reasons::PRUNE_FAILED,
            format!("prune failed: {}", message.join("\n")),
            obj,
        )
    });
    Pruned {
        inventory: inventory(&all),
        deleted,
        failure,
    }
}
