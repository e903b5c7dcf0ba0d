//! The read side: repositories, their targets, the status of a commit per
//! target, and the size history of a target. The types serialize as the
//! JSON API returns them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sizegate_analyze::Sizes;

use crate::queue::JobState;
use crate::{Error, Store};

/// A repository in the list of repositories.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RepositorySummary {
    /// Owner.
    pub owner: String,
    /// Name.
    pub name: String,
    /// Number of targets uploaded.
    pub targets: i64,
    /// Latest upload.
    pub last_upload_at: Option<DateTime<Utc>>,
}

/// A repository row.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Repository {
    /// The repository's id (`repositories.id`), never shown in the API.
    #[serde(skip)]
    pub id: i64,
    /// Owner.
    pub owner: String,
    /// Name.
    pub name: String,
    /// Visible only to logged-in readers.
    pub private: bool,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

/// The size columns of a measurement, all nullable (not measured yet).
#[derive(Debug, Clone, Default, sqlx::FromRow)]
struct SizeColumns {
    size_file: Option<i64>,
    size_vm: Option<i64>,
    size_shipped: Option<i64>,
    size_gzip: Option<i64>,
    size_zstd: Option<i64>,
    size_debug: Option<i64>,
    size_symbols: Option<i64>,
    size_compressed: Option<i64>,
    size_uncompressed: Option<i64>,
    size_pull: Option<i64>,
}

impl SizeColumns {
    fn sizes(&self) -> Option<Sizes> {
        let u = |v: Option<i64>| v.map(crate::stored_bytes);
        Some(Sizes {
            file: u(self.size_file)?,
            vm: u(self.size_vm)?,
            shipped: u(self.size_shipped)?,
            gzip: u(self.size_gzip)?,
            zstd: u(self.size_zstd)?,
            debug: u(self.size_debug)?,
            symbols: u(self.size_symbols)?,
            // NULL for binaries: they have no image sizes.
            compressed: u(self.size_compressed).unwrap_or(0),
            uncompressed: u(self.size_uncompressed).unwrap_or(0),
            pull: u(self.size_pull).unwrap_or(0),
            ..Default::default()
        })
    }
}

/// A target with its latest measured sizes.
#[derive(Debug, Clone, Serialize)]
pub struct TargetSummary {
    /// Target name.
    pub name: String,
    /// Number of current builds (one per commit).
    pub builds: i64,
    /// The newest measured build, if any.
    pub latest: Option<HistoryPoint>,
}

/// The state of one target of a commit.
#[derive(Debug, Clone, Serialize)]
pub struct TargetStatus {
    /// Target name.
    pub target: String,
    /// Its job's state.
    pub status: JobState,
    /// Attempts made.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// The last error, for a failed (or retrying) job.
    pub error: Option<String>,
    /// Build id.
    pub build_id: i64,
    /// Job id.
    pub job_id: i64,
    /// Artifact sha256.
    pub sha256: String,
    /// Artifact size in bytes.
    pub artifact_size: i64,
    /// The build this one replaced, if an earlier artifact was uploaded for
    /// the same commit and target.
    pub replaced_build_id: Option<i64>,
    /// How it was uploaded: `token`, `oidc-push`, `oidc-pull-request` or
    /// `fork`. The build shown is the most trusted one of its target.
    pub provenance: String,
    /// Whether it may serve as a baseline (trusted provenance on a
    /// protected branch): only such builds, and the config of their commit,
    /// judge other commits.
    pub baseline_eligible: bool,
    /// When the artifact was uploaded.
    pub uploaded_at: DateTime<Utc>,
    /// When the job finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Measured sizes, once done.
    pub sizes: Option<Sizes>,
    /// Container format, once done.
    pub format: Option<String>,
    /// Architecture, once done.
    pub arch: Option<String>,
    /// Dominant language, once done.
    pub language: Option<String>,
}

/// A commit with the status of each of its targets.
#[derive(Debug, Clone, Serialize)]
pub struct CommitStatus {
    /// Commit sha.
    pub sha: String,
    /// Branch.
    pub branch: Option<String>,
    /// Pull request number.
    pub pr_number: Option<i64>,
    /// Pull request base.
    pub base_sha: Option<String>,
    /// First-parent ancestors sent by the uploader.
    pub ancestors: Vec<String>,
    /// Per target, by name.
    pub targets: Vec<TargetStatus>,
}

