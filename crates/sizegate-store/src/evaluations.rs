//! The gate's side of the store: what an evaluation of a commit needs to
//! load (its targets and their states, the measured candidates for a
//! baseline, the configs), and the evaluation itself with the state of its
//! report to GitHub.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sizegate_gate::{CheckStatus, Conclusion, ConfigSource, Evaluation};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::queue::JobState;
use crate::{Error, Store};

/// A commit as the gate sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GateCommit {
    /// Commit row id.
    pub id: i64,
    /// Repository row id.
    pub repository_id: i64,
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub name: String,
    /// Commit sha.
    pub sha: String,
    /// Pull request number, for a pull request build.
    pub pr_number: Option<i64>,
    /// Pull request base.
    pub base_sha: Option<String>,
    /// First-parent history sent by the uploader, nearest first.
    pub ancestors: Vec<String>,
    /// The `sizegate.toml` uploaded with the commit.
    pub config: Option<String>,
}

/// One current build of a commit, with the state of its measurement.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GateTarget {
    /// Target name.
    pub target: String,
    /// Its job's state.
    pub status: JobState,
    /// The job's last error.
    pub error: Option<String>,
    /// The stored report in the blob store, once measured.
    pub report_key: Option<String>,
}

/// A measured build of a candidate baseline commit.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MeasuredBuild {
    /// Commit sha.
    pub sha: String,
    /// Target name.
    pub target: String,
    /// The stored report in the blob store.
    pub report_key: String,
}

/// Where the report of an evaluation to GitHub stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportState {
    /// Not posted yet.
    Pending,
    /// Posted.
    Posted,
    /// Posting failed (the last error is kept); the job retries.
    Failed,
    /// No GitHub App is configured: nothing is posted.
    Disabled,
}

impl ReportState {
    /// The name stored in the database and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::Pending => "pending",
            ReportState::Posted => "posted",
            ReportState::Failed => "failed",
            ReportState::Disabled => "disabled",
        }
    }
}

/// An evaluation to store: the gate's result and what it renders to.
#[derive(Debug, Clone)]
pub struct NewEvaluation {
    /// Pull request number, for a pull request.
    pub pr_number: Option<i64>,
    /// The gate's evaluation (its status, conclusion and config source
    /// are stored in columns of their own too).
    pub evaluation: Evaluation,
    /// The sticky comment.
    pub comment_markdown: String,
    /// The check run's title.
    pub check_title: String,
    /// The check run's summary.
    pub check_summary: String,
    /// Whether a GitHub App will post it (`false`: state `disabled`).
    pub reporter_enabled: bool,
}

/// A stored evaluation, as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvaluation {
    /// Increases with every re-evaluation of the commit.
    pub revision: i32,
    /// Pull request number.
    pub pr_number: Option<i64>,
    /// `in_progress` or `completed`.
    pub status: CheckStatus,
    /// Check-run conclusion once completed.
    pub conclusion: Option<Conclusion>,
    /// Where the budgets came from.
    pub config_source: ConfigSource,
    /// The full evaluation.
    pub evaluation: Evaluation,
    /// The sticky comment, as posted (or as it would be, without an App).
    pub comment_markdown: String,
    /// The check run's title.
    pub check_title: String,
    /// The check run's summary.
    pub check_summary: String,
    /// Where its report to GitHub stands.
    pub report_state: ReportState,
    /// Posting attempts since the last evaluation.
    pub report_attempts: i32,
    /// The last posting error.
    pub report_last_error: Option<String>,
    /// When it was last posted.
    pub reported_at: Option<DateTime<Utc>>,
    /// When it was evaluated.
    pub evaluated_at: DateTime<Utc>,
}

/// A stored name (`in_progress`, `posted`, ...) as the enum it names; the
/// migrations' CHECKs keep the column to those names.
fn named<T: DeserializeOwned>(row: &PgRow, column: &str) -> Result<T, sqlx::Error> {
    let name: String = row.try_get(column)?;
    serde_json::from_value(serde_json::Value::String(name)).map_err(|e| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(e),
    })
}

