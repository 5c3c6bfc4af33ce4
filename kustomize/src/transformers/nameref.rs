//! Fixing name references after renames (kustomize's nameReference
//! transformer): a field that names another object of the build by its
//! original or any previous name is updated to that object's current name
//! (and, for `{name, namespace}` maps, its namespace).

use serde_json::Value;

use crate::error::{Error, Result};
use crate::fieldspec::{FieldSpec, NameBackReference, visit};
use crate::resmap::ResMap;
use crate::resource::{Gvk, Resource};

/// What a referral resolves to.
#[derive(Clone)]
struct Referral {
    name: String,
    namespace: String,
}

/// Updates every reference in `resmap` per `backrefs`.
pub fn apply(resmap: &mut ResMap, backrefs: &[NameBackReference]) -> Result<()> {
    let snapshot: Vec<Resource> = resmap.resources().to_vec();
    for (i, referrer) in snapshot.iter().enumerate() {
        let org = referrer.org_id();
        let mut jobs: Vec<(&FieldSpec, Gvk)> = Vec::new();
        for br in backrefs {
            for fs in &br.field_specs {
                if org.gvk.is_selected_by(&fs.gvk()) {
                    jobs.push((fs, br.gvk()));
                }
            }
        }
        if jobs.is_empty() {
            continue;
        }
        let candidates = subset_referable_by(&snapshot, referrer);
        let mut obj = resmap.resources()[i].value().clone();
        for (fs, target) in jobs {
            let ctx = Ctx {
                referrer,
                field: fs,
                target: &target,
                candidates: &candidates,
            };
            visit(&mut obj, &fs.path_parts(), None, &mut |node: &mut Value| {
                ctx.set(node)
            })?;
        }
        *resmap.resources_mut()[i].value_mut() = obj;
    }
    Ok(())
}

