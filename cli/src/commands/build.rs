//! `fluxrs build kustomization NAME --path DIR`: what kustomize-controller
//! would apply for a Kustomization, built from a local checkout
//! (`spec/cli.md` §6). The folder is copied first, so the user's files are
//! never touched; the Kustomization comes from the cluster, or from
//! `--kustomization-file` with `--dry-run` (no cluster at all).
//!
//! The steps are the controller's own (kustomize-controller's `build` and
//! `substitute` modules): generated `kustomization.yaml` when missing, the
//! Kustomization's overrides, `commonMetadata`, post-build substitution from
//! the cluster's ConfigMaps and Secrets (only inline `substitute` with
//! `--dry-run`), the ownership labels, then flux's SOPS masking.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::{Args, Subcommand};
use fluxrs_api::kustomize::{Kustomization, SubstituteKind};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::ResourceExt;
use kube::api::Api;
use kustomize_controller::apply::label;
use kustomize_controller::substitute::{self, VarSource};
use serde_json::Value;

use crate::cli::GlobalArgs;
use crate::error::{Error, Result};
use crate::kube::Session;
use crate::output;

/// flux's replacement for the values of SOPS-encrypted Secrets.
const SOPS_MASK: &str = "**SOPS**";
const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
const KUSTOMIZE_GROUP_PREFIX: &str = "kustomize.toolkit.fluxcd.io/";

/// What to build.
#[derive(Debug, Subcommand)]
pub enum BuildTarget {
    /// A Kustomization.
    #[command(visible_aliases = ["ks", "kustomizations"])]
    Kustomization(BuildArgs),
}

/// Arguments of `build kustomization`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The Kustomization and the local files.
    #[command(flatten)]
    pub local: LocalBuild,
    /// Build without a cluster: the Kustomization comes from
    /// --kustomization-file and `substituteFrom` is skipped.
    #[arg(long, requires = "kustomization_file")]
    pub dry_run: bool,
}

/// The Kustomization to build and the local checkout to build it from
/// (shared by `build` and `diff`).
#[derive(Debug, Args)]
pub struct LocalBuild {
    /// The Kustomization.
    pub name: String,
    /// The local directory to build: the Kustomization's `spec.path` in a
    /// checkout of its source.
    #[arg(long, value_name = "DIR")]
    pub path: PathBuf,
    /// A YAML file holding the Kustomization, used instead of the cluster's
    /// spec (the cluster's status, for the inventory, is still read unless
    /// --dry-run).
    #[arg(long, value_name = "FILE")]
    pub kustomization_file: Option<PathBuf>,
    /// Fail when a `${var}` has no value and no default.
    #[arg(long)]
    pub strict_substitute: bool,
}

/// A built Kustomization: the object (spec and live status) and the objects
/// the controller would apply.
#[derive(Debug)]
pub struct Built {
    /// The Kustomization used.
    pub kustomization: Kustomization,
    /// The objects, in kustomize's order, labelled and masked.
    pub objects: Vec<Value>,
}

/// Runs `build`.
pub async fn run(global: &GlobalArgs, target: BuildTarget) -> Result<()> {
    let BuildTarget::Kustomization(args) = target;
    let built = if args.dry_run {
        build(None, &global.namespace, &args.local).await?
    } else {
        let session = super::session(global).await?;
        build(Some(&session), &global.namespace, &args.local).await?
    };
    output::print(&to_documents(&built.objects));
    Ok(())
}

