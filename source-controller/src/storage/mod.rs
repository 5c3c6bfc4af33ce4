//! The artifact store: tarballs under `--storage-path`, laid out as upstream
//! (`<kind>/<namespace>/<name>/<file>`), written atomically, served over HTTP and
//! garbage collected.

mod archive;
pub mod server;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

pub use archive::{ArchiveSummary, ArchiveWriter, append_folder, write_archive};

use crate::ignore::IgnoreFilter;
use crate::{Error, Result};

/// Identifies the folder of one source object in the store.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    /// Lower-case kind, e.g. `gitrepository`.
    pub kind: String,
    /// Namespace of the object.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
}

impl ObjectKey {
    /// Key for an object of `kind` (any case) in `namespace`.
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            kind: kind.to_lowercase(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    fn relative_dir(&self) -> PathBuf {
        Path::new(&self.kind).join(&self.namespace).join(&self.name)
    }
}

/// A file written into the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFile {
    /// Path relative to the storage root (`status.artifact.path`).
    pub path: String,
    /// Download URL (`status.artifact.url`).
    pub url: String,
    /// `sha256:<hex>` of the file.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

/// How many old artifacts garbage collection keeps, and for how long
/// (`--artifact-retention-records`, `--artifact-retention-ttl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Newest archives kept per object, the current one included.
    pub records: usize,
    /// Age after which an archive other than the current one is deleted.
    pub ttl: Duration,
}

/// Name of the symlink to the current artifact, for `status.url` (upstream
/// sets it for OCIRepository, Bucket and HelmChart).
pub const LATEST: &str = "latest.tar.gz";