impl sqlx::FromRow<'_, PgRow> for StoredEvaluation {
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        let conclusion: Option<String> = row.try_get("conclusion")?;
        let evaluation: sqlx::types::Json<Evaluation> = row.try_get("evaluation")?;
        Ok(Self {
            revision: row.try_get("revision")?,
            pr_number: row.try_get("pr_number")?,
            status: named(row, "status")?,
            conclusion: match conclusion {
                Some(_) => Some(named(row, "conclusion")?),
                None => None,
            },
            config_source: named(row, "config_source")?,
            evaluation: evaluation.0,
            comment_markdown: row.try_get("comment_markdown")?,
            check_title: row.try_get("check_title")?,
            check_summary: row.try_get("check_summary")?,
            report_state: named(row, "report_state")?,
            report_attempts: row.try_get("report_attempts")?,
            report_last_error: row.try_get("report_last_error")?,
            reported_at: row.try_get("reported_at")?,
            evaluated_at: row.try_get("evaluated_at")?,
        })
    }
}

/// Longest wait for a report lock (another worker posting for the same
/// commit or pull request holds it for the time of a few GitHub calls).
const LOCK_WAIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

const EVALUATION_COLUMNS: &str = "revision, pr_number, status, conclusion, config_source,
     evaluation, comment_markdown, check_title, check_summary, report_state,
     report_attempts, report_last_error, reported_at, evaluated_at";

impl Store {
    /// The commit of a build's job, for the gate.
    pub async fn gate_commit(
        &self,
        repository_id: i64,
        sha: &str,
    ) -> Result<Option<GateCommit>, Error> {
        let commit = sqlx::query_as(
            "SELECT c.id, c.repository_id, r.owner, r.name, c.sha, c.pr_number, c.base_sha,
                    c.ancestors, c.config
             FROM commits c JOIN repositories r ON r.id = c.repository_id
             WHERE c.repository_id = $1 AND c.sha = $2",
        )
        .bind(repository_id)
        .bind(sha)
        .fetch_optional(&self.pool)
        .await?;
        Ok(commit)
    }

