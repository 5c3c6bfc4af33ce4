//! Resources as kustomize tracks them: the object itself plus the
//! bookkeeping kustomize keeps in internal annotations (previous ids for
//! name references, applied prefixes/suffixes, generator options).

mod id;
mod scope;

use serde_json::{Map, Value};

pub use id::{Gvk, ResId};
pub use scope::is_cluster_scoped;

/// How a generated object combines with an existing one of the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behavior {
    /// Must not exist yet.
    #[default]
    Create,
    /// Replaces the existing object.
    Replace,
    /// Merges its data into the existing object.
    Merge,
}

/// One Kubernetes object in a build.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    obj: Value,
    prev_ids: Vec<ResId>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
    pub(crate) behavior: Behavior,
    pub(crate) needs_hash: bool,
    origin: String,
}

impl Resource {
    /// Wraps an object; `origin` names where it came from (for errors).
    pub fn new(obj: Value, origin: impl Into<String>) -> Self {
        Self {
            obj,
            prev_ids: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            behavior: Behavior::Create,
            needs_hash: false,
            origin: origin.into(),
        }
    }

    /// Where the object came from: its file, or the kustomization that
    /// generated it.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The object.
    pub fn value(&self) -> &Value {
        &self.obj
    }

    /// The object, mutably.
    pub fn value_mut(&mut self) -> &mut Value {
        &mut self.obj
    }

    /// Consumes the resource, returning the object.
    pub fn into_value(self) -> Value {
        self.obj
    }

    fn str_at(&self, path: &[&str]) -> &str {
        let mut v = &self.obj;
        for p in path {
            match v.get(p) {
                Some(next) => v = next,
                None => return "",
            }
        }
        v.as_str().unwrap_or("")
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        self.str_at(&["kind"])
    }

    /// `apiVersion`.
    pub fn api_version(&self) -> &str {
        self.str_at(&["apiVersion"])
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.str_at(&["metadata", "name"])
    }

    /// `metadata.namespace`.
    pub fn namespace(&self) -> &str {
        self.str_at(&["metadata", "namespace"])
    }

    /// The current group/version/kind.
    pub fn gvk(&self) -> Gvk {
        Gvk::from_api_version(self.api_version(), self.kind())
    }

    /// The current id.
    pub fn cur_id(&self) -> ResId {
        ResId::new(self.gvk(), self.name(), self.namespace())
    }

    /// The id the object had when it entered the build.
    pub fn org_id(&self) -> ResId {
        self.prev_ids
            .first()
            .cloned()
            .unwrap_or_else(|| self.cur_id())
    }

    /// Every id the object had before its current one, oldest first.
    pub fn prev_ids(&self) -> &[ResId] {
        &self.prev_ids
    }

    /// Records the current id as a previous one, before a rename.
    pub fn store_previous_id(&mut self) {
        let id = self.cur_id();
        self.prev_ids.push(id);
    }

    /// Prefixes applied so far, outermost last.
    pub fn prefixes(&self) -> &[String] {
        &self.prefixes
    }

    /// Suffixes applied so far, outermost last.
    pub fn suffixes(&self) -> &[String] {
        &self.suffixes
    }

    pub(crate) fn add_prefix(&mut self, p: &str) {
        self.prefixes.push(p.to_string());
    }

    pub(crate) fn add_suffix(&mut self, s: &str) {
        self.suffixes.push(s.to_string());
    }

    /// Whether both saw the same trailing prefixes and suffixes (kustomize's
    /// `PrefixesSuffixesEquals`).
    pub fn same_prefixes_suffixes(&self, other: &Resource) -> bool {
        same_ending(&self.prefixes, &other.prefixes) && same_ending(&self.suffixes, &other.suffixes)
    }

    fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let obj = ensure_object(&mut self.obj);
        ensure_object(
            obj.entry("metadata")
                .or_insert_with(|| Value::Object(Map::new())),
        )
    }

    /// Sets `metadata.name`.
    pub fn set_name(&mut self, name: &str) {
        self.metadata_mut()
            .insert("name".into(), Value::String(name.into()));
    }

    /// Sets `metadata.namespace`.
    pub fn set_namespace(&mut self, ns: &str) {
        self.metadata_mut()
            .insert("namespace".into(), Value::String(ns.into()));
    }

    /// Copies kustomize's bookkeeping from `other` (used when a patch or a
    /// merge replaces the object).
    pub(crate) fn copy_bookkeeping_from(&mut self, other: &Resource) {
        self.prev_ids = other.prev_ids.clone();
        self.prefixes = other.prefixes.clone();
        self.suffixes = other.suffixes.clone();
        self.needs_hash = other.needs_hash;
    }
}

/// Makes `v` an object (replacing a non-object) and returns its map.
pub(crate) fn ensure_object(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut().expect("just made an object")
}

fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return long.is_empty();
    }
    let diff = long.len() - short.len();
    short.iter().enumerate().all(|(i, s)| long[i + diff] == *s)
}
