//! The JSON API: repositories and their targets, the status of a commit
//! per target with the gate's verdicts, what was reported for a commit, and
//! a target's history. Target names contain `/`, so the
//! target routes use a wildcard segment (percent-encoded `%2F` works too).

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sizegate_gate::{BaselineCommit, CheckStatus, Conclusion, Evaluation, Verdict};
use sizegate_store::evaluations::StoredEvaluation;
use sizegate_store::history::{
    CommitStatus, HistoryPoint, Repository, RepositorySummary, TargetStatus, TargetSummary,
};

use crate::session::Reader;
use crate::{ApiError, AppState};

/// Most history points in one page.
const MAX_PAGE: i64 = 500;
/// History points in a page by default.
const DEFAULT_PAGE: i64 = 50;

/// API routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/repos", get(list_repositories))
        .route("/api/v1/repos/{owner}/{repo}", get(repository))
        .route("/api/v1/repos/{owner}/{repo}/targets", get(targets))
        .route("/api/v1/repos/{owner}/{repo}/commits/{sha}", get(commit))
        .route(
            "/api/v1/repos/{owner}/{repo}/commits/{sha}/report",
            get(commit_report),
        )
        .route(
            "/api/v1/repos/{owner}/{repo}/targets/{*rest}",
            get(target_route),
        )
}

/// The repository `owner/repo` if `reader` may see it: a private one is
/// "not found" to anonymous readers, exactly like a missing one.
pub(crate) async fn find_repository(
    state: &AppState,
    reader: Reader,
    owner: &str,
    repo: &str,
) -> Result<Repository, ApiError> {
    // Names the database could never hold (NUL, `..`, ...) are simply not found.
    if !sizegate_store::RepoName::valid_part(owner) || !sizegate_store::RepoName::valid_part(repo) {
        return Err(ApiError::NotFound(format!("no repository {owner}/{repo}")));
    }
    state
        .store
        .find_repository(owner, repo)
        .await?
        .filter(|r| reader.may_read(r))
        .ok_or_else(|| ApiError::NotFound(format!("no repository {owner}/{repo}")))
}

async fn list_repositories(
    State(state): State<AppState>,
    reader: Reader,
) -> Result<Json<Vec<RepositorySummary>>, ApiError> {
    Ok(Json(
        state
            .store
            .list_repositories(reader.can_read_private)
            .await?,
    ))
}

#[derive(Debug, Serialize)]
struct RepositoryDetail {
    #[serde(flatten)]
    repository: Repository,
    targets: Vec<TargetSummary>,
}

async fn repository(
    State(state): State<AppState>,
    reader: Reader,
    Path((owner, repo)): Path<(String, String)>,
) -> Result<Json<RepositoryDetail>, ApiError> {
    let repository = find_repository(&state, reader, &owner, &repo).await?;
    let targets = state.store.list_targets(repository.id).await?;
    Ok(Json(RepositoryDetail {
        repository,
        targets,
    }))
}

async fn targets(
    State(state): State<AppState>,
    reader: Reader,
    Path((owner, repo)): Path<(String, String)>,
) -> Result<Json<Vec<TargetSummary>>, ApiError> {
    let repository = find_repository(&state, reader, &owner, &repo).await?;
    Ok(Json(state.store.list_targets(repository.id).await?))
}

/// A target's status plus the gate's verdict and baseline (`null` until
/// the commit is evaluated).
#[derive(Debug, Serialize)]
struct TargetStatusView {
    #[serde(flatten)]
    status: TargetStatus,
    verdict: Option<Verdict>,
    baseline: Option<BaselineCommit>,
}

/// The verdict and baseline of `target` in a stored evaluation.
pub(crate) fn target_verdict(
    evaluation: Option<&Evaluation>,
    target: &str,
) -> (Option<Verdict>, Option<BaselineCommit>) {
    evaluation
        .and_then(|e| e.targets.iter().find(|t| t.name == target))
        .map_or((None, None), |t| (Some(t.verdict), t.baseline.clone()))
}

#[derive(Debug, Serialize)]
struct CommitView {
    repository: String,
    sha: String,
    branch: Option<String>,
    pr_number: Option<i64>,
    base_sha: Option<String>,
    ancestors: Vec<String>,
    /// Every target done or failed.
    complete: bool,
    /// The gate: `in_progress` or `completed` (`null` before the first evaluation).
    gate_status: Option<CheckStatus>,
    /// The check's conclusion once completed: success, failure or neutral.
    conclusion: Option<Conclusion>,
    targets: Vec<TargetStatusView>,
}

/// A full commit sha from a URL, lower-cased; anything else is not found.
/// Shared by the JSON API and the dashboard pages.
pub(crate) fn valid_sha(sha: &str) -> Result<String, ApiError> {
    match sizegate_core::Sha::parse(sha) {
        Ok(sha) => Ok(sha.into()),
        Err(e) => Err(ApiError::NotFound(format!(
            "no commit `{}`: expected a full sha (40 hex digits)",
            e.shown
        ))),
    }
}

