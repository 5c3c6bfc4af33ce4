//! Patching Kubernetes objects the way kustomize does: strategic merge patches
//! with Kubernetes merge keys and strategies, and JSON 6902 patches.
//!
//! The reference is kustomize v5.5.0 (`kubectl kustomize`): both patch kinds
//! reproduce its results, including where they depart from the API server's
//! strategic merge patch and from RFC 6902 (see [`strategic_merge`] and
//! [`json6902`]). Merge keys and patch strategies come from a table generated
//! from the Kubernetes OpenAPI schema by `cargo xtask merge-keys`.
//!
//! Documents are `serde_json::Value`s as parsed from YAML; nothing here
//! depends on the order of map keys.

mod error;
mod json6902;
mod merge_keys;
mod node;
mod schema;
mod strategic;

use serde_json::Value;

pub use error::PatchError;

/// Applies a strategic merge patch to `target`, as kustomize's `patches` and
/// `patchesStrategicMerge` do.
///
/// Merge keys and patch strategies are looked up by the target's
/// `apiVersion`/`kind` (a version unknown to the schema falls back to another
/// version of the same group and kind) and by field path: containers, env,
/// volumes, ... merge by `name`, ports by `containerPort` and `protocol`;
/// lists with a `merge` strategy but no key (`finalizers`) gain the patch's
/// new values; other lists are replaced. Maps merge recursively, `null`
/// removes a field, and `$patch: delete|replace|merge` work on maps, lists
/// (as an item `{$patch: ...}`) and list items.
///
/// Kinds the schema does not know (custom resources) merge maps recursively
/// and replace lists, except inside an embedded object that names a known
/// `apiVersion` and `kind`.
///
/// # Caveats
///
/// This reproduces kustomize v5.5.0, not the API server: items the patch
/// mentions are moved to the front of the list, `$setElementOrder/…`,
/// `$retainKeys` and `$deleteFromPrimitiveList/…` are kept as ordinary
/// fields, and `$patch: replace` on a single list item has no effect.
/// Restoring the target's name, kind and namespace afterwards (unless the
/// patch allows changing them) is the caller's job, as in kustomize.
///
/// # Errors
///
/// [`PatchError::MergeKindMismatch`] when the patch has a map, list or scalar
/// where the target has another kind, [`PatchError::UnknownDirective`] for a
/// `$patch` value kustomize rejects. `target` is unchanged on error.
///
/// A `$patch: delete` at the top of the patch deletes the whole document:
/// `target` becomes `Value::Null`, and the caller should drop the resource.
pub fn strategic_merge(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    *target = strategic::merge(target, patch)?.unwrap_or(Value::Null);
    Ok(())
}

/// Applies a JSON 6902 patch (`operations`, a list of operation objects) to
/// `target`, as kustomize does.
///
/// Supports `add`, `remove`, `replace`, `move`, `copy` and `test` with RFC
/// 6901 pointers (`~0` for `~`, `~1` for `/`, `-` to append to a list), and
/// the leniencies kustomize's JSON patch library has: negative indexes count
/// from the end, `replace` of a missing map key adds it, `copy` from a missing
/// key copies `null`. Integers beyond 2^53 come out as floats, as they do
/// from kustomize's round trip through Go's `float64`.
///
/// # Errors
///
/// The first failing operation, with its position, `op` and pointer: a
/// missing parent ([`PatchError::Json6902MissingPath`]), a missing key to
/// remove or move ([`PatchError::Json6902MissingKey`]), a bad list index
/// ([`PatchError::Json6902InvalidIndex`]), a failed `test`
/// ([`PatchError::Json6902TestFailed`]), an unknown `op` or a missing
/// `path`/`from`. `target` is unchanged on error.
pub fn json6902(target: &mut Value, operations: &Value) -> Result<(), PatchError> {
    json6902::apply(target, operations)
}

/// Whether the text of a `patches` entry is a JSON 6902 patch (a JSON or
/// YAML list of operations) rather than strategic merge patch documents,
/// decided the way kustomize decides it: text starting with `[` must be a
/// JSON list, other text is read as YAML (its first document) and must be a
/// list; the items must be maps.
///
/// Only the first YAML document counts, as in kustomize: parse only that one
/// into the operations given to [`json6902`].
///
/// An empty list (`[]`) is reported as JSON 6902, but kustomize rejects it
/// because it also reads as zero strategic merge patches ("illegally
/// qualifies as both an SM and JSON patch"); callers should reject it too.
pub fn is_json6902(patch_text: &str) -> bool {
    json6902::is_json6902(patch_text)
}

/// The patch strategy of a field of a built-in kind, from the Kubernetes
/// OpenAPI schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeInfo {
    /// `x-kubernetes-patch-merge-key`: the field identifying list items
    /// (`name` for containers). Lists with several identifying fields
    /// (`x-kubernetes-list-map-keys`, e.g. ports by `containerPort` and
    /// `protocol`) are merged on all of them.
    pub merge_key: Option<String>,
    /// `x-kubernetes-patch-strategy`, split on commas, in schema order:
    /// `["merge"]`, `["merge", "retainKeys"]`, `["replace"]`, ...
    pub strategy: Vec<String>,
}

/// The merge key and patch strategy of the field at `path` (map fields from
/// the top of the document; list items are stepped through, so the ports of
/// a Deployment's containers are `["spec", "template", "spec", "containers",
/// "ports"]`).
///
/// `None` when the kind is not built in, the path is unknown, or the field
/// has no patch strategy. Fields that a strategic merge patch never merges
/// item by item, such as those below lists that are replaced as a whole, are
/// not in the table and also give `None`.
pub fn merge_info(api_version: &str, kind: &str, path: &[&str]) -> Option<MergeInfo> {
    let mut schema = schema::Schema::for_kind(api_version, kind)?;
    for segment in path {
        schema = schema
            .field(segment)
            .or_else(|| schema.elements()?.field(segment))?;
    }
    let strategy = schema.strategy();
    if strategy.is_empty() {
        return None;
    }
    Some(MergeInfo {
        merge_key: schema.merge_key().map(str::to_string),
        strategy: strategy.split(',').map(str::to_string).collect(),
    })
}

#[cfg(test)]
mod tests;
