//! `fluxrs kustomize DIR`: a drop-in for `kubectl kustomize DIR`, built with
//! fluxrs-kustomize. The same documents on stdout, byte for byte; errors on
//! stderr and exit code 1.

use std::path::{Path, PathBuf};

use clap::Args;
use fluxrs_kustomize::fs::DiskFs;

use crate::error::{Error, Result};
use crate::output;

/// Arguments of `kustomize`.
#[derive(Debug, Args)]
pub struct KustomizeArgs {
    /// The directory holding the kustomization (default: the current one).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// Runs `kustomize`.
pub fn run(args: &KustomizeArgs) -> Result<()> {
    output::print(&render(&args.dir)?);
    Ok(())
}

/// What `kubectl kustomize dir` prints. Bases may live anywhere on disk (the
/// engine applies kustomize's load restrictions itself), so the filesystem is
/// rooted at `/` and `dir` is made absolute.
pub fn render(dir: &Path) -> Result<String> {
    let absolute = dir.canonicalize().map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    if !absolute.is_dir() {
        return Err(Error::Io {
            path: dir.to_path_buf(),
            message: "not a directory".into(),
        });
    }
    let root = Path::new("/");
    let disk = DiskFs::new(root).map_err(|e| Error::Io {
        path: root.to_path_buf(),
        message: e.to_string(),
    })?;
    let relative = absolute.strip_prefix(root).unwrap_or(&absolute);
    let resources = fluxrs_kustomize::build(&disk, relative)
        .map_err(|e| Error::Kustomize(format!("kustomize build failed: {e}")))?;
    Ok(fluxrs_kustomize::to_yaml(&resources))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_outside_the_directory_are_built() {
        let dir = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("base/kustomization.yaml", "resources: [cm.yaml]\n");
        write(
            "base/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n",
        );
        write(
            "overlay/kustomization.yaml",
            "namePrefix: prod-\nresources: [../base]\n",
        );
        assert_eq!(
            render(&dir.path().join("overlay")).unwrap(),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: prod-app\n"
        );
    }

    #[test]
    fn a_missing_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = render(&dir.path().join("missing")).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
    }
}