/// kustomize's `SubsetThatCouldBeReferencedByResource`.
fn subset_referable_by<'a>(all: &'a [Resource], referrer: &Resource) -> Vec<&'a Resource> {
    let rid = referrer.cur_id();
    if rid.gvk.is_cluster_scoped() {
        return all.iter().collect();
    }
    let binding_namespaces: Vec<String> = if referrer.kind() == "RoleBinding" {
        referrer.value()["subjects"]
            .as_array()
            .map(|subjects| {
                subjects
                    .iter()
                    .filter(|s| s["kind"] == "ServiceAccount")
                    .filter_map(|s| s["namespace"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    all.iter()
        .filter(|r| {
            let id = r.cur_id();
            id.gvk.is_cluster_scoped()
                || id.ns_equals(&rid)
                || binding_namespaces.iter().any(|ns| ns == r.namespace())
        })
        .collect()
}

struct Ctx<'a> {
    referrer: &'a Resource,
    field: &'a FieldSpec,
    target: &'a Gvk,
    candidates: &'a [&'a Resource],
}

impl Ctx<'_> {
    fn set(&self, node: &mut Value) -> Result<()> {
        match node {
            Value::Null => Ok(()),
            Value::String(_) => self.set_scalar(node),
            Value::Object(_) => self.set_mapping(node),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::String(_) => self.set_scalar(item)?,
                        Value::Object(_) => self.set_mapping(item)?,
                        _ => {}
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn set_scalar(&self, node: &mut Value) -> Result<()> {
        let old = node.as_str().unwrap_or_default().to_string();
        let all: Vec<&Resource> = self.candidates.to_vec();
        if let Some(r) = self.select(&old, all, false)?
            && r.name != old
        {
            *node = Value::String(r.name);
        }
        Ok(())
    }

    fn set_mapping(&self, node: &mut Value) -> Result<()> {
        let Some(old) = node.get("name").and_then(Value::as_str).map(str::to_string) else {
            return Ok(());
        };
        let candidates: Vec<&Resource> = match node.get("namespace").and_then(Value::as_str) {
            None => self.candidates.to_vec(),
            Some(ns) => {
                let by_org: Vec<&Resource> = self
                    .candidates
                    .iter()
                    .copied()
                    .filter(|r| r.org_id().effective_namespace() == ns)
                    .collect();
                if by_org.is_empty() {
                    self.candidates
                        .iter()
                        .copied()
                        .filter(|r| r.cur_id().effective_namespace() == ns)
                        .collect()
                } else {
                    by_org
                }
            }
        };
        let Some(r) = self.select(&old, candidates, true)? else {
            return Ok(());
        };
        if r.name == old && r.namespace.is_empty() {
            return Ok(());
        }
        if let Some(m) = node.as_object_mut() {
            m.insert("name".into(), Value::String(r.name));
            if !r.namespace.is_empty() {
                m.insert("namespace".into(), Value::String(r.namespace));
            }
        }
        Ok(())
    }

    /// kustomize's `selectReferral`.
    fn select(
        &self,
        old: &str,
        candidates: Vec<&Resource>,
        with_ns: bool,
    ) -> Result<Option<Referral>> {
        let role_ref = self.role_ref_gvk();
        let rid = self.referrer.cur_id();
        let mut c: Vec<&Resource> = candidates
            .into_iter()
            .filter(|r| r.prev_ids().iter().any(|id| id.name == old))
            .filter(|r| {
                r.prev_ids()
                    .iter()
                    .any(|id| id.gvk.is_selected_by(self.target))
            })
            .filter(|r| {
                role_ref
                    .as_ref()
                    .is_none_or(|g| r.prev_ids().iter().any(|id| id.gvk.is_selected_by(g)))
            })
            .filter(|r| {
                rid.gvk.is_cluster_scoped() || {
                    let id = r.cur_id();
                    id.gvk.is_cluster_scoped() || r.kind() == "ServiceAccount" || rid.ns_equals(&id)
                }
            })
            .collect();
        if c.len() > 1 {
            c.retain(|r| r.same_prefixes_suffixes(self.referrer));
        }
        let Some(first) = c.first() else {
            return Ok(None);
        };
        let referral = Referral {
            name: first.name().to_string(),
            namespace: first.namespace().to_string(),
        };
        let identical = c.iter().all(|r| {
            r.name() == referral.name && (!with_ns || r.namespace() == referral.namespace)
        });
        if !identical {
            let ids: Vec<String> = c.iter().map(|r| r.cur_id().display()).collect();
            return Err(Error::AmbiguousReference {
                field: self.field.path.clone(),
                referrer: self.referrer.cur_id().display(),
                candidates: ids.join(", "),
            });
        }
        Ok(Some(referral))
    }

    /// For `roleRef/name` fields, the gvk the roleRef names.
    fn role_ref_gvk(&self) -> Option<Gvk> {
        if !self.field.path.ends_with("roleRef/name") {
            return None;
        }
        let role_ref = self.referrer.value().get("roleRef")?;
        Some(Gvk {
            group: role_ref.get("apiGroup")?.as_str()?.to_string(),
            version: String::new(),
            kind: role_ref.get("kind")?.as_str()?.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fieldspec::TransformerConfig;
    use crate::resource::ResId;
    use serde_json::json;

    fn id(kind: &str, name: &str) -> ResId {
        ResId::new(
            Gvk {
                kind: kind.into(),
                version: "v1".into(),
                ..Default::default()
            },
            name,
            "",
        )
    }

    #[test]
    fn renamed_configmaps_are_followed_by_deployments() {
        let mut cm = Resource::new(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}}),
            "t",
        );
        cm.store_previous_id();
        cm.set_name("cfg-abc");
        assert_eq!(cm.prev_ids()[0], id("ConfigMap", "cfg"));
        let dep = Resource::new(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                   "spec": {"template": {"spec": {"volumes": [{"name": "v", "configMap": {"name": "cfg"}}]}}}}),
            "t",
        );
        let mut m = ResMap::new();
        m.append(cm).unwrap();
        m.append(dep).unwrap();
        apply(&mut m, &TransformerConfig::builtin().name_reference).unwrap();
        assert_eq!(
            m.resources()[1].value()["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"],
            "cfg-abc"
        );
    }
}
