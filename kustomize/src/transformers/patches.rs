//! `patchesStrategicMerge`, `patches` and `patchesJson6902`: loading
//! patches, choosing their targets, and applying them through the patch
//! engine with kustomize's rules for names, kinds and namespaces.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::kustomization::{Patch, Selector};
use crate::patch;
use crate::resmap::ResMap;
use crate::resource::{Gvk, ResId, Resource};
use crate::target::Loader;
use crate::yaml::parse_documents;

fn patch_error(loader: &Loader<'_>, message: impl Into<String>) -> Error {
    Error::Patch {
        kustomization: loader.kust_path.clone(),
        message: message.into(),
    }
}

fn parse_sm(loader: &Loader<'_>, text: &str, origin: &str) -> Result<Vec<Value>> {
    parse_documents(text)
        .map_err(|e| patch_error(loader, format!("{origin}: malformed YAML at {e}")))
}

fn patch_id(p: &Value) -> ResId {
    let s = |path: &[&str]| {
        let mut v = p;
        for k in path {
            v = &v[*k];
        }
        v.as_str().unwrap_or_default().to_string()
    };
    ResId::new(
        Gvk::from_api_version(&s(&["apiVersion"]), &s(&["kind"])),
        &s(&["metadata", "name"]),
        &s(&["metadata", "namespace"]),
    )
}

/// `patchesStrategicMerge`: each entry is a file or an inline patch; every
/// patch document targets the one object with its id.
pub fn strategic_merge_entries(
    resmap: &mut ResMap,
    loader: &Loader<'_>,
    entries: &[String],
) -> Result<()> {
    for entry in entries {
        let inline = parse_documents(entry)
            .ok()
            .filter(|d| d.iter().all(Value::is_object) && !d.is_empty());
        let docs = match inline {
            Some(docs) => docs,
            None => parse_sm(loader, &loader.read_string(entry)?, entry)?,
        };
        if docs.is_empty() {
            return Err(patch_error(
                loader,
                format!("patch appears to be empty; files=[{entry}]"),
            ));
        }
        for doc in docs {
            apply_by_id(resmap, loader, &doc, false, false)?;
        }
    }
    Ok(())
}

fn apply_by_id(
    resmap: &mut ResMap,
    loader: &Loader<'_>,
    doc: &Value,
    allow_name: bool,
    allow_kind: bool,
) -> Result<()> {
    let id = patch_id(doc);
    let matches = resmap.indexes_by_any_id(&id);
    if matches.len() != 1 {
        return Err(patch_error(
            loader,
            format!(
                "no resource matches strategic merge patch \"{}\": found {} objects with that id",
                id.display(),
                matches.len()
            ),
        ));
    }
    apply_sm(resmap, loader, &matches, doc, allow_name, allow_kind)
}

/// Applies one strategic merge patch to the resources at `indexes`,
/// dropping objects the patch deletes.
fn apply_sm(
    resmap: &mut ResMap,
    loader: &Loader<'_>,
    indexes: &[usize],
    doc: &Value,
    allow_name: bool,
    allow_kind: bool,
) -> Result<()> {
    let mut deleted = Vec::new();
    for &i in indexes {
        let res: &mut Resource = &mut resmap.resources_mut()[i];
        let (name, namespace, kind, api_version) = (
            res.name().to_string(),
            res.namespace().to_string(),
            res.kind().to_string(),
            res.api_version().to_string(),
        );
        let mut p = doc.clone();
        if let Some(m) = p.as_object_mut() {
            m.insert("apiVersion".into(), Value::String(api_version));
        }
        if allow_name || allow_kind {
            res.store_previous_id();
        }
        let target = res.cur_id().display();
        patch::strategic_merge(res.value_mut(), &p).map_err(|source| Error::PatchApply {
            target,
            kustomization: loader.kust_path.clone(),
            source,
        })?;
        if res.value().as_object().is_none_or(|m| m.is_empty()) {
            deleted.push(i);
            continue;
        }
        if !allow_kind && let Some(m) = res.value_mut().as_object_mut() {
            m.insert("kind".into(), Value::String(kind));
        }
        if !allow_name {
            res.set_name(&name);
        }
        if namespace.is_empty() {
            if let Some(meta) = res.value_mut()["metadata"].as_object_mut() {
                meta.remove("namespace");
            }
        } else {
            res.set_namespace(&namespace);
        }
    }
    for i in deleted.into_iter().rev() {
        resmap.resources_mut().remove(i);
    }
    Ok(())
}

