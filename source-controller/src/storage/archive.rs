//! Deterministic `.tar.gz` archives: the same tree always gives the same bytes,
//! so the same commit always gives the same digest.
//!
//! Entries are sorted, carry no owner, no timestamps, and normalised modes
//! (directories 0750, files 0600, executables 0700); only regular files and
//! directories are stored, so a symlink in a repository can never point a
//! consumer outside its extraction folder.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use walkdir::WalkDir;

use crate::ignore::IgnoreFilter;
use crate::{Error, Result};

/// Digest and size of a written archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// `sha256:<hex>` of the compressed bytes.
    pub digest: String,
    /// Size of the compressed file in bytes.
    pub size: u64,
}

/// Writes the tree at `root`, minus what `filter` excludes, as a gzip'd tar to
/// `out`, hashing the bytes as they are written (the file is never re-read).
/// Stops with an error once the files exceed `max_bytes` in total.
pub fn write_archive(
    root: &Path,
    filter: &IgnoreFilter,
    out: File,
    max_bytes: u64,
) -> Result<ArchiveSummary> {
    let hashing = HashingWriter {
        inner: out,
        hasher: Sha256::new(),
        size: 0,
    };
    let gzip = GzEncoder::new(hashing, Compression::default());
    let mut tar = tar::Builder::new(gzip);
    tar.follow_symlinks(false);

    let walker = WalkDir::new(root)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter()
        .filter_entry(|entry| {
            let relative = entry.path().strip_prefix(root).unwrap_or(entry.path());
            !filter.is_ignored(relative, entry.file_type().is_dir())
        });
    let mut total = 0u64;
    for entry in walker {
        let entry = entry.map_err(|e| Error::Io {
            path: root.to_path_buf(),
            message: e.to_string(),
        })?;
        let relative = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let file_type = entry.file_type();
        if file_type.is_dir() {
            append_dir(&mut tar, relative)?;
        } else if file_type.is_file() {
            total += entry.metadata().map(|m| m.len()).unwrap_or_default();
            if total > max_bytes {
                return Err(Error::TooLarge(format!(
                    "the source content exceeds the limit of {max_bytes} bytes (--artifact-max-size)"
                )));
            }
            append_file(&mut tar, entry.path(), relative)?;
        }
    }
    let gzip = tar.into_inner().map_err(io_err(root))?;
    let mut hashing = gzip.finish().map_err(io_err(root))?;
    hashing.flush().map_err(io_err(root))?;
    hashing.inner.sync_all().map_err(io_err(root))?;
    Ok(ArchiveSummary {
        digest: format!("sha256:{}", hex::encode(hashing.hasher.finalize())),
        size: hashing.size,
    })
}

fn header(mode: u32, size: u64, entry_type: tar::EntryType) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(entry_type);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, relative: &Path) -> Result<()> {
    let mut header = header(0o750, 0, tar::EntryType::Directory);
    tar.append_data(&mut header, relative, io::empty())
        .map_err(io_err(relative))
}

fn append_file<W: Write>(tar: &mut tar::Builder<W>, path: &Path, relative: &Path) -> Result<()> {
    let file = File::open(path).map_err(io_err(path))?;
    let metadata = file.metadata().map_err(io_err(path))?;
    let mode = if metadata.permissions().mode() & 0o111 != 0 {
        0o700
    } else {
        0o600
    };
    let mut header = header(mode, metadata.len(), tar::EntryType::Regular);
    tar.append_data(&mut header, relative, file)
        .map_err(io_err(path))
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Passes bytes through to a file while hashing and counting them.
struct HashingWriter {
    inner: File,
    hasher: Sha256,
    size: u64,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.size += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn archive(root: &Path, out: &Path) -> ArchiveSummary {
        let filter = IgnoreFilter::for_tree(root, None).unwrap();
        write_archive(root, &filter, File::create(out).unwrap(), u64::MAX).unwrap()
    }

    #[test]
    fn same_tree_gives_same_digest_regardless_of_mtime_and_mode_bits() {
        let src = tempfile::tempdir().unwrap();
        fs::create_dir_all(src.path().join("deploy")).unwrap();
        fs::write(src.path().join("deploy/app.yaml"), "kind: ConfigMap\n").unwrap();
        let out = tempfile::tempdir().unwrap();
        let first = archive(src.path(), &out.path().join("a.tar.gz"));

        fs::set_permissions(
            src.path().join("deploy/app.yaml"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
        fs::write(src.path().join("deploy/app.yaml"), "kind: ConfigMap\n").unwrap();
        let second = archive(src.path(), &out.path().join("b.tar.gz"));
        assert_eq!(first, second);
        let bytes = fs::read(out.path().join("a.tar.gz")).unwrap();
        assert_eq!(first.size, bytes.len() as u64);
        assert_eq!(
            first.digest,
            format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
        );
    }

    #[test]
    fn entries_are_sorted_normalised_and_exclude_symlinks_and_ignored_files() {
        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("b.yaml"), "b").unwrap();
        fs::write(src.path().join("a.sh"), "#!/bin/sh").unwrap();
        fs::set_permissions(src.path().join("a.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir(src.path().join(".git")).unwrap();
        fs::write(src.path().join(".git/HEAD"), "ref").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.path().join("evil")).unwrap();
        let out = tempfile::tempdir().unwrap();
        archive(src.path(), &out.path().join("x.tar.gz"));

        let file = File::open(out.path().join("x.tar.gz")).unwrap();
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let entries: Vec<(String, u32, u64, u64)> = tar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                    h.uid().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            vec![
                ("a.sh".to_string(), 0o700, 0, 0),
                ("b.yaml".to_string(), 0o600, 0, 0)
            ]
        );
    }
}
