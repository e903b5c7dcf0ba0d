//! What GitHub's webhooks tell us: which deliveries were handled (so a
//! redelivery is a no-op), the latest labels and heads of each pull
//! request, and the App's installations.

use crate::{Error, Store};

/// The latest known state of a pull request.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PullRequestState {
    /// Pull request number.
    pub number: i64,
    /// Head sha, when known.
    pub head_sha: Option<String>,
    /// Base sha, when known.
    pub base_sha: Option<String>,
    /// Label names.
    pub labels: Vec<String>,
}

impl Store {
    /// Whether a webhook delivery id was already recorded as handled.
    pub async fn webhook_delivery_seen(&self, delivery_id: &str) -> Result<bool, Error> {
        let seen: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE delivery_id = $1)",
        )
        .bind(delivery_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(seen)
    }

    /// Record a handled webhook delivery. `true` the first time
    /// `delivery_id` is recorded, `false` when it already was (decided at
    /// the insert).
    pub async fn record_webhook_delivery(
        &self,
        delivery_id: &str,
        event: &str,
        action: Option<&str>,
    ) -> Result<bool, Error> {
        let inserted = sqlx::query(
            "INSERT INTO webhook_deliveries (delivery_id, event, action) VALUES ($1, $2, $3)
             ON CONFLICT (delivery_id) DO NOTHING",
        )
        .bind(delivery_id)
        .bind(event)
        .bind(action)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// Record the state of a pull request (labels replace the previous ones;
    /// a missing head or base keeps the known one).
    pub async fn upsert_pull_request(
        &self,
        repository_id: i64,
        state: &PullRequestState,
    ) -> Result<(), Error> {
        self.upsert_pull_request_at(repository_id, state, None)
            .await
            .map(|_| ())
    }

    /// Record the state of a pull request as of GitHub's `updated_at`:
    /// GitHub may deliver webhooks out of order, so a state older than the
    /// one recorded is ignored (returns `false`). Without a time the state
    /// is taken as the newest.
    pub async fn upsert_pull_request_at(
        &self,
        repository_id: i64,
        state: &PullRequestState,
        github_updated_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<bool, Error> {
        let applied = sqlx::query(
            "INSERT INTO pull_requests (repository_id, number, head_sha, base_sha, labels,
                                        github_updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (repository_id, number) DO UPDATE SET
                 head_sha = COALESCE(EXCLUDED.head_sha, pull_requests.head_sha),
                 base_sha = COALESCE(EXCLUDED.base_sha, pull_requests.base_sha),
                 labels = EXCLUDED.labels,
                 github_updated_at = COALESCE(EXCLUDED.github_updated_at,
                                              pull_requests.github_updated_at),
                 updated_at = now()
             WHERE EXCLUDED.github_updated_at IS NULL
                OR pull_requests.github_updated_at IS NULL
                OR EXCLUDED.github_updated_at >= pull_requests.github_updated_at",
        )
        .bind(repository_id)
        .bind(state.number)
        .bind(&state.head_sha)
        .bind(&state.base_sha)
        .bind(&state.labels)
        .bind(github_updated_at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(applied > 0)
    }

    /// The latest known state of a pull request.
    pub async fn pull_request(
        &self,
        repository_id: i64,
        number: i64,
    ) -> Result<Option<PullRequestState>, Error> {
        let state = sqlx::query_as(
            "SELECT number, head_sha, base_sha, labels FROM pull_requests
             WHERE repository_id = $1 AND number = $2",
        )
        .bind(repository_id)
        .bind(number)
        .fetch_optional(&self.pool)
        .await?;
        Ok(state)
    }

    /// Record that pull request `number` was merged as `merge_sha` (the
    /// commit it made on the base branch), by `author` (a GitHub login;
    /// anything that is not one is dropped). Idempotent.
    pub async fn record_pull_request_merge(
        &self,
        repository_id: i64,
        number: i64,
        merge_sha: &str,
        author: Option<&str>,
    ) -> Result<(), Error> {
        let sha =
            sizegate_core::Sha::parse(merge_sha).map_err(|e| Error::Invalid(e.to_string()))?;
        let author = author.filter(|login| sizegate_core::is_github_login(login));
        sqlx::query(
            "INSERT INTO pull_requests (repository_id, number, merge_commit_sha, author_login)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (repository_id, number) DO UPDATE SET
                 merge_commit_sha = EXCLUDED.merge_commit_sha,
                 author_login = COALESCE(EXCLUDED.author_login, pull_requests.author_login),
                 updated_at = now()",
        )
        .bind(repository_id)
        .bind(number)
        .bind(sha.as_str())
        .bind(author)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The pull request whose merge made commit `sha`, with its author's
    /// login when known.
    pub async fn merged_pull_request(
        &self,
        repository_id: i64,
        sha: &str,
    ) -> Result<Option<(i64, Option<String>)>, Error> {
        let found = sqlx::query_as(
            "SELECT number, author_login FROM pull_requests
             WHERE repository_id = $1 AND merge_commit_sha = $2
             ORDER BY number DESC LIMIT 1",
        )
        .bind(repository_id)
        .bind(sha)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found)
    }

    /// Record an installation of the App and the repositories it covers
    /// (`owner/name`); installing again after a deletion revives it.
    pub async fn upsert_installation(
        &self,
        installation_id: i64,
        account: &str,
        repositories: &[String],
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO installations (id, account, repositories) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET account = EXCLUDED.account,
                 repositories = EXCLUDED.repositories, deleted_at = NULL, updated_at = now()",
        )
        .bind(installation_id)
        .bind(account)
        .bind(repositories)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Mark an installation deleted. `false` if it was not known.
    pub async fn delete_installation(&self, installation_id: i64) -> Result<bool, Error> {
        let updated = sqlx::query(
            "UPDATE installations SET deleted_at = now(), updated_at = now() WHERE id = $1",
        )
        .bind(installation_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// The repositories of a live installation (`None` when unknown or deleted).
    pub async fn installation_repositories(
        &self,
        installation_id: i64,
    ) -> Result<Option<Vec<String>>, Error> {
        let repositories = sqlx::query_scalar(
            "SELECT repositories FROM installations WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(installation_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(repositories)
    }
}
