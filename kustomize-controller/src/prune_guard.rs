//! The prune guard: a flux-rs addition against losing whole namespaces.
//!
//! Flux prunes whatever left the build. A wrong `path`, a bad merge or an
//! emptied directory then deletes everything the Kustomization ever created.
//! Here a build that yields no objects, or that would delete more than
//! `--prune-guard-percent` of the inventory at once, is applied but not
//! pruned until someone approves that exact revision with the
//! [`APPROVE_ANNOTATION`] (or runs the controller with the flag at 100).

use fluxrs_api::kustomize::Kustomization;
use kube::ResourceExt;

use crate::inventory::ObjectId;

pub use fluxrs_api::kustomize::APPROVE_PRUNE_ANNOTATION as APPROVE_ANNOTATION;

/// Condition reason while a prune waits for approval.
pub const PRUNE_BLOCKED: &str = "PruneBlocked";

/// How many object names the message lists before summarising.
const LISTED: usize = 5;

/// Why the guard held a prune back.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "prune guard: revision {revision} would delete {count} of {total} objects{why} ({listed}); \
     nothing was deleted. To approve: fluxrs reconcile kustomization {name} -n {namespace} \
     --approve-prune (sets the {annotation}={revision} annotation), or run kustomize-controller \
     with --prune-guard-percent=100"
)]
pub struct PruneBlocked {
    revision: String,
    count: usize,
    total: usize,
    why: String,
    listed: String,
    name: String,
    namespace: String,
    annotation: &'static str,
}

/// Checks a prune of `stale` (of `total` inventory entries) for `obj` at
/// `revision`, when the new build has `built` objects.
pub fn check(
    obj: &Kustomization,
    revision: &str,
    percent: u8,
    built: usize,
    total: usize,
    stale: &[ObjectId],
) -> Result<(), Box<PruneBlocked>> {
    if stale.is_empty() || percent >= 100 || approved(obj, revision) {
        return Ok(());
    }
    let why = if built == 0 {
        ", because the build produced no objects".to_string()
    } else if stale.len() * 100 > usize::from(percent) * total {
        format!(
            ", {}% of the inventory, more than --prune-guard-percent={percent}",
            stale.len() * 100 / total.max(1)
        )
    } else {
        return Ok(());
    };
    let mut listed: Vec<String> = stale.iter().take(LISTED).map(ObjectId::display).collect();
    if stale.len() > LISTED {
        listed.push(format!("and {} more", stale.len() - LISTED));
    }
    Err(Box::new(PruneBlocked {
        revision: revision.to_string(),
        count: stale.len(),
        total,
        why,
        listed: listed.join(", "),
        name: obj.name_any(),
        namespace: obj.namespace().unwrap_or_default(),
        annotation: APPROVE_ANNOTATION,
    }))
}

fn approved(obj: &Kustomization, revision: &str) -> bool {
    obj.annotations()
        .get(APPROVE_ANNOTATION)
        .map(String::as_str)
        == Some(revision)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kustomization(annotation: Option<&str>) -> Kustomization {
        let mut obj: Kustomization = serde_json::from_value(serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {"interval": "1m", "prune": true,
                     "sourceRef": {"kind": "GitRepository", "name": "repo"}}
        }))
        .unwrap();
        if let Some(value) = annotation {
            obj.annotations_mut()
                .insert(APPROVE_ANNOTATION.into(), value.into());
        }
        obj
    }

    fn ids(n: usize) -> Vec<ObjectId> {
        (0..n)
            .map(|i| ObjectId {
                namespace: "apps".into(),
                name: format!("cm-{i}"),
                group: String::new(),
                kind: "ConfigMap".into(),
            })
            .collect()
    }

    #[test]
    fn small_prunes_pass() {
        assert_eq!(
            check(&kustomization(None), "main@sha1:a", 50, 8, 10, &ids(2)),
            Ok(())
        );
        assert_eq!(
            check(&kustomization(None), "main@sha1:a", 50, 5, 10, &ids(5)),
            Ok(())
        );
    }

    #[test]
    fn large_prunes_are_blocked_with_instructions() {
        let error = check(&kustomization(None), "main@sha1:a", 50, 3, 10, &ids(7)).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("would delete 7 of 10 objects, 70% of the inventory"),
            "{message}"
        );
        assert!(message.contains("ConfigMap/apps/cm-0"), "{message}");
        assert!(message.contains("and 2 more"), "{message}");
        assert!(
            message.contains("flux-rs.io/approve-prune=main@sha1:a"),
            "{message}"
        );
    }

    #[test]
    fn empty_builds_are_blocked() {
        let error = check(&kustomization(None), "main@sha1:a", 90, 0, 10, &ids(1)).unwrap_err();
        assert!(error.to_string().contains("the build produced no objects"));
    }

    #[test]
    fn approval_covers_only_its_revision() {
        let approved = kustomization(Some("main@sha1:a"));
        assert_eq!(check(&approved, "main@sha1:a", 50, 0, 10, &ids(10)), Ok(()));
        assert!(check(&approved, "main@sha1:b", 50, 0, 10, &ids(10)).is_err());
    }

    #[test]
    fn flag_at_100_disables_the_guard() {
        assert_eq!(
            check(&kustomization(None), "main@sha1:a", 100, 0, 10, &ids(10)),
            Ok(())
        );
    }
}
