//! `fluxrs why KIND/NAME` (beyond upstream): where an object comes from.
//!
//! Starting from any object, the owner labels Flux controllers stamp on what
//! they apply (`kustomize.toolkit.fluxcd.io/name|namespace`, or the
//! `helm.toolkit.fluxcd.io` ones) lead to the Kustomization or HelmRelease
//! that applied it; that object's source gives the artifact revision (for
//! Git, the commit). The walk goes on upwards while the applier is itself
//! applied by another Flux object, so the output is the whole chain from the
//! object back to the commit that declared it.

use std::collections::{BTreeMap, HashSet};

use clap::Args;
use kube::ResourceExt;
use kube::discovery::{ApiCapabilities, ApiResource, Discovery};
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::inventory::{GroupKind, ObjMetadata};
use crate::kinds::{FluxKind, Kind, ObjectRef, ready_cells};
use crate::kube::{Session, dynamic_api};
use crate::output::{self, Format};
use crate::with_kind;

const KUSTOMIZE_NAME: &str = "kustomize.toolkit.fluxcd.io/name";
const KUSTOMIZE_NAMESPACE: &str = "kustomize.toolkit.fluxcd.io/namespace";
const HELM_NAME: &str = "helm.toolkit.fluxcd.io/name";
const HELM_NAMESPACE: &str = "helm.toolkit.fluxcd.io/namespace";

