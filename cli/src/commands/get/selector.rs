//! `--status-selector type=status` / `type!=status`: keep objects by a
//! condition, ignoring case, as `flux get` does.

use std::str::FromStr;

use fluxrs_runtime::conditions::types;

use crate::kinds::{FluxKind, ready_cells};

/// A parsed `--status-selector`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusSelector {
    condition: String,
    status: String,
    negate: bool,
}

impl FromStr for StatusSelector {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            format!(
                "invalid status selector {text:?}, expected <condition>=<status> or <condition>!=<status>, e.g. ready=false"
            )
        };
        let (condition, status, negate) = match text.split_once("!=") {
            Some((c, s)) => (c, s, true),
            None => text
                .split_once('=')
                .map(|(c, s)| (c, s, false))
                .ok_or_else(invalid)?,
        };
        let (condition, status) = (condition.trim(), status.trim());
        if condition.is_empty() || status.is_empty() || status.contains('=') {
            return Err(invalid());
        }
        Ok(Self {
            condition: condition.into(),
            status: status.into(),
            negate,
        })
    }
}

impl StatusSelector {
    /// Whether `obj` is selected. The Ready condition is read as the READY
    /// column shows it (no condition counts as `False`, static objects as
    /// `True`); any other condition type must be present to match `=`.
    pub fn matches<K: FluxKind>(&self, obj: &K) -> bool {
        let actual = if self.condition.eq_ignore_ascii_case(types::READY) {
            Some(ready_cells(obj).0)
        } else {
            obj.conditions()
                .iter()
                .find(|c| c.type_.eq_ignore_ascii_case(&self.condition))
                .map(|c| c.status.clone())
        };
        self.matches_status(actual.as_deref())
    }

    /// Whether a condition with status `actual` (`None`: absent) is selected.
    fn matches_status(&self, actual: Option<&str>) -> bool {
        match actual {
            Some(status) => status.eq_ignore_ascii_case(&self.status) != self.negate,
            None => self.negate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(text: &str) -> StatusSelector {
        text.parse().unwrap()
    }

    #[test]
    fn parses_equality_and_inequality() {
        assert_eq!(
            selector("ready=false"),
            StatusSelector {
                condition: "ready".into(),
                status: "false".into(),
                negate: false
            }
        );
        assert_eq!(
            selector("Stalled!=True"),
            StatusSelector {
                condition: "Stalled".into(),
                status: "True".into(),
                negate: true
            }
        );
    }

    #[test]
    fn refuses_malformed_selectors() {
        for bad in ["ready", "=false", "ready=", "ready==false", "!=x"] {
            assert!(bad.parse::<StatusSelector>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn matches_ignoring_case() {
        assert!(selector("ready=false").matches_status(Some("False")));
        assert!(!selector("ready=false").matches_status(Some("True")));
        assert!(selector("ready!=true").matches_status(Some("Unknown")));
        assert!(!selector("stalled=true").matches_status(None));
        assert!(selector("stalled!=true").matches_status(None));
    }

    #[test]
    fn objects_without_ready_condition_are_not_ready() {
        let repo: fluxrs_api::source::GitRepository = serde_json::from_value(serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "app", "namespace": "apps"},
            "spec": {"url": "https://example.com/app", "interval": "1m"}
        }))
        .unwrap();
        assert!(selector("ready=false").matches(&repo));
        assert!(!selector("ready=true").matches(&repo));
    }
}
