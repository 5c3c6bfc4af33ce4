//! No alert floods: the same event is announced once per outage, not once
//! per retry.
//!
//! A failing reconcile repeats every interval with a message that differs
//! only in volatile parts ("retrying in 30s", "after 2m3.5s", a timestamp), so
//! the dedupe key ([`dedupe_key`]) is computed from the message with those
//! parts replaced ([`normalize`]) plus the object and the revision metadata,
//! like upstream's rate-limit key.
//!
//! [`Deduper::admit`] implements the window per object:
//!
//! * a key seen within `--rate-limit-interval` is suppressed, and the window
//!   slides from this repeat, so an outage that repeats more often than the
//!   interval produces exactly one message however long it lasts;
//! * announcing an event of one severity forgets the keys of the other
//!   severity for that object, so a recovery after a failure is announced
//!   once, and a new failure after the recovery is announced again.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::event::FluxEvent;

/// Go and ISO dates with a time (`2024-01-02T15:04:05.123Z`,
/// `2024-01-02 15:04:05 +0000 UTC`).
static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?( ?(Z|[+-]\d{2}:?\d{2}))?( [A-Z]{2,5}\b)?( m=[+-]\d+(\.\d+)?)?",
    )
    .expect("valid regex")
});

/// Go durations (`30s`, `1m30s`, `2.5ms`, `1h0m0s`).
static DURATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+\b").expect("valid regex"));

/// Stand-alone numbers (`attempt 3`, `5/10 replicas`).
static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d+(\.\d+)?\b").expect("valid regex"));

/// The message with timestamps, durations and numbers replaced by
/// placeholders.
pub fn normalize(message: &str) -> String {
    let message = TIMESTAMP.replace_all(message, "<time>");
    let message = DURATION.replace_all(&message, "<duration>");
    NUMBER.replace_all(&message, "<n>").into_owned()
}

/// The dedupe key of an event: sha256 over the object, the normalized
/// message and the `revision`, `originRevision` and `token` metadata.
pub fn dedupe_key(event: &FluxEvent) -> String {
    let mut hasher = Sha256::new();
    let object = format!(
        "event/name={}/namespace={}/kind={}/message={}",
        event.name(),
        event.namespace(),
        event.kind(),
        normalize(&event.message)
    );
    hasher.update(object.as_bytes());
    for key in ["revision", "originRevision", "token"] {
        if let Some(value) = event.group_metadata(key) {
            hasher.update(format!("/{key}={value}").as_bytes());
        }
    }
    hex::encode(hasher.finalize())
}

/// One remembered announcement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// `kind/namespace/name` of the involved object.
    pub object: String,
    /// Whether the announced event was an error.
    pub error: bool,
    /// Until when repeats are suppressed.
    pub expires: Timestamp,
}

/// The sliding dedupe window (module docs). Entries are keyed by
/// [`dedupe_key`].
#[derive(Clone, Debug)]
pub struct Deduper {
    interval: Duration,
    entries: BTreeMap<String, Entry>,
}

impl Deduper {
    /// A deduper with the `--rate-limit-interval` window, resuming the
    /// persisted `entries`.
    pub fn new(interval: Duration, entries: BTreeMap<String, Entry>) -> Self {
        Self { interval, entries }
    }

    /// Whether `event`, whose [`dedupe_key`] is `key`, must be announced at
    /// `now`; records the decision.
    pub fn admit(&mut self, key: &str, event: &FluxEvent, now: Timestamp) -> bool {
        self.entries.retain(|_, entry| entry.expires > now);
        let window = SignedDuration::try_from(self.interval).unwrap_or(SignedDuration::MAX);
        let expires = now.checked_add(window).unwrap_or(Timestamp::MAX);
        if let Some(entry) = self.entries.get_mut(key) {
            entry.expires = expires;
            return false;
        }
        let object = format!("{}/{}/{}", event.kind(), event.namespace(), event.name());
        let error = event.is_error();
        self.entries
            .retain(|_, entry| entry.object != object || entry.error == error);
        self.entries.insert(
            key.to_owned(),
            Entry {
                object,
                error,
                expires,
            },
        );
        true
    }