/// Arguments of `why`.
#[derive(Debug, Args)]
pub struct WhyArgs {
    /// The object, as `KIND/NAME` (kind, plural or `kind.group`, any case),
    /// e.g. `deployment/podinfo` or `ConfigMap/app-config`.
    pub object: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

/// The answer: the object and the chain of Flux objects behind it.
#[derive(Debug, Serialize)]
pub struct Explanation {
    /// The object asked about (`namespace` empty when cluster-scoped).
    pub object: ObjectRef,
    /// From the nearest applier to the outermost source.
    pub chain: Vec<Link>,
}

/// One Flux object of the chain.
#[derive(Debug, Serialize)]
pub struct Link {
    /// How it relates to the previous link: `applied by` or `from source`.
    pub relation: String,
    /// The Flux object.
    pub object: ObjectRef,
    /// `spec.path` (Kustomization).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `spec.url` (sources).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Applied revision (appliers) or artifact revision (sources).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The Git commit, when the revision names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<Commit>,
    /// READY as `get` shows it.
    pub ready: String,
    /// The Ready message.
    pub message: String,
    /// Inconsistencies worth knowing (stale labels, revision not applied yet).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A Git commit named by a Flux revision (`main@sha1:<sha>`).
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct Commit {
    /// Branch or tag, when the revision names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The commit SHA.
    pub sha: String,
}

/// What tracing one Flux object yields.
struct Traced {
    link: Link,
    labels: BTreeMap<String, String>,
    source: Option<ObjectRef>,
    inventory: Option<Vec<ObjMetadata>>,
}

/// Runs `why`.
pub async fn run(session: &Session, args: &WhyArgs) -> Result<()> {
    let (kind, name) = args.object.split_once('/').ok_or_else(|| {
        Error::InvalidArgument(format!(
            "invalid object {:?}, expected KIND/NAME",
            args.object
        ))
    })?;
    let (resource, capabilities) = resolve_kind(session, kind).await?;
    let namespace = session.namespace.clone();
    let object = dynamic_api(&session.client, &resource, &capabilities, Some(&namespace))
        .get_opt(name)
        .await
        .map_err(|e| Error::api(format!("getting {}/{name}", resource.kind), e))?
        .ok_or_else(|| Error::NotFound {
            kind: resource.kind.clone(),
            name: name.into(),
            namespace: namespace.clone(),
            list_command: None,
        })?;
    let me = ObjMetadata {
        namespace: object.namespace().unwrap_or_default(),
        name: object.name_any(),
        group_kind: GroupKind {
            group: resource.group.clone(),
            kind: resource.kind.clone(),
        },
    };
    let explanation = explain(session, me, object.labels().clone()).await?;
    let text = match args.output {
        Format::Table => render(&explanation),
        format => output::encode(&explanation, format)?,
    };
    output::print(&text);
    Ok(())
}

/// Finds the served resource for a kind as typed by a user.
async fn resolve_kind(session: &Session, typed: &str) -> Result<(ApiResource, ApiCapabilities)> {
    let discovery = Discovery::new(session.client.clone())
        .run_aggregated()
        .await
        .map_err(|e| Error::api("discovering the API resources", e))?;
    let (wanted, group) = match typed.split_once('.') {
        Some((kind, group)) => (kind.to_lowercase(), Some(group.to_lowercase())),
        None => (typed.to_lowercase(), None),
    };
    let mut candidates: Vec<(ApiResource, ApiCapabilities)> = discovery
        .groups()
        .flat_map(|g| g.recommended_resources())
        .filter(|(r, _)| {
            (r.kind.to_lowercase() == wanted || r.plural == wanted)
                && group.as_ref().is_none_or(|g| r.group.to_lowercase() == *g)
        })
        .collect();
    candidates.sort_by_key(|(r, _)| (!r.group.is_empty(), r.group.clone()));
    candidates
        .into_iter()
        .next()
        .ok_or_else(|| Error::UnknownKind(typed.to_string()))
}

/// The owner of an object according to its labels: a Kustomization, else a HelmRelease.
fn owner(labels: &BTreeMap<String, String>) -> Option<ObjectRef> {
    let pair = |name: &str, namespace: &str| Some((labels.get(name)?, labels.get(namespace)?));
    if let Some((name, namespace)) = pair(KUSTOMIZE_NAME, KUSTOMIZE_NAMESPACE) {
        return Some(ObjectRef::new(Kind::Kustomization.name(), namespace, name));
    }
    pair(HELM_NAME, HELM_NAMESPACE)
        .map(|(name, namespace)| ObjectRef::new(Kind::HelmRelease.name(), namespace, name))
}

/// Parses a Git revision: `<ref>@sha1:<sha>` or `sha1:<sha>`.
fn commit(revision: &str) -> Option<Commit> {
    let (reference, digest) = match revision.rsplit_once('@') {
        Some((reference, digest)) => (Some(reference.to_string()), digest),
        None => (None, revision),
    };
    let sha = digest.strip_prefix("sha1:")?;
    (!sha.is_empty() && sha.chars().all(|c| c.is_ascii_hexdigit())).then(|| Commit {
        reference,
        sha: sha.to_string(),
    })
}

async fn explain(
    session: &Session,
    start: ObjMetadata,
    labels: BTreeMap<String, String>,
) -> Result<Explanation> {
    let object = ObjectRef::new(&start.group_kind.kind, &start.namespace, &start.name);
    let Some(mut applier) = owner(&labels) else {
        return Err(Error::NotManaged(start.to_string()));
    };
    let mut current = start;
    let mut chain = Vec::new();
    let mut seen = HashSet::new();
    while seen.insert(applier.clone()) {
        let mut traced = trace(session, &applier, "applied by").await?;
        if let Some(inventory) = &traced.inventory
            && !inventory.contains(&current)
        {
            traced.link.notes.push(format!(
                "{current} is not in its inventory: the owner labels may be stale"
            ));
        }
        let source = match &traced.source {
            Some(source) => Some(trace(session, source, "from source").await?),
            None => None,
        };
        if let Some(source) = &source
            && source.link.revision.is_some()
            && source.link.revision != traced.link.revision
            && applier.kind == Kind::Kustomization.name()
        {
            traced.link.notes.push(format!(
                "its source is at {}, not applied yet",
                source.link.revision.as_deref().unwrap_or_default()
            ));
        }
        current = flux_metadata(&applier);
        let next = owner(&traced.labels);
        chain.push(traced.link);
        chain.extend(source.map(|s| s.link));
        match next {
            Some(next) => applier = next,
            None => break,
        }
    }
    Ok(Explanation { object, chain })
}

fn flux_metadata(object: &ObjectRef) -> ObjMetadata {
    let group = match object.kind.as_str() {
        "Kustomization" => "kustomize.toolkit.fluxcd.io",
        _ => "helm.toolkit.fluxcd.io",
    };
    ObjMetadata {
        namespace: object.namespace.clone(),
        name: object.name.clone(),
        group_kind: GroupKind {
            group: group.into(),
            kind: object.kind.clone(),
        },
    }
}

async fn trace(session: &Session, object: &ObjectRef, relation: &str) -> Result<Traced> {
    let kind =
        Kind::from_name(&object.kind).ok_or_else(|| Error::UnknownKind(object.kind.clone()))?;
    with_kind!(kind, |K| trace_kind::<K>(session, object, relation).await)
}

async fn trace_kind<K: FluxKind>(
    session: &Session,
    object: &ObjectRef,
    relation: &str,
) -> Result<Traced> {
    let obj: K = session.get(&object.namespace, &object.name).await?;
    let value = serde_json::to_value(&obj).map_err(|e| Error::Encode(e.to_string()))?;
    let text = |pointer: &str| {
        value
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let (ready, message) = ready_cells(&obj);
    let revision = obj.revision();
    let inventory = value
        .pointer("/status/inventory/entries")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e.get("id").and_then(Value::as_str))
                .filter_map(|id| ObjMetadata::parse(id).ok())
                .collect()
        });
    Ok(Traced {
        link: Link {
            relation: relation.into(),
            object: object.clone(),
            path: text("/spec/path"),
            url: text("/spec/url"),
            commit: revision.as_deref().and_then(commit),
            revision,
            ready,
            message,
            notes: Vec::new(),
        },
        labels: obj.labels().clone(),
        source: obj.source(),
        inventory,
    })
}

