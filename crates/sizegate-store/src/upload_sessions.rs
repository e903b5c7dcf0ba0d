//! Resumable upload sessions: one artifact sent in chunks over several
//! requests. The row holds the upload's `meta`, the announced size and the
//! bytes stored so far; the chunks are blobs under
//! [`session_prefix`]`(id)`, named by their start offset, until the
//! session is finished (the chunks become one artifact blob), expires, or
//! is collected by `sizegate gc`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::blob::BlobStore;
use crate::{Error, Store};

/// One session.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UploadSession {
    /// Random, unguessable id (64 hex digits).
    pub id: String,
    /// The repository it uploads to.
    pub repository_id: i64,
    /// The target name of its artifact.
    pub target: String,
    /// The `meta` of the upload, as sent.
    pub meta: serde_json::Value,
    /// Announced size of the artifact.
    pub size: i64,
    /// Bytes stored so far.
    pub received: i64,
    /// When it is collected if not finished.
    pub expires_at: DateTime<Utc>,
}

/// Where the chunks of session `id` are kept in the blob store.
pub fn session_prefix(id: &str) -> String {
    format!("upload-sessions/{id}/")
}

/// The key of the chunk of session `id` that starts at `offset`; keys sort
/// in offset order.
pub fn chunk_key(id: &str, offset: u64) -> String {
    format!("upload-sessions/{id}/{offset:020}")
}

/// A new session id.
pub fn new_session_id() -> String {
    crate::blob::random_hex(32)
}

impl Store {
    /// Open a session for `size` bytes of `target`, expiring after `ttl`.
    pub async fn create_upload_session(
        &self,
        repository_id: i64,
        target: &str,
        meta: &serde_json::Value,
        size: u64,
        ttl: Duration,
    ) -> Result<UploadSession, Error> {
        let session = sqlx::query_as::<_, UploadSession>(
            "INSERT INTO upload_sessions (id, repository_id, target, meta, size, expires_at)
             VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
             RETURNING id, repository_id, target, meta, size, received, expires_at",
        )
        .bind(new_session_id())
        .bind(repository_id)
        .bind(target)
        .bind(meta)
        .bind(crate::to_db(size)?)
        .bind(ttl.as_secs_f64())
        .fetch_one(&self.pool)
        .await?;
        Ok(session)
    }

    /// The session `id` of `repository_id`, unless it expired.
    pub async fn upload_session(
        &self,
        repository_id: i64,
        id: &str,
    ) -> Result<Option<UploadSession>, Error> {
        let session = sqlx::query_as::<_, UploadSession>(
            "SELECT id, repository_id, target, meta, size, received, expires_at
             FROM upload_sessions
             WHERE id = $1 AND repository_id = $2 AND expires_at > now()",
        )
        .bind(id)
        .bind(repository_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(session)
    }

    /// Move the session's offset from `from` to `to` (a chunk was stored).
    /// False when its offset is no longer `from` (a concurrent request
    /// stored that range first) or it is gone.
    pub async fn advance_upload_session(
        &self,
        id: &str,
        from: u64,
        to: u64,
    ) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE upload_sessions SET received = $3
             WHERE id = $1 AND received = $2 AND expires_at > now()",
        )
        .bind(id)
        .bind(crate::to_db(from)?)
        .bind(crate::to_db(to)?)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Bytes the open sessions of a repository announced: counted against
    /// its quota as if stored, so that sessions cannot go past it.
    pub async fn repository_session_bytes(&self, repository_id: i64) -> Result<u64, Error> {
        let bytes: i64 = sqlx::query_scalar(
            "SELECT COALESCE(sum(size), 0)::BIGINT FROM upload_sessions
             WHERE repository_id = $1 AND expires_at > now()",
        )
        .bind(repository_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    /// Delete a session and its chunks (finished, or refused at the end).
    pub async fn delete_upload_session(
        &self,
        blobs: &dyn BlobStore,
        id: &str,
    ) -> Result<(), Error> {
        sqlx::query("DELETE FROM upload_sessions WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        delete_chunks(blobs, id).await
    }

    /// The blob key of the debug file uploaded with a build, if any.
    pub async fn build_debug_file(&self, build_id: i64) -> Result<Option<String>, Error> {
        let key: Option<Option<String>> =
            sqlx::query_scalar("SELECT debug_blob_key FROM builds WHERE id = $1")
                .bind(build_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(key.flatten())
    }

    /// Delete expired sessions and their chunks, and chunks whose session
    /// is gone; how many sessions and chunk bytes. With `dry_run`, count.
    pub(crate) async fn collect_upload_sessions(
        &self,
        blobs: &dyn BlobStore,
        dry_run: bool,
    ) -> Result<(u64, u64), Error> {
        let expired: Vec<String> =
            sqlx::query_scalar("SELECT id FROM upload_sessions WHERE expires_at <= now()")
                .fetch_all(&self.pool)
                .await?;
        if !dry_run && !expired.is_empty() {
            sqlx::query("DELETE FROM upload_sessions WHERE id = ANY($1)")
                .bind(&expired)
                .execute(&self.pool)
                .await?;
        }
        let live: std::collections::HashSet<String> =
            sqlx::query_scalar("SELECT id FROM upload_sessions WHERE expires_at > now()")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .collect();
        let mut bytes = 0;
        for entry in blobs.list("upload-sessions/").await? {
            let id = entry
                .key
                .trim_start_matches("upload-sessions/")
                .split('/')
                .next()
                .unwrap_or_default();
            if live.contains(id) {
                continue;
            }
            bytes += entry.size;
            if !dry_run {
                blobs.delete(&entry.key).await?;
            }
        }
        Ok((expired.len() as u64, bytes))
    }
}

/// Delete every chunk of session `id`.
pub async fn delete_chunks(blobs: &dyn BlobStore, id: &str) -> Result<(), Error> {
    for entry in blobs.list(&session_prefix(id)).await? {
        blobs.delete(&entry.key).await?;
    }
    Ok(())
}
