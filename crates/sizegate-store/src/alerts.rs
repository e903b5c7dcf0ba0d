//! Post-merge step alerts: the trailing series the detector reads after a
//! measured push, the alerts it stores (once per target, metric and
//! culprit), their states, the sinks of a repository and the delivery
//! queue that sends each alert once to each sink.
//!
//! Deliveries are claimed like jobs (`FOR UPDATE SKIP LOCKED` with a lease)
//! so two workers never send the same delivery at the same time; a
//! delivery row is unique per (alert, sink) and marked delivered once sent.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sizegate_analyze::Metric;

use crate::reads::metric_column;
use crate::{Error, Store};

/// A measured build that step detection may look at.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StepBuild {
    /// Build id.
    pub build_id: i64,
    /// Repository id.
    pub repository_id: i64,
    /// Target id.
    pub target_id: i64,
    /// Target name.
    pub target: String,
    /// Commit sha.
    pub sha: String,
    /// The branch the build was uploaded for.
    pub branch: Option<String>,
    /// Trusted provenance on a protected branch.
    pub baseline_eligible: bool,
    /// Whether this build is the one shown for its (commit, target).
    pub current: bool,
    /// First-parent history of the commit, nearest first.
    pub ancestors: Vec<String>,
    /// The commit's sizegate.toml, verbatim.
    pub config: Option<String>,
    /// The pull request the commit was uploaded for, if any.
    pub pr_number: Option<i64>,
}

/// One point of the trailing series of a target on a branch.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SeriesPoint {
    /// Build id.
    pub build_id: i64,
    /// Commit sha.
    pub sha: String,
    /// The size in the alert metric.
    pub size: i64,
    /// Where the full report is.
    pub report_key: String,
}

/// An alert to store.
#[derive(Debug, Clone)]
pub struct NewAlert {
    /// Repository id.
    pub repository_id: i64,
    /// Target id.
    pub target_id: i64,
    /// Metric.
    pub metric: Metric,
    /// Branch.
    pub branch: String,
    /// The culprit, or the last commit of the range.
    pub commit_sha: String,
    /// The last measured commit before the step, or `None` for one commit.
    pub range_start_sha: Option<String>,
    /// The level before.
    pub before_size: u64,
    /// The level after.
    pub after_size: u64,
    /// Percent of the level before.
    pub percent: f64,
    /// The culprit's author, when known.
    pub author_login: Option<String>,
    /// The culprit's pull request, when known.
    pub pr_number: Option<i64>,
    /// What changed: `{"units": [{name, delta}], "symbols": [{name,
    /// delta}], "causes": [text]}`, largest first.
    pub changes: serde_json::Value,
}

/// A stored alert, as the API serves it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Alert {
    /// Alert id.
    pub id: i64,
    /// Target name.
    pub target: String,
    /// Metric.
    pub metric: String,
    /// Branch.
    pub branch: String,
    /// The culprit, or the last commit of the range.
    pub commit: String,
    /// The last measured commit before the step (the culprit is after it);
    /// `null` when narrowed to one commit.
    pub range_start: Option<String>,
    /// Change of level in bytes.
    pub delta: i64,
    /// Change in percent of the level before.
    pub percent: f64,
    /// The level before, in bytes.
    pub before: i64,
    /// The level after, in bytes.
    pub after: i64,
    /// The culprit's author, when known.
    pub author: Option<String>,
    /// The culprit's pull request, when known.
    pub pr_number: Option<i64>,
    /// What changed in the step: `units`, `symbols` (each `{name,
    /// delta}`, largest first) and `causes` (text).
    pub changes: serde_json::Value,
    /// `open`, `acknowledged` or `resolved`.
    pub state: String,
    /// Who last changed the state.
    pub state_changed_by: Option<String>,
    /// When it was found.
    pub created_at: DateTime<Utc>,
    /// Last change (narrowed, acknowledged, resolved).
    pub updated_at: DateTime<Utc>,
}

const ALERT_SELECT: &str = "SELECT a.id, t.name AS target, a.metric, a.branch,
        a.commit_sha AS commit, a.range_start_sha AS range_start, a.delta, a.percent,
        a.before_size AS before, a.after_size AS after, a.author_login AS author,
        a.pr_number, a.changes, a.state, a.state_changed_by, a.created_at, a.updated_at
     FROM alerts a JOIN targets t ON t.id = a.target_id";

/// The state of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    /// Nobody looked yet.
    Open,
    /// Someone looked and knows.
    Acknowledged,
    /// Fixed or accepted.
    Resolved,
}