/// The artifact store. Cheap to share behind an `Arc`.
pub struct Storage {
    root: PathBuf,
    base_url: String,
    retention: Retention,
    locks: Mutex<HashMap<ObjectKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl Storage {
    /// Opens (creating if needed) the store at `root`; URLs start with `base_url`.
    pub fn new(root: &Path, base_url: &str, retention: Retention) -> Result<Self> {
        fs::create_dir_all(root).map_err(io_err(root))?;
        let root = root.canonicalize().map_err(io_err(root))?;
        Ok(Self {
            root,
            base_url: base_url.trim_end_matches('/').to_string(),
            retention: Retention {
                records: retention.records.max(1),
                ..retention
            },
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// Root folder of the store.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Serialises writers of one object: reconciles of the same object never
    /// write or collect its folder at the same time.
    pub async fn lock(&self, key: &ObjectKey) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .locks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.entry(key.clone()).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// Download URL of a store-relative path.
    pub fn url_for(&self, relative: &str) -> String {
        format!("{}/{relative}", self.base_url)
    }

    /// Archives the tree at `src` into `<object folder>/<file_name>` (see
    /// [`Storage::archive_with`]). Fails when the files to archive exceed
    /// `max_bytes`.
    pub fn archive(
        &self,
        key: &ObjectKey,
        file_name: &str,
        src: &Path,
        filter: &IgnoreFilter,
        max_bytes: u64,
    ) -> Result<StoredFile> {
        self.archive_with(key, file_name, max_bytes, |archive| {
            append_folder(archive, src, filter)
        })
    }

    /// Writes the archive `fill` produces into `<object folder>/<file_name>`:
    /// to a temporary file in the same folder, renamed once complete, so
    /// readers never see a partial archive.
    pub fn archive_with(
        &self,
        key: &ObjectKey,
        file_name: &str,
        max_bytes: u64,
        fill: impl FnOnce(&mut ArchiveWriter) -> Result<()>,
    ) -> Result<StoredFile> {
        let dir = self.root.join(key.relative_dir());
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&dir)
            .map_err(io_err(&dir))?;
        let out = temp.reopen().map_err(io_err(temp.path()))?;
        let mut archive = ArchiveWriter::new(out, max_bytes);
        fill(&mut archive)?;
        let summary = archive.finish()?;
        let target = dir.join(file_name);
        temp.persist(&target).map_err(|e| Error::Io {
            path: target.clone(),
            message: e.to_string(),
        })?;
        let path = key
            .relative_dir()
            .join(file_name)
            .to_string_lossy()
            .into_owned();
        Ok(StoredFile {
            url: self.url_for(&path),
            path,
            digest: summary.digest,
            size: summary.size,
        })
    }

    /// Copies the file at `src` into `<object folder>/<file_name>` as is (an OCI
    /// layer stored with `operation: copy`), atomically.
    pub fn store_file(&self, key: &ObjectKey, file_name: &str, src: &Path) -> Result<StoredFile> {
        let dir = self.root.join(key.relative_dir());
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&dir)
            .map_err(io_err(&dir))?;
        let mut out = temp.reopen().map_err(io_err(temp.path()))?;
        let mut input = File::open(src).map_err(io_err(src))?;
        let size = io::copy(&mut input, &mut out).map_err(io_err(src))?;
        out.sync_all().map_err(io_err(temp.path()))?;
        let digest = file_digest(temp.path())?;
        let target = dir.join(file_name);
        temp.persist(&target).map_err(|e| Error::Io {
            path: target.clone(),
            message: e.to_string(),
        })?;
        let path = key
            .relative_dir()
            .join(file_name)
            .to_string_lossy()
            .into_owned();
        Ok(StoredFile {
            url: self.url_for(&path),
            path,
            digest,
            size,
        })
    }

    /// Whether the file a status claims is in the store with the claimed digest.
    /// Used after a restart so an artifact is only reported if it really exists.
    pub fn verify(&self, relative: &str, digest: Option<&str>) -> bool {
        let Some(path) = self.resolve(relative) else {
            return false;
        };
        match digest {
            Some(expected) => file_digest(&path).is_ok_and(|actual| actual == expected),
            None => path.is_file(),
        }
    }

    /// Garbage collects the object's archives as upstream does: an archive
    /// other than `current` is deleted when it is older than the retention
    /// TTL, or when it is not among the newest retention records. Symlinks
    /// and temporary files are left alone. Returns the deleted paths.
    pub fn garbage_collect(&self, key: &ObjectKey, current: &str) -> Result<Vec<PathBuf>> {
        let dir = self.root.join(key.relative_dir());
        let mut files: Vec<(SystemTime, PathBuf)> = match fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter(|e| !e.file_name().to_string_lossy().starts_with(".tmp-"))
                .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        files.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
        let current = self.root.join(current);
        let now = SystemTime::now();
        let mut kept = 0;
        let mut deleted = Vec::new();
        for (modified, path) in files {
            let expired = now
                .duration_since(modified)
                .is_ok_and(|age| age > self.retention.ttl);
            if path == current || (!expired && kept < self.retention.records) {
                kept += 1;
                continue;
            }
            fs::remove_file(&path).map_err(io_err(&path))?;
            deleted.push(path);
        }
        Ok(deleted)
    }

    /// Points `<object folder>/latest.tar.gz` at `file_name` (replacing the
    /// link atomically) and returns the link's URL, served like any artifact.
    /// The link is relative, so it stays inside the store wherever it is
    /// mounted; the file server refuses links that lead outside anyway.
    pub fn symlink_latest(&self, key: &ObjectKey, file_name: &str) -> Result<String> {
        let dir = self.root.join(key.relative_dir());
        let temp = dir.join(format!(".tmp-{}-{LATEST}", std::process::id()));
        let _ = fs::remove_file(&temp);
        std::os::unix::fs::symlink(file_name, &temp).map_err(io_err(&temp))?;
        let link = dir.join(LATEST);
        fs::rename(&temp, &link).map_err(io_err(&link))?;
        Ok(self.url_for(&key.relative_dir().join(LATEST).to_string_lossy()))
    }

    /// Deletes the object's whole folder (on object deletion).
    pub fn remove_all(&self, key: &ObjectKey) -> Result<()> {
        let dir = self.root.join(key.relative_dir());
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(&dir)(e)),
            _ => Ok(()),
        }
    }

    /// Maps a store-relative path to a file inside the store, refusing `..`,
    /// absolute paths and symlinks that lead outside the root.
    pub fn resolve(&self, relative: &str) -> Option<PathBuf> {
        let relative = Path::new(relative);
        let safe = relative
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !safe {
            return None;
        }
        let path = self.root.join(relative).canonicalize().ok()?;
        (path.starts_with(&self.root) && path.is_file()).then_some(path)
    }
}