    /// Every current build of a commit with its measurement state, by name.
    pub async fn gate_targets(&self, commit_id: i64) -> Result<Vec<GateTarget>, Error> {
        let targets = sqlx::query_as(
            "SELECT t.name AS target, j.state AS status, j.last_error AS error,
                    m.report_key
             FROM builds b
             JOIN targets t ON t.id = b.target_id
             JOIN jobs j ON j.build_id = b.id
             LEFT JOIN measurements m ON m.artifact_id = b.artifact_id
             WHERE b.commit_id = $1 AND b.superseded_at IS NULL
             ORDER BY t.name",
        )
        .bind(commit_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(targets)
    }

    /// The measured baseline-eligible builds of the commits `shas` of a
    /// repository (the baseline candidates), in no particular order. Only
    /// builds of trusted provenance (upload token, OIDC push) made on a
    /// protected branch are eligible: fork and pull request builds never
    /// are, whatever commit they claim.
    pub async fn measured_builds(
        &self,
        repository_id: i64,
        shas: &[String],
    ) -> Result<Vec<MeasuredBuild>, Error> {
        let builds = sqlx::query_as(
            "SELECT c.sha, t.name AS target, m.report_key
             FROM commits c
             JOIN builds b ON b.commit_id = c.id AND b.superseded_at IS NULL
                              AND b.baseline_eligible
             JOIN targets t ON t.id = b.target_id
             JOIN measurements m ON m.artifact_id = b.artifact_id
             WHERE c.repository_id = $1 AND c.sha = ANY($2)",
        )
        .bind(repository_id)
        .bind(shas)
        .fetch_all(&self.pool)
        .await?;
        Ok(builds)
    }

    /// The `sizegate.toml` uploaded with each of the commits `shas` that has one.
    pub async fn commit_configs(
        &self,
        repository_id: i64,
        shas: &[String],
    ) -> Result<HashMap<String, String>, Error> {
        let configs: Vec<(String, String)> = sqlx::query_as(
            "SELECT sha, config FROM commits
             WHERE repository_id = $1 AND sha = ANY($2) AND config IS NOT NULL",
        )
        .bind(repository_id)
        .bind(shas)
        .fetch_all(&self.pool)
        .await?;
        Ok(configs.into_iter().collect())
    }

    /// The `sizegate.toml` of baseline commit `sha`, only when its
    /// annotations come from a baseline-eligible upload (a fork or pull
    /// request upload of the same sha cannot lend it a config).
    pub async fn baseline_config(
        &self,
        repository_id: i64,
        sha: &str,
    ) -> Result<Option<String>, Error> {
        let config: Option<Option<String>> = sqlx::query_scalar(
            "SELECT config FROM commits
             WHERE repository_id = $1 AND sha = $2 AND trust_rank >= 3",
        )
        .bind(repository_id)
        .bind(sha)
        .fetch_optional(&self.pool)
        .await?;
        Ok(config.flatten())
    }

    /// Store the evaluation of a commit, replacing the previous one. Its
    /// report state starts over (`pending`, or `disabled` without an App).
    /// Returns the new revision.
    pub async fn save_evaluation(
        &self,
        commit_id: i64,
        evaluation: &NewEvaluation,
    ) -> Result<i32, Error> {
        let state = if evaluation.reporter_enabled {
            ReportState::Pending
        } else {
            ReportState::Disabled
        };
        let judged = &evaluation.evaluation;
        let config_source = match judged.config_source {
            ConfigSource::Baseline => "baseline",
            ConfigSource::Head => "head",
            ConfigSource::None => "none",
        };
        let revision = sqlx::query_scalar(
            "INSERT INTO evaluations (commit_id, pr_number, status, conclusion, config_source,
                 evaluation, comment_markdown, check_title, check_summary, report_state)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (commit_id) DO UPDATE SET
                 revision = evaluations.revision + 1,
                 pr_number = EXCLUDED.pr_number,
                 status = EXCLUDED.status,
                 conclusion = EXCLUDED.conclusion,
                 config_source = EXCLUDED.config_source,
                 evaluation = EXCLUDED.evaluation,
                 comment_markdown = EXCLUDED.comment_markdown,
                 check_title = EXCLUDED.check_title,
                 check_summary = EXCLUDED.check_summary,
                 report_state = EXCLUDED.report_state,
                 report_attempts = 0,
                 report_last_error = NULL,
                 evaluated_at = now()
             RETURNING revision",
        )
        .bind(commit_id)
        .bind(evaluation.pr_number)
        .bind(judged.status.as_str())
        .bind(judged.conclusion.map(Conclusion::as_str))
        .bind(config_source)
        .bind(sqlx::types::Json(judged))
        .bind(&evaluation.comment_markdown)
        .bind(&evaluation.check_title)
        .bind(&evaluation.check_summary)
        .bind(state.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(revision)
    }

    /// The evaluation of a commit, if it has been evaluated.
    pub async fn evaluation(&self, commit_id: i64) -> Result<Option<StoredEvaluation>, Error> {
        let statement =
            format!("SELECT {EVALUATION_COLUMNS} FROM evaluations WHERE commit_id = $1");
        let evaluation = sqlx::query_as(sqlx::AssertSqlSafe(statement))
            .bind(commit_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(evaluation)
    }

    /// The evaluation of commit `sha` of a repository, if it has one.
    pub async fn commit_evaluation(
        &self,
        repository_id: i64,
        sha: &str,
    ) -> Result<Option<StoredEvaluation>, Error> {
        let statement = format!(
            "SELECT {EVALUATION_COLUMNS} FROM evaluations
             WHERE commit_id = (SELECT id FROM commits WHERE repository_id = $1 AND sha = $2)"
        );
        let evaluation = sqlx::query_as(sqlx::AssertSqlSafe(statement))
            .bind(repository_id)
            .bind(sha)
            .fetch_optional(&self.pool)
            .await?;
        Ok(evaluation)
    }

    /// Record that `revision` of a commit's evaluation was posted. `false`
    /// when a newer revision replaced it meanwhile (that one gets posted too).
    pub async fn mark_report_posted(&self, commit_id: i64, revision: i32) -> Result<bool, Error> {
        let updated = sqlx::query(
            "UPDATE evaluations SET report_state = 'posted', report_attempts = report_attempts + 1,
                 report_last_error = NULL, reported_at = now()
             WHERE commit_id = $1 AND revision = $2",
        )
        .bind(commit_id)
        .bind(revision)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Record that posting `revision` failed with `error`.
    pub async fn mark_report_failed(
        &self,
        commit_id: i64,
        revision: i32,
        error: &str,
    ) -> Result<bool, Error> {
        let updated = sqlx::query(
            "UPDATE evaluations SET report_state = 'failed', report_attempts = report_attempts + 1,
                 report_last_error = $3
             WHERE commit_id = $1 AND revision = $2",
        )
        .bind(commit_id)
        .bind(revision)
        .bind(error)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }
}

/// Advisory locks held while a commit is evaluated and reported, released
/// when dropped (the transaction ends). Workers in every process take the
/// same keys in the same order, so two of them never post for one commit or
/// one pull request at the same time.
#[derive(Debug)]
pub struct ReportLock {
    _tx: sqlx::Transaction<'static, sqlx::Postgres>,
}

impl Store {
    /// Wait for the advisory locks named by `keys`, in the order given
    /// (callers use a fixed order: commit, then pull request). A busy lock
    /// is retried after a short sleep with the connection given back, so
    /// workers waiting for a lock never starve the pool that the holder
    /// needs to finish. Gives up after `LOCK_WAIT_LIMIT`.
    pub async fn lock_for_report(&self, keys: &[String]) -> Result<ReportLock, Error> {
        let started = std::time::Instant::now();
        let mut pause = std::time::Duration::from_millis(20);
        loop {
            let mut tx = self.pool.begin().await?;
            let mut all = true;
            for key in keys {
                let locked: bool =
                    sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))")
                        .bind(key)
                        .fetch_one(&mut *tx)
                        .await?;
                if !locked {
                    all = false;
                    break;
                }
            }
            if all {
                return Ok(ReportLock { _tx: tx });
            }
            tx.rollback().await?;
            if started.elapsed() > LOCK_WAIT_LIMIT {
                return Err(Error::Invalid(format!(
                    "gave up waiting {} s for the report lock {keys:?}",
                    LOCK_WAIT_LIMIT.as_secs()
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(500));
        }
    }

    /// Ask for commit `sha` to be evaluated again (labels changed, a check
    /// was re-requested): the job of one of its measured builds is queued
    /// again, and finds its measurement stored, so it only runs the gate and
    /// the reporter. Returns `false` when nothing of the commit is measured
    /// yet (its pending jobs will evaluate it when they finish) or a job of
    /// it is already waiting.
    pub async fn request_evaluation(&self, repository_id: i64, sha: &str) -> Result<bool, Error> {
        let requeued = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_at = now(), last_error = NULL,
                 locked_by = NULL, locked_until = NULL, finished_at = NULL, updated_at = now()
             WHERE id = (
                 SELECT j.id FROM commits c
                 JOIN builds b ON b.commit_id = c.id AND b.superseded_at IS NULL
                 JOIN jobs j ON j.build_id = b.id
                 JOIN measurements m ON m.artifact_id = b.artifact_id
                 WHERE c.repository_id = $1 AND c.sha = $2 AND j.state IN ('done', 'failed')
                   AND NOT EXISTS (
                       SELECT 1 FROM builds b2 JOIN jobs j2 ON j2.build_id = b2.id
                       WHERE b2.commit_id = c.id AND b2.superseded_at IS NULL
                         AND j2.state = 'queued')
                 ORDER BY j.id LIMIT 1
                 FOR UPDATE OF j SKIP LOCKED)",
        )
        .bind(repository_id)
        .bind(sha)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(requeued == 1)
    }

    /// The head of a pull request: whichever is newer of the head the
    /// webhooks last reported and the commit of that pull request uploaded
    /// last (CI may upload before or after GitHub's webhook arrives).
    pub async fn pull_request_head(
        &self,
        repository_id: i64,
        number: i64,
    ) -> Result<Option<String>, Error> {
        let head = sqlx::query_scalar(
            "SELECT sha FROM (
                 SELECT head_sha AS sha, updated_at AS at FROM pull_requests
                 WHERE repository_id = $1 AND number = $2 AND head_sha IS NOT NULL
                 UNION ALL
                 (SELECT sha, created_at AS at FROM commits
                  WHERE repository_id = $1 AND pr_number = $2
                  ORDER BY created_at DESC, id DESC LIMIT 1)
             ) heads ORDER BY at DESC LIMIT 1",
        )
        .bind(repository_id)
        .bind(number)
        .fetch_optional(&self.pool)
        .await?;
        Ok(head)
    }
}

#[cfg(test)]
mod tests;
