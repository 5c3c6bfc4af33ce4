//! `fluxrs diff kustomization NAME --path DIR`: builds like `build`, then
//! server-side dry-runs every object with kustomize-controller's field
//! manager and compares the result with the live object (`spec/cli.md` §7):
//! `► Kind/ns/name created`, `► ... drifted` with a unified diff (Secret
//! values masked), `► ... skipped`, and `► ... deleted` for objects of the
//! live inventory that would be pruned. Exit code 0 without changes, 1 with
//! changes, 2 on errors.

use std::collections::BTreeSet;

use anstyle::{AnsiColor, Color, Style};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::{Args, Subcommand};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use kustomize_controller::apply::{FIELD_MANAGER, api_message};
use kustomize_controller::inventory::{ObjectId, inventory, stale};
use kustomize_controller::ordering::sort_for_apply;
use serde_json::{Map, Value};

use super::build::{self, Built, LocalBuild};
use crate::error::{Error, Result};
use crate::kube::Session;
use crate::output;

const RECONCILE_KEY: &str = "kustomize.toolkit.fluxcd.io/reconcile";
const SSA_KEY: &str = "kustomize.toolkit.fluxcd.io/ssa";
const SOPS_MASK: &str = "**SOPS**";
const MASK: &str = "***";
const MASK_BEFORE: &str = "*** (before)";
const MASK_AFTER: &str = "*** (after)";

const CREATED: Style = Style::new().fg_color(Some(Color::Ansi(AnsiColor::Green)));
const DELETED: Style = Style::new().fg_color(Some(Color::Ansi(AnsiColor::Red)));
const HUNK: Style = Style::new().fg_color(Some(Color::Ansi(AnsiColor::Cyan)));
const PLAIN: Style = Style::new();

/// What to diff.
#[derive(Debug, Subcommand)]
pub enum DiffTarget {
    /// A Kustomization.
    #[command(visible_aliases = ["ks", "kustomizations"])]
    Kustomization(DiffArgs),
}

/// Arguments of `diff kustomization`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The Kustomization and the local files.
    #[command(flatten)]
    pub local: LocalBuild,
}

/// What the dry run says about one object.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    /// It does not exist yet.
    Created,
    /// It exists and would change: the unified diff, live to merged.
    Drifted(String),
    /// It is up to date.
    Unchanged,
    /// An annotation or label excludes it.
    Skipped,
}

/// Runs `diff`. Errors are exit code 2; changes end with [`Error::Changes`].
pub async fn run(session: &mut Session, target: DiffTarget) -> Result<()> {
    let DiffTarget::Kustomization(args) = target;
    let namespace = session.namespace.clone();
    let built = build::build(Some(session), &namespace, &args.local)
        .await
        .map_err(|e| Error::Diff(Box::new(e)))?;
    let (text, changed, errors) = diff(session, &built).await;
    output::print(&text);
    if !errors.is_empty() {
        return Err(Error::Diff(Box::new(Error::Build(errors.join("\n")))));
    }
    if changed {
        return Err(Error::Changes);
    }
    Ok(())
}

/// The report, whether anything changes, and the objects that could not be
/// compared.
async fn diff(session: &mut Session, built: &Built) -> (String, bool, Vec<String>) {
    let mut objects = built.objects.clone();
    sort_for_apply(&mut objects);
    let mut text = String::new();
    let mut changed = false;
    let mut errors = Vec::new();
    let mut entries = Vec::new();
    for object in &objects {
        let Some((id, version)) = ObjectId::of(object) else {
            errors.push(format!("object without apiVersion, kind or name: {object}"));
            continue;
        };
        let subject = id.display();
        match diff_one(session, object, &id, &version).await {
            Ok(Change::Created) => {
                text.push_str(&styled(CREATED, &format!("► {subject} created")));
                changed = true;
            }
            Ok(Change::Drifted(unified)) => {
                text.push_str(&styled(PLAIN, &format!("► {subject} drifted")));
                text.push_str(&colorize(&unified));
                changed = true;
            }
            Ok(Change::Skipped) => text.push_str(&styled(PLAIN, &format!("► {subject} skipped"))),
            Ok(Change::Unchanged) => {}
            Err(error) => {
                errors.push(error);
                continue;
            }
        }
        entries.push((id, version));
    }
    let status_inventory = built
        .kustomization
        .status
        .as_ref()
        .and_then(|s| s.inventory.as_ref());
    if built.kustomization.spec.prune && errors.is_empty() {
        for (id, _) in stale(status_inventory, &inventory(&entries)) {
            text.push_str(&styled(DELETED, &format!("► {} deleted", id.display())));
            changed = true;
        }
    }
    (text, changed, errors)
}

