//! The blob store: where artifacts and compressed reports live. One trait,
//! [`BlobStore`], with a local-directory implementation (the default) and an
//! S3-compatible one. Artifacts are addressed by their sha256, so identical
//! content is stored once.

mod local;
mod s3;
mod upload;

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

pub use local::LocalBlobStore;
pub use s3::S3BlobStore;
pub use upload::{BlobUpload, UploadError, UploadedBlob};

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// Local file system error.
    #[error("blob store I/O error while {action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Error from the S3-compatible store.
    #[error("object store error while {action}: {source}")]
    ObjectStore {
        /// What was being done.
        action: String,
        /// The cause.
        source: object_store::Error,
    },
    /// The blob store URL or its settings are wrong.
    #[error("invalid blob store configuration: {0}")]
    Config(String),
    /// No blob under this key.
    #[error("blob `{0}` not found")]
    NotFound(String),
    /// A key that is not one this crate writes.
    #[error("invalid blob key `{0}`")]
    InvalidKey(String),
}

impl BlobError {
    pub(crate) fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        BlobError::Io {
            action: action.into(),
            source,
        }
    }
}

/// Storage for immutable blobs, written once under a key.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + Debug {
    /// Start writing a blob whose key is not known yet (it is its sha256,
    /// known once every byte has been seen).
    async fn stage(&self) -> Result<Box<dyn StagedBlob>, BlobError>;
    /// Store a small blob in one piece (compressed reports). Atomic.
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), BlobError>;
    /// Read a small blob whole.
    async fn get(&self, key: &str) -> Result<Bytes, BlobError>;
    /// Whether a blob exists under `key`.
    async fn exists(&self, key: &str) -> Result<bool, BlobError>;
    /// A path on the local file system where the blob can be read directly,
    /// when the store has one (the local directory store).
    fn local_path(&self, key: &str) -> Option<PathBuf>;
    /// Copy a blob into a local file (streamed, memory stays flat).
    async fn download(&self, key: &str, dest: &Path) -> Result<(), BlobError>;
    /// Where the blobs go, for the log (`/srv/sizegate-data`, `s3://bucket/prefix`).
    fn describe(&self) -> String;
    /// Every blob whose key starts with `prefix` (a directory such as
    /// `artifacts/`), with its last modification time. Temporary objects of
    /// uploads in progress are not listed unless `prefix` names them.
    async fn list(&self, prefix: &str) -> Result<Vec<BlobEntry>, BlobError>;
    /// Delete the blob under `key`; a missing blob is not an error.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// Delete the blob under `key` only if it was last modified before
    /// `cutoff`: a blob rewritten (or re-committed by an upload of the same
    /// content, which refreshes its time) since is kept. Whether it was
    /// deleted.
    async fn delete_if_older(&self, key: &str, cutoff: SystemTime) -> Result<bool, BlobError>;
}

/// A blob as listed by [`BlobStore::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobEntry {
    /// Its key.
    pub key: String,
    /// Bytes.
    pub size: u64,
    /// When it was last written (or re-committed).
    pub modified: SystemTime,
}

/// A blob being written. Dropping it without [`StagedBlob::commit`] discards
/// what was written.
#[async_trait::async_trait]
pub trait StagedBlob: Send {
    /// Append bytes.
    async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError>;
    /// Make the blob durable and visible under `key`. If a blob already
    /// exists under `key` (identical content), the staged copy is discarded
    /// and the existing blob's modification time is refreshed, so that the
    /// garbage collector's grace period protects it until the row that
    /// refers to it is committed.
    async fn commit(self: Box<Self>, key: &str) -> Result<(), BlobError>;
    /// Discard what was written.
    async fn abort(self: Box<Self>) -> Result<(), BlobError>;
}

/// The key of an artifact with this sha256 (lower-case hex).
pub fn artifact_key(sha256: &str) -> String {
    let prefix = sha256.get(..2).unwrap_or("xx");
    format!("artifacts/{prefix}/{sha256}")
}

/// The key of a debug file with this sha256 (lower-case hex).
pub fn debug_key(sha256: &str) -> String {
    let prefix = sha256.get(..2).unwrap_or("xx");
    format!("debug/{prefix}/{sha256}")
}

/// The key of the compressed report of the artifact with this sha256.
pub fn report_key(sha256: &str) -> String {
    let prefix = sha256.get(..2).unwrap_or("xx");
    format!("reports/{prefix}/{sha256}.json.zst")
}

/// Keys are relative, `/`-separated, made of `[A-Za-z0-9._-]` segments that
/// are not `.` or `..`: they can never leave the store's root.
pub(crate) fn check_key(key: &str) -> Result<(), BlobError> {
    let ok = !key.is_empty()
        && key.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    if ok {
        Ok(())
    } else {
        Err(BlobError::InvalidKey(key.to_owned()))
    }
}

/// Open the blob store named by `location`: `s3://bucket/prefix` for
/// S3-compatible storage (credentials and endpoint from the usual `AWS_*`
/// variables, overridden by `s3_options`), anything else is a local
/// directory, created if missing.
pub async fn open_blob_store(
    location: &str,
    s3_options: &[(String, String)],
) -> Result<Arc<dyn BlobStore>, BlobError> {
    if location.starts_with("s3://") || location.starts_with("s3a://") {
        Ok(Arc::new(S3BlobStore::from_env(location, s3_options)?))
    } else {
        Ok(Arc::new(LocalBlobStore::open(location).await?))
    }
}

/// Random lower-case hex, for temporary names.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The OS random source failing is not recoverable in any useful way;
    // fall back to the clock so that temporary names still differ.
    if getrandom::fill(&mut buf).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        return format!("{nanos:x}{:x}", std::process::id());
    }
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_root() {
        assert!(check_key("artifacts/ab/abcdef").is_ok());
        assert!(check_key("reports/ab/abc.json.zst").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "a//b",
            "./a",
            "a/b/",
            "a\\b",
            "a b",
            "..",
            "../escape",
            "artifacts/../../etc/passwd",
            "artifacts/ab/..",
            "C:\\blob",
            "a\0b",
            "%2e%2e/escape",
            "artifacts/%2E%2E/x",
            "a/\n/b",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn artifact_keys_shard_by_prefix() {
        let sha = "ab".repeat(32);
        assert_eq!(artifact_key(&sha), format!("artifacts/ab/{sha}"));
        assert_eq!(report_key(&sha), format!("reports/ab/{sha}.json.zst"));
    }
}
