//! Strategic merge patch exactly as kustomize v5 applies it: a port of kyaml's
//! `merge2` merger over its schema-aware walker (`kyaml/yaml/walk`), with the
//! options kustomize's patch filter uses (lists keyed by schema only, new
//! items prepended).
//!
//! This is deliberately *not* the API server's strategic merge patch:
//! kustomize differs from it in ways its output depends on, and those
//! differences are kept here, each checked against `kubectl kustomize`:
//!
//! - items of a keyed list that the patch mentions come first, in the patch's
//!   order, followed by the target's other items (lists keyed by several
//!   fields, like ports by `containerPort` and `protocol`, keep the target's
//!   order and put new items first);
//! - lists keyed by several fields use `x-kubernetes-list-map-keys`, and a
//!   missing key value (a port without `protocol`) matches any value;
//! - `$setElementOrder/...`, `$retainKeys` and `$deleteFromPrimitiveList/...`
//!   are not interpreted: they are ordinary fields and stay in the output;
//! - `$patch: replace` on a single list item has no effect, and items without
//!   a value for the merge key disturb the whole list the way kyaml does;
//! - documents of kinds the schema does not know (custom resources) merge
//!   maps recursively and replace lists, except inside embedded objects that
//!   carry a known `apiVersion` and `kind`.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

use super::PatchError;
use super::node::{Data, Kind, Node};
use super::schema::Schema;

/// What a walk decided for one position: the node to keep there (`None` to
/// remove the field or item).
struct Out {
    node: Node,
    /// A `null` of the target that the patch did not touch, kept as is.
    keep_null: bool,
}

impl Out {
    fn of(node: Node) -> Out {
        Out {
            node,
            keep_null: false,
        }
    }
}

type Walked = Result<Option<Out>, PatchError>;

/// The two documents being merged at one position: the target's value (the
/// "dest") and the patch's value (the "origin"); `None` where absent.
type Sources = [Option<Node>; 2];

const DEST: usize = 0;
const ORIGIN: usize = 1;

/// Merges `patch` into `target`; `None` when the patch deletes the whole
/// document (`$patch: delete` at the top).
///
/// kustomize keeps the target document it merged into, so a top-level
/// `$patch: replace`, which makes the walk return the patch instead, leaves
/// the target unchanged.
pub(super) fn merge(target: &Value, patch: &Value) -> Result<Option<Value>, PatchError> {
    let dest = Node::from_value(target);
    let sources = [Some(dest.clone()), Some(Node::from_value(patch))];
    Ok(walk(sources, None, "")?.map(|out| {
        if out.node.same(&dest) {
            out.node.to_value()
        } else {
            target.clone()
        }
    }))
}

/// Merges the values at one position, dispatching on the kind of the first
/// non-null value (the target's, when it has one).
fn walk(sources: Sources, schema: Option<Schema>, path: &str) -> Walked {
    let schema = schema.or_else(|| schema_from_type_meta(&sources));
    let kind = sources.iter().flatten().find_map(|node| node.kind());
    match kind {
        Some(kind) => {
            check_kinds(kind, &sources, path)?;
            match kind {
                Kind::Map => walk_map(sources, schema, path),
                Kind::Seq if schema.is_some_and(Schema::merges_items) => {
                    walk_keyed_list(sources, schema, path)
                }
                Kind::Seq | Kind::Scalar => Ok(patch_or_target(sources)),
            }
        }
        None => walk_map(sources, schema, path),
    }
}

/// The schema of an embedded object that names its `apiVersion` and `kind`,
/// used where the enclosing schema says nothing (the top of a document, or
/// inside a custom resource).
fn schema_from_type_meta(sources: &Sources) -> Option<Schema> {
    sources.iter().flatten().find_map(|node| {
        let api_version = field_text(node, "apiVersion");
        let kind = field_text(node, "kind");
        if api_version.is_empty() || kind.is_empty() {
            return None;
        }
        Schema::for_kind(&api_version, &kind)
    })
}

/// The text of a field's value, or "" when it is absent, null or empty.
fn field_text(node: &Node, name: &str) -> String {
    node.field(name)
        .filter(|value| !value.is_null_or_empty())
        .map(|value| value.text())
        .unwrap_or_default()
}

fn check_kinds(kind: Kind, sources: &Sources, path: &str) -> Result<(), PatchError> {
    for node in sources.iter().flatten() {
        if let Some(found) = node.kind().filter(|found| *found != kind) {
            return Err(PatchError::MergeKindMismatch {
                path: display_path(path),
                expected: kind.name(),
                found: found.name(),
            });
        }
    }
    Ok(())
}