    /// The entries to persist, without `skip` (keys of events still being
    /// delivered: after a crash they must be sent again).
    pub fn entries_except(&self, skip: &[String]) -> BTreeMap<String, Entry> {
        self.entries
            .iter()
            .filter(|(key, _)| !skip.contains(key))
            .map(|(key, entry)| (key.clone(), entry.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ObjectReference;

    use super::*;

    fn event(severity: &str, message: &str) -> FluxEvent {
        FluxEvent {
            involved_object: ObjectReference {
                api_version: Some("kustomize.toolkit.fluxcd.io/v1".into()),
                kind: Some("Kustomization".into()),
                name: Some("apps".into()),
                namespace: Some("flux-system".into()),
                ..ObjectReference::default()
            },
            severity: severity.into(),
            timestamp: String::new(),
            message: message.into(),
            reason: "Reason".into(),
            metadata: BTreeMap::from([(
                "kustomize.toolkit.fluxcd.io/revision".into(),
                "main@sha1:0a1b2c".into(),
            )]),
            reporting_controller: "kustomize-controller".into(),
            reporting_instance: String::new(),
        }
    }

    fn admit(dedupe: &mut Deduper, event: &FluxEvent, now: Timestamp) -> bool {
        dedupe.admit(&dedupe_key(event), event, now)
    }

    fn minutes(m: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + m * 60).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn volatile_parts_are_normalized() {
        assert_eq!(
            normalize("health check failed after 2m30.5s, retrying in 30s"),
            "health check failed after <duration>, retrying in <duration>"
        );
        assert_eq!(
            normalize("timeout at 2024-01-02T15:04:05.123Z (attempt 3)"),
            "timeout at <time> (attempt <n>)"
        );
        assert_eq!(
            normalize("requested at 2024-01-02 15:04:05.1 +0000 UTC"),
            "requested at <time>"
        );
        assert_eq!(
            normalize("Deployment/apps/web configured in k8s"),
            "Deployment/apps/web configured in k8s"
        );
        assert_eq!(normalize("main@sha1:0a1b2c"), "main@sha1:0a1b2c");
    }

    #[test]
    fn key_depends_on_object_message_and_revision_only() {
        let a = event("error", "apply failed, retrying in 30s");
        let b = event("error", "apply failed, retrying in 45s");
        assert_eq!(dedupe_key(&a), dedupe_key(&b));
        let mut other_revision = a.clone();
        other_revision.metadata.insert(
            "kustomize.toolkit.fluxcd.io/revision".into(),
            "main@sha1:ffff".into(),
        );
        assert_ne!(dedupe_key(&a), dedupe_key(&other_revision));
        assert_ne!(
            dedupe_key(&a),
            dedupe_key(&event("error", "health check failed"))
        );
    }

    #[test]
    fn an_hour_long_outage_is_one_alert_plus_one_recovery() {
        let mut dedupe = Deduper::new(Duration::from_secs(300), BTreeMap::new());
        let mut sent = Vec::new();
        for minute in 0..60 {
            let failure = event("error", &format!("fetch failed, retrying in {minute}s"));
            if admit(&mut dedupe, &failure, minutes(minute)) {
                sent.push(minute);
            }
        }
        for minute in 60..70 {
            if admit(
                &mut dedupe,
                &event("info", "Applied revision"),
                minutes(minute),
            ) {
                sent.push(minute);
            }
        }
        assert_eq!(sent, [0, 60]);
    }

    #[test]
    fn a_new_outage_after_recovery_is_announced() {
        let mut dedupe = Deduper::new(Duration::from_secs(300), BTreeMap::new());
        assert!(admit(
            &mut dedupe,
            &event("error", "fetch failed"),
            minutes(0)
        ));
        assert!(admit(&mut dedupe, &event("info", "recovered"), minutes(1)));
        assert!(admit(
            &mut dedupe,
            &event("error", "fetch failed"),
            minutes(2)
        ));
        assert!(admit(&mut dedupe, &event("info", "recovered"), minutes(3)));
        assert!(!admit(&mut dedupe, &event("info", "recovered"), minutes(4)));
    }

    #[test]
    fn repeats_after_the_window_are_announced_again() {
        let mut dedupe = Deduper::new(Duration::from_secs(300), BTreeMap::new());
        assert!(admit(
            &mut dedupe,
            &event("error", "fetch failed"),
            minutes(0)
        ));
        assert!(!admit(
            &mut dedupe,
            &event("error", "fetch failed"),
            minutes(4)
        ));
        assert!(admit(
            &mut dedupe,
            &event("error", "fetch failed"),
            minutes(10)
        ));
    }

    #[test]
    fn persisted_entries_survive_a_restart() {
        let mut before = Deduper::new(Duration::from_secs(300), BTreeMap::new());
        assert!(admit(
            &mut before,
            &event("error", "fetch failed"),
            minutes(0)
        ));
        let mut after = Deduper::new(Duration::from_secs(300), before.entries_except(&[]));
        assert!(!admit(
            &mut after,
            &event("error", "fetch failed"),
            minutes(1)
        ));
        let key = dedupe_key(&event("error", "fetch failed"));
        assert!(before.entries_except(&[key]).is_empty());
    }
}