/// The chain as text, one Flux object per `←` line with its details below.
fn render(explanation: &Explanation) -> String {
    let object = &explanation.object;
    let mut out = if object.namespace.is_empty() {
        format!("{}/{}\n", object.kind, object.name)
    } else {
        format!("{object}\n")
    };
    for link in &explanation.chain {
        out.push_str(&format!(
            "  ← {} {} (Ready: {})\n",
            link.relation, link.object, link.ready
        ));
        let detail = |out: &mut String, key: &str, value: &str| {
            out.push_str(&format!("      {key}: {value}\n"));
        };
        if let Some(path) = &link.path {
            detail(&mut out, "path", path);
        }
        if let Some(url) = &link.url {
            detail(&mut out, "url", url);
        }
        if let Some(revision) = &link.revision {
            detail(&mut out, "revision", revision);
        }
        if let Some(commit) = &link.commit {
            let on = commit
                .reference
                .as_ref()
                .map(|r| format!(" on {r}"))
                .unwrap_or_default();
            detail(&mut out, "commit", &format!("{}{on}", commit.sha));
        }
        if link.ready != "True" && !link.message.is_empty() {
            detail(&mut out, "message", &link.message);
        }
        for note in &link.notes {
            detail(&mut out, "note", note);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kustomize_labels_win_over_helm_labels() {
        let both = labels(&[
            (KUSTOMIZE_NAME, "apps"),
            (KUSTOMIZE_NAMESPACE, "flux-system"),
            (HELM_NAME, "podinfo"),
            (HELM_NAMESPACE, "apps"),
        ]);
        assert_eq!(
            owner(&both).unwrap().to_string(),
            "Kustomization/flux-system/apps"
        );
        let helm = labels(&[(HELM_NAME, "podinfo"), (HELM_NAMESPACE, "apps")]);
        assert_eq!(
            owner(&helm).unwrap().to_string(),
            "HelmRelease/apps/podinfo"
        );
        assert_eq!(
            owner(&labels(&[(KUSTOMIZE_NAME, "apps")])),
            None,
            "both labels needed"
        );
    }

    #[test]
    fn git_revisions_name_a_commit() {
        assert_eq!(
            commit("main@sha1:1a2b3c"),
            Some(Commit {
                reference: Some("main".into()),
                sha: "1a2b3c".into()
            })
        );
        assert_eq!(
            commit("refs/tags/v1@sha1:abc"),
            Some(Commit {
                reference: Some("refs/tags/v1".into()),
                sha: "abc".into()
            })
        );
        assert_eq!(
            commit("sha1:abc"),
            Some(Commit {
                reference: None,
                sha: "abc".into()
            })
        );
        assert_eq!(commit("v1.0.0@sha256:abc"), None);
        assert_eq!(commit("6.5.0"), None);
    }

    #[test]
    fn renders_the_chain() {
        let explanation = Explanation {
            object: ObjectRef::new("ConfigMap", "apps", "app-config"),
            chain: vec![
                Link {
                    relation: "applied by".into(),
                    object: ObjectRef::new("Kustomization", "apps", "apps"),
                    path: Some("./deploy".into()),
                    url: None,
                    revision: Some("main@sha1:abc".into()),
                    commit: commit("main@sha1:abc"),
                    ready: "True".into(),
                    message: "Applied".into(),
                    notes: Vec::new(),
                },
                Link {
                    relation: "from source".into(),
                    object: ObjectRef::new("GitRepository", "apps", "app"),
                    path: None,
                    url: Some("https://example.com/app".into()),
                    revision: Some("main@sha1:abc".into()),
                    commit: commit("main@sha1:abc"),
                    ready: "True".into(),
                    message: "stored".into(),
                    notes: Vec::new(),
                },
            ],
        };
        assert_eq!(
            render(&explanation),
            "ConfigMap/apps/app-config\n\
             \x20 ← applied by Kustomization/apps/apps (Ready: True)\n\
             \x20     path: ./deploy\n\
             \x20     revision: main@sha1:abc\n\
             \x20     commit: abc on main\n\
             \x20 ← from source GitRepository/apps/app (Ready: True)\n\
             \x20     url: https://example.com/app\n\
             \x20     revision: main@sha1:abc\n\
             \x20     commit: abc on main\n"
        );
    }
}
