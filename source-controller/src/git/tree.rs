//! Archiving a commit straight from the object database, without a working
//! tree. For a 10,000-file repository libgit2's checkout (writing every file,
//! which the archive then reads back and the cleanup deletes) took most of the
//! time of a new revision; reading the blobs from the pack does not.
//!
//! The archive is the one a checkout gives, byte for byte
//! ([`crate::storage::append_folder`] over the same commit): entries sorted by
//! file name in each folder, regular files and folders only (symlinks left
//! out), submodules as the empty folders a checkout leaves, `.sourceignore`
//! files read from the tree in walk order. Blobs are stored as committed: no
//! `.gitattributes` filters, as upstream's go-git checkout.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository, Tree, TreeEntry};

use crate::ignore::{IgnoreFilter, SOURCEIGNORE};
use crate::storage::ArchiveWriter;
use crate::{Error, Result};

/// Git's file modes of tree entries.
mod mode {
    pub const TREE: i32 = 0o040000;
    pub const BLOB: i32 = 0o100644;
    pub const BLOB_GROUP_WRITABLE: i32 = 0o100664;
    pub const BLOB_EXECUTABLE: i32 = 0o100755;
    pub const COMMIT: i32 = 0o160000;
}

/// Writes the tree of `commit` in the repository at `dir`, minus what its
/// `.sourceignore` files and `spec_ignore` exclude, into `archive`.
pub fn archive_commit(
    dir: &Path,
    commit: &str,
    spec_ignore: Option<&str>,
    archive: &mut ArchiveWriter,
) -> Result<()> {
    let repo = Repository::open(dir).map_err(Error::git)?;
    let oid = Oid::from_str(commit).map_err(Error::git)?;
    let tree = repo
        .find_commit(oid)
        .and_then(|c| c.tree())
        .map_err(Error::git)?;
    let mut sourceignores = Vec::new();
    collect_sourceignores(&repo, &tree, Path::new(""), &mut sourceignores)?;
    let filter = IgnoreFilter::from_sourceignores(dir, &sourceignores, spec_ignore)?;
    append_tree(&repo, &tree, Path::new(""), &filter, archive)
}

/// The entries of `tree` in the order a folder walk visits them: by the bytes
/// of their names (Git sorts a folder as if its name ended with `/`).
fn sorted_entries(tree: &Tree<'_>) -> Vec<TreeEntry<'static>> {
    let mut entries: Vec<TreeEntry<'static>> = tree.iter().map(|e| e.to_owned()).collect();
    entries.sort_by(|a, b| a.name_bytes().cmp(b.name_bytes()));
    entries
}

fn child(prefix: &Path, entry: &TreeEntry<'_>) -> PathBuf {
    prefix.join(OsStr::from_bytes(entry.name_bytes()))
}

/// Every `.sourceignore` blob as `(folder, text)`, parents before children.
fn collect_sourceignores(
    repo: &Repository,
    tree: &Tree<'_>,
    prefix: &Path,
    found: &mut Vec<(String, String)>,
) -> Result<()> {
    for entry in sorted_entries(tree) {
        match entry.filemode() {
            mode::TREE => {
                let subtree = repo.find_tree(entry.id()).map_err(Error::git)?;
                collect_sourceignores(repo, &subtree, &child(prefix, &entry), found)?;
            }
            mode::BLOB | mode::BLOB_GROUP_WRITABLE | mode::BLOB_EXECUTABLE
                if entry.name_bytes() == SOURCEIGNORE.as_bytes() =>
            {
                let blob = repo.find_blob(entry.id()).map_err(Error::git)?;
                let text = String::from_utf8(blob.content().to_vec()).map_err(|_| {
                    Error::InvalidIgnorePattern(format!(
                        "{}: not valid UTF-8",
                        child(prefix, &entry).display()
                    ))
                })?;
                found.push((prefix.to_string_lossy().into_owned(), text));
            }
            _ => {}
        }
    }
    Ok(())
}

fn append_tree(
    repo: &Repository,
    tree: &Tree<'_>,
    prefix: &Path,
    filter: &IgnoreFilter,
    archive: &mut ArchiveWriter,
) -> Result<()> {
    for entry in sorted_entries(tree) {
        let relative = child(prefix, &entry);
        match entry.filemode() {
            mode::TREE if !filter.is_ignored(&relative, true) => {
                archive.dir(&relative)?;
                let subtree = repo.find_tree(entry.id()).map_err(Error::git)?;
                append_tree(repo, &subtree, &relative, filter, archive)?;
            }
            mode::COMMIT if !filter.is_ignored(&relative, true) => archive.dir(&relative)?,
            mode::BLOB | mode::BLOB_GROUP_WRITABLE | mode::BLOB_EXECUTABLE
                if !filter.is_ignored(&relative, false) =>
            {
                let blob = repo.find_blob(entry.id()).map_err(Error::git)?;
                let executable = entry.filemode() == mode::BLOB_EXECUTABLE;
                let content = blob.content();
                archive.file(&relative, executable, content.len() as u64, content)?;
            }
            _ => {}
        }
    }
    Ok(())
}
