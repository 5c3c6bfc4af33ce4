//! Which Alerts an event goes to, and what the forwarded event looks like.
//!
//! Matching follows upstream (spec §2 and §3): an Alert matches when it is
//! not suspended and one of its `eventSources` names the involved object
//! (kind, name or `*`, namespace defaulting to the Alert's, `matchLabels`
//! on the live object), its `eventSeverity` admits the event (`info` admits
//! everything, `error` only errors), the message matches one
//! `inclusionList` pattern when there are any, and no `exclusionList`
//! pattern. Patterns are Go regular expressions searched anywhere in the
//! message (Rust's `regex` accepts the same RE2 syntax).
//!
//! [`forwarded`] builds the event a Provider receives: metadata prefixes
//! stripped, merged from low to high precedence as
//! `event.toolkit.fluxcd.io/*`, the Alert's `eventMetadata`, its `summary`,
//! then the involved object's group keys; the dedupe `token` is dropped.

use std::collections::{BTreeMap, HashMap};

use fluxrs_api::notification::{Alert, CrossNamespaceObjectReference, EventSeverity, FluxKind};
use kube::ResourceExt;
use regex::Regex;

use crate::event::{FluxEvent, SEVERITY_ERROR};
use fluxrs_runtime::events::EVENT_ANNOTATION_PREFIX;

/// Result of matching one Alert against one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The Alert takes the event.
    Match,
    /// The Alert takes the event if the live object's labels match one of
    /// these selectors (sources with `name: *` and `matchLabels`).
    IfLabels(Vec<BTreeMap<String, String>>),
    /// The Alert does not take the event.
    NoMatch,
}

/// Compiled `inclusionList`/`exclusionList` patterns, kept across events.
#[derive(Default)]
pub struct Patterns {
    compiled: HashMap<String, Result<Regex, String>>,
}

impl Patterns {
    /// Whether `pattern` matches anywhere in `text`; an invalid pattern is
    /// an error (with the compiler's message) and matches nothing.
    pub fn is_match(&mut self, pattern: &str, text: &str) -> Result<bool, String> {
        let compiled = self
            .compiled
            .entry(pattern.to_owned())
            .or_insert_with(|| Regex::new(pattern).map_err(|e| e.to_string()));
        match compiled {
            Ok(regex) => Ok(regex.is_match(text)),
            Err(message) => Err(format!("invalid regular expression {pattern:?}: {message}")),
        }
    }
}

