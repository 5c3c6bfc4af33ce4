//! `fluxrs tree kustomization NAME`: the objects a Kustomization manages,
//! from its `status.inventory`, recursing into the Kustomizations it
//! manages, each with its health (`spec/cli.md` §4, plus health).

use std::collections::HashSet;

use anstyle::{AnsiColor, Color, Style};
use clap::{Args, Subcommand};
use fluxrs_api::kustomize::Kustomization;
use kube::ResourceExt;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::health::{self, Health, HealthStatus};
use crate::inventory::ObjMetadata;
use crate::kube::Session;
use crate::output::{self, Format};

const KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";

/// What to show the tree of.
#[derive(Debug, Subcommand)]
pub enum TreeTarget {
    /// A Kustomization.
    #[command(visible_alias = "ks")]
    Kustomization(TreeArgs),
}

/// Arguments of `tree kustomization`.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// The Kustomization.
    pub name: String,
    /// Only Flux objects (group *.toolkit.fluxcd.io).
    #[arg(long)]
    pub compact: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

/// One object and what it manages.
#[derive(Debug, Serialize)]
pub struct Node {
    /// The object.
    pub resource: ObjMetadata,
    /// Its health.
    pub health: Health,
    /// Objects it manages (Kustomizations only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Node>,
}

/// Runs `tree`.
pub async fn run(session: &mut Session, target: TreeTarget) -> Result<()> {
    let TreeTarget::Kustomization(args) = target;
    let namespace = session.namespace.clone();
    let root: Kustomization = session.get(&namespace, &args.name).await?;
    let mut visited = HashSet::new();
    let tree = build(session, &root, args.compact, &mut visited).await?;
    let text = match args.output {
        Format::Table => render(&tree),
        format => output::encode(&tree, format)?,
    };
    output::print(&text);
    Ok(())
}

fn kustomization_metadata(ks: &Kustomization) -> ObjMetadata {
    ObjMetadata {
        namespace: ks.namespace().unwrap_or_default(),
        name: ks.name_any(),
        group_kind: crate::inventory::GroupKind {
            group: KUSTOMIZE_GROUP.into(),
            kind: "Kustomization".into(),
        },
    }
}

/// Builds the tree of `ks`; `visited` stops cycles (a Kustomization that
/// lists an ancestor is shown, not expanded again).
fn build<'a>(
    session: &'a mut Session,
    ks: &'a Kustomization,
    compact: bool,
    visited: &'a mut HashSet<ObjMetadata>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Node>> + Send + 'a>> {
    Box::pin(async move {
        let me = kustomization_metadata(ks);
        visited.insert(me.clone());
        let body = serde_json::to_value(ks).map_err(|e| Error::Encode(e.to_string()))?;
        let mut node = Node {
            resource: me.clone(),
            health: health::assess("Kustomization", &ks.metadata, &body),
            resources: Vec::new(),
        };
        let entries = ks
            .status
            .as_ref()
            .and_then(|s| s.inventory.as_ref())
            .map(|i| i.entries.clone())
            .unwrap_or_default();
        for entry in entries {
            let child = ObjMetadata::parse(&entry.id).map_err(Error::InvalidArgument)?;
            if child == me || (compact && !child.group_kind.group.contains("toolkit.fluxcd.io")) {
                continue;
            }
            node.resources
                .push(child_node(session, child, &entry.v, compact, visited).await?);
        }
        Ok(node)
    })
}

