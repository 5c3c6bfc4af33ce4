//! An ordered list of resources with kustomize's id rules: no two resources
//! may share a current id, and lookups may match current or previous ids.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::kustomization::Selector;
use crate::resource::{Behavior, Gvk, ResId, Resource};
use crate::transformers::selector::SelectorMatcher;

/// The identity kustomize compares ids by: gvk, name and effective
/// namespace.
type IdKey = (Gvk, String, String);

fn id_key(id: &ResId) -> IdKey {
    (
        id.gvk.clone(),
        id.name.clone(),
        id.effective_namespace().to_string(),
    )
}

/// Resources in build order.
#[derive(Debug, Clone, Default)]
pub struct ResMap {
    resources: Vec<Resource>,
    /// Current ids of `resources`, when known to be up to date (any mutable
    /// access drops it).
    ids: Option<HashSet<IdKey>>,
}

impl ResMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The resources, in order.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// The resources, mutably.
    pub fn resources_mut(&mut self) -> &mut Vec<Resource> {
        self.ids = None;
        &mut self.resources
    }

    /// Consumes the map.
    pub fn into_resources(self) -> Vec<Resource> {
        self.resources
    }

    /// Appends a resource; fails when its current id is taken.
    pub fn append(&mut self, res: Resource) -> Result<()> {
        let resources = &self.resources;
        let ids = self
            .ids
            .get_or_insert_with(|| resources.iter().map(|r| id_key(&r.cur_id())).collect());
        let id = res.cur_id();
        if !ids.insert(id_key(&id)) {
            return Err(Error::IdConflict {
                id: id.display(),
                origin: res.origin().to_string(),
            });
        }
        self.resources.push(res);
        Ok(())
    }

    /// Appends every resource of `other`.
    pub fn append_all(&mut self, other: ResMap) -> Result<()> {
        for r in other.resources {
            self.append(r)?;
        }
        Ok(())
    }

    /// Indexes of resources whose current or any previous id equals `id`.
    pub fn indexes_by_any_id(&self, id: &ResId) -> Vec<usize> {
        self.resources
            .iter()
            .enumerate()
            .filter(|(_, r)| r.cur_id().same_as(id) || r.prev_ids().iter().any(|p| p.same_as(id)))
            .map(|(i, _)| i)
            .collect()
    }

    /// Indexes of resources matched by a patch/replacement selector.
    pub fn select(&self, selector: &Selector) -> Result<Vec<usize>, String> {
        let matcher = SelectorMatcher::new(selector)?;
        Ok(self
            .resources
            .iter()
            .enumerate()
            .filter(|(_, r)| matcher.matches(r))
            .map(|(i, _)| i)
            .collect())
    }

    /// Adds a generated resource according to its behavior (kustomize's
    /// `appendReplaceOrMerge`).
    pub fn absorb(&mut self, mut res: Resource) -> Result<(), String> {
        let id = res.cur_id();
        let matches = self.indexes_by_any_id(&id);
        match matches.as_slice() {
            [] => match res.behavior {
                Behavior::Create => self.append(res).map_err(|e| e.to_string()),
                Behavior::Merge | Behavior::Replace => Err(format!(
                    "id {} does not exist; cannot merge or replace",
                    id.display()
                )),
            },
            [index] => {
                let old = &self.resources[*index];
                match res.behavior {
                    Behavior::Create => {
                        return Err(format!(
                            "id {} exists; behavior must be merge or replace",
                            id.display()
                        ));
                    }
                    Behavior::Replace => copy_merge_metadata(&mut res, old),
                    Behavior::Merge => {
                        copy_merge_metadata(&mut res, old);
                        merge_data_from(&mut res, old, "data");
                        merge_data_from(&mut res, old, "binaryData");
                    }
                }
                self.ids = None;
                self.resources[*index] = res;
                Ok(())
            }
            _ => Err(format!(
                "found multiple objects that could accept merge of {}",
                id.display()
            )),
        }
    }
}

/// kustomize's `CopyMergeMetaDataFieldsFrom`: labels and annotations are
/// merged (the new object's win), name, namespace and bookkeeping come from
/// `old`.
fn copy_merge_metadata(res: &mut Resource, old: &Resource) {
    for field in ["labels", "annotations"] {
        let mut merged = old.value()["metadata"][field]
            .as_object()
            .cloned()
            .unwrap_or_default();
        if let Some(new) = res.value()["metadata"][field].as_object() {
            for (k, v) in new {
                merged.insert(k.clone(), v.clone());
            }
        }
        let meta = crate::resource::ensure_object(
            crate::resource::ensure_object(res.value_mut())
                .entry("metadata")
                .or_insert_with(|| serde_json::Value::Object(Default::default())),
        );
        if merged.is_empty() {
            meta.remove(field);
        } else {
            meta.insert(field.into(), serde_json::Value::Object(merged));
        }
    }
    res.set_name(old.name());
    if old.namespace().is_empty() {
        if let Some(meta) = res.value_mut()["metadata"].as_object_mut() {
            meta.remove("namespace");
        }
    } else {
        res.set_namespace(old.namespace());
    }
    res.copy_bookkeeping_from(old);
    res.behavior = old.behavior;
}

fn merge_data_from(res: &mut Resource, old: &Resource, field: &str) {
    let mut merged = old.value()[field].as_object().cloned().unwrap_or_default();
    if let Some(new) = res.value()[field].as_object() {
        for (k, v) in new {
            merged.insert(k.clone(), v.clone());
        }
    }
    if !merged.is_empty() {
        crate::resource::ensure_object(res.value_mut())
            .insert(field.into(), serde_json::Value::Object(merged));
    }
}