impl AlertState {
    /// Parse `open`, `acknowledged` or `resolved`.
    pub fn parse(text: &str) -> Option<AlertState> {
        match text {
            "open" => Some(AlertState::Open),
            "acknowledged" => Some(AlertState::Acknowledged),
            "resolved" => Some(AlertState::Resolved),
            _ => None,
        }
    }

    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }
}

/// The sinks of a repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertSinks {
    /// The generic webhook's URL.
    pub webhook: Option<String>,
    /// Whether the culprit gets a GitHub commit comment.
    pub commit_comments: bool,
}

/// An alert whose culprit is still a range.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertRange {
    /// Alert id.
    pub id: i64,
    /// The last commit of the range.
    pub commit_sha: String,
    /// The last measured commit before the step.
    pub range_start_sha: String,
    /// The level before.
    pub before_size: i64,
    /// The level after.
    pub after_size: i64,
    /// First-parent history of `commit_sha`, nearest first.
    pub commit_ancestors: Vec<String>,
}

/// A delivery claimed for sending.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    /// Delivery id.
    pub delivery_id: i64,
    /// This attempt's number (1 for the first).
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// `webhook` or `commit-comment`.
    pub kind: String,
    /// The webhook URL.
    pub url: Option<String>,
    /// Repository id.
    pub repository_id: i64,
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub name: String,
    /// The alert.
    pub alert_id: i64,
}

/// How a failed delivery ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Tried again later.
    WillRetry,
    /// Out of attempts: failed for good, the error kept.
    Failed,
}

/// A delivery as the dashboard shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DeliveryStatus {
    /// `webhook` or `commit-comment`.
    pub sink: String,
    /// Attempts made.
    pub attempts: i32,
    /// The last error.
    pub last_error: Option<String>,
    /// When it was sent.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When it was given up.
    pub failed_at: Option<DateTime<Utc>>,
}

/// How many of the newest builds [`Store::is_backfill`] looks at.
pub const BACKFILL_LOOKBACK: i64 = 64;

