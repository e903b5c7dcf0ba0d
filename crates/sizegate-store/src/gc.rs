//! Retention: what `sizegate gc` and the periodic collection in `serve` and
//! `worker` delete.
//!
//! A build is *collectable* when all of these hold:
//! - it was uploaded more than `older_than` ago;
//! - it is not a baseline: either it is not baseline-eligible (a pull
//!   request, fork, unprotected-branch or OIDC pull-request build), or it is
//!   superseded (`superseded_at` set: a newer upload of the same provenance
//!   replaced it, or a more trusted build is shown for its (commit, target));
//! - its job is finished (`done` or `failed`): a queued or running job is
//!   never pulled from under a worker.
//!
//! The current baseline-eligible build of every (commit, target) is never
//! collected: it is history and baseline. Commits, targets and evaluations
//! stay (small rows). An artifact that no build refers to any more is
//! deleted with its measurement; the blobs (artifact and report) that no row
//! refers to are then deleted once older than `orphan_grace`, measured from
//! the blob's last write. Uploads write the blob before they commit the row
//! that refers to it, and a re-commit of content already stored refreshes
//! the blob's time: the grace period is what keeps an upload in flight
//! safe. Expired dashboard sessions and OIDC token ids are deleted too, and
//! so are expired upload sessions with their chunks.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use crate::blob::BlobStore;
use crate::{Error, Store};

/// The advisory lock that lets one collection run at a time across every
/// process sharing the database.
const GC_LOCK: i64 = 0x5349_5a45_4743; // "SIZEGC"

/// What to collect.
#[derive(Debug, Clone, Copy)]
pub struct GcPolicy {
    /// Collectable builds older than this are deleted.
    pub older_than: Duration,
    /// Blobs no row refers to are deleted once unmodified for this long.
    pub orphan_grace: Duration,
    /// Count only; delete nothing.
    pub dry_run: bool,
}

/// What one collection deleted (or, in a dry run, would delete).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Another process was collecting: this run did nothing.
    pub skipped: bool,
    /// Builds deleted.
    pub builds: u64,
    /// Artifact rows deleted (no build referred to them any more).
    pub artifacts: u64,
    /// Blobs deleted (artifacts and reports).
    pub blobs: u64,
    /// Bytes of those blobs.
    pub blob_bytes: u64,
    /// Blobs no row refers to but younger than the grace period: kept.
    pub recent_orphans_kept: u64,
    /// Expired dashboard sessions deleted.
    pub sessions: u64,
    /// Expired OIDC token ids deleted.
    pub oidc_token_ids: u64,
    /// Expired (abandoned) upload sessions deleted.
    pub upload_sessions: u64,
    /// Bytes of the chunks of sessions deleted (or whose session was gone).
    pub upload_session_bytes: u64,
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

impl Store {
    /// Run one collection. At most one runs at a time across all processes
    /// on this database; a run that finds another one in progress returns
    /// at once with `skipped` set.
    pub async fn collect_garbage(
        &self,
        blobs: &dyn BlobStore,
        policy: &GcPolicy,
    ) -> Result<GcReport, Error> {
        let mut lock = self.pool.acquire().await?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(GC_LOCK)
            .fetch_one(&mut *lock)
            .await?;
        if !got {
            return Ok(GcReport {
                skipped: true,
                ..GcReport::default()
            });
        }
        let result = self.collect_locked(blobs, policy).await;
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(GC_LOCK)
            .execute(&mut *lock)
            .await;
        let report = result?;
        unlocked?;
        Ok(report)
    }

