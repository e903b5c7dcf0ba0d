//! `POST /webhooks/github`: GitHub App webhooks. A delivery without a
//! well-formed `X-Hub-Signature-256` is refused before its body is read;
//! the body is then read (at most [`MAX_WEBHOOK_BYTES`]) with its HMAC
//! computed on the way, and checked before anything is written,
//! the event handled, then its `X-GitHub-Delivery` id recorded (a
//! redelivery of a handled event is a 200 no-op). Evaluations are requested
//! through the job queue, so the answer is fast.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, header::CONTENT_LENGTH};
use axum::routing::post;
use futures_util::StreamExt;
use serde_json::{Value, json};
use sizegate_github::webhook::{
    InstallationAction, PullRequestEvent, RepositoryFacts, SignatureCheck, WebhookEvent,
    parse_event,
};
use sizegate_store::github_events::PullRequestState;
use sizegate_store::repo_settings::GithubRepositoryFacts;

use crate::{ApiError, AppState};

/// Largest webhook body accepted (GitHub caps payloads at 25 MiB).
pub const MAX_WEBHOOK_BYTES: usize = 25 << 20;

/// Webhook routes.
pub fn router() -> Router<AppState> {
    // The handler bounds the body itself, while it hashes it.
    Router::new().route(
        "/webhooks/github",
        post(github_webhook).layer(DefaultBodyLimit::disable()),
    )
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "webhook rejected: the body is larger than {MAX_WEBHOOK_BYTES} bytes"
    ))
}

/// Read the body, at most [`MAX_WEBHOOK_BYTES`] (a larger declared length
/// is refused unread), feeding `check` on the way; then check it.
async fn read_signed_body(
    headers: &HeaderMap,
    body: Body,
    mut check: SignatureCheck,
) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_WEBHOOK_BYTES as u64) {
        return Err(too_large());
    }
    let capacity = declared.map_or(0, |n| n as usize);
    let mut bytes = Vec::with_capacity(capacity);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("reading the webhook body: {e}")))?;
        if bytes.len() + chunk.len() > MAX_WEBHOOK_BYTES {
            return Err(too_large());
        }
        check.update(&chunk);
        bytes.extend_from_slice(&chunk);
    }
    check
        .finish()
        .map_err(|e| ApiError::Unauthorized(format!("webhook rejected: {e}")))?;
    Ok(bytes)
}

async fn github_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let Some(secret) = state.config.webhook_secret.as_deref() else {
        return Err(ApiError::Unavailable(
            "webhooks are off: set SIZEGATE_GITHUB_WEBHOOK_SECRET".to_owned(),
        ));
    };
    // Judged before a byte of the body is read.
    let check = SignatureCheck::start(secret.as_bytes(), header(&headers, "x-hub-signature-256"))
        .map_err(|e| ApiError::Unauthorized(format!("webhook rejected: {e}")))?;
    let body = read_signed_body(&headers, body, check).await?;
    let event_name = header(&headers, "x-github-event")
        .ok_or_else(|| ApiError::BadRequest("missing X-GitHub-Event header".to_owned()))?;
    let delivery = header(&headers, "x-github-delivery")
        .filter(|d| !d.is_empty() && d.len() <= 200)
        .ok_or_else(|| ApiError::BadRequest("missing X-GitHub-Delivery header".to_owned()))?;
    let event =
        parse_event(event_name, &body).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let action = match &event {
        WebhookEvent::Ignored { action, .. } => action.clone(),
        _ => None,
    };
    if state.store.webhook_delivery_seen(delivery).await? {
        return Ok(Json(json!({ "delivery": delivery, "duplicate": true })));
    }
    // The id is recorded only once the event is handled: a delivery whose
    // handling failed (the database went away, say) answers an error and is
    // handled again when GitHub redelivers it. Every handler is idempotent
    // (upserts, a requeue of the evaluation), so two concurrent deliveries
    // of one id do no harm either.
    let evaluations = handle_event(&state, event).await?;
    state
        .store
        .record_webhook_delivery(delivery, event_name, action.as_deref())
        .await?;
    Ok(Json(json!({
        "delivery": delivery,
        "duplicate": false,
        "evaluations_requested": evaluations,
    })))
}