impl Store {
    /// The build `build_id` with what step detection needs, if it exists.
    pub async fn step_build(&self, build_id: i64) -> Result<Option<StepBuild>, Error> {
        let build = sqlx::query_as(
            "SELECT b.id AS build_id, c.repository_id, b.target_id, t.name AS target, c.sha,
                    b.branch, b.baseline_eligible, b.superseded_at IS NULL AS current,
                    c.ancestors, c.config, c.pr_number
             FROM builds b
             JOIN commits c ON c.id = b.commit_id
             JOIN targets t ON t.id = b.target_id
             WHERE b.id = $1",
        )
        .bind(build_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(build)
    }

    /// The measured baseline-eligible series of a target on `branch` up to
    /// and including build `upto`, oldest first, at most `limit` points.
    /// One index scan (`builds_eligible_series`).
    pub async fn step_series(
        &self,
        target_id: i64,
        branch: &str,
        metric: Metric,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<SeriesPoint>, Error> {
        let sql = format!(
            "SELECT b.id AS build_id, c.sha, m.{column} AS size, m.report_key
             FROM builds b
             JOIN commits c ON c.id = b.commit_id
             JOIN measurements m ON m.artifact_id = b.artifact_id
             WHERE b.target_id = $1 AND b.branch = $2 AND b.id <= $3
               AND b.baseline_eligible AND b.superseded_at IS NULL
               AND m.{column} IS NOT NULL
             ORDER BY b.id DESC LIMIT $4",
            column = metric_column(metric)
        );
        let mut points: Vec<SeriesPoint> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(target_id)
            .bind(branch)
            .bind(upto)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        points.reverse();
        Ok(points)
    }

    /// The measured size of build `build_id` in `metric`, if measured.
    pub async fn build_size(&self, build_id: i64, metric: Metric) -> Result<Option<u64>, Error> {
        let sql = format!(
            "SELECT m.{} FROM builds b JOIN measurements m ON m.artifact_id = b.artifact_id
             WHERE b.id = $1",
            metric_column(metric)
        );
        // Image metrics are NULL for binaries: no size in that metric.
        let size: Option<Option<i64>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(build_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(size.flatten().map(|s| u64::try_from(s).unwrap_or(0)))
    }

    /// The first-parent history of commit `sha`, nearest first (empty for
    /// an unknown commit).
    pub async fn commit_ancestors(
        &self,
        repository_id: i64,
        sha: &str,
    ) -> Result<Vec<String>, Error> {
        let ancestors: Option<Vec<String>> = sqlx::query_scalar(
            "SELECT ancestors FROM commits WHERE repository_id = $1 AND sha = $2",
        )
        .bind(repository_id)
        .bind(sha)
        .fetch_optional(&self.pool)
        .await?;
        Ok(ancestors.unwrap_or_default())
    }

    /// Whether commit `sha` is listed in the first-parent history of one
    /// of the newest eligible builds of a target on `branch` (other than
    /// `build_id`): then it was measured late (a backfill), not pushed
    /// after the tip. Looks at the newest [`BACKFILL_LOOKBACK`] builds.
    pub async fn is_backfill(
        &self,
        target_id: i64,
        branch: &str,
        build_id: i64,
        sha: &str,
    ) -> Result<bool, Error> {
        let found: bool = sqlx::query_scalar(
            "SELECT EXISTS (
                 SELECT 1 FROM (
                     SELECT b.commit_id FROM builds b
                     WHERE b.target_id = $1 AND b.branch = $2 AND b.id <> $3
                       AND b.baseline_eligible AND b.superseded_at IS NULL
                     ORDER BY b.id DESC LIMIT $5
                 ) newest
                 JOIN commits c ON c.id = newest.commit_id
                 WHERE $4 = ANY (c.ancestors))",
        )
        .bind(target_id)
        .bind(branch)
        .bind(build_id)
        .bind(sha)
        .bind(BACKFILL_LOOKBACK)
        .fetch_one(&self.pool)
        .await?;
        Ok(found)
    }

    /// Store an alert and queue one delivery per sink of its repository, in
    /// one transaction. `None` when an alert for the same (target, metric,
    /// culprit) exists: a re-run never duplicates.
    pub async fn insert_alert(&self, alert: &NewAlert) -> Result<Option<i64>, Error> {
        let mut tx = self.pool.begin().await?;
        let delta = i64::try_from(alert.after_size).unwrap_or(i64::MAX)
            - i64::try_from(alert.before_size).unwrap_or(i64::MAX);
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO alerts (repository_id, target_id, metric, branch, commit_sha,
                 range_start_sha, before_size, after_size, delta, percent, author_login,
                 pr_number, changes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
                 COALESCE((SELECT ca.login FROM commit_authors ca
                           WHERE ca.repository_id = $1 AND ca.sha = $5
                             AND $6::text IS NULL), $11),
                 $12, $13)
             ON CONFLICT (target_id, metric, commit_sha) DO NOTHING
             RETURNING id",
        )
        .bind(alert.repository_id)
        .bind(alert.target_id)
        .bind(alert.metric.as_str())
        .bind(&alert.branch)
        .bind(&alert.commit_sha)
        .bind(&alert.range_start_sha)
        .bind(i64::try_from(alert.before_size).unwrap_or(i64::MAX))
        .bind(i64::try_from(alert.after_size).unwrap_or(i64::MAX))
        .bind(delta)
        .bind(alert.percent)
        .bind(&alert.author_login)
        .bind(alert.pr_number)
        .bind(&alert.changes)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = id {
            sqlx::query(
                "INSERT INTO alert_deliveries (alert_id, sink_id)
                 SELECT $1, s.id FROM alert_sinks s WHERE s.repository_id = $2
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(alert.repository_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// The open or acknowledged alerts of a target and metric whose range
    /// holds commit `sha` (listed in the ancestors of the range's last
    /// commit, nearer than its start): a late measurement that can narrow
    /// them.
    pub async fn alerts_with_range_holding(
        &self,
        target_id: i64,
        metric: Metric,
        sha: &str,
    ) -> Result<Vec<AlertRange>, Error> {
        let rows = sqlx::query_as(
            "SELECT a.id, a.commit_sha, a.range_start_sha, a.before_size, a.after_size,
                    c.ancestors AS commit_ancestors
             FROM alerts a
             JOIN commits c ON c.repository_id = a.repository_id AND c.sha = a.commit_sha
             WHERE a.target_id = $1 AND a.metric = $2 AND a.range_start_sha IS NOT NULL
               AND array_position(c.ancestors, $3) < array_position(c.ancestors, a.range_start_sha)",
        )
        .bind(target_id)
        .bind(metric.as_str())
        .bind(sha)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Narrow an alert's range; `range_start` `None` once it is one commit.
    /// Returns false when another alert already names that culprit.
    pub async fn narrow_alert(
        &self,
        alert_id: i64,
        commit_sha: &str,
        range_start: Option<&str>,
    ) -> Result<bool, Error> {
        let result = sqlx::query(
            // Narrowed to one commit: its author (from push deliveries, else
            // the author of the pull request whose merge made it) and that
            // pull request, when a `closed` delivery recorded one.
            "UPDATE alerts a SET commit_sha = $2, range_start_sha = $3, updated_at = now(),
                 pr_number = CASE WHEN $3::text IS NULL THEN merged.number END,
                 author_login = CASE WHEN $3::text IS NULL THEN
                     COALESCE((SELECT ca.login FROM commit_authors ca
                               WHERE ca.repository_id = old.repository_id AND ca.sha = $2),
                              merged.author_login)
                 END
             FROM alerts old
             LEFT JOIN LATERAL (
                 SELECT p.number, p.author_login FROM pull_requests p
                 WHERE p.repository_id = old.repository_id AND p.merge_commit_sha = $2
                 ORDER BY p.number DESC LIMIT 1
             ) merged ON true
             WHERE a.id = $1 AND old.id = $1",
        )
        .bind(alert_id)
        .bind(commit_sha)
        .bind(range_start)
        .execute(&self.pool)
        .await;
        match result {
            Ok(done) => Ok(done.rows_affected() == 1),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Record the GitHub logins of commits' authors (from a `push`
    /// webhook; idempotent) and name them on the alerts of those commits
    /// that have none yet. Returns how many alerts gained an author.
    pub async fn record_commit_authors(
        &self,
        repository_id: i64,
        authors: &[(String, String)],
    ) -> Result<u64, Error> {
        if authors.is_empty() {
            return Ok(0);
        }
        let (shas, logins): (Vec<String>, Vec<String>) = authors.iter().cloned().unzip();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO commit_authors (repository_id, sha, login)
             SELECT DISTINCT ON (a.sha) $1, a.sha, a.login FROM UNNEST($2::text[], $3::text[]) AS a (sha, login)
             ON CONFLICT (repository_id, sha) DO UPDATE SET login = EXCLUDED.login",
        )
        .bind(repository_id)
        .bind(&shas)
        .bind(&logins)
        .execute(&mut *tx)
        .await?;
        let named = sqlx::query(
            "UPDATE alerts a SET author_login = ca.login
             FROM commit_authors ca
             WHERE a.repository_id = $1 AND ca.repository_id = a.repository_id
               AND ca.sha = a.commit_sha AND a.range_start_sha IS NULL
               AND a.author_login IS NULL AND ca.sha = ANY($2)",
        )
        .bind(repository_id)
        .bind(&shas)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(named)
    }

    /// The alerts of a repository, newest first, at most `limit`.
    pub async fn list_alerts(&self, repository_id: i64, limit: i64) -> Result<Vec<Alert>, Error> {
        let alerts = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ALERT_SELECT} WHERE a.repository_id = $1 ORDER BY a.id DESC LIMIT $2"
        )))
        .bind(repository_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(alerts)
    }

    /// The alerts of one target, newest first (chart markers).
    pub async fn target_alerts(
        &self,
        repository_id: i64,
        target: &str,
    ) -> Result<Vec<Alert>, Error> {
        let alerts = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ALERT_SELECT} WHERE a.repository_id = $1 AND t.name = $2 ORDER BY a.id DESC LIMIT 500"
        )))
        .bind(repository_id)
        .bind(target)
        .fetch_all(&self.pool)
        .await?;
        Ok(alerts)
    }

