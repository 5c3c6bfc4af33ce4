//! Fixing name references after renames (kustomize's nameReference
//! transformer): a field that names another object of the build by its
//! original or any previous name is updated to that object's current name
//! (and, for `{name, namespace}` maps, its namespace).
//!
//! Candidates are looked up through an index of previous names, so a build
//! of thousands of objects stays linear in practice.

use std::collections::HashMap;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::fieldspec::{FieldSpec, NameBackReference, visit};
use crate::resmap::ResMap;
use crate::resource::{Gvk, Resource};

/// What a referral resolves to.
struct Referral {
    name: String,
    namespace: String,
}

/// What the lookups need to know about each object, computed once.
struct Info {
    cluster: bool,
    eff_ns: String,
    org_eff_ns: String,
    namespace: String,
    name: String,
    is_service_account: bool,
    prev_gvks: Vec<Gvk>,
}

/// A field to update and the kind it refers to.
struct Job<'a> {
    selector: Gvk,
    field: &'a FieldSpec,
    parts: Vec<String>,
    target: Gvk,
}

/// Updates every reference in `resmap` per `backrefs`.
pub fn apply(resmap: &mut ResMap, backrefs: &[NameBackReference]) -> Result<()> {
    let all_jobs: Vec<Job> = backrefs
        .iter()
        .flat_map(|br| {
            br.field_specs.iter().map(move |fs| Job {
                selector: fs.gvk(),
                field: fs,
                parts: fs.path_parts(),
                target: br.gvk(),
            })
        })
        .collect();
    let infos: Vec<Info> = resmap
        .resources()
        .iter()
        .map(|r| {
            let cur = r.cur_id();
            Info {
                cluster: cur.gvk.is_cluster_scoped(),
                eff_ns: cur.effective_namespace().to_string(),
                org_eff_ns: r.org_id().effective_namespace().to_string(),
                namespace: cur.namespace.clone(),
                name: cur.name.clone(),
                is_service_account: cur.gvk.kind == "ServiceAccount",
                prev_gvks: r.prev_ids().iter().map(|id| id.gvk.clone()).collect(),
            }
        })
        .collect();
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (j, r) in resmap.resources().iter().enumerate() {
        let mut names: Vec<&str> = r.prev_ids().iter().map(|id| id.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for n in names {
            by_name.entry(n).or_default().push(j);
        }
    }
    let mut updates: Vec<(usize, Value)> = Vec::new();
    for (i, referrer) in resmap.resources().iter().enumerate() {
        let org = referrer.org_id();
        let jobs: Vec<&Job> = all_jobs
            .iter()
            .filter(|j| org.gvk.is_selected_by(&j.selector))
            .collect();
        if jobs.is_empty() {
            continue;
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
        let mut obj = referrer.value().clone();
        let mut changed = false;
        for job in jobs {
            let ctx = Ctx {
                referrer,
                me: &infos[i],
                field: job.field,
                target: &job.target,
                all: resmap.resources(),
                infos: &infos,
                by_name: &by_name,
                binding_namespaces: &binding_namespaces,
            };
            visit(&mut obj, &job.parts, None, &mut |node: &mut Value| {
                ctx.set(node, &mut changed)
            })?;
        }
        if changed {
            updates.push((i, obj));
        }
    }
    for (i, obj) in updates {
        *resmap.resources_mut()[i].value_mut() = obj;
    }
    Ok(())
}

struct Ctx<'a> {
    referrer: &'a Resource,
    me: &'a Info,
    field: &'a FieldSpec,
    target: &'a Gvk,
    all: &'a [Resource],
    infos: &'a [Info],
    by_name: &'a HashMap<&'a str, Vec<usize>>,
    binding_namespaces: &'a [String],
}

impl Ctx<'_> {
    /// kustomize's `SubsetThatCouldBeReferencedByResource`, for one object.
    fn referable(&self, j: usize) -> bool {
        let info = &self.infos[j];
        self.me.cluster
            || info.cluster
            || info.eff_ns == self.me.eff_ns
            || self.binding_namespaces.contains(&info.namespace)
    }

    fn set(&self, node: &mut Value, changed: &mut bool) -> Result<()> {
        match node {
            Value::String(_) => self.set_scalar(node, changed),
            Value::Object(_) => self.set_mapping(node, changed),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::String(_) => self.set_scalar(item, changed)?,
                        Value::Object(_) => self.set_mapping(item, changed)?,
                        _ => {}
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn named(&self, old: &str) -> Vec<usize> {
        self.by_name
            .get(old)
            .map(|v| v.iter().copied().filter(|j| self.referable(*j)).collect())
            .unwrap_or_default()
    }

    fn set_scalar(&self, node: &mut Value, changed: &mut bool) -> Result<()> {
        let old = node.as_str().unwrap_or_default().to_string();
        let candidates = self.named(&old);
        if let Some(r) = self.select(candidates, false)?
            && r.name != old
        {
            *node = Value::String(r.name);
            *changed = true;
        }
        Ok(())
    }

    fn set_mapping(&self, node: &mut Value, changed: &mut bool) -> Result<()> {
        let Some(old) = node.get("name").and_then(Value::as_str).map(str::to_string) else {
            return Ok(());
        };
        let mut candidates = self.named(&old);
        if let Some(ns) = node.get("namespace").and_then(Value::as_str) {
            let any_by_org =
                (0..self.infos.len()).any(|j| self.referable(j) && self.infos[j].org_eff_ns == ns);
            candidates.retain(|j| {
                if any_by_org {
                    self.infos[*j].org_eff_ns == ns
                } else {
                    self.infos[*j].eff_ns == ns
                }
            });
        }
        let Some(r) = self.select(candidates, true)? else {
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
            *changed = true;
        }
        Ok(())
    }

    /// kustomize's `selectReferral` over candidates already matched by
    /// previous name and referability.
    fn select(&self, candidates: Vec<usize>, with_ns: bool) -> Result<Option<Referral>> {
        let role_ref = self.role_ref_gvk();
        let mut c: Vec<usize> = candidates
            .into_iter()
            .filter(|j| {
                let info = &self.infos[*j];
                info.prev_gvks.iter().any(|g| g.is_selected_by(self.target))
                    && role_ref
                        .as_ref()
                        .is_none_or(|rg| info.prev_gvks.iter().any(|g| g.is_selected_by(rg)))
                    && (self.me.cluster
                        || info.cluster
                        || info.is_service_account
                        || info.eff_ns == self.me.eff_ns)
            })
            .collect();
        if c.len() > 1 {
            c.retain(|j| self.all[*j].same_prefixes_suffixes(self.referrer));
        }
        let Some(&first) = c.first() else {
            return Ok(None);
        };
        let pick = &self.infos[first];
        let identical = c.iter().all(|j| {
            let o = &self.infos[*j];
            o.name == pick.name && (!with_ns || o.namespace == pick.namespace)
        });
        if !identical {
            let ids: Vec<String> = c.iter().map(|j| self.all[*j].cur_id().display()).collect();
            return Err(Error::AmbiguousReference {
                field: self.field.path.clone(),
                referrer: self.referrer.cur_id().display(),
                candidates: ids.join(", "),
            });
        }
        Ok(Some(Referral {
            name: pick.name.clone(),
            namespace: pick.namespace.clone(),
        }))
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
