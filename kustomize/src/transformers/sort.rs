//! Output order: kustomize's `legacy` order (by kind priority, then gvk,
//! namespace and name) or `fifo` (build order).

use std::collections::HashMap;

use crate::kustomization::SortOptions;
use crate::resmap::ResMap;
use crate::resource::{Gvk, ResId};

const ORDER_FIRST: [&str; 22] = [
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const ORDER_LAST: [&str; 2] = [
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Sorts per `options` (legacy when absent, as `kubectl kustomize` does).
pub fn apply(resmap: &mut ResMap, options: Option<&SortOptions>) -> Result<(), String> {
    let (first, last): (Vec<String>, Vec<String>) = match options {
        None => (owned(&ORDER_FIRST), owned(&ORDER_LAST)),
        Some(o) => match o.order.as_str() {
            "fifo" => {
                if o.legacy_sort_options.is_some() {
                    return Err("the field 'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo', not 'legacy'".into());
                }
                return Ok(());
            }
            "legacy" => match &o.legacy_sort_options {
                Some(l) => (l.order_first.clone(), l.order_last.clone()),
                None => (owned(&ORDER_FIRST), owned(&ORDER_LAST)),
            },
            _ => return Err("the field 'sortOptions.order' must be one of [fifo, legacy]".into()),
        },
    };
    let mut rank: HashMap<String, i64> = HashMap::new();
    let n = first.len() as i64;
    for (i, k) in first.into_iter().enumerate() {
        rank.insert(k, i as i64 - n);
    }
    for (i, k) in last.into_iter().enumerate() {
        rank.insert(k, i as i64 + 1);
    }
    resmap.resources_mut().sort_by_cached_key(|r| {
        let id = r.cur_id();
        (
            *rank.get(&id.gvk.kind).unwrap_or(&0),
            gvk_key(&id.gvk),
            id_key(&id),
        )
    });
    Ok(())
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn gvk_key(g: &Gvk) -> String {
    let or = |s: &str, d: &str| {
        if s.is_empty() {
            d.to_string()
        } else {
            s.to_string()
        }
    };
    format!(
        "{}_{}_{}",
        or(&g.group, "~G"),
        or(&g.version, "~V"),
        or(&g.kind, "~K")
    )
}

fn id_key(id: &ResId) -> String {
    let ns = if id.namespace.is_empty() {
        "~X"
    } else {
        &id.namespace
    };
    let name = if id.name.is_empty() { "~N" } else { &id.name };
    format!("{}|{}|{}", id.gvk.display(), ns, name)
}
