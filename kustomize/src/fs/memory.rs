//! An in-memory [`FileSystem`] for tests and for callers that already hold
//! the files (e.g. an extracted artifact).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use super::FileSystem;

/// Files held in memory; directories exist implicitly as the parents of
/// files.
#[derive(Debug, Clone, Default)]
pub struct MemoryFs {
    files: BTreeMap<PathBuf, Vec<u8>>,
}

impl MemoryFs {
    /// An empty filesystem.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file at `path` (relative to the root).
    pub fn add(&mut self, path: impl AsRef<Path>, contents: impl Into<Vec<u8>>) -> &mut Self {
        self.files
            .insert(path.as_ref().to_path_buf(), contents.into());
        self
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("'{}' not found", path.display()),
    )
}

impl FileSystem for MemoryFs {
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.files.get(path).cloned().ok_or_else(|| not_found(path))
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        if !self.is_dir(path) {
            return Err(not_found(path));
        }
        let mut names: Vec<String> = self
            .files
            .keys()
            .filter_map(|p| p.strip_prefix(path).ok())
            .filter_map(|rest| rest.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        names.dedup();
        Ok(names)
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.files.keys().any(|p| p != path && p.starts_with(path))
    }

    fn exists(&self, path: &Path) -> bool {
        self.files.contains_key(path) || self.is_dir(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_implied_by_files() {
        let mut fs = MemoryFs::new();
        fs.add("a/b/c.yaml", "x").add("a/d.yaml", "y");
        assert!(fs.is_dir(Path::new("a")));
        assert!(fs.is_dir(Path::new("")));
        assert_eq!(fs.read_dir(Path::new("a")).unwrap(), vec!["b", "d.yaml"]);
        assert!(!fs.is_dir(Path::new("a/d.yaml")));
        assert!(fs.exists(Path::new("a/b")));
    }
}