    /// One alert of a repository.
    pub async fn alert(&self, repository_id: i64, alert_id: i64) -> Result<Option<Alert>, Error> {
        let alert = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ALERT_SELECT} WHERE a.repository_id = $1 AND a.id = $2"
        )))
        .bind(repository_id)
        .bind(alert_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(alert)
    }

    /// Set the state of an alert of a repository; `None` if there is no
    /// such alert.
    pub async fn set_alert_state(
        &self,
        repository_id: i64,
        alert_id: i64,
        state: AlertState,
        by: &str,
    ) -> Result<Option<Alert>, Error> {
        let updated = sqlx::query(
            "UPDATE alerts SET state = $3, state_changed_by = $4, updated_at = now()
             WHERE repository_id = $1 AND id = $2",
        )
        .bind(repository_id)
        .bind(alert_id)
        .bind(state.as_str())
        .bind(by)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        self.alert(repository_id, alert_id).await
    }

    /// The deliveries of an alert, for the dashboard.
    pub async fn alert_deliveries(&self, alert_id: i64) -> Result<Vec<DeliveryStatus>, Error> {
        let rows = sqlx::query_as(
            "SELECT s.kind AS sink, d.attempts, d.last_error, d.delivered_at, d.failed_at
             FROM alert_deliveries d JOIN alert_sinks s ON s.id = d.sink_id
             WHERE d.alert_id = $1 ORDER BY s.kind",
        )
        .bind(alert_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// The sinks of a repository.
    pub async fn alert_sinks(&self, repository_id: i64) -> Result<AlertSinks, Error> {
        let rows: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT kind, url FROM alert_sinks WHERE repository_id = $1")
                .bind(repository_id)
                .fetch_all(&self.pool)
                .await?;
        let mut sinks = AlertSinks::default();
        for (kind, url) in rows {
            match kind.as_str() {
                "webhook" => sinks.webhook = url,
                "commit-comment" => sinks.commit_comments = true,
                _ => {}
            }
        }
        Ok(sinks)
    }

    /// Set (or with `None` remove) the webhook sink of a repository.
    /// Alerts found afterwards go to it.
    pub async fn set_alert_webhook(
        &self,
        repository_id: i64,
        url: Option<&str>,
    ) -> Result<(), Error> {
        match url {
            Some(url) => {
                sqlx::query(
                    "INSERT INTO alert_sinks (repository_id, kind, url) VALUES ($1, 'webhook', $2)
                     ON CONFLICT (repository_id, kind) DO UPDATE SET url = EXCLUDED.url",
                )
                .bind(repository_id)
                .bind(url)
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM alert_sinks WHERE repository_id = $1 AND kind = 'webhook'",
                )
                .bind(repository_id)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    /// Turn the commit-comment sink of a repository on or off.
    pub async fn set_alert_comments(&self, repository_id: i64, on: bool) -> Result<(), Error> {
        let sql = if on {
            "INSERT INTO alert_sinks (repository_id, kind) VALUES ($1, 'commit-comment')
             ON CONFLICT (repository_id, kind) DO NOTHING"
        } else {
            "DELETE FROM alert_sinks WHERE repository_id = $1 AND kind = 'commit-comment'"
        };
        sqlx::query(sql)
            .bind(repository_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Claim the next due delivery for `lease`: `SKIP LOCKED` so concurrent
    /// workers take different rows, and the lease (`locked_until`) brings a
    /// dead worker's delivery back. The attempt is counted at the claim.
    pub async fn claim_alert_delivery(
        &self,
        lease: std::time::Duration,
    ) -> Result<Option<ClaimedDelivery>, Error> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let claimed = sqlx::query_as(
            "WITH next AS (
                 SELECT id FROM alert_deliveries
                 WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
                   AND (locked_until IS NULL OR locked_until < now())
                 ORDER BY next_attempt_at, id
                 LIMIT 1 FOR UPDATE SKIP LOCKED
             )
             UPDATE alert_deliveries d
             SET attempts = d.attempts + 1,
                 locked_until = now() + make_interval(secs => $1::double precision / 1000)
             FROM next, alert_sinks s, alerts a, repositories r
             WHERE d.id = next.id AND s.id = d.sink_id AND a.id = d.alert_id
               AND r.id = a.repository_id
             RETURNING d.id AS delivery_id, d.attempts, d.max_attempts, s.kind, s.url,
                       r.id AS repository_id, r.owner, r.name, a.id AS alert_id",
        )
        .bind(lease_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(claimed)
    }

    /// Mark a delivery sent.
    pub async fn mark_alert_delivered(&self, delivery_id: i64) -> Result<(), Error> {
        sqlx::query(
            "UPDATE alert_deliveries SET delivered_at = now(), locked_until = NULL, last_error = NULL
             WHERE id = $1",
        )
        .bind(delivery_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Record a failed attempt: retried after `delay`, or failed for good
    /// when out of attempts (or `permanent`).
    pub async fn mark_alert_delivery_failed(
        &self,
        delivery_id: i64,
        error: &str,
        delay: std::time::Duration,
        permanent: bool,
    ) -> Result<DeliveryOutcome, Error> {
        let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        let failed: bool = sqlx::query_scalar(
            "UPDATE alert_deliveries SET last_error = $2, locked_until = NULL,
                 next_attempt_at = now() + make_interval(secs => $3::double precision / 1000),
                 failed_at = CASE WHEN $4 OR attempts >= max_attempts THEN now() END
             WHERE id = $1
             RETURNING failed_at IS NOT NULL",
        )
        .bind(delivery_id)
        .bind(error)
        .bind(delay_ms)
        .bind(permanent)
        .fetch_one(&self.pool)
        .await?;
        Ok(if failed {
            DeliveryOutcome::Failed
        } else {
            DeliveryOutcome::WillRetry
        })
    }
}
