//! `GET /api/v1/repos/{owner}/{repo}/commits/{sha}/gate`: everything a CI
//! job waiting for the gate needs in one answer (`sizegate upload --wait`
//! polls it): the state of each target, whether the verdict is final, the
//! conclusion, and the comment as posted on the pull request. Readable by
//! whoever may read the repository, and by the repository's own upload
//! tokens (so a job can wait on a private repository with the token it
//! uploaded with). [`GateView`] is the one home of the answer's shape: the
//! OpenAPI schema derives from it and `sizegate upload --wait` reads it.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::api::target_verdict;
use crate::session::Reader;
use crate::{ApiError, AppState};

/// The gate route.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/repos/{owner}/{repo}/commits/{sha}/gate",
        get(commit_gate),
    )
}

/// One target while waiting.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GateTarget {
    /// Target name.
    pub target: String,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// The last error of a failed or retried analysis.
    pub error: Option<String>,
    /// The gate's verdict of this target once evaluated: `pass`, `fail`,
    /// `neutral`, `error`, `missing` or `pending`.
    pub verdict: Option<String>,
}

/// The gate of one commit.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GateView {
    /// `owner/repo`.
    pub repository: String,
    /// Commit sha.
    pub sha: String,
    /// True once every target is measured or failed and either the gate
    /// has judged each, or an analysis failed (then `conclusion` may still
    /// be `null`: the gate fails). Nothing changes after that unless
    /// something is uploaded again.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// `in_progress` or `completed`; `null` before the first evaluation.
    pub gate_status: Option<String>,
    /// `success`, `failure` or `neutral` once completed.
    pub conclusion: Option<String>,
    /// The check run's title.
    pub check_title: Option<String>,
    /// The pull request comment (markdown), as posted or as it would be.
    pub comment_markdown: Option<String>,
    /// Per target.
    pub targets: Vec<GateTarget>,
}

/// `?format=markdown`: only the comment, as `text/markdown` (empty before
/// the first evaluation), for scripts without a JSON reader.
#[derive(Debug, Deserialize)]
struct GateQuery {
    format: Option<String>,
}

async fn commit_gate(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    Query(query): Query<GateQuery>,
) -> Result<Response, ApiError> {
    let view = gate_view(&state, reader, &headers, &owner, &repo, &sha).await?;
    match query.format.as_deref() {
        None | Some("json") => Ok(Json(view).into_response()),
        Some("markdown") => Ok((
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            view.comment_markdown.unwrap_or_default(),
        )
            .into_response()),
        Some(other) => Err(ApiError::BadRequest(format!(
            "unknown format `{}`: use json or markdown",
            other.escape_default()
        ))),
    }
}

async fn gate_view(
    state: &AppState,
    reader: Reader,
    headers: &HeaderMap,
    owner: &str,
    repo: &str,
    sha: &str,
) -> Result<GateView, ApiError> {
    let not_found = || ApiError::NotFound(format!("no repository {owner}/{repo}"));
    if !sizegate_store::RepoName::valid_part(owner) || !sizegate_store::RepoName::valid_part(repo) {
        return Err(not_found());
    }
    let repository = state
        .store
        .find_repository(owner, repo)
        .await?
        .ok_or_else(not_found)?;
    if !reader.may_read(&repository) && !is_upload_token_of(state, headers, repository.id).await? {
        return Err(not_found());
    }
    let commit = crate::api::uploaded_commit(state, repository.id, owner, repo, sha).await?;
    let evaluation = state
        .store
        .commit_evaluation(repository.id, &commit.sha)
        .await?;
    let measured = commit.targets.iter().all(|t| t.status.is_finished());
    let judged = evaluation.as_ref().map(|e| &e.evaluation);
    // Final: every target measured, and either the check completed with
    // each target judged (not `pending`: the evaluation after its job is
    // in), or an analysis failed for good (the gate fails whatever the
    // others give; its re-evaluation may come later).
    let judged_all = evaluation
        .as_ref()
        .is_some_and(|e| e.status == sizegate_gate::CheckStatus::Completed)
        && commit.targets.iter().all(|t| {
            target_verdict(judged, &t.target)
                .0
                .is_some_and(|v| v != sizegate_gate::Verdict::Pending)
        });
    let is_final = measured
        && (judged_all
            || commit
                .targets
                .iter()
                .any(|t| t.status == sizegate_store::queue::JobState::Failed));
    let targets = commit
        .targets
        .into_iter()
        .map(|t| {
            let verdict = target_verdict(judged, &t.target)
                .0
                .map(|v| v.as_str().to_owned());
            GateTarget {
                target: t.target,
                status: t.status.as_str().to_owned(),
                attempts: t.attempts,
                max_attempts: t.max_attempts,
                error: t.error,
                verdict,
            }
        })
        .collect();
    Ok(GateView {
        repository: format!("{owner}/{repo}"),
        sha: commit.sha,
        is_final,
        gate_status: evaluation.as_ref().map(|e| e.status.as_str().to_owned()),
        conclusion: evaluation
            .as_ref()
            .and_then(|e| e.conclusion.map(|c| c.as_str().to_owned())),
        check_title: evaluation.as_ref().map(|e| e.check_title.clone()),
        comment_markdown: evaluation.map(|e| e.comment_markdown),
        targets,
    })
}

/// Whether the request carries an upload token of repository `id`.
async fn is_upload_token_of(
    state: &AppState,
    headers: &HeaderMap,
    id: i64,
) -> Result<bool, ApiError> {
    let Some(token) = crate::auth::bearer_token(headers) else {
        return Ok(false);
    };
    Ok(state
        .store
        .authenticate_upload_token(token)
        .await?
        .is_some_and(|owner| owner.repository_id == id))
}
