//! The `reconcile.fluxcd.io/requestedAt` protocol.
//!
//! `flux reconcile`, notification-controller receivers and users ask for an
//! immediate reconcile by writing any new value into the annotation
//! [`RECONCILE_REQUEST_ANNOTATION`]; the controller acknowledges it by copying
//! the value into `status.lastHandledReconcileAt` at the end of every
//! reconcile (success, failure or suspended). The value is an opaque token:
//! RFC 3339 from the CLI, Go `time.String()` from receivers, `date +%s` in docs.
//!
//! [`reconcile_requested`] is the watch predicate every controller applies to
//! its own kind, so status-only writes (including our own status patches) do
//! not trigger reconciles, while spec changes and requests do.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use kube::Resource;

use fluxrs_api::meta::FluxObject;
pub use fluxrs_api::meta::RECONCILE_REQUEST_ANNOTATION;

/// The current request token, if the object carries the annotation.
pub fn requested_at<K: Resource>(obj: &K) -> Option<&str> {
    obj.meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(RECONCILE_REQUEST_ANNOTATION))
        .map(String::as_str)
}

/// Whether the object carries a request the controller has not acknowledged:
/// the annotation is set and differs from `status.lastHandledReconcileAt`.
pub fn is_pending<K: Resource + FluxObject>(obj: &K) -> bool {
    requested_at(obj).is_some_and(|token| obj.last_handled_reconcile_at() != Some(token))
}

/// The value `status.lastHandledReconcileAt` must hold after this reconcile:
/// the current token when the annotation is set, otherwise the previous value
/// (an absent annotation never erases the record of an earlier request).
pub fn last_handled<K: Resource + FluxObject>(obj: &K) -> Option<String> {
    requested_at(obj)
        .or_else(|| obj.last_handled_reconcile_at())
        .map(str::to_owned)
}

/// kube-runtime predicate (`WatchStreamExt::predicate_filter`): lets an event
/// through when `metadata.generation` changed, the request annotation's value
/// changed, or deletion started; everything else (status, labels, other
/// annotations, managed fields) is filtered out.
///
/// Deletion is included explicitly so cleanup runs even on API servers that
/// do not bump the generation when `deletionTimestamp` is set.
pub fn reconcile_requested<K: Resource>(obj: &K) -> Option<u64> {
    let meta = obj.meta();
    let mut hasher = DefaultHasher::new();
    meta.generation.hash(&mut hasher);
    requested_at(obj).hash(&mut hasher);
    meta.deletion_timestamp.is_some().hash(&mut hasher);
    Some(hasher.finish())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use k8s_openapi::jiff::Timestamp;

    use super::*;
    use crate::testing::TestObject;

    fn obj(token: Option<&str>, last_handled: Option<&str>) -> TestObject {
        TestObject {
            meta: ObjectMeta {
                annotations: token.map(|t| {
                    BTreeMap::from([(RECONCILE_REQUEST_ANNOTATION.to_owned(), t.to_owned())])
                }),
                generation: Some(1),
                ..ObjectMeta::default()
            },
            last_handled: last_handled.map(str::to_owned),
            ..TestObject::default()
        }
    }

    #[test]
    fn no_annotation_is_not_pending() {
        let o = obj(None, Some("x"));
        assert_eq!(requested_at(&o), None);
        assert!(!is_pending(&o));
        assert_eq!(last_handled(&o).as_deref(), Some("x"));
    }

    #[test]
    fn new_token_is_pending_until_acknowledged() {
        let token = "2026-01-02T03:04:05.123456789Z";
        assert!(is_pending(&obj(Some(token), None)));
        assert!(is_pending(&obj(Some(token), Some("1700000000"))));
        assert!(!is_pending(&obj(Some(token), Some(token))));
        assert_eq!(
            last_handled(&obj(Some(token), Some("old"))).as_deref(),
            Some(token)
        );
    }

    #[test]
    fn tokens_are_opaque() {
        let go_time = "2026-01-02 03:04:05.123 +0000 UTC m=+1.0";
        assert_eq!(requested_at(&obj(Some(go_time), None)), Some(go_time));
    }

    fn cm(generation: Option<i64>, annotations: &[(&str, &str)]) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                generation,
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    #[test]
    fn predicate_ignores_unrelated_changes() {
        let base = cm(Some(1), &[(RECONCILE_REQUEST_ANNOTATION, "a")]);
        let mut other = cm(Some(1), &[(RECONCILE_REQUEST_ANNOTATION, "a"), ("x", "y")]);
        other.metadata.labels = Some(BTreeMap::from([("l".to_owned(), "v".to_owned())]));
        other.metadata.resource_version = Some("42".to_owned());
        assert_eq!(reconcile_requested(&base), reconcile_requested(&other));
    }

    #[test]
    fn predicate_triggers_on_generation_request_or_deletion() {
        let base = cm(Some(1), &[(RECONCILE_REQUEST_ANNOTATION, "a")]);
        let h = reconcile_requested(&base);
        assert_ne!(
            h,
            reconcile_requested(&cm(Some(2), &[(RECONCILE_REQUEST_ANNOTATION, "a")]))
        );
        assert_ne!(
            h,
            reconcile_requested(&cm(Some(1), &[(RECONCILE_REQUEST_ANNOTATION, "b")]))
        );
        assert_ne!(h, reconcile_requested(&cm(Some(1), &[])));
        let mut deleting = base.clone();
        deleting.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert_ne!(h, reconcile_requested(&deleting));
    }

    #[test]
    fn predicate_always_hashes() {
        // `None` would make kube-runtime pass every event through.
        assert!(reconcile_requested(&cm(None, &[])).is_some());
    }
}
