//! Matching resources against selectors (patch targets, replacement
//! selectors): anchored regular expressions for kind, name and namespace,
//! exact group and version, Kubernetes label/annotation selector syntax.

use regex::Regex;
use serde_json::Value;

use crate::kustomization::Selector;
use crate::resource::Resource;

/// A compiled [`Selector`].
pub struct SelectorMatcher<'a> {
    selector: &'a Selector,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Vec<Requirement>,
    annotations: Vec<Requirement>,
}

fn anchored(pattern: &str) -> Result<Option<Regex>, String> {
    if pattern.is_empty() {
        return Ok(None);
    }
    Regex::new(&format!("^(?:{pattern})$"))
        .map(Some)
        .map_err(|e| format!("invalid selector pattern {pattern:?}: {e}"))
}

impl<'a> SelectorMatcher<'a> {
    /// Compiles `selector`.
    pub fn new(selector: &'a Selector) -> Result<Self, String> {
        Ok(Self {
            selector,
            kind: anchored(&selector.kind)?,
            name: anchored(&selector.name)?,
            namespace: anchored(&selector.namespace)?,
            labels: parse_selector(&selector.label_selector)?,
            annotations: parse_selector(&selector.annotation_selector)?,
        })
    }

    /// kustomize's `ResMap.Select` test for one resource: original or
    /// current namespace and name, current gvk, labels and annotations.
    pub fn matches(&self, r: &Resource) -> bool {
        let cur = r.cur_id();
        let org = r.org_id();
        if let Some(ns) = &self.namespace
            && !ns.is_match(&selector_namespace(&org))
            && !ns.is_match(&selector_namespace(&cur))
        {
            return false;
        }
        if let Some(name) = &self.name
            && !name.is_match(&org.name)
            && !name.is_match(&cur.name)
        {
            return false;
        }
        let gvk = r.gvk();
        if !self.selector.group.is_empty() && self.selector.group != gvk.group {
            return false;
        }
        if !self.selector.version.is_empty() && self.selector.version != gvk.version {
            return false;
        }
        if let Some(kind) = &self.kind
            && !kind.is_match(&gvk.kind)
        {
            return false;
        }
        let meta = &r.value()["metadata"];
        self.labels.iter().all(|req| req.matches(&meta["labels"]))
            && self
                .annotations
                .iter()
                .all(|req| req.matches(&meta["annotations"]))
    }
}

fn selector_namespace(id: &crate::resource::ResId) -> String {
    if id.gvk.is_cluster_scoped() {
        "_non_namespaceable_".to_string()
    } else {
        id.effective_namespace().to_string()
    }
}

enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
}

struct Requirement {
    key: String,
    op: Op,
}

impl Requirement {
    fn matches(&self, map: &Value) -> bool {
        let value = map.get(&self.key).and_then(Value::as_str);
        match &self.op {
            Op::Eq(v) => value == Some(v.as_str()),
            Op::NotEq(v) => value != Some(v.as_str()),
            Op::In(vs) => value.is_some_and(|x| vs.iter().any(|v| v == x)),
            Op::NotIn(vs) => !value.is_some_and(|x| vs.iter().any(|v| v == x)),
            Op::Exists => value.is_some(),
            Op::NotExists => value.is_none(),
        }
    }
}

/// Splits on commas that are not inside parentheses.
fn split_requirements(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn parse_selector(s: &str) -> Result<Vec<Requirement>, String> {
    let mut reqs = Vec::new();
    if s.trim().is_empty() {
        return Ok(reqs);
    }
    for part in split_requirements(s) {
        let part = part.trim();
        let set = |rest: &str| -> Result<Vec<String>, String> {
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| format!("invalid selector requirement {part:?}"))?;
            Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
        };
        let req = if let Some(key) = part.strip_prefix('!') {
            Requirement {
                key: key.trim().into(),
                op: Op::NotExists,
            }
        } else if let Some((k, v)) = part.split_once("!=") {
            Requirement {
                key: k.trim().into(),
                op: Op::NotEq(v.trim().into()),
            }
        } else if let Some((k, v)) = part.split_once("==") {
            Requirement {
                key: k.trim().into(),
                op: Op::Eq(v.trim().into()),
            }
        } else if let Some((k, v)) = part.split_once('=') {
            Requirement {
                key: k.trim().into(),
                op: Op::Eq(v.trim().into()),
            }
        } else if let Some((k, rest)) = part.split_once(" notin ") {
            Requirement {
                key: k.trim().into(),
                op: Op::NotIn(set(rest)?),
            }
        } else if let Some((k, rest)) = part.split_once(" in ") {
            Requirement {
                key: k.trim().into(),
                op: Op::In(set(rest)?),
            }
        } else {
            Requirement {
                key: part.into(),
                op: Op::Exists,
            }
        };
        if req.key.is_empty() {
            return Err(format!("invalid selector requirement {part:?}"));
        }
        reqs.push(req);
    }
    Ok(reqs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(v: Value) -> Resource {
        Resource::new(v, "test")
    }

    #[test]
    fn label_selectors_support_set_operators() {
        let r = res(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"tier": "front", "env": "prod"}}}));
        for (sel, want) in [
            ("tier=front", true),
            ("tier!=front", false),
            ("env in (prod, dev)", true),
            ("env notin (prod)", false),
            ("tier,!missing", true),
        ] {
            let s = Selector {
                label_selector: sel.into(),
                ..Default::default()
            };
            assert_eq!(SelectorMatcher::new(&s).unwrap().matches(&r), want, "{sel}");
        }
    }

    #[test]
    fn names_and_kinds_are_anchored_regexes() {
        let r = res(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web-1"}}),
        );
        let s = Selector {
            kind: "Deploy.*".into(),
            name: "web-.".into(),
            ..Default::default()
        };
        assert!(SelectorMatcher::new(&s).unwrap().matches(&r));
        let s = Selector {
            name: "web".into(),
            ..Default::default()
        };
        assert!(!SelectorMatcher::new(&s).unwrap().matches(&r));
        let s = Selector {
            namespace: "default".into(),
            group: "apps".into(),
            ..Default::default()
        };
        assert!(SelectorMatcher::new(&s).unwrap().matches(&r));
    }
}