/// `sha256:<hex>` of a file, streamed.
pub fn file_digest(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(records: usize) -> (tempfile::TempDir, Storage) {
        store_with(Retention {
            records,
            ttl: Duration::from_secs(3600),
        })
    }

    fn store_with(retention: Retention) -> (tempfile::TempDir, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new(
            dir.path(),
            "http://source-controller.flux-system.svc.cluster.local.",
            retention,
        )
        .unwrap();
        (dir, storage)
    }

    fn source(content: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("app.yaml"), content).unwrap();
        dir
    }

    #[test]
    fn archive_lays_out_paths_and_urls_like_upstream() {
        let (_dir, storage) = store(2);
        let src = source("a");
        let key = ObjectKey::new("GitRepository", "flux-system", "podinfo");
        let filter = IgnoreFilter::for_tree(src.path(), None).unwrap();
        let stored = storage
            .archive(&key, "abc.tar.gz", src.path(), &filter, u64::MAX)
            .unwrap();
        assert_eq!(stored.path, "gitrepository/flux-system/podinfo/abc.tar.gz");
        assert_eq!(
            stored.url,
            "http://source-controller.flux-system.svc.cluster.local./gitrepository/flux-system/podinfo/abc.tar.gz"
        );
        assert!(storage.verify(&stored.path, Some(&stored.digest)));
        assert!(!storage.verify(&stored.path, Some("sha256:00")));
        assert!(!storage.verify("gitrepository/flux-system/podinfo/missing.tar.gz", None));
    }

    #[test]
    fn resolve_refuses_escapes() {
        let (dir, storage) = store(2);
        fs::write(dir.path().join("inside"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("link")).unwrap();
        assert!(storage.resolve("inside").is_some());
        assert!(storage.resolve("../etc/hostname").is_none());
        assert!(storage.resolve("/etc/hostname").is_none());
        assert!(storage.resolve("link").is_none());
    }

    #[test]
    fn garbage_collection_keeps_the_newest_records_and_the_current_file() {
        let (_dir, storage) = store(2);
        let key = ObjectKey::new("GitRepository", "ns", "repo");
        let stored: Vec<StoredFile> = (0..4u64)
            .map(|i| {
                let age = Duration::from_secs(40 - 10 * i);
                archive_at(&storage, &key, &format!("{i}.tar.gz"), age)
            })
            .collect();
        let deleted = storage.garbage_collect(&key, &stored[3].path).unwrap();
        assert_eq!(deleted.len(), 2);
        assert!(storage.verify(&stored[3].path, None));
        assert!(storage.verify(&stored[2].path, None));
        assert!(!storage.verify(&stored[0].path, None));
        storage.remove_all(&key).unwrap();
        assert!(!storage.verify(&stored[3].path, None));
    }

    fn archive_at(storage: &Storage, key: &ObjectKey, name: &str, age: Duration) -> StoredFile {
        let src = source(name);
        let filter = IgnoreFilter::for_tree(src.path(), None).unwrap();
        let stored = storage
            .archive(key, name, src.path(), &filter, u64::MAX)
            .unwrap();
        let file = File::options()
            .write(true)
            .open(storage.root().join(&stored.path))
            .unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
        stored
    }

    #[test]
    fn garbage_collection_deletes_expired_archives_within_the_records() {
        let (_dir, storage) = store_with(Retention {
            records: 5,
            ttl: Duration::from_secs(60),
        });
        let key = ObjectKey::new("OCIRepository", "ns", "repo");
        let old = archive_at(&storage, &key, "old.tar.gz", Duration::from_secs(120));
        let recent = archive_at(&storage, &key, "recent.tar.gz", Duration::from_secs(30));
        let current = archive_at(&storage, &key, "current.tar.gz", Duration::from_secs(600));
        let deleted = storage.garbage_collect(&key, &current.path).unwrap();
        assert_eq!(deleted, vec![storage.root().join(&old.path)]);
        assert!(storage.verify(&recent.path, None), "young enough to keep");
        assert!(
            storage.verify(&current.path, None),
            "the current artifact is kept however old"
        );
    }

    #[test]
    fn latest_symlink_follows_the_current_artifact_and_is_not_collected() {
        let (_dir, storage) = store(1);
        let key = ObjectKey::new("OCIRepository", "ns", "repo");
        let first = archive_at(&storage, &key, "a.tar.gz", Duration::ZERO);
        let url = storage.symlink_latest(&key, "a.tar.gz").unwrap();
        assert_eq!(
            url,
            "http://source-controller.flux-system.svc.cluster.local./ocirepository/ns/repo/latest.tar.gz"
        );
        let latest = "ocirepository/ns/repo/latest.tar.gz";
        assert!(storage.verify(latest, Some(&first.digest)));
        let second = archive_at(&storage, &key, "b.tar.gz", Duration::ZERO);
        storage.symlink_latest(&key, "b.tar.gz").unwrap();
        storage.garbage_collect(&key, &second.path).unwrap();
        assert!(storage.verify(latest, Some(&second.digest)));
        assert!(!storage.verify(&first.path, None));
    }
}
