//! `fluxrs export`: Flux objects as YAML that applies cleanly to another
//! cluster (`spec/cli.md` §10): apiVersion, kind, name, namespace, labels,
//! annotations and spec; status and server-set metadata dropped.

use clap::Args;
use kube::api::ListParams;
use serde_json::{Map, Value};

use super::Target;
use crate::error::{Error, Result};
use crate::kinds::FluxKind;
use crate::kube::Session;
use crate::output;
use crate::with_kind;

/// Arguments of `export <kind>`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The object to export.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub name: Option<String>,
    /// Export every object of the kind in the namespace.
    #[arg(long)]
    pub all: bool,
}

/// Runs `export`.
pub async fn run(session: &Session, target: Target<ExportArgs>) -> Result<()> {
    let (kind, args) = target.into_parts();
    with_kind!(kind, |K| export_kind::<K>(session, &args).await)
}

async fn export_kind<K: FluxKind>(session: &Session, args: &ExportArgs) -> Result<()> {
    let objects: Vec<K> = match &args.name {
        Some(name) => vec![session.get(&session.namespace, name).await?],
        None => session.list(&ListParams::default()).await?,
    };
    if objects.is_empty() {
        return Err(Error::NoObjects {
            kind: K::KIND.name().into(),
            scope: session.scope_text(),
        });
    }
    let cleaned = objects
        .iter()
        .map(|o| {
            serde_json::to_value(o)
                .map(clean)
                .map_err(|e| Error::Encode(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    output::print(&output::to_yaml_documents(&cleaned)?);
    Ok(())
}

/// Keeps what describes the desired state: `apiVersion`, `kind`,
/// `metadata.{name,namespace,labels,annotations}` and `spec`. Everything the
/// server sets (status, uid, resourceVersion, generation, managedFields,
/// creationTimestamp, finalizers, ownerReferences) is dropped.
pub fn clean(object: Value) -> Value {
    let Value::Object(mut object) = object else {
        return object;
    };
    let mut cleaned = Map::new();
    for key in ["apiVersion", "kind"] {
        if let Some(value) = object.remove(key) {
            cleaned.insert(key.into(), value);
        }
    }
    if let Some(Value::Object(mut metadata)) = object.remove("metadata") {
        let mut kept = Map::new();
        for key in ["name", "namespace", "labels", "annotations"] {
            match metadata.remove(key) {
                Some(Value::Null) | None => {}
                Some(Value::Object(map)) if map.is_empty() => {}
                Some(value) => {
                    kept.insert(key.into(), value);
                }
            }
        }
        cleaned.insert("metadata".into(), Value::Object(kept));
    }
    if let Some(spec) = object.remove("spec") {
        cleaned.insert("spec".into(), spec);
    }
    Value::Object(cleaned)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn drops_status_and_server_metadata() {
        let live = json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {
                "name": "app", "namespace": "apps",
                "labels": {"team": "a"},
                "annotations": {"reconcile.fluxcd.io/requestedAt": "1"},
                "uid": "0c1d", "resourceVersion": "42", "generation": 3,
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "finalizers": ["finalizers.fluxcd.io"],
                "managedFields": [{"manager": "flux"}]
            },
            "spec": {"interval": "1m", "url": "https://example.com/app"},
            "status": {"observedGeneration": 3}
        });
        assert_eq!(
            clean(live),
            json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "metadata": {
                    "name": "app", "namespace": "apps",
                    "labels": {"team": "a"},
                    "annotations": {"reconcile.fluxcd.io/requestedAt": "1"}
                },
                "spec": {"interval": "1m", "url": "https://example.com/app"}
            })
        );
    }

    #[test]
    fn empty_labels_and_annotations_are_left_out() {
        let live = json!({
            "apiVersion": "v1", "kind": "X",
            "metadata": {"name": "a", "labels": {}, "annotations": null},
        });
        assert_eq!(
            clean(live),
            json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "a"}})
        );
    }

    #[test]
    fn exported_yaml_is_sorted_like_flux() {
        let live = json!({
            "kind": "Kustomization", "spec": {"prune": true, "interval": "1m0s"},
            "metadata": {"namespace": "flux-system", "name": "apps"},
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1"
        });
        assert_eq!(
            output::to_yaml_documents(&[clean(live)]).unwrap(),
            "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  interval: 1m0s\n  prune: true\n"
        );
    }
}
