//! Blobs in S3-compatible storage, through `object_store`. A blob is
//! streamed as a multipart upload to a `tmp/` key, then copied to its
//! content address and the temporary object deleted, so readers never see a
//! partial blob.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::io::AsyncWriteExt;

use super::{BlobEntry, BlobError, BlobStore, StagedBlob, check_key, random_hex};

/// At most this many parts of one upload in flight (5 MiB each): bounds the
/// memory an upload takes.
const MAX_PARTS_IN_FLIGHT: usize = 2;

/// A blob store in an S3-compatible bucket (`s3://bucket/prefix`).
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    store: Arc<dyn ObjectStore>,
    url: String,
}

fn os_error(action: impl Into<String>) -> impl FnOnce(object_store::Error) -> BlobError {
    let action = action.into();
    move |source| match source {
        object_store::Error::NotFound { path, .. } => BlobError::NotFound(path),
        source => BlobError::ObjectStore { action, source },
    }
}

impl S3BlobStore {
    /// Open `s3://bucket/prefix` with credentials, region and endpoint from
    /// the usual `AWS_*` variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`,
    /// `AWS_ALLOW_HTTP`...), then `options` (object_store's S3 keys such as
    /// `aws_endpoint`, `aws_allow_http`) on top.
    pub fn from_env(url: &str, options: &[(String, String)]) -> Result<Self, BlobError> {
        Self::build(AmazonS3Builder::from_env(), url, options)
    }

    /// Open `s3://bucket/prefix` with exactly `options`, ignoring the
    /// environment (tests).
    pub fn with_options(url: &str, options: &[(String, String)]) -> Result<Self, BlobError> {
        Self::build(AmazonS3Builder::new(), url, options)
    }

    fn build(
        mut builder: AmazonS3Builder,
        url: &str,
        options: &[(String, String)],
    ) -> Result<Self, BlobError> {
        // reqwest is built without a bundled crypto provider; use ring.
        crate::install_crypto_provider();
        let parsed = url::Url::parse(url)
            .map_err(|e| BlobError::Config(format!("blob store URL `{url}`: {e}")))?;
        for (key, value) in options {
            let key: AmazonS3ConfigKey = key
                .parse()
                .map_err(|e| BlobError::Config(format!("S3 option `{key}`: {e}")))?;
            builder = builder.with_config(key, value);
        }
        let s3 = builder
            .with_url(url)
            .build()
            .map_err(|e| BlobError::Config(format!("S3 store `{url}`: {e}")))?;
        let prefix = parsed.path().trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix))
        };
        Ok(S3BlobStore {
            store,
            url: url.to_owned(),
        })
    }

    fn path_of(key: &str) -> Result<ObjectPath, BlobError> {
        check_key(key)?;
        Ok(ObjectPath::from(key))
    }
}