async fn child_node(
    session: &mut Session,
    child: ObjMetadata,
    version: &str,
    compact: bool,
    visited: &mut HashSet<ObjMetadata>,
) -> Result<Node> {
    let is_kustomization =
        child.group_kind.group == KUSTOMIZE_GROUP && child.group_kind.kind == "Kustomization";
    if is_kustomization && !visited.contains(&child) {
        let namespace = child.namespace.clone();
        match session.get::<Kustomization>(&namespace, &child.name).await {
            Ok(ks) => return build(session, &ks, compact, visited).await,
            Err(Error::NotFound { .. }) => return Ok(leaf(child, Health::not_found())),
            Err(e) => return Err(e),
        }
    }
    let object = session
        .get_dynamic(&child.gvk(version), child.namespace(), &child.name)
        .await;
    let health = match object {
        Ok(Some(obj)) => health::assess(&child.group_kind.kind, &obj.metadata, &obj.data),
        Ok(None) | Err(Error::UnknownKind(_)) => Health::not_found(),
        Err(e) => return Err(e),
    };
    Ok(leaf(child, health))
}

fn leaf(resource: ObjMetadata, health: Health) -> Node {
    Node {
        resource,
        health,
        resources: Vec::new(),
    }
}

/// The tree drawn with `├── `, `└── ` and `│   ` like `flux tree`, each
/// object followed by its health in parentheses.
pub fn render(tree: &Node) -> String {
    let mut out = format!("{} {}\n", tree.resource, health_text(&tree.health));
    render_children(&tree.resources, "", &mut out);
    out
}

fn render_children(children: &[Node], prefix: &str, out: &mut String) {
    for (i, child) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        let (branch, indent) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        out.push_str(&format!(
            "{prefix}{branch}{} {}\n",
            child.resource,
            health_text(&child.health)
        ));
        render_children(&child.resources, &format!("{prefix}{indent}"), out);
    }
}

fn health_text(health: &Health) -> String {
    let color = match health.status {
        HealthStatus::Current => AnsiColor::Green,
        HealthStatus::InProgress | HealthStatus::Terminating => AnsiColor::Yellow,
        HealthStatus::Failed | HealthStatus::NotFound => AnsiColor::Red,
    };
    let style = Style::new().fg_color(Some(Color::Ansi(color)));
    format!("({style}{}{style:#})", health.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, status: HealthStatus, resources: Vec<Node>) -> Node {
        Node {
            resource: ObjMetadata::parse(id).unwrap(),
            health: Health {
                status,
                message: String::new(),
            },
            resources,
        }
    }

    #[test]
    fn draws_nested_kustomizations() {
        let tree = node(
            "flux-system_apps_kustomize.toolkit.fluxcd.io_Kustomization",
            HealthStatus::Current,
            vec![
                node("_apps__Namespace", HealthStatus::Current, vec![]),
                node(
                    "flux-system_podinfo_kustomize.toolkit.fluxcd.io_Kustomization",
                    HealthStatus::InProgress,
                    vec![
                        node(
                            "apps_podinfo_apps_Deployment",
                            HealthStatus::InProgress,
                            vec![],
                        ),
                        node("apps_podinfo__Service", HealthStatus::Current, vec![]),
                    ],
                ),
                node("apps_gone__ConfigMap", HealthStatus::NotFound, vec![]),
            ],
        );
        let plain = anstream::adapter::strip_str(&render(&tree)).to_string();
        assert_eq!(
            plain,
            "Kustomization/flux-system/apps (Current)\n\
             ├── Namespace/apps (Current)\n\
             ├── Kustomization/flux-system/podinfo (InProgress)\n\
             │   ├── Deployment/apps/podinfo (InProgress)\n\
             │   └── Service/apps/podinfo (Current)\n\
             └── ConfigMap/apps/gone (NotFound)\n"
        );
    }

    #[test]
    fn json_has_resource_and_resources_like_flux() {
        let tree = node(
            "ns_a_kustomize.toolkit.fluxcd.io_Kustomization",
            HealthStatus::Current,
            vec![node("ns_cm__ConfigMap", HealthStatus::Current, vec![])],
        );
        let value = serde_json::to_value(&tree).unwrap();
        assert_eq!(value["resource"]["Name"], "a");
        assert_eq!(
            value["resources"][0]["resource"]["GroupKind"]["Kind"],
            "ConfigMap"
        );
        assert_eq!(value["resources"][0]["health"]["status"], "Current");
    }
}
