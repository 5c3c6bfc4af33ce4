//! Safe extraction of `.tar.gz` content we did not write (OCI layers): entries
//! that would land outside the target folder are refused, links are skipped, and
//! the unpacked size is capped.

use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path};

use flate2::read::GzDecoder;

use crate::error::{Error, Result};

/// Unpacks the gzip'd tarball `input` into `dir`, refusing absolute paths and
/// `..` entries, skipping symlinks and hard links, and failing once more than
/// `max_bytes` would be written.
pub fn extract_tar_gz(input: impl Read, dir: &Path, max_bytes: u64) -> Result<()> {
    let mut archive = tar::Archive::new(GzDecoder::new(input));
    let mut written = 0u64;
    let entries = archive.entries().map_err(unpack_err(dir))?;
    for entry in entries {
        let mut entry = entry.map_err(unpack_err(dir))?;
        let path = entry.path().map_err(unpack_err(dir))?.into_owned();
        if path
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(Error::UnsafeArchive(format!(
                "entry '{}' would be written outside the target folder",
                path.display()
            )));
        }
        let target = dir.join(&path);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                fs::create_dir_all(&target).map_err(unpack_err(&target))?
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                written += entry.header().size().map_err(unpack_err(&target))?;
                if written > max_bytes {
                    return Err(Error::UnsafeArchive(format!(
                        "content is larger than the limit of {max_bytes} bytes"
                    )));
                }
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(unpack_err(parent))?;
                }
                let mut file = fs::File::create(&target).map_err(unpack_err(&target))?;
                io::copy(&mut (&mut entry).take(max_bytes), &mut file)
                    .map_err(unpack_err(&target))?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn unpack_err(path: &Path) -> impl Fn(io::Error) -> Error + '_ {
    move |e| Error::UnsafeArchive(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    fn tarball(entries: &[(&str, &[u8], tar::EntryType)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
        for (path, data, kind) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            // Write the raw name so hostile paths reach the extractor unchanged.
            header.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn extracts_regular_content() {
        let dir = tempfile::tempdir().unwrap();
        let data = tarball(&[("deploy/app.yaml", b"kind: x", tar::EntryType::Regular)]);
        extract_tar_gz(&data[..], dir.path(), 1024).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("deploy/app.yaml")).unwrap(),
            "kind: x"
        );
    }

    #[test]
    fn refuses_parent_and_absolute_paths() {
        for path in ["../escape", "/etc/escape", "a/../../escape"] {
            let dir = tempfile::tempdir().unwrap();
            let data = tarball(&[(path, b"x", tar::EntryType::Regular)]);
            let err = extract_tar_gz(&data[..], dir.path(), 1024).unwrap_err();
            assert!(
                err.to_string().contains("outside the target folder"),
                "{path}: {err}"
            );
        }
    }

    #[test]
    fn skips_links_and_enforces_the_size_limit() {
        let dir = tempfile::tempdir().unwrap();
        let data = tarball(&[
            ("link", b"", tar::EntryType::Symlink),
            ("big", &[0u8; 2048], tar::EntryType::Regular),
        ]);
        let err = extract_tar_gz(&data[..], dir.path(), 1024).unwrap_err();
        assert!(err.to_string().contains("larger than the limit"), "{err}");
        assert!(!dir.path().join("link").exists());
    }
}
