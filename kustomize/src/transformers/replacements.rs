//! `replacements`: copy a field of one object into fields of others, with
//! kustomize's source/target selection, `reject`, `delimiter`/`index` and
//! `create` options.

use serde_json::Value;

use super::fieldpath;
use crate::kustomization::{FieldOptions, Replacement, Selector, SourceSelector};
use crate::resmap::ResMap;
use crate::resource::{Gvk, ResId, Resource};
use crate::transformers::selector::SelectorMatcher;
use crate::yaml::parse_documents;

const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// kustomize's `ResId.IsSelectedBy` for any current or previous id.
fn selected(res: &Resource, gvk: &Gvk, name: &str, namespace: &str) -> bool {
    let sel = ResId::new(gvk.clone(), name, namespace);
    std::iter::once(res.cur_id())
        .chain(res.prev_ids().iter().cloned())
        .any(|id| {
            (name.is_empty() || name == id.name)
                && (namespace.is_empty() || sel.ns_equals(&id))
                && id.gvk.is_selected_by(gvk)
        })
}

fn selector_gvk(s: &Selector) -> Gvk {
    Gvk {
        group: s.group.clone(),
        version: s.version.clone(),
        kind: s.kind.clone(),
    }
}

fn source_value(resmap: &ResMap, source: &SourceSelector) -> Result<Value, String> {
    let gvk = Gvk {
        group: source.group.clone(),
        version: source.version.clone(),
        kind: source.kind.clone(),
    };
    let matches: Vec<&Resource> = resmap
        .resources()
        .iter()
        .filter(|r| selected(r, &gvk, &source.name, &source.namespace))
        .collect();
    let res = match matches.as_slice() {
        [one] => *one,
        [] => {
            return Err(format!(
                "nothing selected by {}:{}",
                gvk.display(),
                source.name
            ));
        }
        _ => {
            return Err(format!(
                "multiple matches for selector {}:{}",
                gvk.display(),
                source.name
            ));
        }
    };
    let path = if source.field_path.is_empty() {
        DEFAULT_FIELD_PATH
    } else {
        &source.field_path
    };
    let value = fieldpath::lookup(res.value(), &fieldpath::split(path))
        .filter(|v| !is_nil_or_empty(v))
        .cloned()
        .ok_or_else(|| {
            format!(
                "fieldPath `{path}` is missing for replacement source {}",
                res.cur_id().display()
            )
        })?;
    refine(source.options.as_ref(), value)
}

fn is_nil_or_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

fn refine(options: Option<&FieldOptions>, value: Value) -> Result<Value, String> {
    let Some(o) = options.filter(|o| !o.delimiter.is_empty()) else {
        return Ok(value);
    };
    let s = text(&value).ok_or("delimiter option can only be used with scalar nodes")?;
    let parts: Vec<&str> = s.split(o.delimiter.as_str()).collect();
    usize::try_from(o.index)
        .ok()
        .and_then(|i| parts.get(i))
        .map(|p| Value::String(p.to_string()))
        .ok_or_else(|| format!("options.index {} is out of bounds for value {s}", o.index))
}

/// Sets a target field: scalars keep their type and take the value's text,
/// anything else is replaced by the value.
fn set_field(
    options: Option<&FieldOptions>,
    target: &mut Value,
    value: &Value,
) -> Result<(), String> {
    let mut value = value.clone();
    if let Some(o) = options.filter(|o| !o.delimiter.is_empty()) {
        let current = text(target).ok_or("delimiter option can only be used with scalar nodes")?;
        let v = text(&value).unwrap_or_default();
        let mut parts: Vec<String> = current
            .split(o.delimiter.as_str())
            .map(str::to_string)
            .collect();
        match usize::try_from(o.index) {
            Err(_) => parts.insert(0, v),
            Ok(i) if i >= parts.len() => parts.push(v),
            Ok(i) => parts[i] = v,
        }
        value = Value::String(parts.join(&o.delimiter));
    }
    let value_text = text(&value);
    *target = match (&*target, value_text) {
        (Value::String(_), Some(t)) => Value::String(t),
        (Value::Null, Some(t)) => resolve_plain(&t),
        (Value::Number(_), Some(t)) => match resolve_plain(&t) {
            n @ Value::Number(_) => n,
            _ => return Err(format!("yaml: cannot decode !!str `{t}` as a number")),
        },
        (Value::Bool(_), Some(t)) => match resolve_plain(&t) {
            b @ Value::Bool(_) => b,
            _ => return Err(format!("yaml: cannot decode !!str `{t}` as a !!bool")),
        },
        _ => value,
    };
    Ok(())
}