/// One point of a target's history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryPoint {
    /// Build id (the pagination cursor).
    pub build_id: i64,
    /// Commit sha.
    pub commit: String,
    /// Branch.
    pub branch: Option<String>,
    /// Pull request number.
    pub pr_number: Option<i64>,
    /// When the artifact was uploaded.
    pub uploaded_at: DateTime<Utc>,
    /// Artifact sha256.
    pub sha256: String,
    /// Measured sizes.
    pub sizes: Sizes,
}

#[derive(sqlx::FromRow)]
pub(crate) struct HistoryRow {
    build_id: i64,
    commit: String,
    branch: Option<String>,
    pr_number: Option<i64>,
    uploaded_at: DateTime<Utc>,
    sha256: String,
    #[sqlx(flatten)]
    sizes: SizeColumns,
}

impl HistoryRow {
    pub(crate) fn into_point(self) -> Option<HistoryPoint> {
        Some(HistoryPoint {
            sizes: self.sizes.sizes()?,
            build_id: self.build_id,
            commit: self.commit,
            branch: self.branch,
            pr_number: self.pr_number,
            uploaded_at: self.uploaded_at,
            sha256: self.sha256,
        })
    }
}

#[derive(sqlx::FromRow)]
struct CommitRow {
    id: i64,
    sha: String,
    branch: Option<String>,
    pr_number: Option<i64>,
    base_sha: Option<String>,
    ancestors: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct TargetStatusRow {
    target: String,
    status: JobState,
    attempts: i32,
    max_attempts: i32,
    error: Option<String>,
    build_id: i64,
    job_id: i64,
    sha256: String,
    artifact_size: i64,
    replaced_build_id: Option<i64>,
    provenance: String,
    baseline_eligible: bool,
    uploaded_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    format: Option<String>,
    arch: Option<String>,
    language: Option<String>,
    #[sqlx(flatten)]
    sizes: SizeColumns,
}

pub(crate) const HISTORY_SELECT: &str = "SELECT b.id AS build_id, c.sha AS commit, c.branch, c.pr_number,
        b.created_at AS uploaded_at, a.sha256,
        m.size_file, m.size_vm, m.size_shipped, m.size_gzip, m.size_zstd, m.size_debug, m.size_symbols,
        m.size_compressed, m.size_uncompressed, m.size_pull
     FROM builds b
     JOIN commits c ON c.id = b.commit_id
     JOIN artifacts a ON a.id = b.artifact_id
     JOIN measurements m ON m.artifact_id = b.artifact_id";

impl Store {
    /// Every repository, by name; private ones only with `include_private`.
    pub async fn list_repositories(
        &self,
        include_private: bool,
    ) -> Result<Vec<RepositorySummary>, Error> {
        let repos = sqlx::query_as(
            "SELECT r.owner, r.name,
                    (SELECT count(*) FROM targets t WHERE t.repository_id = r.id) AS targets,
                    (SELECT max(c.updated_at) FROM commits c WHERE c.repository_id = r.id) AS last_upload_at
             FROM repositories r WHERE $1 OR NOT r.private ORDER BY r.owner, r.name",
        )
        .bind(include_private)
        .fetch_all(&self.pool)
        .await?;
        Ok(repos)
    }

    /// One repository by name.
    pub async fn find_repository(
        &self,
        owner: &str,
        name: &str,
    ) -> Result<Option<Repository>, Error> {
        let repo = sqlx::query_as(
            "SELECT id, owner, name, private, created_at FROM repositories WHERE owner = $1 AND name = $2",
        )
        .bind(owner)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(repo)
    }

    /// The targets of a repository, by name, each with its latest measurement.
    pub async fn list_targets(&self, repository_id: i64) -> Result<Vec<TargetSummary>, Error> {
        let targets: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT t.id, t.name,
                    (SELECT count(*) FROM builds b WHERE b.target_id = t.id AND b.superseded_at IS NULL)
             FROM targets t WHERE t.repository_id = $1 ORDER BY t.name",
        )
        .bind(repository_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(targets.len());
        for (target_id, name, builds) in targets {
            let latest = self
                .history_rows(target_id, None, None, 1)
                .await?
                .into_iter()
                .next();
            out.push(TargetSummary {
                name,
                builds,
                latest,
            });
        }
        Ok(out)
    }