fn parse_ops(loader: &Loader<'_>, text: &str) -> Result<Value> {
    let docs = parse_documents(text)
        .map_err(|e| patch_error(loader, format!("malformed JSON patch at {e}")))?;
    match docs.into_iter().next() {
        Some(ops @ Value::Array(_)) => Ok(ops),
        _ => Err(patch_error(
            loader,
            format!("unable to parse SM or JSON patch from {text}"),
        )),
    }
}

fn select(resmap: &ResMap, loader: &Loader<'_>, target: &Selector) -> Result<Vec<usize>> {
    resmap.select(target).map_err(|e| patch_error(loader, e))
}

fn apply_json(
    resmap: &mut ResMap,
    loader: &Loader<'_>,
    indexes: &[usize],
    ops: &Value,
    store_prev: bool,
) -> Result<()> {
    for &i in indexes {
        let res = &mut resmap.resources_mut()[i];
        if store_prev {
            res.store_previous_id();
        }
        let target = res.cur_id().display();
        patch::json6902(res.value_mut(), ops).map_err(|source| Error::PatchApply {
            target,
            kustomization: loader.kust_path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// `patches`: a file or inline patch, strategic merge or JSON 6902 (as
/// the patch engine detects), applied to `target` or, for strategic merge
/// patches without target, to the object with the patch's id.
pub fn patch_entries(resmap: &mut ResMap, loader: &Loader<'_>, entries: &[Patch]) -> Result<()> {
    for entry in entries {
        let text = match (&entry.patch, &entry.path) {
            (Some(p), None) => p.trim().to_string(),
            (None, Some(path)) => loader.read_string(path)?,
            (Some(_), Some(_)) => {
                return Err(patch_error(
                    loader,
                    "patch and path can't be set at the same time",
                ));
            }
            (None, None) => return Err(patch_error(loader, "must specify one of patch and path")),
        };
        let (allow_name, allow_kind) = (
            entry.options.allow_name_change,
            entry.options.allow_kind_change,
        );
        if patch::is_json6902(&text) {
            let Some(target) = &entry.target else {
                return Err(patch_error(
                    loader,
                    format!("must specify a target for JSON patch {text}"),
                ));
            };
            let ops = parse_ops(loader, &text)?;
            let indexes = select(resmap, loader, target)?;
            apply_json(resmap, loader, &indexes, &ops, true)?;
            continue;
        }
        let docs = parse_sm(
            loader,
            &text,
            entry.path.as_deref().unwrap_or("inline patch"),
        )?;
        if docs.is_empty() || !docs.iter().all(Value::is_object) {
            return Err(patch_error(
                loader,
                format!("unable to parse SM or JSON patch from {text}"),
            ));
        }
        match &entry.target {
            Some(target) => {
                if docs.len() > 1 {
                    return Err(patch_error(
                        loader,
                        "Multiple Strategic-Merge Patches in one `patches` entry is not allowed to set `patches.target` field",
                    ));
                }
                let indexes = select(resmap, loader, target)?;
                apply_sm(resmap, loader, &indexes, &docs[0], allow_name, allow_kind)?;
            }
            None => {
                for doc in &docs {
                    apply_by_id(resmap, loader, doc, allow_name, allow_kind)?;
                }
            }
        }
    }
    Ok(())
}

/// `patchesJson6902`: JSON patches (JSON or YAML operation lists) applied
/// to their targets.
pub fn json6902_entries(resmap: &mut ResMap, loader: &Loader<'_>, entries: &[Patch]) -> Result<()> {
    for entry in entries {
        let Some(target) = &entry.target else {
            return Err(patch_error(
                loader,
                "must specify a target for patchesJson6902",
            ));
        };
        let text = match (&entry.patch, &entry.path) {
            (Some(p), None) => p.clone(),
            (None, Some(path)) => loader.read_string(path)?,
            _ => {
                return Err(patch_error(
                    loader,
                    "must specify exactly one of patch and path",
                ));
            }
        };
        let ops = parse_ops(loader, &text)?;
        let indexes = select(resmap, loader, target)?;
        apply_json(resmap, loader, &indexes, &ops, false)?;
    }
    Ok(())
}
