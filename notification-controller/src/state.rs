//! The controller state that must survive restarts, in one ConfigMap in the
//! controller's namespace (`RUNTIME_NAMESPACE`).
//!
//! It holds the event [`CursorState`] (what was handled) and the dedupe
//! entries (what was announced recently), as JSON under [`STATE_KEY`]. The
//! ConfigMap is written with server-side apply under the controller's field
//! manager; a missing ConfigMap means a first start.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::cursor::CursorState;
use crate::dedupe::Entry;
use crate::{Error, Result};

/// Name of the state ConfigMap.
pub const STATE_CONFIGMAP: &str = "notification-controller-state";
/// Data key holding the JSON state.
pub const STATE_KEY: &str = "state.json";

/// Everything persisted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistedState {
    /// Handled Event occurrences.
    #[serde(default)]
    pub cursor: CursorState,
    /// Recent announcements by dedupe key.
    #[serde(default)]
    pub dedupe: BTreeMap<String, Entry>,
}

/// Reads and writes the state ConfigMap.
#[derive(Clone)]
pub struct StateStore {
    api: Api<ConfigMap>,
    namespace: String,
    field_manager: String,
}

impl StateStore {
    /// The store in `namespace`, writing as `field_manager`.
    pub fn new(client: Client, namespace: &str, field_manager: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            field_manager: field_manager.to_owned(),
        }
    }

    fn name(&self) -> String {
        format!("{}/{STATE_CONFIGMAP}", self.namespace)
    }

    /// The persisted state, or `None` on a first start.
    ///
    /// Errors: [`Error::State`] when the API server cannot be read,
    /// [`Error::DecodeState`] when the data was tampered with.
    pub async fn load(&self) -> Result<Option<PersistedState>> {
        let config_map =
            self.api
                .get_opt(STATE_CONFIGMAP)
                .await
                .map_err(|source| Error::State {
                    operation: "read",
                    name: self.name(),
                    source,
                })?;
        let Some(data) = config_map.and_then(|c| c.data?.remove(STATE_KEY)) else {
            return Ok(None);
        };
        serde_json::from_str(&data)
            .map(Some)
            .map_err(|source| Error::DecodeState {
                name: self.name(),
                source,
            })
    }

    /// Replaces the persisted state.
    ///
    /// Errors: [`Error::State`] when the API server rejects the write.
    pub async fn save(&self, state: &PersistedState) -> Result<()> {
        let data = serde_json::to_string(state).map_err(Error::EncodePayload)?;
        let body = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": { "name": STATE_CONFIGMAP, "namespace": self.namespace },
            "data": { STATE_KEY: data },
        });
        self.api
            .patch(
                STATE_CONFIGMAP,
                &PatchParams::apply(&self.field_manager).force(),
                &Patch::Apply(&body),
            )
            .await
            .map(drop)
            .map_err(|source| Error::State {
                operation: "write",
                name: self.name(),
                source,
            })
    }
}
