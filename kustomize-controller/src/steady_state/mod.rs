//! Cheap steady state: a reconcile whose inputs are unchanged and whose
//! managed objects nobody touched since the last apply does no per-object
//! work at all.
//!
//! Flux dry-runs every object at every interval to find drift; on a small
//! machine those requests are the API server's main load. Here a successful
//! apply leaves a [`Record`]: a digest of everything the build depended on
//! (source artifact, Kustomization generation, substitution and decryption
//! inputs) and the version of every object it left behind. The next reconcile
//! compares the digest, and asks the [`Tracker`] (metadata-only watches of
//! managed objects) whether any object changed. Only when something did is the
//! artifact fetched, built and applied again, so drift is still corrected at
//! every interval.
//!
//! An object counts as untouched when its `resourceVersion` is the one the
//! apply left, or, for kinds whose `generation` moves on every spec change,
//! when the generation is unchanged and every label and annotation we applied
//! is still there with our value (status writes and other controllers'
//! annotations do not make a Deployment "drifted"). Health is reused the same
//! way: an object seen Current at a `resourceVersion` is still Current while
//! that version stands.

mod tracker;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::apply::{Action, Change, LiveVersion};
use crate::inventory::ObjectId;
pub use tracker::{LiveMeta, Lookup, Tracker};