    async fn collect_locked(
        &self,
        blobs: &dyn BlobStore,
        policy: &GcPolicy,
    ) -> Result<GcReport, Error> {
        let mut report = GcReport::default();
        let doomed: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT b.id, b.artifact_id FROM builds b
             LEFT JOIN jobs j ON j.build_id = b.id
             WHERE b.created_at < now() - make_interval(secs => $1)
               AND (NOT b.baseline_eligible OR b.superseded_at IS NOT NULL)
               AND (j.state IS NULL OR j.state IN ('done', 'failed'))
             ORDER BY b.id",
        )
        .bind(seconds(policy.older_than))
        .fetch_all(&self.pool)
        .await?;
        report.builds = doomed.len() as u64;
        if policy.dry_run {
            self.count_collectable_rows(&doomed, &mut report).await?;
        } else {
            self.delete_collectable_rows(&doomed, &mut report).await?;
        }
        let (upload_sessions, upload_session_bytes) =
            self.collect_upload_sessions(blobs, policy.dry_run).await?;
        report.upload_sessions = upload_sessions;
        report.upload_session_bytes = upload_session_bytes;
        let freed_bytes = self
            .collect_orphan_blobs(blobs, policy, &mut report)
            .await?;
        if !policy.dry_run {
            report.blob_bytes = freed_bytes;
        } else {
            report.blob_bytes += freed_bytes;
        }
        tracing::info!(
            dry_run = policy.dry_run,
            builds = report.builds,
            artifacts = report.artifacts,
            blobs = report.blobs,
            blob_bytes = report.blob_bytes,
            recent_orphans_kept = report.recent_orphans_kept,
            sessions = report.sessions,
            oidc_token_ids = report.oidc_token_ids,
            upload_sessions = report.upload_sessions,
            upload_session_bytes = report.upload_session_bytes,
            "garbage collection done"
        );
        Ok(report)
    }

    /// A dry run: count the artifacts every build of which is `doomed`
    /// (with their bytes), the expired sessions and OIDC token ids.
    async fn count_collectable_rows(
        &self,
        doomed: &[(i64, i64)],
        report: &mut GcReport,
    ) -> Result<(), Error> {
        let build_ids: Vec<i64> = doomed.iter().map(|(id, _)| *id).collect();
        let mut artifact_ids: Vec<i64> = doomed.iter().map(|(_, a)| *a).collect();
        artifact_ids.sort_unstable();
        artifact_ids.dedup();
        let (artifacts, bytes): (i64, i64) = sqlx::query_as(
            "SELECT count(*), COALESCE(sum(a.size), 0)::BIGINT FROM artifacts a
             WHERE a.id = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM builds b
                               WHERE b.artifact_id = a.id AND NOT (b.id = ANY($2)))",
        )
        .bind(&artifact_ids)
        .bind(&build_ids)
        .fetch_one(&self.pool)
        .await?;
        report.artifacts = u64::try_from(artifacts).unwrap_or(0);
        report.blob_bytes = u64::try_from(bytes).unwrap_or(0);
        report.sessions =
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sessions WHERE expires_at < now()")
                .fetch_one(&self.pool)
                .await?
                .try_into()
                .unwrap_or(0);
        report.oidc_token_ids = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM oidc_token_ids
             WHERE expires_at < extract(epoch FROM now())::BIGINT",
        )
        .fetch_one(&self.pool)
        .await?
        .try_into()
        .unwrap_or(0);
        Ok(())
    }

    /// Delete the `doomed` builds (500 a transaction), every artifact no
    /// build refers to, and the expired sessions and OIDC token ids.
    async fn delete_collectable_rows(
        &self,
        doomed: &[(i64, i64)],
        report: &mut GcReport,
    ) -> Result<(), Error> {
        let build_ids: Vec<i64> = doomed.iter().map(|(id, _)| *id).collect();
        for chunk in build_ids.chunks(500) {
            let mut tx = self.pool.begin().await?;
            sqlx::query("UPDATE builds SET superseded_by = NULL WHERE superseded_by = ANY($1)")
                .bind(chunk)
                .execute(&mut *tx)
                .await?;
            // Re-checked: a job requeued since the selection keeps its build.
            sqlx::query(
                "DELETE FROM builds b WHERE b.id = ANY($1)
                   AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.build_id = b.id
                                   AND j.state IN ('queued', 'running'))",
            )
            .bind(chunk)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        // Every artifact no build refers to (those just freed, and any left
        // by an earlier run that stopped half-way).
        let unreferenced: Vec<i64> = sqlx::query_scalar(
            "SELECT a.id FROM artifacts a
             WHERE NOT EXISTS (SELECT 1 FROM builds b WHERE b.artifact_id = a.id)
             ORDER BY a.id",
        )
        .fetch_all(&self.pool)
        .await?;
        for id in unreferenced {
            if self.delete_artifact_if_unused(id).await? {
                report.artifacts += 1;
            }
        }
        report.sessions = sqlx::query("DELETE FROM sessions WHERE expires_at < now()")
            .execute(&self.pool)
            .await?
            .rows_affected();
        report.oidc_token_ids = sqlx::query(
            "DELETE FROM oidc_token_ids WHERE expires_at < extract(epoch FROM now())::BIGINT",
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(())
    }

    /// Delete (or, in a dry run, count) the blobs no row refers to that are
    /// older than the grace period; the bytes they held. Blobs are listed
    /// first and references read after, so that a row committed after the
    /// listing is seen.
    async fn collect_orphan_blobs(
        &self,
        blobs: &dyn BlobStore,
        policy: &GcPolicy,
        report: &mut GcReport,
    ) -> Result<u64, Error> {
        let cutoff = SystemTime::now()
            .checked_sub(policy.orphan_grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut listed = blobs.list("artifacts/").await?;
        listed.extend(blobs.list("reports/").await?);
        listed.extend(blobs.list("debug/").await?);
        let referenced: HashSet<String> = sqlx::query_scalar(
            "SELECT blob_key FROM artifacts UNION SELECT report_key FROM measurements
             UNION SELECT debug_blob_key FROM builds WHERE debug_blob_key IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .collect();
        let mut freed_bytes = 0;
        for entry in listed {
            if referenced.contains(&entry.key) {
                continue;
            }
            if entry.modified >= cutoff {
                report.recent_orphans_kept += 1;
                continue;
            }
            if policy.dry_run {
                report.blobs += 1;
                freed_bytes += entry.size;
                continue;
            }
            // Last look at the references: the key of a row committed since.
            let still: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM artifacts WHERE blob_key = $1)
                     OR EXISTS (SELECT 1 FROM measurements WHERE report_key = $1)
                     OR EXISTS (SELECT 1 FROM builds WHERE debug_blob_key = $1)",
            )
            .bind(&entry.key)
            .fetch_one(&self.pool)
            .await?;
            if still {
                continue;
            }
            if blobs.delete_if_older(&entry.key, cutoff).await? {
                report.blobs += 1;
                freed_bytes += entry.size;
            } else {
                report.recent_orphans_kept += 1;
            }
        }
        Ok(freed_bytes)
    }

    /// Delete an artifact row and its measurement if still no build refers
    /// to it. An upload that takes it up again at the same moment wins: the
    /// foreign key refuses the delete and the artifact is kept.
    async fn delete_artifact_if_unused(&self, id: i64) -> Result<bool, Error> {
        let mut tx = self.pool.begin().await?;
        let locked: Option<i64> = sqlx::query_scalar(
            "SELECT a.id FROM artifacts a WHERE a.id = $1
               AND NOT EXISTS (SELECT 1 FROM builds b WHERE b.artifact_id = a.id)
             FOR UPDATE OF a",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if locked.is_none() {
            return Ok(false);
        }
        sqlx::query("DELETE FROM measurements WHERE artifact_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM artifacts WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await;
        match deleted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23503") => {
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        }
        match tx.commit().await {
            Ok(()) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23503") => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
