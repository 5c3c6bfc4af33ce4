//! The on-disk [`FileSystem`], confined to a root directory.

use std::io;
use std::path::{Path, PathBuf};

use super::FileSystem;

/// Files under a root directory on disk. Every access resolves symlinks and
/// is refused (`PermissionDenied`) when the real path leaves the root.
#[derive(Debug, Clone)]
pub struct DiskFs {
    root: PathBuf,
}

impl DiskFs {
    /// A filesystem rooted at `root` (which must exist).
    pub fn new(root: impl AsRef<Path>) -> io::Result<Self> {
        Ok(Self {
            root: root.as_ref().canonicalize()?,
        })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        let real = self.root.join(path).canonicalize()?;
        if real.starts_with(&self.root) {
            Ok(real)
        } else {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "'{}' resolves outside '{}'",
                    path.display(),
                    self.root.display()
                ),
            ))
        }
    }
}

impl FileSystem for DiskFs {
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(self.resolve(path)?)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = std::fs::read_dir(self.resolve(path)?)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<io::Result<Vec<_>>>()?;
        names.sort();
        Ok(names)
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.resolve(path).is_ok_and(|p| p.is_dir())
    }

    fn exists(&self, path: &Path) -> bool {
        self.resolve(path).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_leaving_the_root_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "x").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("ok"), "y").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("link"))
            .unwrap();
        let fs = DiskFs::new(root.path()).unwrap();
        assert_eq!(fs.read_file(Path::new("ok")).unwrap(), b"y");
        let err = fs.read_file(Path::new("link")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(!fs.exists(Path::new("link")));
    }
}
