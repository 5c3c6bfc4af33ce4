//! The `replicas` transformer.

use serde_json::Value;

use crate::fieldspec::{CreateKind, FieldSpec, visit};
use crate::kustomization::Replica;
use crate::resmap::ResMap;

/// Sets the replica count of the workloads named `replica.name` (current or
/// previous name); fails when none matches, as kustomize does.
pub fn apply(resmap: &mut ResMap, replica: &Replica, specs: &[FieldSpec]) -> Result<(), String> {
    let mut found = false;
    for fs in specs {
        let selector = fs.gvk();
        for res in resmap.resources_mut() {
            let matches = std::iter::once(res.cur_id())
                .chain(res.prev_ids().iter().cloned())
                .any(|id| id.name == replica.name && id.gvk.is_selected_by(&selector));
            if !matches {
                continue;
            }
            found = true;
            if !fs.applies_to(&res.gvk()) {
                continue;
            }
            visit(
                res.value_mut(),
                &fs.path_parts(),
                Some(CreateKind::Scalar),
                &mut |v: &mut Value| {
                    *v = Value::from(replica.count);
                    Ok::<(), String>(())
                },
            )?;
        }
    }
    if !found {
        let gvks: Vec<String> = specs.iter().map(|fs| fs.gvk().display()).collect();
        return Err(format!(
            "resource with name {} does not match a config with the following GVK [{}]",
            replica.name,
            gvks.join(" ")
        ));
    }
    Ok(())
}
