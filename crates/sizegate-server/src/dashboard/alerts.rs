//! `/repos/{owner}/{repo}/alerts`: the repository's post-merge step alerts,
//! newest first, with their culprit, state and deliveries; the repository
//! page shows the open ones. A logged-in reader changes an alert's state
//! with the page's buttons (`POST /repos/{owner}/{repo}/alerts/{id}/state`,
//! with the session's form token); scripts use the API
//! (`POST /api/v1/repos/{owner}/{repo}/alerts/{id}`).

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{Html, Redirect};
use serde::Deserialize;
use sizegate_analyze::human;
use sizegate_store::alerts::{Alert, AlertState};

use super::PageError;
use super::view;
use crate::session::{Reader, SESSION_COOKIE, cookie, form_token, form_token_matches};
use crate::{ApiError, AppState};

/// One alert as the page shows it.
pub(super) struct AlertRow {
    pub id: i64,
    pub text: String,
    pub target_href: String,
    pub target: String,
    pub culprit: String,
    pub culprit_href: String,
    pub delta: String,
    pub class: &'static str,
    pub state: String,
    pub changes: String,
    pub deliveries: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    logged_in: bool,
    /// The session's form token: the state buttons show when set.
    form_token: Option<String>,
    name: String,
    repo_href: String,
    feed_href: String,
    alerts: Vec<AlertRow>,
}

/// The rows of `alerts` of `owner/repo` (deliveries left empty).
pub(super) fn rows(owner: &str, repo: &str, alerts: &[Alert]) -> Vec<AlertRow> {
    alerts
        .iter()
        .map(|a| {
            let short = |sha: &str| sha.get(..12).unwrap_or(sha).to_owned();
            let culprit = match &a.range_start {
                None => short(&a.commit),
                Some(start) => format!("{}…{}", short(start), short(&a.commit)),
            };
            let changes = a.changes["units"]
                .as_array()
                .map(|units| {
                    units
                        .iter()
                        .filter_map(|u| {
                            Some(format!(
                                "{} {}",
                                u["name"].as_str()?,
                                human::delta(u["delta"].as_i64()?)
                            ))
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            AlertRow {
                id: a.id,
                text: sizegate_worker::alert_text(owner, repo, a),
                target_href: format!("/repos/{owner}/{repo}/targets/{}", a.target),
                target: a.target.clone(),
                culprit,
                culprit_href: format!("/repos/{owner}/{repo}/commits/{}", a.commit),
                delta: format!("{} ({:+.2}%)", human::delta(a.delta), a.percent),
                class: if a.delta > 0 { "up" } else { "down" },
                state: a.state.clone(),
                changes,
                deliveries: String::new(),
                created: a.created_at.format("%Y-%m-%d %H:%M").to_string(),
            }
        })
        .collect()
}

/// `/repos/{owner}/{repo}/alerts`.
pub(super) async fn page(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    Path((owner, repo)): Path<(String, String)>,
) -> Result<Html<String>, PageError> {
    let repository = view::repository(&state, reader, &owner, &repo).await?;
    // Buttons only for a browser session (a bearer read token is for
    // scripts, which use the API).
    let form_token = match cookie(&headers, SESSION_COOKIE) {
        Some(secret) if state.store.session_read_token(secret).await?.is_some() => {
            Some(form_token(secret))
        }
        _ => None,
    };
    let alerts = state.store.list_alerts(repository.id, 200).await?;
    let mut rows = rows(&owner, &repo, &alerts);
    for row in &mut rows {
        let deliveries = state.store.alert_deliveries(row.id).await?;
        row.deliveries = deliveries
            .iter()
            .map(|d| match (&d.delivered_at, &d.failed_at) {
                (Some(_), _) => format!("{}: delivered", d.sink),
                (None, Some(_)) => format!(
                    "{}: failed ({})",
                    d.sink,
                    d.last_error.as_deref().unwrap_or("?")
                ),
                (None, None) => match &d.last_error {
                    Some(e) => format!("{}: retrying after {} attempts ({e})", d.sink, d.attempts),
                    None => format!("{}: pending", d.sink),
                },
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    Ok(Html(
        AlertsPage {
            logged_in: reader.can_read_private,
            form_token,
            name: format!("{owner}/{repo}"),
            repo_href: format!("/repos/{owner}/{repo}"),
            feed_href: format!("/repos/{owner}/{repo}/alerts.atom"),
            alerts: rows,
        }
        .render()?,
    ))
}

/// The form of a state button.
#[derive(Debug, Deserialize)]
pub(super) struct StateForm {
    state: String,
    form_token: String,
}

/// `POST /repos/{owner}/{repo}/alerts/{id}/state`: a logged-in reader who
/// may read the repository sets an alert's state; back to the page.
pub(super) async fn set_state(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    Path((owner, repo, id)): Path<(String, String, String)>,
    form: Result<Form<StateForm>, axum::extract::rejection::FormRejection>,
) -> Result<Redirect, PageError> {
    let forbidden = |why: &str| PageError(ApiError::Forbidden(why.to_owned()));
    let Some(secret) = cookie(&headers, SESSION_COOKIE) else {
        return Err(forbidden("log in with a read token to change alerts"));
    };
    let Some(token) = state.store.session_read_token(secret).await? else {
        return Err(forbidden(
            "the session expired: log in again to change alerts",
        ));
    };
    let Ok(Form(form)) = form else {
        return Err(forbidden("missing or invalid form token"));
    };
    if !form_token_matches(secret, &form.form_token) {
        return Err(forbidden("missing or invalid form token"));
    }
    let repository = view::repository(&state, reader, &owner, &repo).await?;
    let new_state = AlertState::parse(&form.state).ok_or_else(|| {
        PageError(ApiError::BadRequest(format!(
            "unknown state `{}`: use open, acknowledged or resolved",
            form.state.escape_default()
        )))
    })?;
    let id: i64 = id.parse().map_err(|_| {
        PageError(ApiError::NotFound(format!(
            "no alert `{}`",
            id.escape_default()
        )))
    })?;
    state
        .store
        .set_alert_state(repository.id, id, new_state, &format!("read token {token}"))
        .await?
        .ok_or_else(|| {
            PageError(ApiError::NotFound(format!(
                "no alert {id} in {owner}/{repo}"
            )))
        })?;
    Ok(Redirect::to(&format!(
        "/repos/{owner}/{repo}/alerts#alert-{id}"
    )))
}
