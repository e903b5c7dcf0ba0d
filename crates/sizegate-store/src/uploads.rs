//! Recording an upload: the commit, its targets, the content-addressed
//! artifacts, one build per (commit, target) and one job per new build, all
//! in one transaction so an upload is recorded whole or not at all.

use std::collections::HashMap;

use serde::Serialize;

use crate::{Error, Store};

/// The longest target name accepted, in characters.
pub const MAX_TARGET_NAME_CHARS: usize = 200;

/// Why a target name (e.g. `x86_64-unknown-linux-gnu/app`) is refused, if it
/// is: the rule of the upload contract, applied by the server and checked
/// early by `sizegate upload`. Printable, at most 200 characters, no `..`,
/// relative with `/` separators, no empty or `.` segment, and none of that
/// hidden behind percent-encoding (`%2e%2e`). A target name is a label,
/// never a file path (blobs are stored by sha256), but it is shown in URLs
/// and may meet tools that decode them.
pub fn target_name_problem(name: &str) -> Option<&'static str> {
    if let Some(problem) = plain_target_name_problem(name) {
        return Some(problem);
    }
    // Decode repeatedly, so that `%252e%252e` is caught too.
    let mut current = name.to_owned();
    for _ in 0..4 {
        let decoded = percent_encoding::percent_decode_str(&current)
            .decode_utf8_lossy()
            .into_owned();
        if decoded == current {
            return None;
        }
        if plain_target_name_problem(&decoded).is_some() {
            return Some(
                "hides `..`, `\\`, control characters or an empty segment in percent-encoding",
            );
        }
        current = decoded;
    }
    Some("is percent-encoded too many times")
}

fn plain_target_name_problem(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("is empty")
    } else if name.chars().count() > MAX_TARGET_NAME_CHARS {
        Some("is longer than 200 characters")
    } else if name.chars().any(char::is_control) {
        Some("contains control characters")
    } else if name.contains("..") {
        Some("contains `..`")
    } else if name.starts_with('/') || name.contains('\\') {
        Some("must be a relative name with `/` separators")
    } else if name
        .split('/')
        .any(|segment| segment.is_empty() || segment == ".")
    {
        Some("has an empty or `.` segment between its `/` separators")
    } else {
        None
    }
}

/// Commit metadata sent with an upload (already validated).
#[derive(Debug, Clone, Default)]
pub struct CommitMeta {
    /// 40 lower-case hex digits.
    pub sha: String,
    /// Branch the commit was built on.
    pub branch: Option<String>,
    /// Pull request number.
    pub pr_number: Option<i64>,
    /// Base commit of the pull request.
    pub base_sha: Option<String>,
    /// First-parent history, nearest first.
    pub ancestors: Vec<String>,
    /// The `sizegate.toml` of the commit, verbatim.
    pub config: Option<String>,
    /// Uploaded for a pull request from a fork: such a commit never becomes
    /// a baseline.
    pub fork: bool,
}

/// One artifact of an upload, already in the blob store.
#[derive(Debug, Clone)]
pub struct NewArtifact {
    /// Target name (`x86_64-unknown-linux-gnu/app`).
    pub target: String,
    /// Lower-case hex sha256.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Key in the blob store.
    pub blob_key: String,
}

/// What became of one artifact of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildOutcome {
    /// First artifact for this (commit, target): a job was queued.
    Created,
    /// The same artifact was already recorded: nothing changed.
    Duplicate,
    /// The same artifact was already recorded but its job had failed: the
    /// same job was queued again (a re-run of CI is the natural retry).
    Requeued,
    /// A different artifact replaced the previous one: a job was queued.
    Replaced,
}

/// The ids of one recorded artifact.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedBuild {
    /// Target name.
    pub target: String,
    /// Build id.
    pub build_id: i64,
    /// Artifact id.
    pub artifact_id: i64,
    /// The job measuring it.
    pub job_id: i64,
    /// Current job state (`queued` for a new build).
    pub status: String,
    /// Artifact sha256.
    pub sha256: String,
    /// Artifact size.
    pub size: u64,
    /// Created, duplicate or replaced.
    pub outcome: BuildOutcome,
    /// The build this one replaced.
    pub replaced_build_id: Option<i64>,
}