#[async_trait::async_trait]
impl BlobStore for S3BlobStore {
    async fn stage(&self) -> Result<Box<dyn StagedBlob>, BlobError> {
        let tmp = ObjectPath::from(format!("tmp/{}", random_hex(12)));
        let upload = self
            .store
            .put_multipart(&tmp)
            .await
            .map_err(os_error("starting a multipart upload"))?;
        Ok(Box::new(S3Staged {
            store: Arc::clone(&self.store),
            tmp,
            writer: Some(WriteMultipart::new(upload)),
        }))
    }

    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), BlobError> {
        let path = Self::path_of(key)?;
        self.store
            .put(&path, bytes.into())
            .await
            .map_err(os_error(format!("writing {key}")))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        let path = Self::path_of(key)?;
        let result = self
            .store
            .get(&path)
            .await
            .map_err(os_error(format!("reading {key}")))?;
        result
            .bytes()
            .await
            .map_err(os_error(format!("reading {key}")))
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        let path = Self::path_of(key)?;
        match self.store.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(BlobError::ObjectStore {
                action: format!("checking {key}"),
                source,
            }),
        }
    }

    fn local_path(&self, _key: &str) -> Option<PathBuf> {
        None
    }

    async fn download(&self, key: &str, dest: &Path) -> Result<(), BlobError> {
        let path = Self::path_of(key)?;
        let result = self
            .store
            .get(&path)
            .await
            .map_err(os_error(format!("reading {key}")))?;
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| BlobError::io(format!("creating {}", dest.display()), e))?;
        let mut stream = result.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(os_error(format!("reading {key}")))?;
            file.write_all(&chunk)
                .await
                .map_err(|e| BlobError::io(format!("writing {}", dest.display()), e))?;
        }
        file.flush()
            .await
            .map_err(|e| BlobError::io(format!("writing {}", dest.display()), e))
    }

    fn describe(&self) -> String {
        self.url.clone()
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobEntry>, BlobError> {
        // object_store lists by whole path segments: list the directory
        // part of `prefix` and filter on the rest.
        let dir = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
        let dir = (!dir.is_empty()).then(|| ObjectPath::from(dir));
        let mut stream = self.store.list(dir.as_ref());
        let mut out = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(os_error(format!("listing {prefix}")))?;
            let key = meta.location.to_string();
            if key.starts_with(prefix) && check_key(&key).is_ok() {
                out.push(BlobEntry {
                    key,
                    size: meta.size,
                    modified: SystemTime::from(meta.last_modified),
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = Self::path_of(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(BlobError::ObjectStore {
                action: format!("deleting {key}"),
                source,
            }),
        }
    }

    async fn delete_if_older(&self, key: &str, cutoff: SystemTime) -> Result<bool, BlobError> {
        let path = Self::path_of(key)?;
        let meta = match self.store.head(&path).await {
            Ok(meta) => meta,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(source) => {
                return Err(BlobError::ObjectStore {
                    action: format!("checking {key}"),
                    source,
                });
            }
        };
        if SystemTime::from(meta.last_modified) >= cutoff {
            return Ok(false);
        }
        // S3 has no delete conditioned on the time: a re-commit of the same
        // content between the check above and this delete (milliseconds) is
        // the one race left; the grace period makes it need an upload of
        // exactly this orphaned content at that instant.
        self.delete(key).await?;
        Ok(true)
    }
}

/// A multipart upload to a temporary key; aborted on drop unless committed.
struct S3Staged {
    store: Arc<dyn ObjectStore>,
    tmp: ObjectPath,
    writer: Option<WriteMultipart>,
}

#[async_trait::async_trait]
impl StagedBlob for S3Staged {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| BlobError::Config("upload already closed".into()))?;
        writer
            .wait_for_capacity(MAX_PARTS_IN_FLIGHT)
            .await
            .map_err(os_error("uploading a part"))?;
        writer.write(chunk);
        Ok(())
    }

    async fn commit(mut self: Box<Self>, key: &str) -> Result<(), BlobError> {
        let dest = S3BlobStore::path_of(key)?;
        let writer = self
            .writer
            .take()
            .ok_or_else(|| BlobError::Config("upload already closed".into()))?;
        writer
            .finish()
            .await
            .map_err(os_error("completing a multipart upload"))?;
        // Copied even when the key exists (same key, same content): the
        // copy refreshes the object's time, which the garbage collector's
        // grace period relies on to keep it until its row is committed.
        let copied = self
            .store
            .copy(&self.tmp, &dest)
            .await
            .map_err(os_error(format!("copying into {key}")));
        if let Err(e) = self.store.delete(&self.tmp).await {
            tracing::warn!(key = %self.tmp, error = %e, "could not delete a temporary object");
        }
        copied
    }

    async fn abort(mut self: Box<Self>) -> Result<(), BlobError> {
        if let Some(writer) = self.writer.take() {
            writer
                .abort()
                .await
                .map_err(os_error("aborting a multipart upload"))?;
        }
        Ok(())
    }
}

impl Drop for S3Staged {
    fn drop(&mut self) {
        // Cancelled mid-stream: abort the multipart upload in the background
        // so that the bucket keeps no orphan parts.
        if let Some(writer) = self.writer.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(async move {
                let _ = writer.abort().await;
            });
        }
    }
}
