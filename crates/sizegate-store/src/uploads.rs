//! Recording an upload: the commit, its targets, the content-addressed
//! artifacts, one build per (commit, target) and one job per new build, all
//! in one transaction so an upload is recorded whole or not at all.

use std::collections::HashMap;

use serde::Serialize;

use crate::{Error, Store};

pub use sizegate_core::{MAX_TARGET_NAME_CHARS, target_name_problem};

/// How an upload proved where it comes from. Stored on every build and
/// shown by the API and the dashboard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum Provenance {
    /// An upload token (`sizegate token create`): trusted.
    #[default]
    #[serde(rename = "token")]
    Token,
    /// A GitHub Actions OIDC token of a `push` workflow run: trusted.
    #[serde(rename = "oidc-push")]
    OidcPush,
    /// A GitHub Actions OIDC token of any other run (`pull_request`,
    /// `pull_request_target`, ...): never a baseline.
    #[serde(rename = "oidc-pull-request")]
    OidcPullRequest,
    /// Built for a pull request from a fork: never a baseline.
    #[serde(rename = "fork")]
    Fork,
}

impl Provenance {
    /// The name stored and shown: `token`, `oidc-push`, `oidc-pull-request`, `fork`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provenance::Token => "token",
            Provenance::OidcPush => "oidc-push",
            Provenance::OidcPullRequest => "oidc-pull-request",
            Provenance::Fork => "fork",
        }
    }

    /// Whether builds of this provenance may become baselines (when made
    /// on a protected branch).
    pub fn is_trusted(self) -> bool {
        matches!(self, Provenance::Token | Provenance::OidcPush)
    }

    /// The trust rank of an upload: 3 baseline-eligible, 2 other trusted,
    /// 1 OIDC pull request, 0 fork. A (commit, target) shows its highest
    /// ranked build, and a commit's annotations (branch, pull request,
    /// base, ancestors, config) are changed only by uploads of at least
    /// their rank.
    pub fn trust_rank(self, baseline_eligible: bool) -> i16 {
        match self {
            _ if baseline_eligible => 3,
            Provenance::Token | Provenance::OidcPush => 2,
            Provenance::OidcPullRequest => 1,
            Provenance::Fork => 0,
        }
    }
}

impl std::fmt::Display for Provenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
    /// Uploaded for a pull request from a fork (the same as `provenance`
    /// being [`Provenance::Fork`]; kept on the commit row for display).
    pub fork: bool,
    /// How the upload was authenticated; with `branch`, decides whether
    /// its builds are baseline-eligible.
    pub provenance: Provenance,
    /// A release tag naming this commit (checked with
    /// [`crate::compare::tag_name_problem`]); recorded only for trusted
    /// uploads that are not for a pull request, moving the tag if another
    /// commit had it.
    pub tag: Option<String>,
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