/// Scalars and unkeyed lists: the patch's value wins (a `null` removes).
fn patch_or_target(sources: Sources) -> Option<Out> {
    let [dest, origin] = sources;
    origin.or(dest).map(Out::of)
}

fn walk_map(mut sources: Sources, schema: Option<Schema>, path: &str) -> Walked {
    let Some(dest) = visit_map(&sources, path)? else {
        return Ok(None);
    };
    sources[DEST] = Some(dest.node.clone());
    let names: BTreeSet<String> = sources
        .iter()
        .flatten()
        .flat_map(Node::field_names)
        .collect();
    for name in names {
        let values = [
            sources[DEST].as_ref().and_then(|n| n.field(&name)),
            sources[ORIGIN].as_ref().and_then(|n| n.field(&name)),
        ];
        let value = walk(
            values,
            schema.and_then(|s| s.field(&name)),
            &join(path, &name),
        )?;
        match value {
            Some(out) if !out.node.is_null() || out.keep_null => {
                dest.node.set_field(&name, &out.node);
            }
            _ => dest.node.remove_field(&name),
        }
    }
    Ok(Some(dest))
}

/// Decides what a map becomes before its fields are merged.
fn visit_map(sources: &Sources, path: &str) -> Walked {
    let [dest, origin] = sources;
    if dest.as_ref().is_none_or(Node::is_null) {
        // kyaml ignores an invalid directive here.
        if let Some(origin) = origin
            && matches!(directive(origin), Ok(Directive::Delete))
        {
            return Ok(None);
        }
        if origin.is_none() && dest.is_some() {
            return Ok(Some(Out {
                node: Node::new(Data::Null),
                keep_null: true,
            }));
        }
        return Ok(origin.clone().map(Out::of));
    }
    let Some(origin) = origin else {
        return Ok(dest.clone().map(Out::of));
    };
    if origin.is_null() {
        return Ok(None);
    }
    match directive_at(origin, path)? {
        Directive::Delete => Ok(None),
        Directive::Replace => Ok(Some(Out::of(origin.clone()))),
        Directive::Merge => Ok(dest.clone().map(Out::of)),
    }
}

/// Decides what a keyed list becomes before its items are merged.
fn visit_keyed_list(sources: &Sources, path: &str) -> Walked {
    let [dest, origin] = sources;
    if dest.as_ref().is_none_or(Node::is_null) {
        return Ok(origin.clone().map(Out::of));
    }
    let Some(origin) = origin else {
        return Ok(dest.clone().map(Out::of));
    };
    if origin.is_null() {
        return Ok(None);
    }
    match directive_at(origin, path)? {
        Directive::Delete => Ok(None),
        Directive::Replace => Ok(Some(Out::of(origin.clone()))),
        Directive::Merge => Ok(dest.clone().map(Out::of)),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Directive {
    Merge,
    Replace,
    Delete,
}

fn directive_at(patch: &Node, path: &str) -> Result<Directive, PatchError> {
    directive(patch).map_err(|value| PatchError::UnknownDirective {
        path: display_path(path),
        value,
    })
}

const PATCH_DIRECTIVE: &str = "$patch";

/// Reads a `$patch` directive from a patch map (its `$patch` field) or list
/// (an item that is only `{$patch: ...}`), removing it from the patch. An
/// unknown directive is returned as `Err` with its value and left in place.
fn directive(patch: &Node) -> Result<Directive, String> {
    let carrier = if patch.is_map() {
        Some(patch.clone())
    } else {
        // Only the first item with a `$patch` field counts, and only if that
        // is its only field.
        patch
            .items()
            .into_iter()
            .find(|item| item.field(PATCH_DIRECTIVE).is_some())
            .filter(|item| item.len_fields() == 1)
    };
    let Some(value) = carrier.as_ref().and_then(|c| c.field(PATCH_DIRECTIVE)) else {
        return Ok(Directive::Merge);
    };
    let text = value.text();
    let directive = match text.as_str() {
        "delete" => Directive::Delete,
        "replace" => Directive::Replace,
        "merge" => Directive::Merge,
        _ => return Err(text),
    };
    if patch.is_map() {
        patch.remove_field(PATCH_DIRECTIVE);
    } else {
        // Removes every `$patch` item with this value (and empty items), as
        // kyaml's element setter does; it cannot fail on a keyed setter.
        let _ = set_element(patch, None, &[PATCH_DIRECTIVE.to_string()], &[text], "");
    }
    Ok(directive)
}

fn walk_keyed_list(mut sources: Sources, schema: Option<Schema>, path: &str) -> Walked {
    let Some(dest) = visit_keyed_list(&sources, path)? else {
        return Ok(None);
    };
    sources[DEST] = Some(dest.node.clone());
    let keys = schema.map(Schema::merge_keys).unwrap_or_default();
    let (values, keys) = if keys.is_empty() {
        (primitive_values(&sources), vec![String::new()])
    } else {
        (item_key_values(&sources, &keys), keys)
    };
    let merged = merge_items(
        &sources,
        values,
        &keys,
        dest.node,
        schema.and_then(Schema::elements),
        path,
    )?;
    Ok(Some(Out::of(merged)))
}

/// The key values of every item, the patch's items first, without repeats.
/// A missing, null or empty key value is "".
fn item_key_values(sources: &Sources, keys: &[String]) -> Vec<Vec<String>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for list in [&sources[ORIGIN], &sources[DEST]].into_iter().flatten() {
        for item in list.items() {
            let values: Vec<String> = keys.iter().map(|k| field_text(&item, k)).collect();
            if seen.insert(values.clone()) {
                out.push(values);
            }
        }
    }
    out
}

/// The values of a list of scalars (e.g. finalizers), the patch's first,
/// without repeats.
fn primitive_values(sources: &Sources) -> Vec<Vec<String>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for list in [&sources[ORIGIN], &sources[DEST]].into_iter().flatten() {
        for item in list.items() {
            let text = item.text();
            if seen.insert(text.clone()) {
                out.push(vec![text]);
            }
        }
    }
    out
}

