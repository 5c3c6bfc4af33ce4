//! Decryption of `secretGenerator` inputs before the build, as Flux does: a
//! generator's `files` and `envs` may be SOPS-encrypted in Git, and kustomize
//! must read them in clear. Starting from the Kustomization's path, every
//! kustomization file reachable through `resources`, `components` and
//! `bases` directories is visited; encrypted inputs are decrypted in place
//! (in the throwaway copy of the artifact), MAC verified. Paths are
//! confined to the artifact root.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use serde_yaml_ng::Value;

use super::{DecryptError, Format, Keys, decrypt_file};

/// File names kustomize reads as a kustomization, in its order.
const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Decrypts the encrypted `secretGenerator` inputs reachable from `dir`,
/// which lies under `root`.
///
/// # Errors
///
/// An input outside `root`, an unreadable kustomization or input file, or a
/// decryption failure (naming the file).
pub fn decrypt_generator_sources(root: &Path, dir: &Path, keys: &Keys) -> Result<(), DecryptError> {
    let mut visited = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        if !visited.insert(dir.clone()) {
            continue;
        }
        let Some(file) = KUSTOMIZATION_FILES
            .iter()
            .map(|name| dir.join(name))
            .find(|path| path.is_file())
        else {
            continue;
        };
        let kustomization = read_yaml(&file)?;
        for input in generator_inputs(&kustomization) {
            let path = confined(root, &dir, &input.path)?;
            decrypt_in_place(&path, input.format, keys).map_err(|e| DecryptError::Source {
                path: path
                    .strip_prefix(root.canonicalize().unwrap_or_default())
                    .unwrap_or(&path)
                    .display()
                    .to_string(),
                reason: Box::new(e),
            })?;
        }
        for reference in referenced_dirs(&kustomization) {
            let Ok(path) = confined(root, &dir, &reference) else {
                continue;
            };
            if path.is_dir() {
                pending.push(path);
            }
        }
    }
    Ok(())
}

/// One generator input file and the format to read it in.
struct Input {
    path: String,
    format: Format,
}

fn read_yaml(path: &Path) -> Result<Value, DecryptError> {
    let bytes = std::fs::read(path).map_err(|e| io_error(path, &e))?;
    serde_yaml_ng::from_slice(&bytes).map_err(|e| DecryptError::Load {
        format: "kustomization",
        message: format!("{}: {e}", path.display()),
    })
}

fn io_error(path: &Path, error: &std::io::Error) -> DecryptError {
    DecryptError::Load {
        format: "generator input",
        message: format!("{}: {error}", path.display()),
    }
}

fn strings(value: Option<&Value>) -> impl Iterator<Item = &str> {
    value
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// `files` (`[key=]path`), `envs` and the legacy `env` of every
/// `secretGenerator`. Env files are dotenv whatever their extension.
fn generator_inputs(kustomization: &Value) -> Vec<Input> {
    let mut inputs = Vec::new();
    for generator in strings_of_maps(kustomization.get("secretGenerator")) {
        for file in strings(generator.get("files")) {
            let path = file.split_once('=').map_or(file, |(_, path)| path);
            inputs.push(Input {
                path: path.to_string(),
                format: Format::for_path(path),
            });
        }
        let envs =
            strings(generator.get("envs")).chain(generator.get("env").and_then(Value::as_str));
        for env in envs {
            let format = match Format::for_path(env) {
                Format::Binary => Format::Dotenv,
                other => other,
            };
            inputs.push(Input {
                path: env.to_string(),
                format,
            });
        }
    }
    inputs
}

fn strings_of_maps(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter(|v| v.is_mapping())
}

fn referenced_dirs(kustomization: &Value) -> Vec<String> {
    ["resources", "components", "bases"]
        .iter()
        .flat_map(|field| strings(kustomization.get(*field)))
        .filter(|r| !r.contains("://") && !r.starts_with("git@"))
        .map(str::to_string)
        .collect()
}

/// `relative` joined to `dir`, refused unless it stays inside `root` (after
/// resolving symlinks).
fn confined(root: &Path, dir: &Path, relative: &str) -> Result<PathBuf, DecryptError> {
    let outside = || DecryptError::Load {
        format: "generator input",
        message: format!("path '{relative}' leaves the artifact"),
    };
    if Path::new(relative).is_absolute()
        || Path::new(relative)
            .components()
            .any(|c| matches!(c, Component::Prefix(_)))
    {
        return Err(outside());
    }
    let joined = dir.join(relative);
    let resolved = joined.canonicalize().map_err(|e| io_error(&joined, &e))?;
    let root = root.canonicalize().map_err(|e| io_error(root, &e))?;
    if resolved.starts_with(&root) {
        Ok(resolved)
    } else {
        Err(outside())
    }
}

fn decrypt_in_place(path: &Path, format: Format, keys: &Keys) -> Result<(), DecryptError> {
    let data = std::fs::read(path).map_err(|e| io_error(path, &e))?;
    let decrypted = decrypt_file(format, &data, keys)?;
    if decrypted != data {
        std::fs::write(path, decrypted).map_err(|e| io_error(path, &e))?;
    }
    Ok(())
}