/// Built-in kinds whose `metadata.generation` changes on every change outside
/// metadata and status; custom resources always behave this way.
const GENERATION_TRACKED: &[(&str, &str)] = &[
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("apps", "ReplicaSet"),
    ("batch", "Job"),
    ("batch", "CronJob"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("networking.k8s.io", "Ingress"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("policy", "PodDisruptionBudget"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
];

/// Groups served by the API server itself (their kinds are not custom
/// resources).
fn built_in_group(group: &str) -> bool {
    !group.contains('.') || group.ends_with(".k8s.io") || group == "apiextensions.k8s.io"
}

fn generation_tracked(id: &ObjectId) -> bool {
    !built_in_group(&id.group)
        || GENERATION_TRACKED
            .iter()
            .any(|(group, kind)| *group == id.group && *kind == id.kind)
}

/// Digest of the inputs of one build: equal digests build equal objects.
#[derive(Default)]
pub struct InputDigest(Sha256);

impl InputDigest {
    /// Adds one named input.
    pub fn add(&mut self, name: &str, value: &[u8]) {
        self.0.update((name.len() as u64).to_le_bytes());
        self.0.update(name.as_bytes());
        self.0.update((value.len() as u64).to_le_bytes());
        self.0.update(value);
    }

    /// The final digest, hex encoded.
    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// One object as the last apply left it.
#[derive(Clone, Debug)]
struct Tracked {
    id: ObjectId,
    live: Option<LiveVersion>,
    skipped: bool,
    /// Labels and annotations we applied, which must still hold.
    applied_metadata: BTreeMap<String, String>,
    /// The `resourceVersion` at which the object was last seen healthy.
    healthy_at: Option<String>,
}

/// What a successful apply of one Kustomization left behind.
#[derive(Clone, Debug)]
pub struct Record {
    inputs: String,
    /// `status.inventory` entry ids after that apply.
    inventory: Vec<String>,
    objects: Vec<Tracked>,
    /// Whether health was checked and passed (`None`: not configured).
    healthy: Option<bool>,
    /// A health-checked object this apply does not manage: its health
    /// cannot be inferred from our watches.
    health_outside: Option<ObjectId>,
}

impl Record {
    /// A record of `changes`, applied from `objects` (the manifests sent),
    /// built from inputs with digest `inputs`.
    pub fn new(
        inputs: String,
        inventory: Vec<String>,
        objects: &[Value],
        changes: &[Change],
    ) -> Self {
        let applied: HashMap<ObjectId, BTreeMap<String, String>> = objects
            .iter()
            .filter_map(|o| Some((ObjectId::of(o)?.0, applied_metadata(o))))
            .collect();
        let objects = changes
            .iter()
            .map(|change| Tracked {
                id: change.id.clone(),
                live: change.live.clone(),
                skipped: change.action == Action::Skipped,
                applied_metadata: applied.get(&change.id).cloned().unwrap_or_default(),
                healthy_at: None,
            })
            .collect();
        Self {
            inputs,
            inventory,
            objects,
            healthy: None,
            health_outside: None,
        }
    }

    /// Notes the health check result: which objects were Current at which
    /// `resourceVersion`.
    pub fn with_health(
        mut self,
        healthy: Option<bool>,
        current: &HashMap<ObjectId, String>,
    ) -> Self {
        self.healthy = healthy;
        for tracked in &mut self.objects {
            tracked.healthy_at = current.get(&tracked.id).cloned();
        }
        self.health_outside = current
            .keys()
            .find(|id| !self.objects.iter().any(|t| &t.id == *id))
            .cloned();
        self
    }
}

fn applied_metadata(object: &Value) -> BTreeMap<String, String> {
    ["labels", "annotations"]
        .iter()
        .filter_map(|field| object.pointer(&format!("/metadata/{field}"))?.as_object())
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

/// Why a reconcile cannot be skipped (for the debug log).
#[derive(Debug, PartialEq, Eq)]
pub enum Changed {
    /// No successful apply since the controller started.
    NoRecord,
    /// Source, spec or substitution/decryption inputs differ.
    Inputs,
    /// `status.inventory` is not what the last apply wrote.
    Inventory,
    /// The watch of a managed kind is not in sync.
    Unknown(ObjectId),
    /// A managed object is gone or changed.
    Drifted(ObjectId),
    /// A health-checked object changed since it was seen healthy.
    HealthUnknown(ObjectId),
}

/// What the last apply of each Kustomization left behind, by UID.
pub struct SteadyState {
    tracker: Tracker,
    records: Mutex<HashMap<String, Record>>,
}

impl SteadyState {
    /// Empty state over `tracker`.
    pub fn new(tracker: Tracker) -> Self {
        Self {
            tracker,
            records: Mutex::default(),
        }
    }

    /// The watches; kinds are added as they are applied.
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// Stores the record of a successful apply.
    pub fn remember(&self, uid: &str, record: Record) {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uid.to_string(), record);
    }

    /// Drops the record (failed or deleted Kustomization).
    pub fn forget(&self, uid: &str) {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
    }

    /// `Ok(healthy)` when nothing changed since the last apply with digest
    /// `inputs` and inventory `inventory`; else what changed.
    pub fn unchanged(
        &self,
        uid: &str,
        inputs: &str,
        inventory: &[String],
    ) -> Result<Option<bool>, Changed> {
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let record = records.get(uid).ok_or(Changed::NoRecord)?;
        if record.inputs != inputs {
            return Err(Changed::Inputs);
        }
        if record.inventory != inventory {
            return Err(Changed::Inventory);
        }
        if let Some(id) = &record.health_outside {
            return Err(Changed::HealthUnknown(id.clone()));
        }
        for tracked in &record.objects {
            let live = match self.tracker.lookup(&tracked.id) {
                Lookup::Unknown => return Err(Changed::Unknown(tracked.id.clone())),
                Lookup::Absent => return Err(Changed::Drifted(tracked.id.clone())),
                Lookup::Present(live) => live,
            };
            if !tracked.skipped && !untouched(tracked, &live) {
                return Err(Changed::Drifted(tracked.id.clone()));
            }
            if record.healthy == Some(true)
                && tracked.healthy_at.is_some()
                && tracked.healthy_at.as_deref() != Some(live.resource_version.as_str())
            {
                return Err(Changed::HealthUnknown(tracked.id.clone()));
            }
        }
        Ok(record.healthy)
    }
}

fn untouched(tracked: &Tracked, live: &LiveMeta) -> bool {
    let Some(applied) = &tracked.live else {
        return false;
    };
    if applied.resource_version == live.resource_version {
        return true;
    }
    generation_tracked(&tracked.id)
        && applied.generation.is_some()
        && applied.generation == live.generation
        && tracked
            .applied_metadata
            .iter()
            .all(|(k, v)| live.metadata.get(k) == Some(v))
}

#[cfg(test)]
mod tests;
