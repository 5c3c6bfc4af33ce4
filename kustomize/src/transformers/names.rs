//! `namePrefix` and `nameSuffix`.

use serde_json::Value;

use crate::fieldspec::{FieldSpec, visit};
use crate::resmap::ResMap;
use crate::resource::Gvk;

/// Kinds whose names kustomize never prefixes or suffixes.
fn skipped(gvk: &Gvk) -> bool {
    gvk.kind == "CustomResourceDefinition"
        || gvk.kind == "Namespace"
        || (gvk.kind == "APIService" && gvk.group == "apiregistration.k8s.io")
}

/// Which end of the name to change.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `namePrefix`.
    Prefix,
    /// `nameSuffix`.
    Suffix,
}

/// Adds `affix` to the names of all objects (kustomize's Prefix/Suffix
/// transformers, which also record the affix for name-reference matching).
pub fn apply(
    resmap: &mut ResMap,
    affix: &str,
    end: End,
    specs: &[FieldSpec],
) -> Result<(), String> {
    if affix.is_empty() {
        return Ok(());
    }
    for res in resmap.resources_mut() {
        let org = res.org_id();
        if skipped(&org.gvk) {
            continue;
        }
        for fs in specs {
            if !org.gvk.is_selected_by(&fs.gvk()) {
                continue;
            }
            if fs.path == "metadata/name" {
                match end {
                    End::Prefix => res.add_prefix(affix),
                    End::Suffix => res.add_suffix(affix),
                }
                res.store_previous_id();
            }
            visit(
                res.value_mut(),
                &fs.path_parts(),
                None,
                &mut |v: &mut Value| {
                    if let Some(s) = v.as_str() {
                        *v = Value::String(match end {
                            End::Prefix => format!("{affix}{s}"),
                            End::Suffix => format!("{s}{affix}"),
                        });
                    }
                    Ok::<(), String>(())
                },
            )?;
        }
    }
    Ok(())
}
