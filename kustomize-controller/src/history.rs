//! `status.history`: the last reconciliations, newest first, one entry per
//! distinct (manifests digest, outcome) pair, as Flux's `meta.History`.
//!
//! Only reconciles that built the manifests are recorded: a no-op reconcile
//! (nothing changed, see [`crate::steady_state`]) writes no status at all, so
//! `lastReconciled` is the time of the last reconcile that did work.

use std::collections::BTreeMap;
use std::time::Duration;

use fluxrs_api::kustomize::Snapshot;
use fluxrs_runtime::interval::format_duration;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Entries kept, as upstream.
const MAX_ENTRIES: usize = 5;

/// `sha256:<hex>` of the manifests as a multi-document YAML stream.
pub fn digest(objects: &[Value]) -> String {
    let mut hasher = Sha256::new();
    for (i, object) in objects.iter().enumerate() {
        if i > 0 {
            hasher.update(b"---\n");
        }
        hasher.update(
            serde_yaml_ng::to_string(object)
                .unwrap_or_default()
                .as_bytes(),
        );
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// One finished reconcile to record.
pub struct Attempt<'a> {
    /// Digest of the built manifests.
    pub digest: &'a str,
    /// The Ready reason it ended with.
    pub status: &'a str,
    /// How long it took.
    pub duration: Duration,
    /// `revision` and, for OCI sources, `originRevision`.
    pub metadata: BTreeMap<String, String>,
}

/// Records `attempt` at `now`: the entry with the same digest and status is
/// updated (its count grows), else a new one is added; newest first, at most
/// five.
pub fn upsert(history: &mut Vec<Snapshot>, attempt: Attempt<'_>, now: Timestamp) {
    let now = Time(Timestamp::from_second(now.as_second()).unwrap_or(now));
    let duration = format_duration(attempt.duration);
    let metadata = (!attempt.metadata.is_empty()).then_some(attempt.metadata);
    let existing = history
        .iter()
        .position(|s| s.digest == attempt.digest && s.last_reconciled_status == attempt.status);
    let entry = match existing {
        Some(index) => {
            let mut entry = history.remove(index);
            entry.last_reconciled = now;
            entry.last_reconciled_duration = duration;
            entry.total_reconciliations += 1;
            if metadata.is_some() {
                entry.metadata = metadata;
            }
            entry
        }
        None => Snapshot {
            digest: attempt.digest.to_string(),
            first_reconciled: now.clone(),
            last_reconciled: now,
            last_reconciled_duration: duration,
            last_reconciled_status: attempt.status.to_string(),
            total_reconciliations: 1,
            metadata,
        },
    };
    // The entry just touched is the newest, even within the same second.
    history.insert(0, entry);
    history.truncate(MAX_ENTRIES);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt<'a>(digest: &'a str, status: &'a str) -> Attempt<'a> {
        Attempt {
            digest,
            status,
            duration: Duration::from_millis(1500),
            metadata: BTreeMap::from([("revision".to_string(), "main@sha1:abc".to_string())]),
        }
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    #[test]
    fn same_digest_and_status_is_counted_not_duplicated() {
        let mut history = Vec::new();
        upsert(
            &mut history,
            attempt("sha256:a", "ReconciliationSucceeded"),
            at(10),
        );
        upsert(
            &mut history,
            attempt("sha256:a", "ReconciliationSucceeded"),
            at(20),
        );
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].total_reconciliations, 2);
        assert_eq!(history[0].first_reconciled.0, at(10));
        assert_eq!(history[0].last_reconciled.0, at(20));
        assert_eq!(history[0].last_reconciled_duration, "1.5s");
    }

    #[test]
    fn newest_first_and_at_most_five() {
        let mut history = Vec::new();
        for i in 0..7 {
            let digest = format!("sha256:{i}");
            upsert(
                &mut history,
                attempt(&digest, "ReconciliationSucceeded"),
                at(i),
            );
        }
        upsert(
            &mut history,
            attempt("sha256:6", "HealthCheckFailed"),
            at(100),
        );
        let digests: Vec<(&str, &str)> = history
            .iter()
            .map(|s| (s.digest.as_str(), s.last_reconciled_status.as_str()))
            .collect();
        assert_eq!(
            digests,
            vec![
                ("sha256:6", "HealthCheckFailed"),
                ("sha256:6", "ReconciliationSucceeded"),
                ("sha256:5", "ReconciliationSucceeded"),
                ("sha256:4", "ReconciliationSucceeded"),
                ("sha256:3", "ReconciliationSucceeded"),
            ]
        );
    }

    #[test]
    fn digest_depends_on_content_and_order() {
        let a = serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "a"}});
        let b = serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "b"}});
        assert_eq!(
            digest(&[a.clone(), b.clone()]),
            digest(&[a.clone(), b.clone()])
        );
        assert_ne!(digest(&[a.clone(), b.clone()]), digest(&[b, a]));
        assert!(digest(&[]).starts_with("sha256:"));
    }
}