/// Builds `local` like the controller; `session` is `None` for `--dry-run`.
pub async fn build(
    session: Option<&Session>,
    namespace: &str,
    local: &LocalBuild,
) -> Result<Built> {
    let dir = checked_dir(&local.path)?;
    let mut kustomization = match (&local.kustomization_file, session) {
        (Some(file), None) => from_file(file, &local.name, namespace)?,
        (Some(file), Some(session)) => {
            let live: Kustomization = session.get(namespace, &local.name).await?;
            let mut kustomization = from_file(file, &local.name, namespace)?;
            kustomization.status = live.status;
            kustomization
        }
        (None, Some(session)) => session.get(namespace, &local.name).await?,
        (None, None) => {
            return Err(Error::InvalidArgument(
                "kustomization file is required for dry-run".into(),
            ));
        }
    };
    if kustomization.metadata.namespace.is_none() {
        kustomization.metadata.namespace = Some(namespace.to_string());
    }

    let (root, relative) = artifact_root(&dir);
    let workdir = tempfile::tempdir().map_err(|e| Error::Io {
        path: std::env::temp_dir(),
        message: e.to_string(),
    })?;
    copy_tree(&root, workdir.path())?;
    let spec = kustomization.spec.clone();
    let copy = workdir.path().to_path_buf();
    let objects = tokio::task::spawn_blocking(move || {
        kustomize_controller::build::build(&copy, &relative, &spec)
    })
    .await
    .map_err(|e| Error::Build(e.to_string()))?
    .map_err(|e| Error::Build(e.to_string()))?;

    let mut objects = substitute(session, &kustomization, objects, local.strict_substitute).await?;
    label(
        &mut objects,
        &kustomization.name_any(),
        kustomization
            .metadata
            .namespace
            .as_deref()
            .unwrap_or(namespace),
    );
    for object in &mut objects {
        mask_sops(object);
    }
    Ok(Built {
        kustomization,
        objects,
    })
}

/// Documents separated by `---` lines, each written like kustomize (and
/// `sigs.k8s.io/yaml`) writes them: sorted keys, go-yaml style.
pub fn to_documents(objects: &[Value]) -> String {
    objects
        .iter()
        .map(fluxrs_kustomize::yaml::to_yaml_document)
        .collect::<Vec<_>>()
        .join("---\n")
}

fn checked_dir(path: &Path) -> Result<PathBuf> {
    path.canonicalize()
        .ok()
        .filter(|p| p.is_dir())
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "invalid resource path {:?}",
                path.display().to_string()
            ))
        })
}

/// The Kustomization `name` (in `namespace`, or without one) of a YAML file,
/// as upstream finds it among the file's documents.
fn from_file(file: &Path, name: &str, namespace: &str) -> Result<Kustomization> {
    let io = |message: String| Error::Io {
        path: file.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(file).map_err(|e| io(e.to_string()))?;
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let value: Value = serde::Deserialize::deserialize(document)
            .map_err(|e| io(format!("failed to unmarshal the kustomization file: {e}")))?;
        let field = |pointer: &str| value.pointer(pointer).and_then(Value::as_str);
        let matches = field("/apiVersion").is_some_and(|v| v.starts_with(KUSTOMIZE_GROUP_PREFIX))
            && field("/kind") == Some("Kustomization")
            && field("/metadata/name") == Some(name)
            && field("/metadata/namespace").is_none_or(|ns| ns == namespace);
        if matches {
            return serde_json::from_value(value)
                .map_err(|e| io(format!("invalid Kustomization '{name}': {e}")));
        }
    }
    Err(io(format!(
        "no Kustomization with name '{name}' and namespace '{namespace}' in the file"
    )))
}

/// The folder the controller would get as its artifact: the checkout's root
/// (the nearest ancestor holding `.git`), so that `../base` references work,
/// or `dir` itself outside a checkout; and `dir` relative to it.
fn artifact_root(dir: &Path) -> (PathBuf, PathBuf) {
    let root = dir
        .ancestors()
        .find(|a| a.join(".git").exists())
        .unwrap_or(dir);
    let relative = dir
        .strip_prefix(root)
        .unwrap_or(Path::new(""))
        .to_path_buf();
    (root.to_path_buf(), relative)
}

/// Copies `from` into `to` (which exists), leaving out `.git` folders and
/// keeping symbolic links as links.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let io = |path: &Path, e: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    for entry in std::fs::read_dir(from).map_err(|e| io(from, e))? {
        let entry = entry.map_err(|e| io(from, e))?;
        let source = entry.path();
        if entry.file_name() == ".git" {
            continue;
        }
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(|e| io(&source, e))?;
        if kind.is_symlink() {
            let link = std::fs::read_link(&source).map_err(|e| io(&source, e))?;
            std::os::unix::fs::symlink(link, &target).map_err(|e| io(&target, e))?;
        } else if kind.is_dir() {
            std::fs::create_dir(&target).map_err(|e| io(&target, e))?;
            copy_tree(&source, &target)?;
        } else {
            std::fs::copy(&source, &target).map_err(|e| io(&source, e))?;
        }
    }
    Ok(())
}

