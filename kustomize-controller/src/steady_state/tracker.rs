//! Metadata-only watches of the objects Kustomizations manage.
//!
//! One cluster-wide watch per kind, filtered server-side to objects carrying
//! the ownership label, keeps each object's `resourceVersion`, `generation`,
//! labels and annotations in memory. Knowing these is enough to tell whether
//! anyone touched a managed object since the last apply, which is what lets a
//! no-op reconcile skip the per-object dry runs. Watches cost the API server
//! one long-lived connection per kind, not requests per reconcile.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject, PartialObjectMeta};
use kube::discovery::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use tracing::{debug, warn};

use crate::apply::NAME_LABEL;
use crate::inventory::ObjectId;

/// Annotation too large and too volatile to keep (client-side apply history).
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What a watch last saw of one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveMeta {
    /// `metadata.resourceVersion`.
    pub resource_version: String,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// Labels and annotations, in one map (keys cannot clash in practice:
    /// both are checked for the pairs we applied).
    pub metadata: BTreeMap<String, String>,
}

/// What the tracker knows about one object.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The kind is not watched yet, or its watch is not in sync.
    Unknown,
    /// The watch is in sync and the object is not there (or lost our label).
    Absent,
    /// The object as last seen.
    Present(LiveMeta),
}

type ObjectKey = (String, String);

#[derive(Default)]
struct KindWatch {
    synced: AtomicBool,
    objects: RwLock<HashMap<ObjectKey, LiveMeta>>,
}

impl KindWatch {
    fn apply(&self, object: &PartialObjectMeta<DynamicObject>) {
        if let Some((key, meta)) = live_meta(object) {
            self.objects
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key, meta);
        }
    }

    fn delete(&self, object: &PartialObjectMeta<DynamicObject>) {
        if let Some((key, _)) = live_meta(object) {
            self.objects
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
        }
    }
}

fn live_meta(object: &PartialObjectMeta<DynamicObject>) -> Option<(ObjectKey, LiveMeta)> {
    let metadata = &object.metadata;
    let key = (
        metadata.namespace.clone().unwrap_or_default(),
        metadata.name.clone()?,
    );
    let pairs = metadata
        .labels
        .iter()
        .flatten()
        .chain(metadata.annotations.iter().flatten())
        .filter(|(k, _)| k.as_str() != LAST_APPLIED)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some((
        key,
        LiveMeta {
            resource_version: metadata.resource_version.clone()?,
            generation: metadata.generation,
            metadata: pairs,
        },
    ))
}

/// The set of metadata watches, started on demand per kind.
pub struct Tracker {
    client: Client,
    kinds: Mutex<HashMap<(String, String), Arc<KindWatch>>>,
}

impl Tracker {
    /// A tracker watching with the controller's own identity.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            kinds: Mutex::default(),
        }
    }

    /// Starts watching `resource`'s kind unless it is watched already.
    pub fn watch(&self, resource: &ApiResource) {
        let key = (resource.group.clone(), resource.kind.clone());
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        if kinds.contains_key(&key) {
            return;
        }
        let state = Arc::new(KindWatch::default());
        kinds.insert(key, Arc::clone(&state));
        let api: Api<PartialObjectMeta<DynamicObject>> =
            Api::all_with(self.client.clone(), resource);
        let kind = resource.kind.clone();
        tokio::spawn(run_watch(api, kind, state));
    }

    /// What the watch of `id`'s kind knows about it.
    pub fn lookup(&self, id: &ObjectId) -> Lookup {
        let state = {
            let kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
            match kinds.get(&(id.group.clone(), id.kind.clone())) {
                Some(state) => Arc::clone(state),
                None => return Lookup::Unknown,
            }
        };
        if !state.synced.load(Ordering::Acquire) {
            return Lookup::Unknown;
        }
        let objects = state.objects.read().unwrap_or_else(|p| p.into_inner());
        match objects.get(&(id.namespace.clone(), id.name.clone())) {
            Some(meta) => Lookup::Present(meta.clone()),
            None => Lookup::Absent,
        }
    }
}

async fn run_watch(
    api: Api<PartialObjectMeta<DynamicObject>>,
    kind: String,
    state: Arc<KindWatch>,
) {
    let config = watcher::Config::default().labels(NAME_LABEL);
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut initial: HashMap<ObjectKey, LiveMeta> = HashMap::new();
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Init) => initial.clear(),
            Ok(Event::InitApply(object)) => {
                if let Some((key, meta)) = live_meta(&object) {
                    initial.insert(key, meta);
                }
            }
            Ok(Event::InitDone) => {
                *state.objects.write().unwrap_or_else(|p| p.into_inner()) =
                    std::mem::take(&mut initial);
                state.synced.store(true, Ordering::Release);
                debug!(kind = %kind, "managed objects watch in sync");
            }
            Ok(Event::Apply(object)) => state.apply(&object),
            Ok(Event::Delete(object)) => state.delete(&object),
            Err(error) => {
                // Until the watch has re-listed, the map may miss changes.
                state.synced.store(false, Ordering::Release);
                warn!(kind = %kind, %error, "managed objects watch failed, retrying");
            }
        }
    }
}
