//! Blobs in a local directory. Writes are atomic and durable: bytes go to a
//! temporary file under `tmp/`, which is fsynced, renamed into place, and
//! whose directory is fsynced. A blob that already exists is not rewritten.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::{BlobEntry, BlobError, BlobStore, StagedBlob, check_key, random_hex};

/// Temporary files older than this are left-overs of a crash.
const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A blob store in a local directory (`--data-dir`, default `./sizegate-data`).
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    /// Open (and create if missing) the store rooted at `root`.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        tokio::fs::create_dir_all(root.join("tmp"))
            .await
            .map_err(|e| BlobError::io(format!("creating {}", root.display()), e))?;
        let root = tokio::fs::canonicalize(&root)
            .await
            .map_err(|e| BlobError::io(format!("resolving {}", root.display()), e))?;
        let store = LocalBlobStore { root };
        store.remove_stale_temporaries(STALE_AFTER).await;
        Ok(store)
    }

    /// Remove temporary files older than `age`: left by a process killed in
    /// the middle of an upload (no upload lasts that long).
    pub async fn remove_stale_temporaries(&self, age: Duration) -> usize {
        let Ok(mut entries) = tokio::fs::read_dir(self.tmp_dir()).await else {
            return 0;
        };
        let mut removed = 0;
        while let Ok(Some(entry)) = entries.next_entry().await {
            let stale = match entry.metadata().await.and_then(|m| m.modified()) {
                Ok(modified) => modified.elapsed().is_ok_and(|elapsed| elapsed > age),
                Err(_) => false,
            };
            let is_part = entry.file_name().to_string_lossy().ends_with(".part");
            if stale && is_part && tokio::fs::remove_file(entry.path()).await.is_ok() {
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(
                removed,
                "removed stale temporary files of interrupted uploads"
            );
        }
        removed
    }

    /// The directory holding temporary files of uploads in progress.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, BlobError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

/// Rename `tmp` to `dest`, then fsync the directory. A blob already under
/// `dest` has the same content (same key): it is replaced all the same, so
/// that its modification time says it was just committed and the garbage
/// collector's grace period covers the row about to refer to it.
async fn place(tmp: &Path, dest: &Path) -> Result<(), BlobError> {
    let dir = dest
        .parent()
        .ok_or_else(|| BlobError::InvalidKey(dest.display().to_string()))?;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| BlobError::io(format!("creating {}", dir.display()), e))?;
    if let Err(e) = tokio::fs::rename(tmp, dest).await {
        remove_quietly(tmp).await;
        return Err(BlobError::io(
            format!("renaming into {}", dest.display()),
            e,
        ));
    }
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await
        .map_err(|e| BlobError::io("syncing a directory", std::io::Error::other(e)))?
        .map_err(|e| BlobError::io("syncing a directory", e))?;
    Ok(())
}

/// When the file at `path` was last modified, or `None` if it is gone.
async fn modified(path: &Path) -> Result<Option<SystemTime>, BlobError> {
    match tokio::fs::metadata(path).await.and_then(|m| m.modified()) {
        Ok(time) => Ok(Some(time)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BlobError::io(format!("reading {}", path.display()), e)),
    }
}

async fn remove_quietly(path: &Path) {
    if let Err(e) = tokio::fs::remove_file(path).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "could not remove a temporary file");
    }
}

