//! Reporting an evaluation to GitHub: the sticky comment on the pull
//! request (for its head commit only) and the check run on the commit.
//!
//! Evaluating and posting happen under advisory locks — one per commit,
//! then one per pull request — so workers in any number of processes never
//! post two comments or two check runs, and the last evaluation stored is
//! the one posted. A failure (after the client's own retries) is recorded
//! on the evaluation and handed back, so the job queue retries it with
//! backoff.

use sizegate_github::{CheckRunRequest, GitHubClient, Repo};
use sizegate_store::evaluations::{GateCommit, StoredEvaluation};

use crate::gate::StoredRevision;
use crate::{Error, Worker};

impl Worker {
    /// Evaluate commit `sha` and, when a GitHub App is configured, post the
    /// result. Idempotent: a job delivered twice posts the same text to the
    /// same comment and check run.
    pub async fn gate_and_report_commit(&self, repository_id: i64, sha: &str) -> Result<(), Error> {
        let commit_key = format!("sizegate:commit:{repository_id}:{sha}");
        let _commit_lock = self.store.lock_for_report(&[commit_key]).await?;
        let Some(stored) = self.evaluate_commit(repository_id, sha).await? else {
            return Ok(());
        };
        let Some(github) = &self.github else {
            return Ok(());
        };
        let pr_lock = match stored.commit.pr_number {
            Some(number) => Some(
                self.store
                    .lock_for_report(&[format!("sizegate:pr:{repository_id}:{number}")])
                    .await?,
            ),
            None => None,
        };
        let posted = self.post(github, &stored).await;
        drop(pr_lock);
        let commit_id = stored.commit.id;
        match posted {
            Ok(()) => {
                self.store
                    .mark_report_posted(commit_id, stored.revision)
                    .await?;
                tracing::info!(commit = %sha, revision = stored.revision, "reported to GitHub");
                Ok(())
            }
            Err(PostFailure { message, permanent }) => {
                tracing::warn!(commit = %sha, revision = stored.revision, error = %message, permanent, "reporting to GitHub failed; recorded on the evaluation");
                self.store
                    .mark_report_failed(commit_id, stored.revision, &message)
                    .await?;
                Err(if permanent {
                    Error::ReportRefused(message)
                } else {
                    Error::Report(message)
                })
            }
        }
    }

    /// Post the stored evaluation: the pull request comment (for its head
    /// commit only), then the check run.
    async fn post(
        &self,
        github: &GitHubClient,
        stored: &StoredRevision,
    ) -> Result<(), PostFailure> {
        let commit = &stored.commit;
        let evaluation: StoredEvaluation = self
            .store
            .evaluation(commit.id)
            .await
            .map_err(PostFailure::transient)?
            .ok_or_else(|| PostFailure::transient("the evaluation vanished"))?;
        let repo = Repo::new(&commit.owner, &commit.name).map_err(|e| PostFailure {
            message: e.to_string(),
            permanent: true,
        })?;
        if let Some(number) = commit.pr_number {
            self.post_comment(github, &repo, commit, number, &evaluation)
                .await?;
        }
        github
            .upsert_check_run(&repo, &self.check_run_request(commit, evaluation))
            .await
            .map_err(|e| PostFailure::github("posting the check run failed", &e))?;
        Ok(())
    }

    /// The sticky comment of pull request `number`, when `commit` is still
    /// its head: only the newest commit of a pull request speaks in its
    /// comment, so a late evaluation of an older push never overwrites it.
    async fn post_comment(
        &self,
        github: &GitHubClient,
        repo: &Repo,
        commit: &GateCommit,
        number: i64,
        evaluation: &StoredEvaluation,
    ) -> Result<(), PostFailure> {
        let head = self
            .store
            .pull_request_head(commit.repository_id, number)
            .await
            .map_err(PostFailure::transient)?;
        if head.as_deref().is_some_and(|head| head != commit.sha) {
            return Ok(());
        }
        let number = u64::try_from(number).map_err(|e| PostFailure {
            message: e.to_string(),
            permanent: true,
        })?;
        // Quiet by default: with nothing new to say, an existing comment
        // becomes one line and no comment is created.
        let judged = &evaluation.evaluation;
        let posted = match Some(judged).filter(|e| !e.comment_has_news()) {
            Some(quiet) => {
                let ctx = self
                    .config
                    .render_context(&commit.owner, &commit.name, &commit.sha);
                github
                    .update_sticky_comment(
                        repo,
                        number,
                        sizegate_gate::COMMENT_MARKER,
                        &sizegate_gate::render_quiet_comment(quiet, &ctx),
                    )
                    .await
            }
            None => {
                github
                    .upsert_sticky_comment(
                        repo,
                        number,
                        sizegate_gate::COMMENT_MARKER,
                        &evaluation.comment_markdown,
                    )
                    .await
            }
        };
        posted.map_err(|e| PostFailure::github("posting the pull request comment failed", &e))?;
        Ok(())
    }

    /// The check run of `commit`, linking to its dashboard page when a
    /// public URL is configured.
    fn check_run_request(
        &self,
        commit: &GateCommit,
        evaluation: StoredEvaluation,
    ) -> CheckRunRequest {
        let public_url = self.config.public_url.trim_end_matches('/');
        CheckRunRequest {
            name: sizegate_gate::CHECK_NAME.to_owned(),
            head_sha: commit.sha.clone(),
            status: evaluation.status.into(),
            conclusion: evaluation.conclusion.map(Into::into),
            title: evaluation.check_title,
            summary: evaluation.check_summary,
            details_url: (!public_url.is_empty()).then(|| {
                format!(
                    "{public_url}/repos/{}/{}/commits/{}",
                    commit.owner, commit.name, commit.sha
                )
            }),
            external_id: None,
        }
    }
}

/// Why a report could not be posted, and whether a later attempt could
/// succeed: a permanent failure (the App not installed, the repository
/// gone, a request GitHub refuses) ends the job instead of retrying it.
#[derive(Debug)]
struct PostFailure {
    message: String,
    permanent: bool,
}

impl PostFailure {
    /// A failure of our own storage: worth retrying.
    fn transient(e: impl std::fmt::Display) -> Self {
        Self {
            message: e.to_string(),
            permanent: false,
        }
    }

    /// A GitHub failure, permanent as [`sizegate_github::Error::is_permanent`] says.
    fn github(what: &str, e: &sizegate_github::Error) -> Self {
        Self {
            message: format!("{what}: {e}"),
            permanent: e.is_permanent(),
        }
    }
}