/// Post-build substitution: the inline `substitute` map, plus the
/// `substituteFrom` ConfigMaps and Secrets of the cluster when there is one.
async fn substitute(
    session: Option<&Session>,
    kustomization: &Kustomization,
    objects: Vec<Value>,
    strict: bool,
) -> Result<Vec<Value>> {
    let Some(post_build) = &kustomization.spec.post_build else {
        return Ok(objects);
    };
    let namespace = kustomization.namespace().unwrap_or_default();
    let mut sources = Vec::new();
    if let Some(session) = session {
        for reference in post_build.substitute_from.iter().flatten() {
            let context = format!("getting the substituteFrom object '{}'", reference.name);
            let data = match reference.kind {
                SubstituteKind::ConfigMap => {
                    Api::<ConfigMap>::namespaced(session.client.clone(), &namespace)
                        .get_opt(&reference.name)
                        .await
                        .map_err(|e| Error::api(context, e))?
                        .map(|c| {
                            c.data
                                .unwrap_or_default()
                                .into_iter()
                                .map(|(k, v)| (k, v.into_bytes()))
                                .collect::<BTreeMap<_, _>>()
                        })
                }
                SubstituteKind::Secret => {
                    Api::<Secret>::namespaced(session.client.clone(), &namespace)
                        .get_opt(&reference.name)
                        .await
                        .map_err(|e| Error::api(context, e))?
                        .map(|s| {
                            s.data
                                .unwrap_or_default()
                                .into_iter()
                                .map(|(k, v)| (k, v.0))
                                .collect::<BTreeMap<_, _>>()
                        })
                }
            };
            sources.push(VarSource::new(reference, data));
        }
    }
    let vars = substitute::vars_from(
        post_build.substitute.as_ref().unwrap_or(&BTreeMap::new()),
        sources,
    )
    .map_err(|e| Error::Build(format!("var substitution failed: {e}")))?;
    let strategy = post_build.substitute_strategy.unwrap_or_default();
    tokio::task::spawn_blocking(move || {
        substitute::substitute_objects(objects, &vars, strict, strategy)
    })
    .await
    .map_err(|e| Error::Build(e.to_string()))?
    .map_err(|e| Error::Build(e.to_string()))
}

/// flux's masking of SOPS data: a Secret encrypted as a whole (a `sops`
/// stanza with an encrypted MAC) loses the stanza and every value becomes
/// `**SOPS**` (`{"mask":"**SOPS**"}` for docker config Secrets); values
/// that are themselves SOPS documents are masked one by one; other kinds
/// only lose a top-level `sops` stanza.
pub fn mask_sops(object: &mut Value) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    if map.get("kind").and_then(Value::as_str) != Some("Secret") {
        map.remove("sops");
        return;
    }
    let encrypted = map
        .get("sops")
        .and_then(|s| s.get("mac"))
        .and_then(Value::as_str)
        .is_some_and(|mac| mac.starts_with("ENC["));
    let encoded_mask = STANDARD.encode(SOPS_MASK);
    if encrypted {
        map.remove("sops");
        let (data_mask, string_mask) =
            if map.get("type").and_then(Value::as_str) == Some(DOCKER_CONFIG_JSON) {
                let json = format!("{{\"mask\":\"{SOPS_MASK}\"}}");
                (STANDARD.encode(&json), json)
            } else {
                (encoded_mask, SOPS_MASK.to_string())
            };
        replace_values(map.get_mut("data"), |_| Some(data_mask.clone()));
        replace_values(map.get_mut("stringData"), |_| Some(string_mask.clone()));
    } else {
        let is_sops = |text: &[u8]| contains(text, b"sops") && contains(text, b"ENC[");
        replace_values(map.get_mut("data"), |value| {
            STANDARD
                .decode(value)
                .ok()
                .filter(|decoded| is_sops(decoded))
                .map(|_| encoded_mask.clone())
        });
        replace_values(map.get_mut("stringData"), |value| {
            is_sops(value.as_bytes()).then(|| encoded_mask.clone())
        });
    }
}

