//! The commit page (per target: sizes, sections, a treemap of units, top
//! symbols, advice, toolchain facts and the diff against the baseline) and
//! the pull request page (the summary a PR comment gives, then the full
//! detail without the comment's length limit, and the history of pushes).
//! Here the store is read, once per table for all targets; what each
//! target shows is decided and built without I/O in `target_detail`.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Html;
use std::collections::HashMap;

use sizegate_analyze::{Report, human};
use sizegate_store::MeasuredTarget;
use sizegate_store::history::{CommitStatus, Repository};

use super::PageError;
use super::target_detail::{
    BaselineChoice, Measured, TargetDetail, decide_baseline, target_detail,
};
use super::verdict::{VerdictView, verdict_view};
use super::view::{self, date, short};
use crate::session::Reader;
use crate::{ApiError, AppState};

/// Changes listed per kind on the commit page (the PR page lists them all,
/// up to [`MAX_PR_CHANGES`]).
const COMMIT_CHANGES: usize = 15;
/// Hard cap on the rows of one change table, so a page stays bounded.
const MAX_PR_CHANGES: usize = 2_000;

/// What the target details of a commit are built from, read with one
/// query per table for all its targets.
struct CommitReads {
    measured: Vec<MeasuredTarget>,
    /// Per target id: the measured baseline's sha and report key.
    baselines: HashMap<i64, (String, String)>,
    /// Report key → the report, for the diffs and the image views.
    reports: HashMap<String, Result<Report, sizegate_store::Error>>,
}

impl CommitReads {
    async fn load(
        state: &AppState,
        repository_id: i64,
        sha: &str,
        choice: &BaselineChoice,
    ) -> Result<Self, PageError> {
        let measured = state.store.commit_measurements(repository_id, sha).await?;
        let wanted: Vec<(i64, Vec<String>)> = measured
            .iter()
            .filter_map(|m| Some((m.target_id, choice.for_target(&m.target).ok()?)))
            .collect();
        let baselines = state.store.first_measured_each(&wanted).await?;
        // The diffs need both reports; an image's layers and files live in
        // its report only.
        let report_keys: Vec<&str> = measured
            .iter()
            .flat_map(|m| {
                let base = baselines.get(&m.target_id).map(|(_, key)| key.as_str());
                let head =
                    (base.is_some() || m.sizes.uncompressed > 0).then_some(m.report_key.as_str());
                base.into_iter().chain(head)
            })
            .collect();
        let reports = state
            .store
            .read_reports(state.blobs.as_ref(), &report_keys)
            .await?;
        Ok(Self {
            measured,
            baselines,
            reports,
        })
    }

    /// An image target's report, if it could be read.
    fn image_report(&self, m: &MeasuredTarget) -> Option<&Report> {
        if m.sizes.uncompressed == 0 {
            return None;
        }
        match self.reports.get(&m.report_key)? {
            Ok(report) => Some(report),
            Err(e) => {
                tracing::warn!(error = %e, "reading an image report");
                None
            }
        }
    }
}

/// The details of every target of `commit`, with the diff against the
/// baseline `choice` names: the store is read once, the rest is pure.
async fn target_details(
    state: &AppState,
    repository: &Repository,
    commit: &CommitStatus,
    choice: &BaselineChoice,
    change_limit: usize,
) -> Result<Vec<TargetDetail>, PageError> {
    let owner_repo = format!("{}/{}", repository.owner, repository.name);
    let reads = CommitReads::load(state, repository.id, &commit.sha, choice).await?;
    Ok(commit
        .targets
        .iter()
        .map(|status| {
            let measured = reads
                .measured
                .iter()
                .find(|m| m.target == status.target)
                .map(|m| Measured {
                    measurement: m,
                    image: reads.image_report(m),
                    baseline: decide_baseline(
                        choice,
                        m,
                        reads.baselines.get(&m.target_id),
                        &reads.reports,
                    ),
                });
            target_detail(&owner_repo, status, measured, change_limit)
        })
        .collect())
}

#[derive(Template)]
#[template(path = "commit.html")]
struct CommitPage {
    logged_in: bool,
    repo: String,
    repo_href: String,
    sha: String,
    branch: String,
    pull: String,
    pull_href: String,
    verdict: Option<VerdictView>,
    include_comment: bool,
    verdict_missing: &'static str,
    targets: Vec<TargetDetail>,
}