    /// The status of every target of a commit, or `None` for an unknown commit.
    pub async fn commit_status(
        &self,
        repository_id: i64,
        sha: &str,
    ) -> Result<Option<CommitStatus>, Error> {
        let commit: Option<CommitRow> = sqlx::query_as(
            "SELECT id, sha, branch, pr_number, base_sha, ancestors
                 FROM commits WHERE repository_id = $1 AND sha = $2",
        )
        .bind(repository_id)
        .bind(sha)
        .fetch_optional(&self.pool)
        .await?;
        let Some(CommitRow {
            id: commit_id,
            sha,
            branch,
            pr_number,
            base_sha,
            ancestors,
        }) = commit
        else {
            return Ok(None);
        };
        let rows: Vec<TargetStatusRow> = sqlx::query_as(
            "SELECT t.name AS target, j.state AS status, j.attempts, j.max_attempts,
                    j.last_error AS error, b.id AS build_id, j.id AS job_id,
                    a.sha256, a.size AS artifact_size,
                    (SELECT p.id FROM builds p
                      WHERE p.superseded_by = b.id AND p.replaced_at IS NOT NULL
                      ORDER BY p.id DESC LIMIT 1) AS replaced_build_id,
                    b.provenance, b.baseline_eligible, b.created_at AS uploaded_at, j.finished_at,
                    m.format, m.arch, m.language,
                    m.size_file, m.size_vm, m.size_shipped, m.size_gzip, m.size_zstd,
                    m.size_debug, m.size_symbols, m.size_compressed, m.size_uncompressed, m.size_pull
             FROM builds b
             JOIN targets t ON t.id = b.target_id
             JOIN jobs j ON j.build_id = b.id
             JOIN artifacts a ON a.id = b.artifact_id
             LEFT JOIN measurements m ON m.artifact_id = b.artifact_id AND j.state = 'done'
             WHERE b.commit_id = $1 AND b.superseded_at IS NULL
             ORDER BY t.name",
        )
        .bind(commit_id)
        .fetch_all(&self.pool)
        .await?;
        let targets = rows
            .into_iter()
            .map(|r| TargetStatus {
                sizes: r.sizes.sizes(),
                target: r.target,
                status: r.status,
                attempts: r.attempts,
                max_attempts: r.max_attempts,
                error: r.error,
                build_id: r.build_id,
                job_id: r.job_id,
                sha256: r.sha256,
                artifact_size: r.artifact_size,
                replaced_build_id: r.replaced_build_id,
                provenance: r.provenance,
                baseline_eligible: r.baseline_eligible,
                uploaded_at: r.uploaded_at,
                finished_at: r.finished_at,
                format: r.format,
                arch: r.arch,
                language: r.language,
            })
            .collect();
        Ok(Some(CommitStatus {
            sha,
            branch,
            pr_number,
            base_sha,
            ancestors,
            targets,
        }))
    }

