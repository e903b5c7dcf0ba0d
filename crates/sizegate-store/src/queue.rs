//! The job queue, in Postgres.
//!
//! Why this shape: claiming with `FOR UPDATE SKIP LOCKED` lets any number of
//! workers (in `serve` or `sizegate worker`, on any machine) take distinct
//! jobs without blocking one another. A claimed job holds a lease
//! (`locked_until`) that its worker renews while it runs: if the worker
//! dies, the lease lapses and the job is claimed again. Each claim counts an
//! attempt; failures are retried after an exponentially growing delay, and
//! after `max_attempts` the job stays `failed` with its last error, which the
//! API shows. Every state change after the claim is conditioned on
//! `locked_by`, so a worker that lost its lease cannot overwrite the work of
//! the one that took the job over.

use std::time::Duration;

use serde::Serialize;

use crate::{Error, Store};

/// The channel on which a `NOTIFY` is sent when a job becomes claimable.
pub const JOBS_CHANNEL: &str = "sizegate_jobs";

/// A job claimed by a worker, with what it needs to run.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedJob {
    /// Job id.
    pub job_id: i64,
    /// The build to measure.
    pub build_id: i64,
    /// This attempt's number (1 for the first).
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// The artifact to measure.
    pub artifact_id: i64,
    /// Its sha256.
    pub sha256: String,
    /// Its size.
    pub size: i64,
    /// Where it is in the blob store.
    pub blob_key: String,
    /// Target name.
    pub target: String,
    /// Commit sha.
    pub commit_sha: String,
    /// Repository id.
    pub repository_id: i64,
}

/// The state of a job (the `jobs.state` column, which a CHECK keeps to
/// these four names); a target's status is its job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a worker (or for its retry time).
    Queued,
    /// Claimed by a worker under a lease.
    Running,
    /// Measured.
    Done,
    /// Failed for good; the last error is kept.
    Failed,
}

impl JobState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    /// Done or failed: nothing more will happen to it.
    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Number of jobs in one state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct JobCount {
    /// The state.
    pub state: JobState,
    /// How many.
    pub count: i64,
}