/// The CRD spelling of a kind (`OCIRepository`).
pub fn kind_name(kind: FluxKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Matches `alert` against `event`; invalid patterns are returned for the
/// caller to report and count as not matching.
pub fn match_alert(
    alert: &Alert,
    event: &FluxEvent,
    no_cross_namespace_refs: bool,
    patterns: &mut Patterns,
    invalid: &mut Vec<String>,
) -> Verdict {
    if alert.spec.suspend.unwrap_or(false) {
        return Verdict::NoMatch;
    }
    let severity = alert.spec.event_severity.unwrap_or_default();
    if severity == EventSeverity::Error && event.severity != SEVERITY_ERROR {
        return Verdict::NoMatch;
    }
    let alert_namespace = alert.namespace().unwrap_or_default();
    let mut selectors = Vec::new();
    let mut matched = false;
    for source in &alert.spec.event_sources {
        let namespace = source.namespace.as_deref().unwrap_or(&alert_namespace);
        if no_cross_namespace_refs && namespace != alert_namespace {
            continue;
        }
        if !names_object(source, namespace, event) {
            continue;
        }
        match source.match_labels.as_ref().filter(|_| source.name == "*") {
            Some(labels) if !labels.is_empty() => selectors.push(labels.clone()),
            _ => matched = true,
        }
    }
    if !matched && selectors.is_empty() {
        return Verdict::NoMatch;
    }
    if !message_passes(alert, &event.message, patterns, invalid) {
        return Verdict::NoMatch;
    }
    if matched {
        Verdict::Match
    } else {
        Verdict::IfLabels(selectors)
    }
}

fn names_object(
    source: &CrossNamespaceObjectReference,
    namespace: &str,
    event: &FluxEvent,
) -> bool {
    event.namespace() == namespace
        && event.kind() == kind_name(source.kind)
        && (source.name == "*" || source.name == event.name())
}

fn message_passes(
    alert: &Alert,
    message: &str,
    patterns: &mut Patterns,
    invalid: &mut Vec<String>,
) -> bool {
    let mut matches = |list: &Option<Vec<String>>| -> bool {
        list.iter().flatten().any(|pattern| {
            patterns.is_match(pattern, message).unwrap_or_else(|e| {
                invalid.push(e);
                false
            })
        })
    };
    let included = alert.spec.inclusion_list.as_ref().is_none_or(Vec::is_empty)
        || matches(&alert.spec.inclusion_list);
    included && !matches(&alert.spec.exclusion_list)
}

/// Whether `labels` contain every pair of one of `selectors`.
pub fn labels_match(
    selectors: &[BTreeMap<String, String>],
    labels: &BTreeMap<String, String>,
) -> bool {
    selectors
        .iter()
        .any(|selector| selector.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// The event the Alert's Provider receives (module docs), and the metadata
/// keys whose value was overridden by a higher-precedence source.
pub fn forwarded(alert: &Alert, event: &FluxEvent) -> (FluxEvent, Vec<String>) {
    let group = format!("{}/", event.group());
    let mut metadata = BTreeMap::new();
    let mut conflicts = Vec::new();
    let mut merge = |key: &str, value: &str| {
        if let Some(previous) = metadata.insert(key.to_owned(), value.to_owned())
            && previous != value
        {
            conflicts.push(key.to_owned());
        }
    };
    for (key, value) in &event.metadata {
        if let Some(key) = key.strip_prefix(EVENT_ANNOTATION_PREFIX) {
            merge(key, value);
        }
    }
    for (key, value) in alert.spec.event_metadata.iter().flatten() {
        merge(key, value);
    }
    if let Some(summary) = alert.spec.summary.as_deref().filter(|s| !s.is_empty()) {
        merge("summary", summary);
    }
    for (key, value) in &event.metadata {
        if let Some(key) = key.strip_prefix(&group)
            && key != "token"
        {
            merge(key, value);
        }
    }
    let forwarded = FluxEvent {
        metadata,
        ..event.clone()
    };
    (forwarded, conflicts)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ObjectReference;

    use super::*;

    /// The seed Alert, verbatim.
    const SEED_ALERT: &str = r#"
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: deployment-alerts
  namespace: flux-system
spec:
  providerRef:
    name: slack
  eventSeverity: error
  eventSources:
    - kind: Kustomization
      name: "*"
    - kind: HelmRelease
      name: "*"
  exclusionList:
    - ".*upgrade.*retries exhausted.*"
  summary: "Flux deployment issue detected"
"#;

    fn seed_alert() -> Alert {
        serde_yaml_ng::from_str(SEED_ALERT).expect("seed Alert parses")
    }

    fn event(kind: &str, namespace: &str, severity: &str, message: &str) -> FluxEvent {
        let group = match kind {
            "HelmRelease" => "helm.toolkit.fluxcd.io/v2",
            "GitRepository" => "source.toolkit.fluxcd.io/v1",
            _ => "kustomize.toolkit.fluxcd.io/v1",
        };
        FluxEvent {
            involved_object: ObjectReference {
                api_version: Some(group.into()),
                kind: Some(kind.into()),
                name: Some("app".into()),
                namespace: Some(namespace.into()),
                ..ObjectReference::default()
            },
            severity: severity.into(),
            timestamp: "2024-01-01T00:00:00Z".into(),
            message: message.into(),
            reason: "Reason".into(),
            metadata: BTreeMap::new(),
            reporting_controller: "kustomize-controller".into(),
            reporting_instance: String::new(),
        }
    }

    fn verdict(alert: &Alert, event: &FluxEvent) -> Verdict {
        let mut invalid = Vec::new();
        let verdict = match_alert(alert, event, false, &mut Patterns::default(), &mut invalid);
        assert!(invalid.is_empty(), "{invalid:?}");
        verdict
    }

    #[test]
    fn seed_alert_takes_errors_of_kustomizations_and_helmreleases() {
        let alert = seed_alert();
        let ns = "flux-system";
        assert_eq!(
            verdict(&alert, &event("Kustomization", ns, "error", "build failed")),
            Verdict::Match
        );
        assert_eq!(
            verdict(&alert, &event("HelmRelease", ns, "error", "install failed")),
            Verdict::Match
        );
        assert_eq!(
            verdict(&alert, &event("Kustomization", ns, "info", "applied")),
            Verdict::NoMatch,
            "severity error drops info events"
        );
        assert_eq!(
            verdict(&alert, &event("GitRepository", ns, "error", "fetch failed")),
            Verdict::NoMatch,
            "not an event source"
        );
        assert_eq!(
            verdict(
                &alert,
                &event("Kustomization", "apps", "error", "build failed")
            ),
            Verdict::NoMatch,
            "sources default to the Alert's namespace"
        );
        assert_eq!(
            verdict(
                &alert,
                &event(
                    "HelmRelease",
                    ns,
                    "error",
                    "Helm upgrade failed: upgrade retries exhausted"
                )
            ),
            Verdict::NoMatch,
            "the exclusion regex drops it"
        );
    }

    #[test]
    fn info_severity_takes_everything_and_inclusion_narrows() {
        let mut alert = seed_alert();
        alert.spec.event_severity = Some(EventSeverity::Info);
        alert.spec.inclusion_list = Some(vec!["^Applied".into()]);
        let ns = "flux-system";
        assert_eq!(
            verdict(
                &alert,
                &event("Kustomization", ns, "info", "Applied revision")
            ),
            Verdict::Match
        );
        assert_eq!(
            verdict(&alert, &event("Kustomization", ns, "error", "build failed")),
            Verdict::NoMatch
        );
        alert.spec.suspend = Some(true);
        assert_eq!(
            verdict(
                &alert,
                &event("Kustomization", ns, "info", "Applied revision")
            ),
            Verdict::NoMatch
        );
    }

    #[test]
    fn names_namespaces_and_labels() {
        let mut alert = seed_alert();
        alert.spec.event_sources = vec![
            CrossNamespaceObjectReference {
                api_version: None,
                kind: FluxKind::Kustomization,
                name: "other".into(),
                namespace: Some("apps".into()),
                match_labels: None,
            },
            CrossNamespaceObjectReference {
                api_version: None,
                kind: FluxKind::Kustomization,
                name: "*".into(),
                namespace: Some("apps".into()),
                match_labels: Some(BTreeMap::from([("team".into(), "web".into())])),
            },
        ];
        let failed = event("Kustomization", "apps", "error", "build failed");
        let selectors = vec![BTreeMap::from([("team".to_owned(), "web".to_owned())])];
        assert_eq!(
            verdict(&alert, &failed),
            Verdict::IfLabels(selectors.clone())
        );
        assert!(labels_match(
            &selectors,
            &BTreeMap::from([("team".into(), "web".into()), ("x".into(), "y".into())])
        ));
        assert!(!labels_match(&selectors, &BTreeMap::new()));
        let mut invalid = Vec::new();
        assert_eq!(
            match_alert(
                &alert,
                &failed,
                true,
                &mut Patterns::default(),
                &mut invalid
            ),
            Verdict::NoMatch,
            "--no-cross-namespace-refs"
        );
    }

    #[test]
    fn invalid_patterns_are_reported_and_match_nothing() {
        let mut alert = seed_alert();
        alert.spec.exclusion_list = Some(vec!["(unclosed".into()]);
        let mut invalid = Vec::new();
        let failed = event("Kustomization", "flux-system", "error", "(unclosed");
        assert_eq!(
            match_alert(
                &alert,
                &failed,
                false,
                &mut Patterns::default(),
                &mut invalid
            ),
            Verdict::Match
        );
        assert_eq!(invalid.len(), 1);
    }

    #[test]
    fn forwarded_metadata_is_merged_by_precedence() {
        let mut alert = seed_alert();
        alert.spec.event_metadata = Some(BTreeMap::from([
            ("env".into(), "production".into()),
            ("cluster".into(), "eu-1".into()),
        ]));
        let mut failed = event("Kustomization", "flux-system", "error", "build failed");
        failed.metadata = BTreeMap::from([
            ("event.toolkit.fluxcd.io/env".into(), "staging".into()),
            (
                "kustomize.toolkit.fluxcd.io/revision".into(),
                "main@sha1:abc".into(),
            ),
            ("kustomize.toolkit.fluxcd.io/token".into(), "t".into()),
        ]);
        let (forwarded, conflicts) = forwarded(&alert, &failed);
        assert_eq!(
            forwarded.metadata,
            BTreeMap::from([
                ("cluster".into(), "eu-1".into()),
                ("env".into(), "production".into()),
                ("revision".into(), "main@sha1:abc".into()),
                ("summary".into(), "Flux deployment issue detected".into()),
            ])
        );
        assert_eq!(conflicts, ["env"]);
        assert_eq!(forwarded.message, failed.message);
    }
}