/// What `text` means as a plain YAML scalar (a string when it is not a
/// scalar at all).
fn resolve_plain(text: &str) -> Value {
    parse_documents(text)
        .ok()
        .and_then(|d| d.into_iter().next())
        .filter(|v| !v.is_object() && !v.is_array())
        .unwrap_or_else(|| Value::String(text.to_string()))
}

/// Applies the replacements in order.
pub fn apply(resmap: &mut ResMap, replacements: &[Replacement]) -> Result<(), String> {
    for r in replacements {
        let (Some(source), false) = (&r.source, r.targets.is_empty()) else {
            return Err("replacements must specify a source and at least one target".into());
        };
        let value = source_value(resmap, source)?;
        for target in &r.targets {
            let Some(select) = &target.select else {
                return Err("target must specify resources to select".into());
            };
            let by_labels = Selector {
                label_selector: select.label_selector.clone(),
                annotation_selector: select.annotation_selector.clone(),
                ..Default::default()
            };
            let select_labels = SelectorMatcher::new(&by_labels)?;
            let reject_labels: Vec<SelectorMatcher> = target
                .reject
                .iter()
                .filter(|r| !r.label_selector.is_empty() || !r.annotation_selector.is_empty())
                .map(SelectorMatcher::new)
                .collect::<Result<_, _>>()?;
            let field_paths = if target.field_paths.is_empty() {
                vec![DEFAULT_FIELD_PATH.to_string()]
            } else {
                target.field_paths.clone()
            };
            let create = target.options.as_ref().is_some_and(|o| o.create);
            for res in resmap.resources_mut() {
                if !select_labels.matches(res) || reject_labels.iter().any(|m| m.matches(res)) {
                    continue;
                }
                let gvk = selector_gvk(select);
                if !selected(res, &gvk, &select.name, &select.namespace) {
                    continue;
                }
                let rejected = target.reject.iter().any(|rj| {
                    let g = selector_gvk(rj);
                    let empty =
                        g == Gvk::default() && rj.name.is_empty() && rj.namespace.is_empty();
                    !empty && selected(res, &g, &rj.name, &rj.namespace)
                });
                if rejected {
                    continue;
                }
                for fp in &field_paths {
                    let mut hits = 0;
                    let mut err = None;
                    fieldpath::visit_matches(
                        res.value_mut(),
                        &fieldpath::split(fp),
                        create.then_some(&value),
                        &mut |node| {
                            hits += 1;
                            if let Err(e) = set_field(target.options.as_ref(), node, &value) {
                                err = Some(e);
                            }
                        },
                    );
                    if let Some(e) = err {
                        return Err(e);
                    }
                    if hits == 0 {
                        let what = if create { "find or create" } else { "find" };
                        return Err(format!(
                            "unable to {what} field \"{fp}\" in replacement target"
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Reads the `replacements` entries of a kustomization: inline ones, and
/// files holding one replacement or a list of them.
pub fn load(
    entries: &[crate::kustomization::ReplacementEntry],
    read: &dyn Fn(&str) -> crate::error::Result<String>,
) -> crate::error::Result<Vec<Replacement>, String> {
    let mut out = Vec::new();
    for e in entries {
        match e {
            crate::kustomization::ReplacementEntry::Inline(r) => out.push((**r).clone()),
            crate::kustomization::ReplacementEntry::Path { path } => {
                let text = read(path).map_err(|e| e.to_string())?;
                let docs = parse_documents(&text).map_err(|e| format!("{path}: {e}"))?;
                for doc in docs {
                    let items = match doc {
                        Value::Array(items) => items,
                        other => vec![other],
                    };
                    for item in items {
                        out.push(serde_json::from_value(item).map_err(|e| format!("{path}: {e}"))?);
                    }
                }
            }
        }
    }
    Ok(out)
}