/// A debug file uploaded with the artifact of `target`, stored in the blob
/// store under `blob_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDebugFile {
    /// Target of the artifact it goes with.
    pub target: String,
    /// Key in the blob store.
    pub blob_key: String,
    /// Size in bytes.
    pub size: u64,
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
    /// The build this one replaced (same provenance).
    pub replaced_build_id: Option<i64>,
    /// How the upload was authenticated.
    pub provenance: Provenance,
    /// Whether this build may serve as a baseline (trusted provenance on a
    /// protected branch).
    pub baseline_eligible: bool,
    /// The more trusted build shown for this (commit, target) instead of
    /// this one, if any: this build is kept and measured, but judges nothing.
    pub outranked_by: Option<i64>,
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
        self.record_upload_with_debug_files(repository_id, meta, artifacts, &[], max_attempts)
            .await
    }

    /// [`Store::record_upload`] with the debug files uploaded beside the
    /// artifacts, each recorded on its target's build in the same
    /// transaction as the build and its job: a worker never takes the job
    /// before the build names its debug file.
    pub async fn record_upload_with_debug_files(
        &self,
        repository_id: i64,
        meta: &CommitMeta,
        artifacts: &[NewArtifact],
        debug_files: &[NewDebugFile],
        max_attempts: i32,
    ) -> Result<Vec<RecordedBuild>, Error> {
        // Uploads of different commits sharing new targets or artifacts can
        // deadlock on those rows; Postgres aborts one, which is retried. So
        // is one whose artifact row the garbage collector deleted under it
        // (23503): the retry inserts the row again.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .record_upload_once(repository_id, meta, artifacts, debug_files, max_attempts)
                .await
            {
                Err(Error::Database(sqlx::Error::Database(e)))
                    if attempt < 5
                        && matches!(
                            e.code().as_deref(),
                            Some("40P01") | Some("40001") | Some("23503")
                        ) =>
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

    /// One attempt of [`Store::record_upload`], in one transaction: decide
    /// the upload's trust, record its commit (and tag), its targets and
    /// contents, then one build per artifact with its job and debug file.
    async fn record_upload_once(
        &self,
        repository_id: i64,
        meta: &CommitMeta,
        artifacts: &[NewArtifact],
        debug_files: &[NewDebugFile],
        max_attempts: i32,
    ) -> Result<Vec<RecordedBuild>, Error> {
        let mut tx = self.pool.begin().await?;
        let (default_branch, protected): (String, Vec<String>) = sqlx::query_as(
            "SELECT default_branch, protected_branches FROM repositories WHERE id = $1",
        )
        .bind(repository_id)
        .fetch_one(&mut *tx)
        .await?;
        let trust = UploadTrust::decide(meta, &default_branch, &protected);
        let commit_id = upsert_commit(&mut tx, repository_id, meta, trust).await?;
        if let Some(tag) = &meta.tag
            && trust.provenance.is_trusted()
            && meta.pr_number.is_none()
        {
            crate::compare::tag_commit(&mut tx, repository_id, commit_id, tag).await?;
        }
        let target_ids = insert_targets(&mut tx, repository_id, artifacts).await?;
        let artifact_ids = insert_artifacts(&mut tx, artifacts).await?;

        let mut recorded = Vec::with_capacity(artifacts.len());
        for artifact in artifacts {
            let missing = || Error::Invalid(format!("row for `{}` vanished", artifact.target));
            let slot = BuildSlot {
                commit_id,
                target_id: *target_ids.get(&artifact.target).ok_or_else(missing)?,
                artifact_id: *artifact_ids.get(&artifact.sha256).ok_or_else(missing)?,
            };
            let build = record_build(&mut tx, slot, meta, trust, max_attempts).await?;
            for debug in debug_files.iter().filter(|d| d.target == artifact.target) {
                sqlx::query("UPDATE builds SET debug_blob_key = $2, debug_size = $3 WHERE id = $1")
                    .bind(build.build_id)
                    .bind(&debug.blob_key)
                    .bind(crate::to_db(debug.size)?)
                    .execute(&mut *tx)
                    .await?;
            }
            let shown = show_most_trusted(&mut tx, commit_id, slot.target_id).await?;
            recorded.push(RecordedBuild {
                target: artifact.target.clone(),
                build_id: build.build_id,
                artifact_id: slot.artifact_id,
                job_id: build.job_id,
                status: build.status,
                sha256: artifact.sha256.clone(),
                size: artifact.size,
                outcome: build.outcome,
                replaced_build_id: build.replaced,
                provenance: trust.provenance,
                baseline_eligible: trust.eligible || build.kept_eligible,
                outranked_by: (shown != build.build_id).then_some(shown),
            });
        }
        tx.commit().await?;
        Ok(recorded)
    }
}

/// How far an upload is trusted: decided once from its provenance, pull
/// request and branch against the repository's protected branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UploadTrust {
    provenance: Provenance,
    /// Its builds may serve as baselines.
    eligible: bool,
    /// [`Provenance::trust_rank`].
    rank: i16,
}

impl UploadTrust {
    fn decide(meta: &CommitMeta, default_branch: &str, protected: &[String]) -> Self {
        let provenance = meta.provenance;
        // A pull request build is never a baseline, whatever branch it names.
        let eligible = provenance.is_trusted()
            && meta.pr_number.is_none()
            && meta
                .branch
                .as_deref()
                .is_some_and(|b| b == default_branch || protected.iter().any(|p| p == b));
        UploadTrust {
            provenance,
            eligible,
            rank: provenance.trust_rank(eligible),
        }
    }
}

/// The rows one artifact's build joins.
#[derive(Debug, Clone, Copy)]
struct BuildSlot {
    commit_id: i64,
    target_id: i64,
    artifact_id: i64,
}

/// What [`record_build`] did for one artifact.
struct BuildRecorded {
    build_id: i64,
    job_id: i64,
    /// The job's state after the upload.
    status: String,
    outcome: BuildOutcome,
    replaced: Option<i64>,
    /// The same build was already baseline-eligible.
    kept_eligible: bool,
}

/// The live build of one (commit, target) and provenance, with its job.
#[derive(sqlx::FromRow)]
struct LiveBuild {
    build_id: i64,
    artifact_id: i64,
    job_id: i64,
    job_state: String,
    baseline_eligible: bool,
}