async fn diff_one(
    session: &mut Session,
    object: &Value,
    id: &ObjectId,
    version: &str,
) -> Result<Change, String> {
    let gvk = GroupVersionKind::gvk(&id.group, version, &id.kind);
    let (resource, capabilities) = session
        .resource(&gvk)
        .await
        .map_err(|e| format!("{}: {e}", id.display()))?;
    let api: Api<DynamicObject> = match (&capabilities.scope, id.namespace.as_str()) {
        (Scope::Cluster, _) => Api::all_with(session.client.clone(), &resource),
        (Scope::Namespaced, "") => Api::default_namespaced_with(session.client.clone(), &resource),
        (Scope::Namespaced, ns) => Api::namespaced_with(session.client.clone(), ns, &resource),
    };
    let live = api
        .get_opt(&id.name)
        .await
        .map_err(|e| format!("{}: {}", id.display(), api_message(&e)))?
        .map(|live| serde_json::to_value(live).unwrap_or_default());
    if excluded(object, live.as_ref()) {
        return Ok(Change::Skipped);
    }
    let params = PatchParams::apply(FIELD_MANAGER).force().dry_run();
    let merged = api
        .patch(&id.name, &params, &Patch::Apply(object))
        .await
        .map_err(|e| format!("{} dry-run failed: {}", id.display(), api_message(&e)))?;
    let merged = serde_json::to_value(merged).unwrap_or_default();
    let Some(live) = live else {
        return Ok(Change::Created);
    };
    if !drifted(&live, &merged) || sops_keys_unchanged(object, &live, &merged) {
        return Ok(Change::Unchanged);
    }
    Ok(Change::Drifted(unified_diff(live, merged)))
}

/// flux skips objects labelled or annotated `reconcile: disabled` (built or
/// live) or `ssa: ignore`, and those marked `ssa: ifnotpresent` that exist.
fn excluded(object: &Value, live: Option<&Value>) -> bool {
    let disabled = |o: &Value| metadata_value(o, RECONCILE_KEY).as_deref() == Some("disabled");
    let ssa = metadata_value(object, SSA_KEY);
    disabled(object)
        || live.is_some_and(disabled)
        || ssa.as_deref() == Some("ignore")
        || (live.is_some() && ssa.as_deref() == Some("ifnotpresent"))
}

/// A label or annotation value, lower-cased.
fn metadata_value(object: &Value, key: &str) -> Option<String> {
    ["annotations", "labels"]
        .iter()
        .find_map(|field| {
            object
                .pointer(&format!("/metadata/{field}"))
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
        })
        .map(str::to_lowercase)
}