/// Record what the event says; returns how many evaluations were requested.
async fn handle_event(state: &AppState, event: WebhookEvent) -> Result<usize, ApiError> {
    match event {
        WebhookEvent::PullRequest(pr) => pull_request(state, *pr).await,
        WebhookEvent::CheckRunRerequested(run) => {
            request(state, &run.repo.to_string(), &run.head_sha).await
        }
        WebhookEvent::CheckSuiteRerequested(suite) => {
            request(state, &suite.repo.to_string(), &suite.head_sha).await
        }
        WebhookEvent::Installation(change) => {
            let id = i64::try_from(change.installation_id)
                .map_err(|_| ApiError::Unprocessable("installation id out of range".to_owned()))?;
            if change.action == InstallationAction::Deleted {
                state.store.delete_installation(id).await?;
                if let Some(github) = &state.config.github {
                    github.forget_installation(change.installation_id);
                }
            } else {
                learn(state, &change.facts).await?;
                let repos: Vec<String> =
                    change.repositories.iter().map(|r| r.to_string()).collect();
                state
                    .store
                    .upsert_installation(id, &change.account, &repos)
                    .await?;
            }
            Ok(0)
        }
        WebhookEvent::InstallationRepositories(change) => {
            let id = i64::try_from(change.installation_id)
                .map_err(|_| ApiError::Unprocessable("installation id out of range".to_owned()))?;
            learn(state, &change.facts).await?;
            if let Some(mut repos) = state.store.installation_repositories(id).await? {
                let removed: Vec<String> = change.removed.iter().map(|r| r.to_string()).collect();
                repos.retain(|r| !removed.contains(r));
                repos.extend(change.added.iter().map(|r| r.to_string()));
                repos.sort();
                repos.dedup();
                let account = change
                    .added
                    .first()
                    .or(change.removed.first())
                    .map(|r| r.owner().to_owned())
                    .unwrap_or_default();
                state
                    .store
                    .upsert_installation(id, &account, &repos)
                    .await?;
            }
            if let Some(github) = &state.config.github {
                for repo in &change.removed {
                    github.forget_repository(repo);
                }
            }
            Ok(0)
        }
        WebhookEvent::Push(push) => {
            // Only the authors' logins are kept, for alerts; pushes to
            // repositories nothing was uploaded for are dropped.
            if let Some(repository) = state
                .store
                .find_repository(push.repo.owner(), push.repo.name())
                .await?
            {
                state
                    .store
                    .record_commit_authors(repository.id, &push.authors)
                    .await?;
            }
            Ok(0)
        }
        WebhookEvent::Ignored { .. } => Ok(0),
    }
}

/// Record what a payload says of registered repositories: GitHub's ids
/// (which OIDC uploads must then match), that one is private (it becomes
/// private on the dashboard), its default branch (a protected branch).
async fn learn(state: &AppState, facts: &[RepositoryFacts]) -> Result<(), ApiError> {
    for fact in facts {
        let to_db = |v: Option<u64>| v.and_then(|v| i64::try_from(v).ok());
        state
            .store
            .learn_github_repository(&GithubRepositoryFacts {
                full_name: fact.full_name.clone(),
                id: to_db(fact.id),
                owner_id: to_db(fact.owner_id),
                private: fact.private,
                default_branch: fact.default_branch.clone(),
            })
            .await?;
    }
    Ok(())
}

async fn pull_request(state: &AppState, pr: PullRequestEvent) -> Result<usize, ApiError> {
    learn(state, std::slice::from_ref(&pr.facts)).await?;
    let Some(repository) = state
        .store
        .find_repository(pr.repo.owner(), pr.repo.name())
        .await?
    else {
        // Nothing uploaded for this repository yet: nothing to judge.
        return Ok(0);
    };
    let number = i64::try_from(pr.number)
        .map_err(|_| ApiError::Unprocessable("pull request number out of range".to_owned()))?;
    if let Some(merge_sha) = &pr.merge_commit_sha {
        // A post-merge alert on this commit names the pull request.
        state
            .store
            .record_pull_request_merge(repository.id, number, merge_sha, pr.author.as_deref())
            .await?;
    }
    // Deliveries may come out of order: the payload's `updated_at` decides
    // which state of the labels is the newest.
    let updated_at = pr
        .updated_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    let applied = state
        .store
        .upsert_pull_request_at(
            repository.id,
            &PullRequestState {
                number,
                head_sha: Some(pr.head_sha.to_ascii_lowercase()),
                base_sha: Some(pr.base_sha.to_ascii_lowercase()),
                labels: pr.labels.clone(),
            },
            updated_at,
        )
        .await?;
    if !applied {
        tracing::info!(
            number,
            "pull request delivery older than the state recorded; ignored"
        );
        return Ok(0);
    }
    if !pr.action.needs_evaluation() {
        return Ok(0);
    }
    let requested = state
        .store
        .request_evaluation(repository.id, &pr.head_sha.to_ascii_lowercase())
        .await?;
    Ok(usize::from(requested))
}

async fn request(state: &AppState, full_name: &str, sha: &str) -> Result<usize, ApiError> {
    let Some((owner, name)) = full_name.split_once('/') else {
        return Ok(0);
    };
    let Some(repository) = state.store.find_repository(owner, name).await? else {
        return Ok(0);
    };
    let requested = state
        .store
        .request_evaluation(repository.id, &sha.to_ascii_lowercase())
        .await?;
    Ok(usize::from(requested))
}