/// Merges the items of a keyed list (or a list of scalars, with the single
/// key ""): each key-value tuple is merged on its own, then the target's
/// remaining items are appended after the merged ones.
fn merge_items(
    sources: &Sources,
    mut values_list: Vec<Vec<String>>,
    keys: &[String],
    dest: Node,
    item_schema: Option<Schema>,
    path: &str,
) -> Result<Node, PatchError> {
    let merged = Node::new(Data::Seq(Vec::new()));
    if keys.len() > 1 {
        unify_partial_values(&mut values_list);
    }
    let mut valid_keys = Vec::new();
    for values in &values_list {
        let (keys, values) = valid_keys_and_values(&values_list, values, keys);
        let item_path = item_path(path, &keys, &values);
        let found = find_items(sources, &keys, &values);
        match walk(found, item_schema, &item_path)? {
            Some(out) if !out.node.is_null() && !out.node.is_empty_map() => {
                if out.node.is_map() {
                    for (key, value) in keys.iter().zip(&values) {
                        if !value.is_empty() && out.node.field(key).is_none() {
                            out.node.set_field(key, &Node::plain_scalar(value));
                        }
                    }
                }
                set_element(&merged, Some(&out.node), &keys, &values, &item_path)?;
            }
            _ => set_element(&dest, None, &keys, &values, &item_path)?,
        }
        valid_keys = keys;
    }
    if values_list.is_empty() {
        return Ok(dest);
    }
    append_items(&merged, &dest, &valid_keys, path)?;
    Ok(merged)
}

/// Tuples of several keys that agree wherever both have a value (and agree
/// somewhere) are the same item: `[80, ""]` and `[80, TCP]` both become
/// `[80, TCP]`. Like kyaml, each tuple is compared to the others as it was
/// before its own pass, so `[80, ""]` ends up as the last tuple it matches.
fn unify_partial_values(values_list: &mut [Vec<String>]) {
    for i in 0..values_list.len() {
        let tuple = values_list[i].clone();
        for j in 0..values_list.len() {
            if let Some(unified) = unify(&tuple, &values_list[j]) {
                values_list[i] = unified.clone();
                values_list[j] = unified;
            }
        }
    }
}

fn unify(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.len() != b.len() {
        return None;
    }
    let mut common = false;
    let mut unified = Vec::with_capacity(a.len());
    for (x, y) in a.iter().zip(b) {
        if x == y {
            common = true;
            unified.push(x.clone());
        } else if !x.is_empty() && !y.is_empty() {
            return None;
        } else if x.is_empty() {
            unified.push(y.clone());
        } else {
            unified.push(x.clone());
        }
    }
    common.then_some(unified)
}