fn size_to_db(size: u64) -> Result<i64, Error> {
    i64::try_from(size).map_err(|_| Error::Invalid(format!("artifact size {size} is too large")))
}

impl Store {
    /// Bytes of artifacts a repository keeps in the blob store: every
    /// distinct artifact any of its builds (current or superseded) refers
    /// to. What its storage quota is measured against.
    pub async fn repository_artifact_bytes(&self, repository_id: i64) -> Result<u64, Error> {
        let bytes: i64 = sqlx::query_scalar(
            "SELECT COALESCE(sum(a.size), 0)::BIGINT FROM artifacts a
             WHERE a.id IN (SELECT b.artifact_id FROM builds b
                            JOIN commits c ON c.id = b.commit_id
                            WHERE c.repository_id = $1)",
        )
        .bind(repository_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    /// Record an upload for `repository_id`. Idempotent: an artifact already
    /// recorded for its (commit, target) is reported as
    /// [`BuildOutcome::Duplicate`] and gets no new job (its job is queued
    /// again if it had failed: [`BuildOutcome::Requeued`]).
    pub async fn record_upload(
        &self,
        repository_id: i64,
        meta: &CommitMeta,
        artifacts: &[NewArtifact],
        max_attempts: i32,
    ) -> Result<Vec<RecordedBuild>, Error> {
        // Uploads of different commits sharing new targets or artifacts can
        // deadlock on those rows; Postgres aborts one, which is retried.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .record_upload_once(repository_id, meta, artifacts, max_attempts)
                .await
            {
                Err(Error::Database(sqlx::Error::Database(e)))
                    if attempt < 5
                        && matches!(e.code().as_deref(), Some("40P01") | Some("40001")) =>
                {
                    tracing::info!(
                        attempt,
                        "upload transaction aborted by a conflict; retrying"
                    );
                }
                other => return other,
            }
        }
    }

    async fn record_upload_once(
        &self,
        repository_id: i64,
        meta: &CommitMeta,
        artifacts: &[NewArtifact],
        max_attempts: i32,
    ) -> Result<Vec<RecordedBuild>, Error> {
        let mut tx = self.pool.begin().await?;
        // The upsert locks the commit row until commit: concurrent uploads
        // for one commit are serialized, so the duplicate/replace decision
        // below cannot race.
        let commit_id: i64 = sqlx::query_scalar(
            "INSERT INTO commits (repository_id, sha, branch, pr_number, base_sha, ancestors, config, fork)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (repository_id, sha) DO UPDATE SET
                 branch = COALESCE(EXCLUDED.branch, commits.branch),
                 pr_number = COALESCE(EXCLUDED.pr_number, commits.pr_number),
                 base_sha = COALESCE(EXCLUDED.base_sha, commits.base_sha),
                 ancestors = CASE WHEN cardinality(EXCLUDED.ancestors) > 0
                                  THEN EXCLUDED.ancestors ELSE commits.ancestors END,
                 config = COALESCE(EXCLUDED.config, commits.config),
                 fork = commits.fork OR EXCLUDED.fork,
                 updated_at = now()
             RETURNING id",
        )
        // `fork` is sticky: a fork's build may replace the artifacts of a
        // commit the base repository uploaded (same head sha), so once a
        // fork touched a commit it is never trusted as a baseline again.
        .bind(repository_id)
        .bind(&meta.sha)
        .bind(&meta.branch)
        .bind(meta.pr_number)
        .bind(&meta.base_sha)
        .bind(&meta.ancestors)
        .bind(&meta.config)
        .bind(meta.fork)
        .fetch_one(&mut *tx)
        .await?;

        // Targets then artifacts, each inserted in one statement in sorted
        // order: every upload takes these row locks in the same global
        // order, so concurrent uploads cannot deadlock on them. DO NOTHING
        // leaves existing rows unlocked.
        let mut names: Vec<&str> = artifacts.iter().map(|a| a.target.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        sqlx::query(
            "INSERT INTO targets (repository_id, name)
             SELECT $1, name FROM unnest($2::text[]) AS t(name) ORDER BY name
             ON CONFLICT (repository_id, name) DO NOTHING",
        )
        .bind(repository_id)
        .bind(&names)
        .execute(&mut *tx)
        .await?;
        let target_ids: HashMap<String, i64> = sqlx::query_as(
            "SELECT name, id FROM targets WHERE repository_id = $1 AND name = ANY($2)",
        )
        .bind(repository_id)
        .bind(&names)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let mut contents: Vec<&NewArtifact> = artifacts.iter().collect();
        contents.sort_unstable_by(|a, b| a.sha256.cmp(&b.sha256));
        contents.dedup_by(|a, b| a.sha256 == b.sha256);
        sqlx::query(
            "INSERT INTO artifacts (sha256, size, blob_key)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[]) AS a(sha256, size, blob_key)
             ORDER BY sha256
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(
            contents
                .iter()
                .map(|a| a.sha256.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            contents
                .iter()
                .map(|a| size_to_db(a.size))
                .collect::<Result<Vec<_>, _>>()?,
        )
        .bind(
            contents
                .iter()
                .map(|a| a.blob_key.clone())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;
        let shas: Vec<String> = contents.iter().map(|a| a.sha256.clone()).collect();
        let artifact_ids: HashMap<String, i64> =
            sqlx::query_as("SELECT sha256, id FROM artifacts WHERE sha256 = ANY($1)")
                .bind(&shas)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();

        let mut recorded = Vec::with_capacity(artifacts.len());
        for artifact in artifacts {
            let missing = || Error::Invalid(format!("row for `{}` vanished", artifact.target));
            let target_id = *target_ids.get(&artifact.target).ok_or_else(missing)?;
            let artifact_id = *artifact_ids.get(&artifact.sha256).ok_or_else(missing)?;

            let current: Option<(i64, i64, i64, String)> = sqlx::query_as(
                "SELECT b.id, b.artifact_id, j.id, j.state
                 FROM builds b JOIN jobs j ON j.build_id = b.id
                 WHERE b.commit_id = $1 AND b.target_id = $2 AND b.superseded_at IS NULL",
            )
            .bind(commit_id)
            .bind(target_id)
            .fetch_optional(&mut *tx)
            .await?;

            let base = |build_id, job_id, status, outcome, replaced_build_id| RecordedBuild {
                target: artifact.target.clone(),
                build_id,
                artifact_id,
                job_id,
                status,
                sha256: artifact.sha256.clone(),
                size: artifact.size,
                outcome,
                replaced_build_id,
            };
            if let Some((build_id, current_artifact, job_id, state)) = &current {
                if *current_artifact == artifact_id {
                    let outcome = if state == "failed" {
                        sqlx::query(
                            "UPDATE jobs SET state = 'queued', attempts = 0, run_at = now(),
                                 locked_by = NULL, locked_until = NULL, finished_at = NULL,
                                 updated_at = now()
                             WHERE id = $1 AND state = 'failed'",
                        )
                        .bind(job_id)
                        .execute(&mut *tx)
                        .await?;
                        BuildOutcome::Requeued
                    } else {
                        BuildOutcome::Duplicate
                    };
                    let status = if outcome == BuildOutcome::Requeued {
                        "queued".to_owned()
                    } else {
                        state.clone()
                    };
                    recorded.push(base(*build_id, *job_id, status, outcome, None));
                    continue;
                }
                sqlx::query("UPDATE builds SET superseded_at = now() WHERE id = $1")
                    .bind(build_id)
                    .execute(&mut *tx)
                    .await?;
                // Measuring a replaced artifact that nobody will look at is
                // wasted work: drop its job if no worker has started it.
                sqlx::query("DELETE FROM jobs WHERE id = $1 AND state = 'queued'")
                    .bind(job_id)
                    .execute(&mut *tx)
                    .await?;
            }
            let build_id: i64 = sqlx::query_scalar(
                "INSERT INTO builds (commit_id, target_id, artifact_id) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(commit_id)
            .bind(target_id)
            .bind(artifact_id)
            .fetch_one(&mut *tx)
            .await?;
            let replaced = current.map(|(previous, ..)| previous);
            if let Some(previous) = replaced {
                sqlx::query("UPDATE builds SET superseded_by = $2 WHERE id = $1")
                    .bind(previous)
                    .bind(build_id)
                    .execute(&mut *tx)
                    .await?;
            }
            let job_id: i64 = sqlx::query_scalar(
                "INSERT INTO jobs (build_id, max_attempts) VALUES ($1, $2) RETURNING id",
            )
            .bind(build_id)
            .bind(max_attempts.max(1))
            .fetch_one(&mut *tx)
            .await?;
            let outcome = if replaced.is_some() {
                BuildOutcome::Replaced
            } else {
                BuildOutcome::Created
            };
            recorded.push(base(build_id, job_id, "queued".into(), outcome, replaced));
        }
        tx.commit().await?;
        Ok(recorded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RepoName;

    #[test]
    fn target_names_cannot_name_a_way_out() {
        for good in [
            "x86_64-unknown-linux-gnu/app",
            "wasm32/app.wasm",
            "app (release)",
            "100% app",
            "a%2Fb",
            ".hidden/app",
        ] {
            assert_eq!(target_name_problem(good), None, "{good:?}");
        }
        for bad in [
            "..",
            "../etc/passwd",
            "a/../../b",
            "/etc/passwd",
            "a\\b",
            "..\\..\\windows",
            "C:\\app",
            "a\0b",
            "a\nb",
            "./a",
            "a/./b",
            "a//b",
            "a/",
            "%2e%2e/etc/passwd",
            "%2E%2E%2Fetc",
            "a/%2e%2e/b",
            "%252e%252e/etc",
            "%2Fetc/passwd",
            "a%5Cb",
            "a%00b",
            "a%2F%2Fb",
        ] {
            assert!(target_name_problem(bad).is_some(), "{bad:?} accepted");
        }
        assert_eq!(target_name_problem("a/../b"), Some("contains `..`"));
    }

    fn artifact(target: &str, byte: u8) -> NewArtifact {
        let sha256 = hex::encode([byte; 32]);
        NewArtifact {
            target: target.into(),
            blob_key: crate::blob::artifact_key(&sha256),
            sha256,
            size: 1000 + u64::from(byte),
        }
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn concurrent_identical_uploads_record_one_build(pool: sqlx::PgPool) {
        // As when N servers receive CI retries of one upload at once.
        let store = Store::new(pool);
        let repo = store
            .ensure_repository(&RepoName::parse("acme/app").unwrap())
            .await
            .unwrap();
        let meta = CommitMeta {
            sha: "e".repeat(40),
            ..Default::default()
        };
        let uploads = (0..8).map(|_| {
            let store = store.clone();
            let meta = meta.clone();
            tokio::spawn(async move {
                store
                    .record_upload(repo, &meta, &[artifact("linux/app", 9)], 5)
                    .await
                    .unwrap()
                    .remove(0)
            })
        });
        let mut outcomes = Vec::new();
        for upload in uploads.collect::<Vec<_>>() {
            outcomes.push(upload.await.unwrap());
        }
        let created = outcomes
            .iter()
            .filter(|b| b.outcome == BuildOutcome::Created)
            .count();
        assert_eq!(created, 1, "{outcomes:?}");
        assert!(outcomes.iter().all(|b| b.job_id == outcomes[0].job_id));
        let (builds, jobs): (i64, i64) =
            sqlx::query_as("SELECT (SELECT count(*) FROM builds), (SELECT count(*) FROM jobs)")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!((builds, jobs), (1, 1));
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn concurrent_uploads_sharing_targets_and_artifacts_all_succeed(pool: sqlx::PgPool) {
        // Different commits, the same targets and contents in crossed orders:
        // the pattern that can deadlock on shared rows.
        let store = Store::new(pool);
        let repo = store
            .ensure_repository(&RepoName::parse("acme/app").unwrap())
            .await
            .unwrap();
        let uploads = (0..12u8).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let meta = CommitMeta {
                    sha: format!("{:040x}", u32::from(i) + 100),
                    ..Default::default()
                };
                let mut artifacts: Vec<NewArtifact> = (0..4u8)
                    .map(|t| artifact(&format!("t{t}"), (t + i) % 4))
                    .collect();
                if i % 2 == 1 {
                    artifacts.reverse();
                }
                store
                    .record_upload(repo, &meta, &artifacts, 5)
                    .await
                    .unwrap()
            })
        });
        for upload in uploads.collect::<Vec<_>>() {
            assert_eq!(upload.await.unwrap().len(), 4);
        }
        let (targets, artifacts, jobs): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM targets), (SELECT count(*) FROM artifacts),
                    (SELECT count(*) FROM jobs)",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!((targets, artifacts, jobs), (4, 4, 48));
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn record_duplicate_and_replace(pool: sqlx::PgPool) {
        let store = Store::new(pool);
        let repo = store
            .ensure_repository(&RepoName::parse("acme/app").unwrap())
            .await
            .unwrap();
        let meta = CommitMeta {
            sha: "a".repeat(40),
            branch: Some("main".into()),
            ancestors: vec!["b".repeat(40)],
            ..Default::default()
        };
        let first = store
            .record_upload(
                repo,
                &meta,
                &[artifact("linux/app", 1), artifact("wasm/app", 2)],
                5,
            )
            .await
            .unwrap();
        assert_eq!(first.len(), 2);
        assert!(first.iter().all(|b| b.outcome == BuildOutcome::Created));

        let again = store
            .record_upload(
                repo,
                &CommitMeta {
                    branch: None,
                    ..meta.clone()
                },
                &[artifact("linux/app", 1)],
                5,
            )
            .await
            .unwrap();
        assert_eq!(again[0].outcome, BuildOutcome::Duplicate);
        assert_eq!(again[0].build_id, first[0].build_id);
        assert_eq!(again[0].job_id, first[0].job_id);

        // A failed job is queued again by the same upload, with the same ids.
        sqlx::query("UPDATE jobs SET state = 'failed', attempts = 5 WHERE id = $1")
            .bind(first[0].job_id)
            .execute(store.pool())
            .await
            .unwrap();
        let retried = store
            .record_upload(repo, &meta, &[artifact("linux/app", 1)], 5)
            .await
            .unwrap();
        assert_eq!(retried[0].outcome, BuildOutcome::Requeued);
        assert_eq!(retried[0].job_id, first[0].job_id);
        let (state, attempts): (String, i32) =
            sqlx::query_as("SELECT state, attempts FROM jobs WHERE id = $1")
                .bind(first[0].job_id)
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!((state.as_str(), attempts), ("queued", 0));

        let replaced = store
            .record_upload(repo, &meta, &[artifact("linux/app", 3)], 5)
            .await
            .unwrap();
        assert_eq!(replaced[0].outcome, BuildOutcome::Replaced);
        assert_eq!(replaced[0].replaced_build_id, Some(first[0].build_id));
        assert_ne!(replaced[0].job_id, first[0].job_id);

        // The replaced build's job was still queued: it is gone.
        let jobs: Vec<i64> = sqlx::query_scalar("SELECT id FROM jobs ORDER BY id")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(jobs, [first[1].job_id, replaced[0].job_id]);
        // The branch of the first upload survives an upload without one.
        let branch: Option<String> = sqlx::query_scalar("SELECT branch FROM commits")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(branch.as_deref(), Some("main"));
        let superseded_by: Option<i64> =
            sqlx::query_scalar("SELECT superseded_by FROM builds WHERE id = $1")
                .bind(first[0].build_id)
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(superseded_by, Some(replaced[0].build_id));
    }
}