/// The upload status of commit `sha` (checked) of a repository, or 404.
pub(crate) async fn uploaded_commit(
    state: &AppState,
    repository_id: i64,
    owner: &str,
    repo: &str,
    sha: &str,
) -> Result<CommitStatus, ApiError> {
    let sha = valid_sha(sha)?;
    state
        .store
        .commit_status(repository_id, &sha)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no upload for commit {sha} in {owner}/{repo}")))
}

async fn commit(
    State(state): State<AppState>,
    reader: Reader,
    Path((owner, repo, sha)): Path<(String, String, String)>,
) -> Result<Json<CommitView>, ApiError> {
    let repository = find_repository(&state, reader, &owner, &repo).await?;
    let commit: CommitStatus = uploaded_commit(&state, repository.id, &owner, &repo, &sha).await?;
    let complete = commit.targets.iter().all(|t| t.status.is_finished());
    let evaluation = state
        .store
        .commit_evaluation(repository.id, &commit.sha)
        .await?;
    let judged = evaluation.as_ref().map(|e| &e.evaluation);
    Ok(Json(CommitView {
        repository: format!("{owner}/{repo}"),
        sha: commit.sha,
        branch: commit.branch,
        pr_number: commit.pr_number,
        base_sha: commit.base_sha,
        ancestors: commit.ancestors,
        complete,
        gate_status: evaluation.as_ref().map(|e| e.status),
        conclusion: evaluation.as_ref().and_then(|e| e.conclusion),
        targets: commit
            .targets
            .into_iter()
            .map(|status| {
                let (verdict, baseline) = target_verdict(judged, &status.target);
                TargetStatusView {
                    status,
                    verdict,
                    baseline,
                }
            })
            .collect(),
    }))
}

/// What was (or, without a GitHub App, would be) posted for a commit.
#[derive(Debug, Serialize)]
struct ReportView {
    repository: String,
    sha: String,
    #[serde(flatten)]
    evaluation: StoredEvaluation,
}

async fn commit_report(
    State(state): State<AppState>,
    reader: Reader,
    Path((owner, repo, sha)): Path<(String, String, String)>,
) -> Result<Json<ReportView>, ApiError> {
    let repository = find_repository(&state, reader, &owner, &repo).await?;
    let sha = valid_sha(&sha)?;
    let evaluation = state
        .store
        .commit_evaluation(repository.id, &sha)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "commit {sha} of {owner}/{repo} has not been evaluated (not uploaded, or not measured yet)"
            ))
        })?;
    Ok(Json(ReportView {
        repository: format!("{owner}/{repo}"),
        sha,
        evaluation,
    }))
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    branch: Option<String>,
    limit: Option<i64>,
    before: Option<i64>,
}

#[derive(Debug, Serialize)]
struct HistoryView {
    repository: String,
    target: String,
    branch: Option<String>,
    points: Vec<HistoryPoint>,
    /// The next (older) page, when there may be one.
    next: Option<String>,
}

/// `/targets/{target}/history`: the target name is everything between.
async fn target_route(
    State(state): State<AppState>,
    reader: Reader,
    Path((owner, repo, rest)): Path<(String, String, String)>,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<HistoryView>, ApiError> {
    let Some(target) = rest.strip_suffix("/history").filter(|t| !t.is_empty()) else {
        return Err(ApiError::NotFound(format!(
            "no such resource under targets/: use targets/{{target}}/history (got `{rest}`)"
        )));
    };
    if target.contains('\0') {
        return Err(ApiError::NotFound("no such target".into()));
    }
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let repository = find_repository(&state, reader, &owner, &repo).await?;
    let branch = query_branch(query.branch)?;
    let points = state
        .store
        .target_history(
            repository.id,
            target,
            branch.as_deref(),
            query.before,
            limit,
        )
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no target `{target}` in {owner}/{repo}")))?;
    let next = match points.last() {
        Some(last) if points.len() as i64 == limit => {
            let branch_param = branch
                .as_deref()
                .map(|b| format!("&branch={}", sizegate_core::url_path(b)))
                .unwrap_or_default();
            Some(format!(
                "/api/v1/repos/{owner}/{repo}/targets/{}/history?limit={limit}&before={}{branch_param}",
                sizegate_core::url_path(target),
                last.build_id
            ))
        }
        _ => None,
    };
    Ok(Json(HistoryView {
        repository: format!("{owner}/{repo}"),
        target: target.to_owned(),
        branch,
        points,
        next,
    }))
}

/// The `branch` of a query string: empty means none; control characters
/// (a NUL would reach the database) are refused, since no branch stored by
/// an upload can hold one.
pub(crate) fn query_branch(branch: Option<String>) -> Result<Option<String>, ApiError> {
    match branch.filter(|b| !b.is_empty()) {
        Some(b) if b.chars().any(char::is_control) => Err(ApiError::BadRequest(
            "branch must be printable (no control characters)".into(),
        )),
        other => Ok(other),
    }
}
