//! Post-merge step alerts over HTTP: the JSON list
//! (`GET /api/v1/repos/{owner}/{repo}/alerts`, newest first), a state change
//! (`POST /api/v1/repos/{owner}/{repo}/alerts/{id}` with an upload token of
//! the repository) and the Atom feed (`/repos/{owner}/{repo}/alerts.atom`).
//! Reads follow the rules of every other repository read: a private
//! repository needs a read token or a session.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use sizegate_store::alerts::{Alert, AlertState};

use crate::api::find_repository;
use crate::auth::{AuthMethod, Uploader};
use crate::session::Reader;
use crate::{ApiError, AppState};

/// Alerts in one answer or feed.
const MAX_ALERTS: i64 = 200;

/// Alert routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/repos/{owner}/{repo}/alerts", get(list))
        .route("/api/v1/repos/{owner}/{repo}/alerts/{id}", post(set_state))
        .route("/repos/{owner}/{repo}/alerts.atom", get(feed))
}

async fn list(
    State(state): State<AppState>,
    reader: Reader,
    Path((owner, repo)): Path<(String, String)>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    let repository = find_repository(&state, reader, &owner, &repo).await?;
    Ok(Json(
        state.store.list_alerts(repository.id, MAX_ALERTS).await?,
    ))
}

/// The body of a state change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateChange {
    state: String,
}

async fn set_state(
    State(state): State<AppState>,
    uploader: Uploader,
    Path((owner, repo, id)): Path<(String, String, String)>,
    body: Result<Json<StateChange>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Alert>, ApiError> {
    let name = sizegate_store::RepoName::parse(&format!("{owner}/{repo}"))
        .map_err(|_| ApiError::NotFound(format!("no repository {owner}/{repo}")))?;
    uploader.check_repository(&name)?;
    let token_id = match uploader.method {
        AuthMethod::UploadToken { token_id } => token_id,
        AuthMethod::GithubOidc { .. } => {
            return Err(ApiError::Forbidden(
                "changing an alert needs an upload token of the repository, not a CI OIDC token"
                    .into(),
            ));
        }
    };
    let Json(change) = body.map_err(|e| {
        ApiError::BadRequest(format!(
            "expected a JSON body {{\"state\": \"open\" | \"acknowledged\" | \"resolved\"}}: {}",
            e.body_text()
        ))
    })?;
    let new_state = AlertState::parse(&change.state).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "unknown state `{}`: use open, acknowledged or resolved",
            change.state.escape_default()
        ))
    })?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("no alert `{}`", id.escape_default())))?;
    state
        .store
        .set_alert_state(
            uploader.repository_id,
            id,
            new_state,
            &format!("token {token_id}"),
        )
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no alert {id} in {owner}/{repo}")))
}

async fn feed(
    State(state): State<AppState>,
    reader: Reader,
    Path((owner, repo)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let repository = find_repository(&state, reader, &owner, &repo).await?;
    let alerts = state.store.list_alerts(repository.id, MAX_ALERTS).await?;
    let base = state
        .config
        .public_url
        .as_deref()
        .unwrap_or("")
        .trim_end_matches('/')
        .to_owned();
    let body = render_feed(&base, &owner, &repo, repository.created_at, &alerts);
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        body,
    ))
}

/// Escape text for XML content and attribute values.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot hold at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The Atom feed of a repository's alerts, newest first. `base` is the
/// public URL (may be empty: links are then relative to the server).
pub(crate) fn render_feed(
    base: &str,
    owner: &str,
    repo: &str,
    created_at: DateTime<Utc>,
    alerts: &[Alert],
) -> String {
    let page = format!("{base}/repos/{owner}/{repo}/alerts");
    let updated = alerts
        .iter()
        .map(|a| a.updated_at)
        .max()
        .unwrap_or(created_at);
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let _ = writeln!(
        out,
        "  <id>{}</id>\n  <title>{}</title>\n  <updated>{}</updated>\n  <link rel=\"alternate\" href=\"{}\"/>\n  <link rel=\"self\" href=\"{}.atom\"/>",
        xml(&format!("{page}.atom")),
        xml(&format!("sizegate alerts: {owner}/{repo}")),
        rfc3339(updated),
        xml(&page),
        xml(&page),
    );
    for alert in alerts {
        let title = sizegate_worker::alert_text(owner, repo, alert);
        let range = match &alert.range_start {
            Some(start) => format!("commits after {start} up to {}", alert.commit),
            None => format!("commit {}", alert.commit),
        };
        let summary = format!(
            "{title}. Culprit: {range}. Level {} → {} bytes. State: {}.",
            alert.before, alert.after, alert.state
        );
        let _ = writeln!(
            out,
            "  <entry>\n    <id>{}</id>\n    <title>{}</title>\n    <updated>{}</updated>\n    <published>{}</published>\n    <link rel=\"alternate\" href=\"{}\"/>\n    <summary>{}</summary>\n  </entry>",
            xml(&format!("{page}#alert-{}", alert.id)),
            xml(&title),
            rfc3339(alert.updated_at),
            rfc3339(alert.created_at),
            xml(&format!("{page}#alert-{}", alert.id)),
            xml(&summary),
        );
    }
    out.push_str("</feed>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feed_escapes_every_name() {
        let alert = Alert {
            id: 7,
            target: "<script>&\"x\"".into(),
            metric: "shipped".into(),
            branch: "main".into(),
            commit: "c".repeat(40),
            range_start: None,
            delta: 4096,
            percent: 1.0,
            before: 409_600,
            after: 413_696,
            author: None,
            pr_number: None,
            changes: serde_json::json!({}),
            state: "open".into(),
            state_changed_by: None,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        };
        let feed = render_feed(
            "https://sg.example",
            "acme",
            "app",
            DateTime::UNIX_EPOCH,
            &[alert],
        );
        assert!(!feed.contains("<script>"), "{feed}");
        assert!(feed.contains("&lt;script&gt;&amp;&quot;x&quot;"), "{feed}");
        assert!(feed.contains("<id>https://sg.example/repos/acme/app/alerts#alert-7</id>"));
        assert!(feed.contains("<updated>1970-01-01T00:00:00Z</updated>"));
        assert_eq!(xml("a\u{1}b'"), "ab&apos;");
    }
}