#[async_trait::async_trait]
impl BlobStore for LocalBlobStore {
    async fn stage(&self) -> Result<Box<dyn StagedBlob>, BlobError> {
        let path = self.tmp_dir().join(format!("{}.part", random_hex(12)));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|e| BlobError::io(format!("creating {}", path.display()), e))?;
        Ok(Box::new(LocalStaged {
            root: self.root.clone(),
            tmp: Some(path),
            file: Some(tokio::io::BufWriter::with_capacity(256 * 1024, file)),
        }))
    }

    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), BlobError> {
        check_key(key)?;
        let mut staged = self.stage().await?;
        staged.write(&bytes).await?;
        staged.commit(key).await
    }

    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        let path = self.path_of(key)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Bytes::from(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(BlobError::NotFound(key.to_owned()))
            }
            Err(e) => Err(BlobError::io(format!("reading {}", path.display()), e)),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        let path = self.path_of(key)?;
        tokio::fs::try_exists(&path)
            .await
            .map_err(|e| BlobError::io(format!("checking {}", path.display()), e))
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.path_of(key).ok()
    }

    async fn download(&self, key: &str, dest: &Path) -> Result<(), BlobError> {
        let path = self.path_of(key)?;
        match tokio::fs::copy(&path, dest).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(BlobError::NotFound(key.to_owned()))
            }
            Err(e) => Err(BlobError::io(format!("copying {}", path.display()), e)),
        }
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobEntry>, BlobError> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(BlobError::io(format!("listing {}", dir.display()), e)),
            };
            while let Some(entry) = entries
                .next_entry()
                .await
                .map_err(|e| BlobError::io(format!("listing {}", dir.display()), e))?
            {
                let path = entry.path();
                let Ok(relative) = path.strip_prefix(&self.root) else {
                    continue;
                };
                let Some(key) = relative.to_str().map(|k| k.replace('\\', "/")) else {
                    continue;
                };
                // Only descend where keys under `prefix` can be.
                let wanted = key.starts_with(prefix) || prefix.starts_with(&format!("{key}/"));
                if !wanted {
                    continue;
                }
                let meta = match entry.metadata().await {
                    Ok(meta) => meta,
                    // Removed while listing.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(BlobError::io(format!("reading {}", path.display()), e)),
                };
                if meta.is_dir() {
                    stack.push(path);
                } else if meta.is_file() && key.starts_with(prefix) && check_key(&key).is_ok() {
                    let modified = meta
                        .modified()
                        .map_err(|e| BlobError::io(format!("reading {}", path.display()), e))?;
                    out.push(BlobEntry {
                        key,
                        size: meta.len(),
                        modified,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(BlobError::io(format!("deleting {}", path.display()), e)),
        }
    }

    async fn delete_if_older(&self, key: &str, cutoff: SystemTime) -> Result<bool, BlobError> {
        let path = self.path_of(key)?;
        match modified(&path).await? {
            Some(time) if time < cutoff => {}
            _ => return Ok(false),
        }
        // Move the blob aside first, then look at its time again: an upload
        // that re-committed the same content in between (a rename over the
        // key, which gives a fresh time) is then seen and put back, and one
        // that comes after finds no blob and places its own copy.
        let aside = self.tmp_dir().join(format!("{}.gc", random_hex(12)));
        match tokio::fs::rename(&path, &aside).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(BlobError::io(format!("moving {}", path.display()), e)),
        }
        let still_old = modified(&aside).await?.is_some_and(|time| time < cutoff);
        if !still_old {
            // A hard link never replaces a blob committed meanwhile.
            match tokio::fs::hard_link(&aside, &path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(BlobError::io(format!("restoring {}", path.display()), e));
                }
            }
        }
        remove_quietly(&aside).await;
        Ok(still_old)
    }
}

/// A temporary file under `tmp/`, removed on drop unless committed.
struct LocalStaged {
    root: PathBuf,
    tmp: Option<PathBuf>,
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
}

#[async_trait::async_trait]
impl StagedBlob for LocalStaged {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| BlobError::io("writing", std::io::Error::other("blob closed")))?;
        file.write_all(chunk)
            .await
            .map_err(|e| BlobError::io("writing a temporary blob", e))
    }

    async fn commit(mut self: Box<Self>, key: &str) -> Result<(), BlobError> {
        check_key(key)?;
        let dest = self.root.join(key);
        let (Some(mut file), Some(tmp)) = (self.file.take(), self.tmp.clone()) else {
            return Err(BlobError::io(
                "committing",
                std::io::Error::other("blob closed"),
            ));
        };
        file.flush()
            .await
            .map_err(|e| BlobError::io("flushing a temporary blob", e))?;
        file.get_mut()
            .sync_all()
            .await
            .map_err(|e| BlobError::io("syncing a temporary blob", e))?;
        drop(file);
        // From here on `place` owns the temporary file (it removes it on failure).
        self.tmp = None;
        place(&tmp, &dest).await
    }

    async fn abort(mut self: Box<Self>) -> Result<(), BlobError> {
        self.file = None;
        if let Some(tmp) = self.tmp.take() {
            remove_quietly(&tmp).await;
        }
        Ok(())
    }
}