/// `/repos/{owner}/{repo}/commits/{sha}`.
pub(super) async fn commit_page(
    State(state): State<AppState>,
    reader: Reader,
    Path((owner, repo, sha)): Path<(String, String, String)>,
) -> Result<Html<String>, PageError> {
    let repository = view::repository(&state, reader, &owner, &repo).await?;
    let commit = crate::api::uploaded_commit(&state, repository.id, &owner, &repo, &sha).await?;
    let sha = commit.sha.clone();
    let stored = state.store.commit_evaluation(repository.id, &sha).await?;
    let baselines = BaselineChoice::new(&commit, stored.as_ref());
    let targets = target_details(&state, &repository, &commit, &baselines, COMMIT_CHANGES).await?;
    let verdict = stored.map(|stored| verdict_view(&format!("{owner}/{repo}"), &stored));
    Ok(Html(
        CommitPage {
            logged_in: reader.can_read_private,
            repo: format!("{owner}/{repo}"),
            repo_href: format!("/repos/{owner}/{repo}"),
            branch: commit.branch.clone().unwrap_or_default(),
            pull: commit
                .pr_number
                .map(|n| format!("#{n}"))
                .unwrap_or_default(),
            pull_href: commit
                .pr_number
                .map(|n| format!("/repos/{owner}/{repo}/pulls/{n}"))
                .unwrap_or_default(),
            sha,
            verdict,
            include_comment: false,
            verdict_missing: "",
            targets,
        }
        .render()?,
    ))
}

struct PushView {
    sha: String,
    short: String,
    href: String,
    date: String,
    base: String,
    sizes: String,
}

#[derive(Template)]
#[template(path = "pull.html")]
struct PullPage {
    logged_in: bool,
    repo: String,
    repo_href: String,
    number: i64,
    head: String,
    head_short: String,
    head_href: String,
    pushes: Vec<PushView>,
    verdict: Option<VerdictView>,
    include_comment: bool,
    verdict_missing: &'static str,
    targets: Vec<TargetDetail>,
}

/// `/repos/{owner}/{repo}/pulls/{number}`.
pub(super) async fn pull_page(
    State(state): State<AppState>,
    reader: Reader,
    Path((owner, repo, number)): Path<(String, String, String)>,
) -> Result<Html<String>, PageError> {
    let repository = view::repository(&state, reader, &owner, &repo).await?;
    let number: i64 = number.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::NotFound(format!("no pull request `{}`", number.escape_default()))
    })?;
    let pushes = state
        .store
        .pull_request_pushes(repository.id, number)
        .await?;
    let Some(head) = pushes.last() else {
        return Err(ApiError::NotFound(format!(
            "no upload for pull request #{number} in {owner}/{repo}"
        ))
        .into());
    };
    let commit = state
        .store
        .commit_status(repository.id, &head.sha)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("commit {} vanished", head.sha)))?;
    let stored = state
        .store
        .commit_evaluation(repository.id, &head.sha)
        .await?;
    let baselines = BaselineChoice::new(&commit, stored.as_ref());
    let targets = target_details(&state, &repository, &commit, &baselines, MAX_PR_CHANGES).await?;
    let verdict = stored.map(|stored| verdict_view(&format!("{owner}/{repo}"), &stored));
    let shas: Vec<String> = pushes.iter().map(|p| p.sha.clone()).collect();
    let mut sizes: HashMap<String, Vec<String>> = HashMap::new();
    for (sha, target, shipped) in state.store.shipped_sizes(repository.id, &shas).await? {
        sizes
            .entry(sha)
            .or_default()
            .push(format!("{target} {}", human::size(shipped)));
    }
    let push_views = pushes
        .iter()
        .rev()
        .map(|push| PushView {
            short: short(&push.sha).to_owned(),
            href: format!("/repos/{owner}/{repo}/commits/{}", push.sha),
            date: date(push.created_at),
            base: push
                .base_sha
                .as_deref()
                .map(short)
                .unwrap_or("—")
                .to_owned(),
            sizes: sizes
                .get(&push.sha)
                .map(|list| list.join(", "))
                .unwrap_or_default(),
            sha: push.sha.clone(),
        })
        .collect();
    Ok(Html(
        PullPage {
            logged_in: reader.can_read_private,
            repo: format!("{owner}/{repo}"),
            repo_href: format!("/repos/{owner}/{repo}"),
            number,
            head_short: short(&head.sha).to_owned(),
            head_href: format!("/repos/{owner}/{repo}/commits/{}", head.sha),
            head: head.sha.clone(),
            pushes: push_views,
            verdict,
            include_comment: true,
            verdict_missing: "The gate's verdict for this push appears here once the worker has evaluated it.",
            targets,
        }
        .render()?,
    ))
}
