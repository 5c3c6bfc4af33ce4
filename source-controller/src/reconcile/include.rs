//! GitRepository `spec.include`: other GitRepositories' artifacts copied into
//! this one's checkout (`fromPath` of theirs to `toPath` of ours) before it is
//! archived, so one artifact can carry several repositories.

use std::fs;
use std::path::{Component, Path, PathBuf};

use fluxrs_api::meta::Artifact;
use fluxrs_api::source::{GitRepository, GitRepositoryInclude};
use kube::Api;

use crate::storage::Storage;
use crate::{Error, Result};
use fluxrs_runtime::artifact::extract_tar_gz;

/// An include whose artifact is available.
pub struct ResolvedInclude {
    /// The include as written in the spec.
    pub include: GitRepositoryInclude,
    /// The included repository's current artifact.
    pub artifact: Artifact,
}

/// Why an include cannot be used yet.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct IncludeUnavailable(pub String);

/// Looks up every included GitRepository in `namespace` and its artifact.
pub async fn resolve(
    api: &Api<GitRepository>,
    includes: &[GitRepositoryInclude],
) -> std::result::Result<Vec<ResolvedInclude>, IncludeUnavailable> {
    let mut resolved = Vec::with_capacity(includes.len());
    for include in includes {
        let name = &include.git_repository_ref.name;
        let repository = api
            .get_opt(name)
            .await
            .map_err(|e| {
                IncludeUnavailable(format!("could not get resource for include '{name}': {e}"))
            })?
            .ok_or_else(|| {
                IncludeUnavailable(format!(
                    "could not get resource for include '{name}': GitRepository not found"
                ))
            })?;
        let artifact = repository.status.and_then(|s| s.artifact).ok_or_else(|| {
            IncludeUnavailable(format!("no artifact available for include '{name}'"))
        })?;
        resolved.push(ResolvedInclude {
            include: include.clone(),
            artifact,
        });
    }
    Ok(resolved)
}

/// Copies each included artifact's `fromPath` into `checkout` at `toPath`
/// (default: the included repository's name). Paths may not leave their root.
pub fn copy_into(
    storage: &Storage,
    includes: &[ResolvedInclude],
    checkout: &Path,
    max_bytes: u64,
) -> Result<()> {
    for resolved in includes {
        let include = &resolved.include;
        let from = relative(include.from_path.as_deref().unwrap_or(""))?;
        let to_path = include
            .to_path
            .clone()
            .unwrap_or_else(|| include.git_repository_ref.name.clone());
        let to = relative(&to_path)?;
        let file = storage
            .resolve(&resolved.artifact.path)
            .ok_or_else(|| Error::Io {
                path: resolved.artifact.path.clone().into(),
                message: "included artifact is not in storage".into(),
            })?;
        let unpacked = tempfile::tempdir().map_err(|e| Error::Io {
            path: "/tmp".into(),
            message: e.to_string(),
        })?;
        let input = fs::File::open(&file).map_err(|e| Error::Io {
            path: file.clone(),
            message: e.to_string(),
        })?;
        extract_tar_gz(input, unpacked.path(), max_bytes)
            .map_err(|e| Error::UnsafeArchive(e.to_string()))?;
        let target = checkout.join(&to);
        if target.exists() {
            let remove = if target.is_dir() {
                fs::remove_dir_all(&target)
            } else {
                fs::remove_file(&target)
            };
            remove.map_err(|e| Error::Io {
                path: target.clone(),
                message: e.to_string(),
            })?;
        }
        copy_tree(&unpacked.path().join(&from), &target)?;
    }
    Ok(())
}

/// A path made of plain components only (no root, no `..`).
fn relative(path: &str) -> Result<PathBuf> {
    let path = Path::new(path.trim_start_matches("./"));
    if path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        Ok(path.to_path_buf())
    } else {
        Err(Error::InvalidPath(format!(
            "include path '{}' must be relative and stay inside the artifact",
            path.display()
        )))
    }
}

fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| Error::Io {
            path,
            message: e.to_string(),
        }
    };
    if src.is_file() {
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        fs::copy(src, dst).map_err(io(src))?;
        return Ok(());
    }
    fs::create_dir_all(dst).map_err(io(dst))?;
    for entry in fs::read_dir(src).map_err(io(src))? {
        let entry = entry.map_err(io(src))?;
        let file_type = entry.file_type().map_err(io(&entry.path()))?;
        if file_type.is_dir() || file_type.is_file() {
            copy_tree(&entry.path(), &dst.join(entry.file_name()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_paths_must_stay_inside() {
        assert_eq!(
            relative("./deploy/base").unwrap(),
            PathBuf::from("deploy/base")
        );
        assert_eq!(relative("").unwrap(), PathBuf::from(""));
        assert!(relative("../escape").is_err());
        assert!(relative("/etc").is_err());
        assert!(relative("a/../../b").is_err());
    }
}