/// Insert or annotate the commit row. The upsert locks it until commit:
/// concurrent uploads for one commit are serialized, so the decisions that
/// follow cannot race. An upload of lower trust than the commit's
/// annotations leaves them alone (a fork cannot re-label main's commit);
/// one of higher trust replaces them whole (a fork's config does not
/// survive under main's); equal trust merges.
async fn upsert_commit(
    tx: &mut sqlx::PgConnection,
    repository_id: i64,
    meta: &CommitMeta,
    trust: UploadTrust,
) -> Result<i64, Error> {
    let commit_id = sqlx::query_scalar(
        "INSERT INTO commits (repository_id, sha, branch, pr_number, base_sha, ancestors,
                              config, fork, trust_rank)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (repository_id, sha) DO UPDATE SET
             branch = CASE
                 WHEN EXCLUDED.trust_rank > commits.trust_rank THEN EXCLUDED.branch
                 WHEN EXCLUDED.trust_rank = commits.trust_rank
                     THEN COALESCE(EXCLUDED.branch, commits.branch)
                 ELSE commits.branch END,
             pr_number = CASE
                 WHEN EXCLUDED.trust_rank > commits.trust_rank THEN EXCLUDED.pr_number
                 WHEN EXCLUDED.trust_rank = commits.trust_rank
                     THEN COALESCE(EXCLUDED.pr_number, commits.pr_number)
                 ELSE commits.pr_number END,
             base_sha = CASE
                 WHEN EXCLUDED.trust_rank > commits.trust_rank THEN EXCLUDED.base_sha
                 WHEN EXCLUDED.trust_rank = commits.trust_rank
                     THEN COALESCE(EXCLUDED.base_sha, commits.base_sha)
                 ELSE commits.base_sha END,
             ancestors = CASE
                 WHEN EXCLUDED.trust_rank > commits.trust_rank THEN EXCLUDED.ancestors
                 WHEN EXCLUDED.trust_rank = commits.trust_rank
                      AND cardinality(EXCLUDED.ancestors) > 0 THEN EXCLUDED.ancestors
                 ELSE commits.ancestors END,
             config = CASE
                 WHEN EXCLUDED.trust_rank > commits.trust_rank THEN EXCLUDED.config
                 WHEN EXCLUDED.trust_rank = commits.trust_rank
                     THEN COALESCE(EXCLUDED.config, commits.config)
                 ELSE commits.config END,
             fork = CASE
                 WHEN EXCLUDED.trust_rank > commits.trust_rank THEN EXCLUDED.fork
                 WHEN EXCLUDED.trust_rank = commits.trust_rank
                     THEN commits.fork OR EXCLUDED.fork
                 ELSE commits.fork END,
             trust_rank = GREATEST(commits.trust_rank, EXCLUDED.trust_rank),
             updated_at = now()
         RETURNING id",
    )
    .bind(repository_id)
    .bind(&meta.sha)
    .bind(&meta.branch)
    .bind(meta.pr_number)
    .bind(&meta.base_sha)
    .bind(&meta.ancestors)
    .bind(&meta.config)
    .bind(trust.provenance == Provenance::Fork)
    .bind(trust.rank)
    .fetch_one(&mut *tx)
    .await?;
    Ok(commit_id)
}

// Targets then artifacts, each inserted in one statement in sorted order:
// every upload takes these row locks in the same global order, so
// concurrent uploads cannot deadlock on them. DO NOTHING leaves existing
// rows unlocked.

/// Insert the upload's targets; their ids by name.
async fn insert_targets(
    tx: &mut sqlx::PgConnection,
    repository_id: i64,
    artifacts: &[NewArtifact],
) -> Result<HashMap<String, i64>, Error> {
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
    let ids =
        sqlx::query_as("SELECT name, id FROM targets WHERE repository_id = $1 AND name = ANY($2)")
            .bind(repository_id)
            .bind(&names)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    Ok(ids)
}