/// Upstream's drift rule: labels, annotations, or anything outside
/// `metadata` and `status` differ (a missing map equals an empty one).
fn drifted(live: &Value, merged: &Value) -> bool {
    let map = |o: &Value, field: &str| {
        o.pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let body = |o: &Value| {
        let mut o = o.as_object().cloned().unwrap_or_default();
        o.remove("metadata");
        o.remove("status");
        o
    };
    map(live, "labels") != map(merged, "labels")
        || map(live, "annotations") != map(merged, "annotations")
        || body(live) != body(merged)
}

/// A masked SOPS Secret cannot be compared by value: like flux, it changes
/// only when its set of keys does.
fn sops_keys_unchanged(object: &Value, live: &Value, merged: &Value) -> bool {
    if object.get("kind").and_then(Value::as_str) != Some("Secret") {
        return false;
    }
    let masked = ["data", "stringData"].iter().any(|field| {
        object
            .get(field)
            .and_then(Value::as_object)
            .is_some_and(|values| {
                values.values().filter_map(Value::as_str).any(|v| {
                    v.contains(SOPS_MASK)
                        || STANDARD
                            .decode(v)
                            .is_ok_and(|d| String::from_utf8_lossy(&d).contains(SOPS_MASK))
                })
            })
    });
    let keys = |o: &Value| -> BTreeSet<String> {
        o.get("data")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    masked && keys(live) == keys(merged)
}

/// The unified diff of the two objects' YAML, without managed fields and
/// with Secret data masked.
fn unified_diff(mut live: Value, mut merged: Value) -> String {
    for object in [&mut live, &mut merged] {
        if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("managedFields");
        }
    }
    if merged.get("kind").and_then(Value::as_str) == Some("Secret") {
        sanitize_secret_data(&mut live, &mut merged);
    }
    let before = fluxrs_kustomize::yaml::to_yaml_document(&live);
    let after = fluxrs_kustomize::yaml::to_yaml_document(&merged);
    let diff = similar::TextDiff::from_lines(&before, &after);
    diff.unified_diff()
        .context_radius(3)
        .header("live", "merged")
        .to_string()
}

/// Green additions, red removals, cyan hunk headers.
fn colorize(diff: &str) -> String {
    diff.lines()
        .map(|line| {
            let style = match line.as_bytes().first() {
                Some(b'@') => HUNK,
                Some(b'+') => CREATED,
                Some(b'-') => DELETED,
                _ => PLAIN,
            };
            styled(style, line)
        })
        .collect()
}

/// Upstream's `SanitizeUnstructuredData`: every `data` value becomes `***`,
/// or `*** (before)` / `*** (after)` where the two differ.
fn sanitize_secret_data(live: &mut Value, merged: &mut Value) {
    let data = |o: &Value| o.get("data").and_then(Value::as_object).cloned();
    let (old, new) = (data(live), data(merged));
    let mask =
        |own: &Option<Map<String, Value>>, other: &Option<Map<String, Value>>, changed: &str| {
            own.as_ref().map(|own| {
                own.iter()
                    .map(|(key, value)| {
                        let differs = other
                            .as_ref()
                            .and_then(|o| o.get(key))
                            .is_some_and(|o| o != value);
                        let text = if differs { changed } else { MASK };
                        (key.clone(), Value::String(text.into()))
                    })
                    .collect::<Map<_, _>>()
            })
        };
    let masked_old = mask(&old, &new, MASK_BEFORE);
    let masked_new = mask(&new, &old, MASK_AFTER);
    for (object, masked) in [(live, masked_old), (merged, masked_new)] {
        if let (Some(map), Some(masked)) = (object.as_object_mut(), masked) {
            map.insert("data".into(), Value::Object(masked));
        }
    }
}

fn styled(style: Style, line: &str) -> String {
    format!("{style}{line}{style:#}\n")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn drift_ignores_status_and_server_metadata() {
        let live = json!({
            "kind": "ConfigMap",
            "metadata": {"name": "a", "resourceVersion": "1", "generation": 1},
            "data": {"k": "v"}, "status": {"x": 1},
        });
        let same = json!({
            "kind": "ConfigMap",
            "metadata": {"name": "a", "resourceVersion": "1", "generation": 2, "labels": {}},
            "data": {"k": "v"}, "status": {"x": 2},
        });
        assert!(!drifted(&live, &same));
        let relabelled = json!({"kind": "ConfigMap", "metadata": {"name": "a", "labels": {"l": "1"}}, "data": {"k": "v"}});
        assert!(drifted(&live, &relabelled));
        let changed = json!({"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "w"}});
        assert!(drifted(&live, &changed));
    }

    #[test]
    fn exclusions_follow_flux() {
        let plain = json!({"metadata": {"name": "a"}});
        let disabled = json!({"metadata": {"annotations": {RECONCILE_KEY: "Disabled"}}});
        let ignore = json!({"metadata": {"labels": {SSA_KEY: "Ignore"}}});
        let if_not_present = json!({"metadata": {"annotations": {SSA_KEY: "IfNotPresent"}}});
        assert!(!excluded(&plain, Some(&plain)));
        assert!(excluded(&disabled, None));
        assert!(excluded(&plain, Some(&disabled)));
        assert!(excluded(&ignore, None));
        assert!(!excluded(&if_not_present, None));
        assert!(excluded(&if_not_present, Some(&plain)));
    }

    #[test]
    fn secret_values_never_show_in_a_diff() {
        let live = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "managedFields": [{"manager": "x"}]},
            "data": {"same": "c2FtZQ==", "old": "b2xk", "changed": "YQ=="},
        });
        let merged = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s"},
            "data": {"same": "c2FtZQ==", "changed": "Yg==", "new": "bmV3"},
        });
        let plain = unified_diff(live, merged);
        for secret in ["c2FtZQ==", "b2xk", "YQ==", "Yg==", "bmV3", "managedFields"] {
            assert!(!plain.contains(secret), "{secret} in {plain}");
        }
        assert!(plain.contains("-  changed: '*** (before)'"), "{plain}");
        assert!(plain.contains("+  changed: '*** (after)'"), "{plain}");
        assert!(plain.contains("-  old: '***'"), "{plain}");
        assert!(plain.contains("+  new: '***'"), "{plain}");
        assert!(plain.contains("   same: '***'"), "{plain}");
        assert!(plain.starts_with("--- live\n+++ merged\n@@"), "{plain}");
    }

    #[test]
    fn masked_sops_secrets_change_only_with_their_keys() {
        let built = json!({"kind": "Secret", "data": {"token": "KipTT1BTKio="}});
        let live = json!({"kind": "Secret", "data": {"token": "c2VjcmV0"}});
        let merged = json!({"kind": "Secret", "data": {"token": "KipTT1BTKio="}});
        assert!(sops_keys_unchanged(&built, &live, &merged));
        let more = json!({"kind": "Secret", "data": {"token": "KipTT1BTKio=", "b": "eA=="}});
        assert!(!sops_keys_unchanged(&built, &live, &more));
        let plain = json!({"kind": "Secret", "data": {"token": "c2VjcmV0"}});
        assert!(!sops_keys_unchanged(&plain, &live, &merged));
    }
}