/// What happened to a job reported as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// It will be tried again after the backoff.
    WillRetry,
    /// It is `failed` for good.
    Failed,
    /// This worker no longer holds the job (its lease was lost).
    NotOwner,
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Store {
    /// Claim the next runnable job for `worker_id`, holding it for `lease`.
    /// Jobs whose worker vanished on their last allowed attempt are marked
    /// failed first.
    pub async fn claim_next_job(
        &self,
        worker_id: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedJob>, Error> {
        self.fail_abandoned_jobs().await?;
        let claimed: Option<(i64,)> = sqlx::query_as(
            "WITH next AS (
                 SELECT id FROM jobs
                 WHERE (state = 'queued' AND run_at <= now())
                    OR (state = 'running' AND locked_until < now() AND attempts < max_attempts)
                 ORDER BY run_at, id
                 LIMIT 1
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE jobs j SET
                 state = 'running',
                 attempts = j.attempts + 1,
                 locked_by = $1,
                 locked_until = now() + $2 * interval '1 second',
                 started_at = now(),
                 updated_at = now()
             FROM next WHERE j.id = next.id
             RETURNING j.id",
        )
        .bind(worker_id)
        .bind(seconds(lease))
        .fetch_optional(&self.pool)
        .await?;
        let Some((job_id,)) = claimed else {
            return Ok(None);
        };
        let job = sqlx::query_as(
            "SELECT j.id AS job_id, j.build_id, j.attempts, j.max_attempts,
                    a.id AS artifact_id, a.sha256, a.size, a.blob_key,
                    t.name AS target, c.sha AS commit_sha, c.repository_id
             FROM jobs j
             JOIN builds b ON b.id = j.build_id
             JOIN artifacts a ON a.id = b.artifact_id
             JOIN targets t ON t.id = b.target_id
             JOIN commits c ON c.id = b.commit_id
             WHERE j.id = $1",
        )
        .bind(job_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(Some(job))
    }

    /// Mark failed the running jobs whose lease lapsed on their last
    /// allowed attempt (their worker keeps dying on them). Returns how many.
    pub async fn fail_abandoned_jobs(&self) -> Result<u64, Error> {
        let failed = sqlx::query(
            "UPDATE jobs SET
                 state = 'failed',
                 last_error = 'the worker stopped responding (lease expired) on attempt '
                              || attempts || ' of ' || max_attempts
                              || COALESCE('; previous error: ' || last_error, ''),
                 locked_by = NULL, locked_until = NULL,
                 finished_at = now(), updated_at = now()
             WHERE state = 'running' AND locked_until < now() AND attempts >= max_attempts",
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(failed)
    }

    /// Extend the lease of a job this worker holds. `false` if it lost it.
    pub async fn renew_lease(
        &self,
        job_id: i64,
        worker_id: &str,
        lease: Duration,
    ) -> Result<bool, Error> {
        let renewed = sqlx::query(
            "UPDATE jobs SET locked_until = now() + $3 * interval '1 second', updated_at = now()
             WHERE id = $1 AND locked_by = $2 AND state = 'running'",
        )
        .bind(job_id)
        .bind(worker_id)
        .bind(seconds(lease))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    /// Mark a job done. `false` if this worker no longer holds it.
    pub async fn complete_job(&self, job_id: i64, worker_id: &str) -> Result<bool, Error> {
        self.update_held_job(
            "UPDATE jobs SET state = 'done', last_error = NULL, locked_by = NULL,
                 locked_until = NULL, finished_at = now(), updated_at = now()
             WHERE id = $1 AND locked_by = $2 AND state = 'running'",
            job_id,
            worker_id,
        )
        .await
    }

    /// Record a failed attempt. With `retry` and attempts left, the job is
    /// queued again after `backoff`; otherwise it is `failed` for good.
    pub async fn fail_job(
        &self,
        job_id: i64,
        worker_id: &str,
        error: &str,
        retry: bool,
        backoff: Duration,
    ) -> Result<FailureOutcome, Error> {
        let state: Option<JobState> = sqlx::query_scalar(
            "UPDATE jobs SET
                 state = CASE WHEN $4 AND attempts < max_attempts THEN 'queued' ELSE 'failed' END,
                 run_at = now() + $5 * interval '1 second',
                 last_error = $3,
                 locked_by = NULL, locked_until = NULL,
                 finished_at = CASE WHEN $4 AND attempts < max_attempts THEN NULL ELSE now() END,
                 updated_at = now()
             WHERE id = $1 AND locked_by = $2 AND state = 'running'
             RETURNING state",
        )
        .bind(job_id)
        .bind(worker_id)
        .bind(error)
        .bind(retry)
        .bind(seconds(backoff))
        .fetch_optional(&self.pool)
        .await?;
        Ok(match state {
            None => FailureOutcome::NotOwner,
            Some(JobState::Queued) => FailureOutcome::WillRetry,
            Some(_) => FailureOutcome::Failed,
        })
    }

    /// Give a job back without counting the attempt (graceful shutdown).
    pub async fn release_job(&self, job_id: i64, worker_id: &str) -> Result<bool, Error> {
        self.update_held_job(
            "UPDATE jobs SET state = 'queued', attempts = GREATEST(attempts - 1, 0),
                 locked_by = NULL, locked_until = NULL, run_at = now(), updated_at = now()
             WHERE id = $1 AND locked_by = $2 AND state = 'running'",
            job_id,
            worker_id,
        )
        .await
    }

    /// Run `sql`, an update of job `$1` guarded by `locked_by = $2 AND
    /// state = 'running'`: whether this worker still held the job.
    async fn update_held_job(
        &self,
        sql: &'static str,
        job_id: i64,
        worker_id: &str,
    ) -> Result<bool, Error> {
        let updated = sqlx::query(sql)
            .bind(job_id)
            .bind(worker_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(updated == 1)
    }

    /// How many jobs are in each state (every state listed, zeros included).
    pub async fn job_counts(&self) -> Result<Vec<JobCount>, Error> {
        let counts = sqlx::query_as(
            "SELECT s.state, count(j.id) AS count
             FROM unnest(ARRAY['queued', 'running', 'done', 'failed']) AS s(state)
             LEFT JOIN jobs j ON j.state = s.state
             GROUP BY s.state ORDER BY array_position(ARRAY['queued', 'running', 'done', 'failed'], s.state)",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(counts)
    }
}

/// The delay before attempt `attempts + 1`: `base * 2^(attempts - 1)`, at most `max`.
pub fn backoff(attempts: i32, base: Duration, max: Duration) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    base.saturating_mul(1u32 << exponent).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RepoName;
    use crate::uploads::{CommitMeta, NewArtifact};

    async fn one_job(store: &Store, max_attempts: i32) -> i64 {
        let repo = store
            .ensure_repository(&RepoName::parse("acme/app").unwrap())
            .await
            .unwrap();
        let sha256 = "c".repeat(64);
        let recorded = store
            .record_upload(
                repo,
                &CommitMeta {
                    sha: "a".repeat(40),
                    ..Default::default()
                },
                &[NewArtifact {
                    target: "linux/app".into(),
                    blob_key: crate::blob::artifact_key(&sha256),
                    sha256,
                    size: 10,
                }],
                max_attempts,
            )
            .await
            .unwrap();
        recorded[0].job_id
    }

    async fn state_of(store: &Store, job_id: i64) -> (String, i32, Option<String>) {
        sqlx::query_as("SELECT state, attempts, last_error FROM jobs WHERE id = $1")
            .bind(job_id)
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_secs(10);
        let max = Duration::from_secs(300);
        assert_eq!(backoff(1, base, max), Duration::from_secs(10));
        assert_eq!(backoff(2, base, max), Duration::from_secs(20));
        assert_eq!(backoff(3, base, max), Duration::from_secs(40));
        assert_eq!(backoff(30, base, max), max);
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn claim_complete_and_skip_locked(pool: sqlx::PgPool) {
        let store = Store::new(pool);
        let job_id = one_job(&store, 3).await;
        let lease = Duration::from_secs(60);
        let job = store.claim_next_job("w1", lease).await.unwrap().unwrap();
        assert_eq!(job.job_id, job_id);
        assert_eq!(job.attempts, 1);
        assert_eq!(job.target, "linux/app");
        assert_eq!(job.size, 10);
        assert!(store.claim_next_job("w2", lease).await.unwrap().is_none());
        assert!(store.renew_lease(job_id, "w1", lease).await.unwrap());
        assert!(!store.renew_lease(job_id, "w2", lease).await.unwrap());
        assert!(!store.complete_job(job_id, "w2").await.unwrap());
        assert!(store.complete_job(job_id, "w1").await.unwrap());
        assert_eq!(state_of(&store, job_id).await.0, "done");
        let counts = store.job_counts().await.unwrap();
        assert_eq!(
            counts,
            [
                JobState::Queued,
                JobState::Running,
                JobState::Done,
                JobState::Failed
            ]
            .into_iter()
            .map(|state| JobCount {
                state,
                count: i64::from(state == JobState::Done)
            })
            .collect::<Vec<_>>()
        );
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn retries_with_backoff_then_fails(pool: sqlx::PgPool) {
        let store = Store::new(pool);
        let job_id = one_job(&store, 2).await;
        let lease = Duration::from_secs(60);
        store.claim_next_job("w1", lease).await.unwrap().unwrap();
        let outcome = store
            .fail_job(job_id, "w1", "boom", true, Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(outcome, FailureOutcome::WillRetry);
        // Not runnable before its backoff.
        assert!(store.claim_next_job("w1", lease).await.unwrap().is_none());
        sqlx::query("UPDATE jobs SET run_at = now()")
            .execute(store.pool())
            .await
            .unwrap();
        let job = store.claim_next_job("w1", lease).await.unwrap().unwrap();
        assert_eq!(job.attempts, 2);
        let outcome = store
            .fail_job(job_id, "w1", "boom again", true, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(outcome, FailureOutcome::Failed);
        let (state, attempts, error) = state_of(&store, job_id).await;
        assert_eq!((state.as_str(), attempts), ("failed", 2));
        assert_eq!(error.as_deref(), Some("boom again"));
        assert_eq!(
            store
                .fail_job(job_id, "w1", "x", true, Duration::ZERO)
                .await
                .unwrap(),
            FailureOutcome::NotOwner
        );
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn permanent_failure_skips_retries(pool: sqlx::PgPool) {
        let store = Store::new(pool);
        let job_id = one_job(&store, 5).await;
        store
            .claim_next_job("w1", Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        let outcome = store
            .fail_job(job_id, "w1", "not a binary", false, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(outcome, FailureOutcome::Failed);
        assert_eq!(state_of(&store, job_id).await.1, 1);
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn expired_leases_come_back_then_fail(pool: sqlx::PgPool) {
        let store = Store::new(pool);
        let job_id = one_job(&store, 2).await;
        let short = Duration::from_millis(1);
        store.claim_next_job("dead", short).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let job = store.claim_next_job("w2", short).await.unwrap().unwrap();
        assert_eq!((job.job_id, job.attempts), (job_id, 2));
        // The first worker wakes up: it no longer owns the job.
        assert!(!store.complete_job(job_id, "dead").await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Second lease lapsed on the last attempt: failed, not claimable.
        assert!(store.claim_next_job("w3", short).await.unwrap().is_none());
        let (state, _, error) = state_of(&store, job_id).await;
        assert_eq!(state, "failed");
        assert!(error.unwrap().contains("lease expired"));
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn release_gives_the_attempt_back(pool: sqlx::PgPool) {
        let store = Store::new(pool);
        let job_id = one_job(&store, 1).await;
        let lease = Duration::from_secs(60);
        store.claim_next_job("w1", lease).await.unwrap().unwrap();
        assert!(store.release_job(job_id, "w1").await.unwrap());
        assert_eq!(state_of(&store, job_id).await, ("queued".into(), 0, None));
        let job = store.claim_next_job("w2", lease).await.unwrap().unwrap();
        assert_eq!(job.attempts, 1);
    }
}