impl Drop for LocalStaged {
    fn drop(&mut self) {
        // Reached when an upload is cancelled mid-stream (client gone): do
        // not leave the partial file behind.
        self.file = None;
        if let Some(tmp) = self.tmp.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            let mut entries = tokio::fs::read_dir(&d).await.unwrap();
            while let Some(e) = entries.next_entry().await.unwrap() {
                if e.file_type().await.unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    out.push(e.path());
                }
            }
        }
        out
    }

    #[tokio::test]
    async fn commit_places_the_blob_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).await.unwrap();
        let mut staged = store.stage().await.unwrap();
        staged.write(b"hello ").await.unwrap();
        staged.write(b"world").await.unwrap();
        staged.commit("artifacts/aa/one").await.unwrap();
        assert_eq!(
            &store.get("artifacts/aa/one").await.unwrap()[..],
            b"hello world"
        );
        assert!(files_under(&store.tmp_dir()).await.is_empty());
        assert!(store.exists("artifacts/aa/one").await.unwrap());
        assert!(!store.exists("artifacts/aa/two").await.unwrap());
    }

    #[tokio::test]
    async fn identical_content_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).await.unwrap();
        for _ in 0..2 {
            let mut staged = store.stage().await.unwrap();
            staged.write(b"same").await.unwrap();
            staged.commit("artifacts/aa/same").await.unwrap();
        }
        let files = files_under(dir.path()).await;
        assert_eq!(files.len(), 1, "{files:?}");
    }

    #[tokio::test]
    async fn abort_and_drop_remove_the_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).await.unwrap();
        let mut staged = store.stage().await.unwrap();
        staged.write(b"partial").await.unwrap();
        staged.abort().await.unwrap();
        let mut dropped = store.stage().await.unwrap();
        dropped.write(b"partial").await.unwrap();
        drop(dropped);
        assert!(files_under(dir.path()).await.is_empty());
    }

    #[tokio::test]
    async fn stale_temporaries_are_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).await.unwrap();
        let old = store.tmp_dir().join("old.part");
        let fresh = store.tmp_dir().join("fresh.part");
        std::fs::write(&old, b"x").unwrap();
        std::fs::write(&fresh, b"x").unwrap();
        let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(48 * 3600);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(two_days_ago)
            .unwrap();
        LocalBlobStore::open(dir.path()).await.unwrap();
        assert!(!old.exists());
        assert!(fresh.exists());
    }

    /// Every operation refuses a key that could leave the root, and
    /// nothing is read or written outside it.
    #[tokio::test]
    async fn no_key_reaches_outside_the_root() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("store");
        let store = LocalBlobStore::open(&root).await.unwrap();
        std::fs::write(outer.path().join("outside"), b"do not touch").unwrap();
        let absolute = outer.path().join("outside").display().to_string();
        for key in [
            "../outside",
            "artifacts/../../outside",
            absolute.as_str(),
            "..\\outside",
            "%2e%2e/outside",
            "artifacts/ab/..",
            "outside\0",
        ] {
            assert!(
                matches!(store.get(key).await, Err(BlobError::InvalidKey(_))),
                "{key:?}"
            );
            assert!(store.exists(key).await.is_err(), "{key:?}");
            assert!(store.local_path(key).is_none(), "{key:?}");
            assert!(
                store
                    .put(key, Bytes::from_static(b"overwritten"))
                    .await
                    .is_err(),
                "{key:?}"
            );
            let dest = outer.path().join("copy");
            assert!(store.download(key, &dest).await.is_err(), "{key:?}");
            assert!(!dest.exists());
            let mut staged = store.stage().await.unwrap();
            staged.write(b"overwritten").await.unwrap();
            assert!(staged.commit(key).await.is_err(), "{key:?}");
        }
        assert_eq!(
            std::fs::read(outer.path().join("outside")).unwrap(),
            b"do not touch"
        );
        let mut names: Vec<_> = std::fs::read_dir(outer.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["outside", "store"]);
        // The refused commits left no temporary file behind either.
        assert!(files_under(&root).await.is_empty());
    }

    #[tokio::test]
    async fn download_copies_and_missing_blobs_are_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).await.unwrap();
        store
            .put("reports/aa/r.json.zst", Bytes::from_static(b"report"))
            .await
            .unwrap();
        let dest = dir.path().join("copy");
        store
            .download("reports/aa/r.json.zst", &dest)
            .await
            .unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"report");
        assert!(matches!(
            store.get("reports/aa/missing").await,
            Err(BlobError::NotFound(_))
        ));
        assert!(store.get("../escape").await.is_err());
    }
}
