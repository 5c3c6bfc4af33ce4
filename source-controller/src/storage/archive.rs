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
    let mut archive = ArchiveWriter::new(out, max_bytes);
    append_folder(&mut archive, root, filter)?;
    archive.finish()
}

/// Adds the tree at `root`, minus what `filter` excludes, to `archive`:
/// directories and regular files in file-name order, symlinks left out.
pub fn append_folder(
    archive: &mut ArchiveWriter,
    root: &Path,
    filter: &IgnoreFilter,
) -> Result<()> {
    let walker = WalkDir::new(root)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter()
        .filter_entry(|entry| {
            let relative = entry.path().strip_prefix(root).unwrap_or(entry.path());
            !filter.is_ignored(relative, entry.file_type().is_dir())
        });
    for entry in walker {
        let entry = entry.map_err(|e| Error::Io {
            path: root.to_path_buf(),
            message: e.to_string(),
        })?;
        let relative = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let file_type = entry.file_type();
        if file_type.is_dir() {
            archive.dir(relative)?;
        } else if file_type.is_file() {
            let path = entry.path();
            let file = File::open(path).map_err(io_err(path))?;
            let metadata = file.metadata().map_err(io_err(path))?;
            let executable = metadata.permissions().mode() & 0o111 != 0;
            archive.file(relative, executable, metadata.len(), file)?;
        }
    }
    Ok(())
}

/// Writes a deterministic archive entry by entry: whoever feeds it (a folder
/// walk, a Git tree) gives entries in sorted order, and it normalises owners,
/// times and modes, counts the content against the size limit and hashes the
/// compressed bytes.
pub struct ArchiveWriter {
    tar: tar::Builder<GzEncoder<HashingWriter>>,
    total: u64,
    max_bytes: u64,
}

impl ArchiveWriter {
    /// An archive written to `out`, refusing content beyond `max_bytes`.
    pub fn new(out: File, max_bytes: u64) -> Self {
        let hashing = HashingWriter {
            inner: out,
            hasher: Sha256::new(),
            size: 0,
        };
        let mut tar = tar::Builder::new(GzEncoder::new(hashing, Compression::default()));
        tar.follow_symlinks(false);
        Self {
            tar,
            total: 0,
            max_bytes,
        }
    }

    /// Adds the directory `relative` (mode 0750).
    pub fn dir(&mut self, relative: &Path) -> Result<()> {
        let mut header = header(0o750, 0, tar::EntryType::Directory);
        self.tar
            .append_data(&mut header, relative, io::empty())
            .map_err(io_err(relative))
    }

    /// Adds the regular file `relative` of `size` bytes read from `contents`
    /// (mode 0700 when `executable`, else 0600).
    pub fn file(
        &mut self,
        relative: &Path,
        executable: bool,
        size: u64,
        contents: impl io::Read,
    ) -> Result<()> {
        self.total += size;
        if self.total > self.max_bytes {
            return Err(Error::TooLarge(format!(
                "the source content exceeds the limit of {} bytes (--artifact-max-size)",
                self.max_bytes
            )));
        }
        let mode = if executable { 0o700 } else { 0o600 };
        let mut header = header(mode, size, tar::EntryType::Regular);
        self.tar
            .append_data(&mut header, relative, contents)
            .map_err(io_err(relative))
    }

    /// Ends the archive, syncs it to disk and returns its digest and size.
    pub fn finish(self) -> Result<ArchiveSummary> {
        let here = Path::new("archive");
        let gzip = self.tar.into_inner().map_err(io_err(here))?;
        let mut hashing = gzip.finish().map_err(io_err(here))?;
        hashing.flush().map_err(io_err(here))?;
        hashing.inner.sync_all().map_err(io_err(here))?;
        Ok(ArchiveSummary {
            digest: format!("sha256:{}", hex::encode(hashing.hasher.finalize())),
            size: hashing.size,
        })
    }
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