/// The keys (and this tuple's values for them) that have a value in at least
/// one tuple of `values_list`; all keys when none has.
fn valid_keys_and_values(
    values_list: &[Vec<String>],
    values: &[String],
    keys: &[String],
) -> (Vec<String>, Vec<String>) {
    let valid: HashSet<&str> = values_list
        .iter()
        .flat_map(|tuple| {
            tuple
                .iter()
                .zip(keys)
                .filter(|(v, _)| !v.is_empty())
                .map(|(_, k)| k.as_str())
        })
        .collect();
    if valid.is_empty() {
        return (keys.to_vec(), values.to_vec());
    }
    keys.iter()
        .zip(values)
        .filter(|(k, _)| valid.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .unzip()
}

/// The item of the target's list and of the patch's list with these key
/// values.
fn find_items(sources: &Sources, keys: &[String], values: &[String]) -> Sources {
    let (keys, values) = valid_keys_and_values(&[values.to_vec()], values, keys);
    [&sources[DEST], &sources[ORIGIN]]
        .map(|list| list.as_ref().and_then(|l| find_item(l, &keys, &values)))
}

fn find_item(list: &Node, keys: &[String], values: &[String]) -> Option<Node> {
    if keys[0].is_empty() {
        return list
            .items()
            .into_iter()
            .find(|item| item.text() == values[0]);
    }
    list.items().into_iter().find(|item| {
        item.is_map()
            && keys
                .iter()
                .zip(values)
                .all(|(k, v)| item.field(k).is_some_and(|f| f.text() == *v))
    })
}

/// kyaml's element setter: replaces the items of `list` that match the key
/// values with `element` (or removes them when `element` is `None`),
/// appending `element` when none matched. Null and empty-map items are
/// dropped on the way; a key value of "" matches any value.
fn set_element(
    list: &Node,
    element: Option<&Node>,
    keys: &[String],
    values: &[String],
    path: &str,
) -> Result<(), PatchError> {
    let keyed = !keys[0].is_empty() && values.first().is_some_and(|v| !v.is_empty());
    let mut kept = Vec::new();
    let mut matched = false;
    for item in list.items() {
        if item.is_null() || item.is_empty_map() {
            continue;
        }
        if keyed && !item.is_map() {
            kept.push(item);
            continue;
        }
        let mut found = false;
        for (j, key) in keys.iter().enumerate() {
            if let Some(value) = values.get(j) {
                found = field_matches(&item, key, value, path)?;
            }
            if !found {
                break;
            }
        }
        if !found {
            if !values.is_empty() {
                kept.push(item);
            }
            continue;
        }
        matched = true;
        if let Some(element) = element {
            kept.push(element.clone());
        }
    }
    list.set_items(kept);
    if let Some(element) = element.filter(|e| !e.is_null())
        && !matched
    {
        list.push_item(element.clone());
    }
    Ok(())
}

/// Whether `item` has field `key` with text `value` (any value when `value`
/// is ""); with key "", whether the scalar `item` is `value`.
fn field_matches(item: &Node, key: &str, value: &str, path: &str) -> Result<bool, PatchError> {
    let expected = if key.is_empty() {
        Kind::Scalar
    } else {
        Kind::Map
    };
    match item.kind() {
        None => Ok(false),
        Some(kind) if kind != expected => Err(PatchError::MergeKindMismatch {
            path: display_path(path),
            expected: expected.name(),
            found: kind.name(),
        }),
        Some(_) if key.is_empty() => Ok(item.text() == value),
        Some(_) => Ok(item
            .field(key)
            .is_some_and(|f| value.is_empty() || f.text() == value)),
    }
}

/// Appends the target's items (already merged in place) to the merged list,
/// replacing the merged copies of the same items.
fn append_items(merged: &Node, dest: &Node, keys: &[String], path: &str) -> Result<(), PatchError> {
    for item in dest.items() {
        if keys[0].is_empty() {
            set_element(merged, Some(&item), &[String::new()], &[item.text()], path)?;
            continue;
        }
        let mut values = Vec::new();
        for key in keys {
            let value = match item.kind() {
                None => None,
                Some(Kind::Map) => item.field(key),
                Some(kind) => {
                    return Err(PatchError::MergeKindMismatch {
                        path: display_path(path),
                        expected: Kind::Map.name(),
                        found: kind.name(),
                    });
                }
            };
            match value {
                Some(value) => values.push(value.text()),
                None => merged.push_item(item.clone()),
            }
        }
        if keys.len() > 1 {
            set_element(merged, None, keys, &values, path)?;
        }
        set_element(merged, Some(&item), keys, &values, path)?;
    }
    Ok(())
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn item_path(path: &str, keys: &[String], values: &[String]) -> String {
    let selector: Vec<String> = keys
        .iter()
        .zip(values)
        .map(|(k, v)| {
            if k.is_empty() {
                v.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    format!("{path}[{}]", selector.join(","))
}

fn display_path(path: &str) -> String {
    if path.is_empty() {
        "the top of the document".to_string()
    } else {
        path.to_string()
    }
}

#[cfg(test)]
mod tests;
