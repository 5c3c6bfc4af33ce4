//! Alert v1beta3: which events are forwarded to which Provider.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::CrossNamespaceObjectReference;
use crate::meta::{Condition, FluxObject, LocalObjectReference};

/// The desired state of an Alert. Alerts are configuration only: v1beta3 has
/// no status.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "notification.toolkit.fluxcd.io",
    version = "v1beta3",
    kind = "Alert",
    namespaced,
    category = "all",
    category = "fluxcd",
    category = "fluxcd-notifications",
    doc = "Alert is the Schema for the alerts API.",
    derive = "PartialEq",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AlertSpec {
    /// ProviderRef names the Provider, in the Alert's namespace, events are
    /// sent to.
    pub provider_ref: LocalObjectReference,
    /// EventSeverity filters events by severity: 'info' forwards every event,
    /// 'error' only error events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "info"))]
    pub event_severity: Option<EventSeverity>,
    /// EventSources lists the Flux objects whose events are forwarded.
    pub event_sources: Vec<CrossNamespaceObjectReference>,
    /// InclusionList holds regular expressions; when set, only events whose
    /// message matches one of them are forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion_list: Option<Vec<String>>,
    /// EventMetadata is added to the metadata of every forwarded event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_metadata: Option<BTreeMap<String, String>>,
    /// ExclusionList holds regular expressions; events whose message matches
    /// any of them are dropped (checked after InclusionList).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusion_list: Option<Vec<String>>,
    /// Summary is added to the event metadata under the `summary` key.
    /// Deprecated: use EventMetadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub summary: Option<String>,
    /// Suspend makes the Alert drop every event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

/// Severity of a Flux event, and the minimum severity an Alert forwards.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventSeverity {
    /// Informational events (for an Alert: every event).
    #[default]
    Info,
    /// Error events.
    Error,
}

impl FluxObject for Alert {
    fn conditions(&self) -> &[Condition] {
        &[]
    }
    fn observed_generation(&self) -> Option<i64> {
        None
    }
    fn last_handled_reconcile_at(&self) -> Option<&str> {
        None
    }
    fn suspended(&self) -> bool {
        self.spec.suspend.unwrap_or(false)
    }
    fn interval(&self) -> Option<&str> {
        None
    }
}