/// Insert the upload's distinct contents; their ids by sha256.
async fn insert_artifacts(
    tx: &mut sqlx::PgConnection,
    artifacts: &[NewArtifact],
) -> Result<HashMap<String, i64>, Error> {
    let mut contents: Vec<&NewArtifact> = artifacts.iter().collect();
    contents.sort_unstable_by(|a, b| a.sha256.cmp(&b.sha256));
    contents.dedup_by(|a, b| a.sha256 == b.sha256);
    let shas: Vec<String> = contents.iter().map(|a| a.sha256.clone()).collect();
    sqlx::query(
        "INSERT INTO artifacts (sha256, size, blob_key)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[]) AS a(sha256, size, blob_key)
         ORDER BY sha256
         ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(&shas)
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
    let ids = sqlx::query_as("SELECT sha256, id FROM artifacts WHERE sha256 = ANY($1)")
        .bind(&shas)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    Ok(ids)
}

/// Record one artifact as the build of its (commit, target): the same
/// bytes as the live build of this provenance keep that build, other bytes
/// replace it (builds of other provenances are kept).
async fn record_build(
    tx: &mut sqlx::PgConnection,
    slot: BuildSlot,
    meta: &CommitMeta,
    trust: UploadTrust,
    max_attempts: i32,
) -> Result<BuildRecorded, Error> {
    let current: Option<LiveBuild> = sqlx::query_as(
        "SELECT b.id AS build_id, b.artifact_id, j.id AS job_id, j.state AS job_state,
                b.baseline_eligible
         FROM builds b JOIN jobs j ON j.build_id = b.id
         WHERE b.commit_id = $1 AND b.target_id = $2 AND b.provenance = $3
           AND b.replaced_at IS NULL",
    )
    .bind(slot.commit_id)
    .bind(slot.target_id)
    .bind(trust.provenance.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    match current {
        Some(live) if live.artifact_id == slot.artifact_id => {
            keep_build(tx, live, meta, trust).await
        }
        other => replace_build(tx, slot, other, meta, trust, max_attempts).await,
    }
}

/// The same bytes again: the build stays; it becomes baseline-eligible if
/// now uploaded for a protected branch, and its job is queued again if it
/// had failed.
async fn keep_build(
    tx: &mut sqlx::PgConnection,
    live: LiveBuild,
    meta: &CommitMeta,
    trust: UploadTrust,
) -> Result<BuildRecorded, Error> {
    if trust.eligible && !live.baseline_eligible {
        sqlx::query(
            "UPDATE builds SET baseline_eligible = true, trust_rank = $2, branch = $3
             WHERE id = $1",
        )
        .bind(live.build_id)
        .bind(trust.rank)
        .bind(&meta.branch)
        .execute(&mut *tx)
        .await?;
    }
    let (outcome, status) = if live.job_state == "failed" {
        sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_at = now(),
                 locked_by = NULL, locked_until = NULL, finished_at = NULL,
                 updated_at = now()
             WHERE id = $1 AND state = 'failed'",
        )
        .bind(live.job_id)
        .execute(&mut *tx)
        .await?;
        (BuildOutcome::Requeued, "queued".to_owned())
    } else {
        (BuildOutcome::Duplicate, live.job_state)
    };
    Ok(BuildRecorded {
        build_id: live.build_id,
        job_id: live.job_id,
        status,
        outcome,
        replaced: None,
        kept_eligible: live.baseline_eligible,
    })
}

/// New bytes: retire the live build of this provenance (if any), insert
/// the new build hidden (`show_most_trusted` decides) and queue its job.
async fn replace_build(
    tx: &mut sqlx::PgConnection,
    slot: BuildSlot,
    previous: Option<LiveBuild>,
    meta: &CommitMeta,
    trust: UploadTrust,
    max_attempts: i32,
) -> Result<BuildRecorded, Error> {
    if let Some(previous) = &previous {
        sqlx::query(
            "UPDATE builds SET replaced_at = now(),
                 superseded_at = COALESCE(superseded_at, now())
             WHERE id = $1",
        )
        .bind(previous.build_id)
        .execute(&mut *tx)
        .await?;
        // Measuring a replaced artifact that nobody will look at is wasted
        // work: drop its job if no worker has started it.
        sqlx::query("DELETE FROM jobs WHERE id = $1 AND state = 'queued'")
            .bind(previous.job_id)
            .execute(&mut *tx)
            .await?;
    }
    let build_id: i64 = sqlx::query_scalar(
        "INSERT INTO builds (commit_id, target_id, artifact_id, provenance, branch,
                             baseline_eligible, trust_rank, superseded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now()) RETURNING id",
    )
    .bind(slot.commit_id)
    .bind(slot.target_id)
    .bind(slot.artifact_id)
    .bind(trust.provenance.as_str())
    .bind(&meta.branch)
    .bind(trust.eligible)
    .bind(trust.rank)
    .fetch_one(&mut *tx)
    .await?;
    let replaced = previous.map(|p| p.build_id);
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
    Ok(BuildRecorded {
        build_id,
        job_id,
        status: "queued".to_owned(),
        outcome: if replaced.is_some() {
            BuildOutcome::Replaced
        } else {
            BuildOutcome::Created
        },
        replaced,
        kept_eligible: false,
    })
}