fn replace_values(map: Option<&mut Value>, replacement: impl Fn(&str) -> Option<String>) {
    let Some(map) = map.and_then(Value::as_object_mut) else {
        return;
    };
    for value in map.values_mut() {
        if let Some(new) = value.as_str().and_then(&replacement) {
            *value = Value::String(new);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn whole_sops_secrets_are_masked_and_lose_the_stanza() {
        let mut secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s"},
            "data": {"token": "RU5DW0FFUzI1Nl0="},
            "stringData": {"user": "ENC[AES256_GCM,data:x]"},
            "sops": {"mac": "ENC[AES256_GCM,data:abc]", "version": "3.8"},
        });
        mask_sops(&mut secret);
        assert_eq!(
            secret,
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "s"},
                "data": {"token": "KipTT1BTKio="},
                "stringData": {"user": "**SOPS**"},
            })
        );
    }

    #[test]
    fn docker_config_secrets_are_masked_with_json() {
        let mut secret = json!({
            "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": "ENC[x]"},
            "sops": {"mac": "ENC[y]"},
        });
        mask_sops(&mut secret);
        assert_eq!(
            secret["data"][".dockerconfigjson"],
            "eyJtYXNrIjoiKipTT1BTKioifQ=="
        );
    }

    #[test]
    fn only_encrypted_values_of_plain_secrets_are_masked() {
        let encrypted = STANDARD.encode("sops:\n  mac: ENC[AES256_GCM,data:x]\n");
        let mut secret = json!({
            "kind": "Secret",
            "data": {"plain": "YWRtaW4=", "file": encrypted},
        });
        mask_sops(&mut secret);
        assert_eq!(secret["data"]["plain"], "YWRtaW4=");
        assert_eq!(secret["data"]["file"], "KipTT1BTKio=");
    }

    #[test]
    fn other_kinds_only_lose_the_sops_stanza() {
        let mut release = json!({"kind": "HelmRelease", "spec": {"values": "ENC[x]"}, "sops": {}});
        mask_sops(&mut release);
        assert_eq!(
            release,
            json!({"kind": "HelmRelease", "spec": {"values": "ENC[x]"}})
        );
    }

    #[test]
    fn the_kustomization_is_found_among_the_file_documents() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ks.yaml");
        std::fs::write(
            &file,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: apps}\n---\n\
             apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n\
             metadata: {name: other, namespace: flux-system}\n\
             spec: {interval: 1m, prune: false, sourceRef: {kind: GitRepository, name: x}}\n---\n\
             apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n\
             metadata: {name: apps}\n\
             spec: {interval: 1m, prune: true, targetNamespace: prod, sourceRef: {kind: GitRepository, name: x}}\n",
        )
        .unwrap();
        let found = from_file(&file, "apps", "flux-system").unwrap();
        assert_eq!(found.spec.target_namespace.as_deref(), Some("prod"));
        let err = from_file(&file, "other", "apps").unwrap_err();
        assert!(
            err.to_string()
                .contains("no Kustomization with name 'other' and namespace 'apps'"),
            "{err}"
        );
    }

    #[test]
    fn the_artifact_is_the_checkout_root() {
        let dir = tempfile::tempdir().unwrap();
        let apps = dir.path().join("clusters/prod");
        std::fs::create_dir_all(&apps).unwrap();
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        assert_eq!(
            artifact_root(&apps),
            (dir.path().to_path_buf(), PathBuf::from("clusters/prod"))
        );
        let plain = tempfile::tempdir().unwrap();
        assert_eq!(
            artifact_root(plain.path()),
            (plain.path().to_path_buf(), PathBuf::new())
        );
    }

    #[test]
    fn copies_leave_git_out_and_keep_links() {
        let from = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(from.path().join(".git/objects")).unwrap();
        std::fs::create_dir_all(from.path().join("base")).unwrap();
        std::fs::write(from.path().join("base/a.yaml"), "a").unwrap();
        std::os::unix::fs::symlink("base/a.yaml", from.path().join("link.yaml")).unwrap();
        let to = tempfile::tempdir().unwrap();
        copy_tree(from.path(), to.path()).unwrap();
        assert!(!to.path().join(".git").exists());
        assert_eq!(
            std::fs::read_to_string(to.path().join("link.yaml")).unwrap(),
            "a"
        );
        assert!(to.path().join("link.yaml").is_symlink());
    }

    #[test]
    fn documents_are_kustomize_yaml_joined_by_separators() {
        let objects = [
            json!({"kind": "A", "apiVersion": "v1", "metadata": {"name": "a"}}),
            json!({"apiVersion": "v1", "kind": "B", "metadata": {"name": "b"}}),
        ];
        assert_eq!(
            to_documents(&objects),
            "apiVersion: v1\nkind: A\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: B\nmetadata:\n  name: b\n"
        );
    }
}