    /// The measured history of a target, newest first: at most `limit`
    /// points, optionally on one branch, older than build `before`. `None`
    /// if the target does not exist.
    pub async fn target_history(
        &self,
        repository_id: i64,
        target: &str,
        branch: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Option<Vec<HistoryPoint>>, Error> {
        let target_id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM targets WHERE repository_id = $1 AND name = $2")
                .bind(repository_id)
                .bind(target)
                .fetch_optional(&self.pool)
                .await?;
        let Some(target_id) = target_id else {
            return Ok(None);
        };
        Ok(Some(
            self.history_rows(target_id, branch, before, limit).await?,
        ))
    }

    async fn history_rows(
        &self,
        target_id: i64,
        branch: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<HistoryPoint>, Error> {
        let bound = SeriesBound("($3::bigint IS NULL OR b.id < $3)", before);
        self.series_newest_first(target_id, branch, bound, limit)
            .await
    }

    /// The newest `limit` shown builds of a target, newest first,
    /// optionally on one branch, within `bound` (a condition on `$3` and
    /// its value): the one query behind the history page's id cursor and
    /// [`Store::target_series`]' time bound.
    pub(crate) async fn series_newest_first<T>(
        &self,
        target_id: i64,
        branch: Option<&str>,
        SeriesBound(condition, value): SeriesBound<T>,
        limit: i64,
    ) -> Result<Vec<HistoryPoint>, Error>
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
    {
        let sql = format!(
            "{HISTORY_SELECT}
             WHERE b.target_id = $1 AND b.superseded_at IS NULL
               AND ($2::text IS NULL OR c.branch = $2)
               AND {condition}
             ORDER BY b.id DESC LIMIT $4"
        );
        // Planned for its actual parameters every time (an unnamed
        // statement): a cached generic plan cannot tell `$2 IS NULL` from a
        // rare branch nor see the bound or the LIMIT, and on a long history
        // it sorts the whole series (1.2 s instead of ~50 ms on 200,000
        // builds; see benchmarks/service.md).
        let rows: Vec<HistoryRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(target_id)
            .bind(branch)
            .bind(value)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(HistoryRow::into_point)
            .collect())
    }
}

/// A series' bound: a fixed SQL condition on `$3` (never user text) and
/// the value bound to `$3`.
pub(crate) struct SeriesBound<T>(pub &'static str, pub T);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measurements::tests::sample_report;
    use crate::uploads::{CommitMeta, NewArtifact};

    #[sqlx::test(migrations = "../../migrations")]
    async fn status_and_history(pool: sqlx::PgPool) {
        let (store, repo_id) = crate::test_support::store_with_repository(pool, "acme/app").await;
        let mut shas = Vec::new();
        for i in 0..5u8 {
            let sha = format!("{:040x}", i + 1);
            let content = hex::encode([i; 32]);
            let branch = if i % 2 == 0 { "main" } else { "feature" };
            let recorded = store
                .record_upload(
                    repo_id,
                    &CommitMeta {
                        sha: sha.clone(),
                        branch: Some(branch.into()),
                        ..Default::default()
                    },
                    &[NewArtifact {
                        target: "x86_64-unknown-linux-gnu/app".into(),
                        blob_key: crate::blob::artifact_key(&content),
                        sha256: content,
                        size: 1000 + u64::from(i),
                    }],
                    3,
                )
                .await
                .unwrap();
            let job = store
                .claim_next_job("w", std::time::Duration::from_secs(60))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(job.job_id, recorded[0].job_id);
            // The last commit stays queued.
            if i < 4 {
                store
                    .store_measurement(
                        job.artifact_id,
                        &sample_report(1000 + u64::from(i)),
                        "r",
                        10,
                    )
                    .await
                    .unwrap();
                assert!(store.complete_job(job.job_id, "w").await.unwrap());
            }
            shas.push(sha);
        }

        let repos = store.list_repositories(true).await.unwrap();
        assert_eq!(repos.len(), 1);
        assert_eq!((repos[0].owner.as_str(), repos[0].targets), ("acme", 1));
        let repo = store.find_repository("acme", "app").await.unwrap().unwrap();
        assert!(
            store
                .find_repository("acme", "nope")
                .await
                .unwrap()
                .is_none()
        );

        let done = store
            .commit_status(repo.id, &shas[3])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(done.targets[0].status, JobState::Done);
        assert_eq!(done.targets[0].sizes.unwrap().file, 1003);
        let queued = store
            .commit_status(repo.id, &shas[4])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(queued.targets[0].status, JobState::Running);
        assert!(queued.targets[0].sizes.is_none());
        assert!(
            store
                .commit_status(repo.id, &"f".repeat(40))
                .await
                .unwrap()
                .is_none()
        );

        let target = "x86_64-unknown-linux-gnu/app";
        let all = store
            .target_history(repo.id, target, None, None, 10)
            .await
            .unwrap()
            .unwrap();
        let files: Vec<u64> = all.iter().map(|p| p.sizes.file).collect();
        assert_eq!(files, [1003, 1002, 1001, 1000]);
        let page = store
            .target_history(repo.id, target, None, Some(all[1].build_id), 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(page[0].sizes.file, 1001);
        let main = store
            .target_history(repo.id, target, Some("main"), None, 10)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            main.iter().map(|p| p.sizes.file).collect::<Vec<_>>(),
            [1002, 1000]
        );
        assert!(
            store
                .target_history(repo.id, "nope", None, None, 10)
                .await
                .unwrap()
                .is_none()
        );

        let targets = store.list_targets(repo.id).await.unwrap();
        assert_eq!(targets[0].builds, 5);
        assert_eq!(targets[0].latest.as_ref().unwrap().sizes.file, 1003);
    }
}
