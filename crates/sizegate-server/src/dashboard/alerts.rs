//! `/repos/{owner}/{repo}/alerts`: the repository's post-merge step alerts,
//! newest first, with their culprit, state and deliveries; the repository
//! page shows the open ones. State changes go through the API
//! (`POST /api/v1/repos/{owner}/{repo}/alerts/{id}`).

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Html;
use sizegate_analyze::human;
use sizegate_store::alerts::Alert;

use super::PageError;
use super::view;
use crate::AppState;
use crate::session::Reader;

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
    Path((owner, repo)): Path<(String, String)>,
) -> Result<Html<String>, PageError> {
    let repository = view::repository(&state, reader, &owner, &repo).await?;
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
            name: format!("{owner}/{repo}"),
            repo_href: format!("/repos/{owner}/{repo}"),
            feed_href: format!("/repos/{owner}/{repo}/alerts.atom"),
            alerts: rows,
        }
        .render()?,
    ))
}
