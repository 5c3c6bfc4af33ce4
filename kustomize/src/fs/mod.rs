//! The filesystem the engine reads through.
//!
//! Paths handed to a [`FileSystem`] are relative to its root and already
//! normalized (no `.` or `..` components): [`join`] turns a kustomization's
//! directory plus a relative entry into such a path and refuses anything
//! that would climb above the root. The on-disk implementation additionally
//! refuses symlinks that lead outside the root.

mod disk;
mod memory;

use std::io;
use std::path::{Component, Path, PathBuf};

pub use disk::DiskFs;
pub use memory::MemoryFs;

use crate::error::{Error, Result};

/// Read-only access to a tree of files, rooted somewhere.
pub trait FileSystem {
    /// The bytes of the file at `path`.
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// The names of the entries of the directory at `path`, sorted.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
    /// Whether anything exists at `path`.
    fn exists(&self, path: &Path) -> bool;
}

/// Joins `entry` (relative, or absolute within the root) onto `dir` and
/// normalizes the result; fails when it would leave the root.
pub fn join(dir: &Path, entry: &str) -> Result<PathBuf> {
    let mut out: Vec<std::ffi::OsString> = Vec::new();
    let entry_path = Path::new(entry);
    let base: &Path = if entry_path.is_absolute() {
        Path::new("")
    } else {
        dir
    };
    for comp in base.components().chain(entry_path.components()) {
        match comp {
            Component::Normal(c) => out.push(c.to_os_string()),
            Component::ParentDir => {
                if out.pop().is_none() {
                    return Err(Error::OutsideRoot {
                        path: dir.join(entry),
                        root: PathBuf::from("/"),
                    });
                }
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Ok(out.iter().collect())
}

/// Whether `path` is `dir` or below it (both normalized).
pub fn is_within(path: &Path, dir: &Path) -> bool {
    path.starts_with(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_normalizes_and_refuses_escapes() {
        assert_eq!(
            join(Path::new("a/b"), "../c/./d.yaml").unwrap(),
            PathBuf::from("a/c/d.yaml")
        );
        assert_eq!(join(Path::new(""), "x").unwrap(), PathBuf::from("x"));
        assert!(matches!(
            join(Path::new("a"), "../../x"),
            Err(Error::OutsideRoot { .. })
        ));
    }
}
