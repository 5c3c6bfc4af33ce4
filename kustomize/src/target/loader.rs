//! File access for one kustomization: paths are relative to its directory
//! and files must stay within it (kustomize's `LoadRestrictionsRootOnly`);
//! only bases (directories) may live elsewhere.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fs::{self, FileSystem};

/// Reads files on behalf of the kustomization in `dir`.
pub struct Loader<'a> {
    /// The filesystem.
    pub fs: &'a dyn FileSystem,
    /// The kustomization's directory.
    pub dir: PathBuf,
    /// The kustomization file (for error messages).
    pub kust_path: PathBuf,
}

impl Loader<'_> {
    /// Resolves `entry` against the kustomization's directory.
    pub fn resolve(&self, entry: &str) -> Result<PathBuf> {
        fs::join(&self.dir, entry)
    }

    /// Resolves `entry` and checks it stays within the directory.
    pub fn resolve_file(&self, entry: &str) -> Result<PathBuf> {
        let path = self.resolve(entry).map_err(|_| Error::OutsideRoot {
            path: self.dir.join(entry),
            root: self.dir.clone(),
        })?;
        if !fs::is_within(&path, &self.dir) {
            return Err(Error::OutsideRoot {
                path,
                root: self.dir.clone(),
            });
        }
        Ok(path)
    }

    /// Reads the file `entry`.
    pub fn read(&self, entry: &str) -> Result<Vec<u8>> {
        let path = self.resolve_file(entry)?;
        self.read_path(&path, entry)
    }

    /// Reads the file `entry` as text.
    pub fn read_string(&self, entry: &str) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.read(entry)?).into_owned())
    }

    /// Reads an already resolved path.
    pub fn read_path(&self, path: &Path, entry: &str) -> Result<Vec<u8>> {
        if !self.fs.exists(path) || self.fs.is_dir(path) {
            return Err(Error::MissingPath {
                entry: entry.to_string(),
                kustomization: self.kust_path.clone(),
            });
        }
        self.fs.read_file(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })
    }
}