/// Show the most trusted live build of (commit, target) — highest
/// `trust_rank`, then the newest — and hide the others (`superseded_at`,
/// with `superseded_by` naming the one shown). Returns the one shown.
async fn show_most_trusted(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    commit_id: i64,
    target_id: i64,
) -> Result<i64, Error> {
    let top: i64 = sqlx::query_scalar(
        "SELECT id FROM builds
         WHERE commit_id = $1 AND target_id = $2 AND replaced_at IS NULL
         ORDER BY trust_rank DESC, id DESC LIMIT 1",
    )
    .bind(commit_id)
    .bind(target_id)
    .fetch_one(&mut **tx)
    .await?;
    // Hide first, then show: `builds_current` allows one shown build.
    sqlx::query(
        "UPDATE builds SET superseded_at = now(), superseded_by = $3
         WHERE commit_id = $1 AND target_id = $2 AND superseded_at IS NULL AND id <> $3",
    )
    .bind(commit_id)
    .bind(target_id)
    .bind(top)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE builds SET superseded_at = NULL, superseded_by = NULL WHERE id = $1")
        .bind(top)
        .execute(&mut **tx)
        .await?;
    Ok(top)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(target: &str, byte: u8) -> NewArtifact {
        let sha256 = hex::encode([byte; 32]);
        NewArtifact {
            target: target.into(),
            blob_key: crate::blob::artifact_key(&sha256),
            sha256,
            size: 1000 + u64::from(byte),
        }
    }

    #[test]
    fn only_trusted_uploads_for_a_protected_branch_outside_a_pull_request_are_eligible() {
        let protected = ["release".to_owned()];
        let trust = |provenance, branch: Option<&str>, pr_number| {
            let meta = CommitMeta {
                provenance,
                branch: branch.map(str::to_owned),
                pr_number,
                ..Default::default()
            };
            let trust = UploadTrust::decide(&meta, "main", &protected);
            assert_eq!(trust.provenance, provenance);
            assert_eq!(trust.rank, provenance.trust_rank(trust.eligible));
            trust.eligible
        };
        assert!(trust(Provenance::Token, Some("main"), None));
        assert!(trust(Provenance::OidcPush, Some("release"), None));
        assert!(!trust(Provenance::Token, Some("feature"), None));
        assert!(!trust(Provenance::Token, None, None));
        assert!(!trust(Provenance::Token, Some("main"), Some(7)));
        assert!(!trust(Provenance::OidcPullRequest, Some("main"), None));
        assert!(!trust(Provenance::Fork, Some("main"), None));
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn a_claimed_job_always_finds_its_debug_file(pool: sqlx::PgPool) {
        // A worker polling while uploads arrive: each job it claims must
        // already name the debug file uploaded with its artifact (it was
        // attached after the job was queued, in a second statement).
        let (store, repo) = crate::test_support::store_with_repository(pool, "acme/app").await;
        let polling = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while seen.len() < 20 {
                    let lease = std::time::Duration::from_secs(60);
                    match store.claim_next_job("w", lease).await.unwrap() {
                        Some(job) => {
                            let debug = store.build_debug_file(job.build_id).await.unwrap();
                            seen.push((job.target, debug));
                        }
                        None => tokio::task::yield_now().await,
                    }
                }
                seen
            })
        };
        for i in 0..20u8 {
            let meta = CommitMeta {
                sha: format!("{i:040x}"),
                ..Default::default()
            };
            let app = artifact("linux/app", i);
            let debug = NewDebugFile {
                target: "linux/app".into(),
                blob_key: crate::blob::debug_key(&app.sha256),
                size: 77,
            };
            let recorded = store
                .record_upload_with_debug_files(repo, &meta, &[app], &[debug], 5)
                .await
                .unwrap();
            assert_eq!(recorded[0].outcome, BuildOutcome::Created);
        }
        let seen = polling.await.unwrap();
        assert_eq!(seen.len(), 20);
        for (target, debug) in seen {
            assert_eq!(target, "linux/app");
            assert!(
                debug.is_some_and(|key| key.starts_with("debug/")),
                "a job without its debug file"
            );
        }
        let sizes: Vec<i64> = sqlx::query_scalar("SELECT debug_size FROM builds")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(sizes, vec![77; 20]);
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn concurrent_identical_uploads_record_one_build(pool: sqlx::PgPool) {
        // As when N servers receive CI retries of one upload at once.
        let (store, repo) = crate::test_support::store_with_repository(pool, "acme/app").await;
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
        let (store, repo) = crate::test_support::store_with_repository(pool, "acme/app").await;
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
        let (store, repo) = crate::test_support::store_with_repository(pool, "acme/app").await;
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
