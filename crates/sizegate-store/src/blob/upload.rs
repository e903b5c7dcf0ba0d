//! Streaming an artifact into the blob store: sha256 and size computed on
//! the way, a size limit enforced as bytes arrive, and the blob placed under
//! its content address only once it is complete.

use sha2::{Digest, Sha256};

use super::{BlobError, BlobStore, StagedBlob, artifact_key};

/// An artifact being received.
pub struct BlobUpload {
    staged: Box<dyn StagedBlob>,
    hasher: Sha256,
    size: u64,
    limit: u64,
}

impl std::fmt::Debug for BlobUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobUpload")
            .field("size", &self.size)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// Why a chunk was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The artifact is larger than the limit; what was written is discarded.
    #[error("artifact exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The blob store failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
}

impl BlobUpload {
    /// Start receiving an artifact of at most `limit` bytes.
    pub async fn start(store: &dyn BlobStore, limit: u64) -> Result<Self, BlobError> {
        Ok(BlobUpload {
            staged: store.stage().await?,
            hasher: Sha256::new(),
            size: 0,
            limit,
        })
    }

    /// Append a chunk. Over the limit, the partial blob is discarded and
    /// [`UploadError::TooLarge`] returned.
    pub async fn write(mut self, chunk: &[u8]) -> Result<Self, UploadError> {
        let new_size = self.size.saturating_add(chunk.len() as u64);
        if new_size > self.limit {
            let limit = self.limit;
            self.staged.abort().await?;
            return Err(UploadError::TooLarge { limit });
        }
        self.hasher.update(chunk);
        self.staged.write(chunk).await?;
        self.size = new_size;
        Ok(self)
    }

    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// All bytes received: compute the content address. The blob is not
    /// visible until [`UploadedBlob::commit`].
    pub fn finish(self) -> UploadedBlob {
        UploadedBlob {
            sha256: hex::encode(self.hasher.finalize()),
            size: self.size,
            staged: self.staged,
        }
    }
}

/// A complete artifact, staged, not yet placed under its key.
pub struct UploadedBlob {
    /// Lower-case hex sha256 of the content.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    staged: Box<dyn StagedBlob>,
}

impl std::fmt::Debug for UploadedBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadedBlob")
            .field("sha256", &self.sha256)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl UploadedBlob {
    /// Place the blob under its content address; returns the key.
    pub async fn commit(self) -> Result<String, BlobError> {
        let key = artifact_key(&self.sha256);
        self.staged.commit(&key).await?;
        Ok(key)
    }

    /// Place the blob under `key` instead (debug files live under `debug/`).
    pub async fn commit_as(self, key: &str) -> Result<(), BlobError> {
        self.staged.commit(key).await
    }

    /// Discard it.
    pub async fn abort(self) -> Result<(), BlobError> {
        self.staged.abort().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::LocalBlobStore;

    #[tokio::test]
    async fn hashes_while_streaming_and_enforces_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).await.unwrap();
        let upload = BlobUpload::start(&store, 10).await.unwrap();
        let upload = upload.write(b"abc").await.unwrap();
        let blob = upload.finish();
        assert_eq!(
            blob.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let key = blob.commit().await.unwrap();
        assert_eq!(&store.get(&key).await.unwrap()[..], b"abc");

        let upload = BlobUpload::start(&store, 10).await.unwrap();
        let upload = upload.write(b"0123456789").await.unwrap();
        let err = upload.write(b"x").await.unwrap_err();
        assert!(matches!(err, UploadError::TooLarge { limit: 10 }));
        let mut tmp = tokio::fs::read_dir(store.tmp_dir()).await.unwrap();
        assert!(tmp.next_entry().await.unwrap().is_none());
    }
}
