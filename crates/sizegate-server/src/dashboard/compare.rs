//! `/repos/{owner}/{repo}/compare/{base}...{head}`: the release to release
//! report of the JSON API as a page (a table per target: size change,
//! units and dependency versions moved, steps in between with links to
//! their commit pages), and `/repos/{owner}/{repo}/compare?base=&head=`,
//! the repository page's form, which redirects to it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Redirect};
use serde::Deserialize;
use sizegate_analyze::human;

use super::PageError;
use super::view::{self, short, url};
use crate::compare::{Comparison, compare};
use crate::session::Reader;
use crate::{ApiError, AppState};

struct Row {
    name: String,
    base: String,
    head: String,
    change: String,
    class: &'static str,
}

struct StepRow {
    commit: String,
    commit_href: String,
    previous: String,
    previous_href: String,
    before: String,
    after: String,
    change: String,
    class: &'static str,
}

struct TargetSection {
    name: String,
    href: String,
    summary: Row,
    units: Vec<Row>,
    dependencies: Vec<Row>,
    steps: Vec<StepRow>,
    note: Option<String>,
}

#[derive(Template)]
#[template(path = "compare.html")]
struct ComparePage {
    logged_in: bool,
    name: String,
    repo_href: String,
    base: String,
    base_href: String,
    head: String,
    head_href: String,
    metric: &'static str,
    targets: Vec<TargetSection>,
}

fn class(delta: i64) -> &'static str {
    match delta.cmp(&0) {
        std::cmp::Ordering::Greater => "up",
        std::cmp::Ordering::Less => "down",
        std::cmp::Ordering::Equal => "same",
    }
}

fn size(value: Option<u64>) -> String {
    value.map_or_else(|| "—".to_owned(), human::size)
}

fn label(sha: &str, tag: Option<&str>) -> String {
    match tag {
        Some(tag) => format!("{tag} ({})", short(sha)),
        None => short(sha).to_owned(),
    }
}

fn page(comparison: Comparison, logged_in: bool) -> ComparePage {
    let repo = comparison.repository.clone();
    let commit_href = |sha: &str| format!("/repos/{repo}/commits/{sha}");
    let targets = comparison
        .targets
        .into_iter()
        .map(|t| TargetSection {
            href: format!("/repos/{repo}/targets/{}", url(&t.target)),
            summary: Row {
                name: t.target.clone(),
                base: size(t.base_size),
                head: size(t.head_size),
                change: match (t.delta, t.base_size) {
                    (Some(d), Some(b)) => format!("{} ({})", human::delta(d), human::percent(d, b)),
                    _ => "only on one side".to_owned(),
                },
                class: class(t.delta.unwrap_or(0)),
            },
            name: t.target,
            units: t
                .units
                .into_iter()
                .map(|u| Row {
                    name: u.name,
                    base: human::size(u.base),
                    head: human::size(u.head),
                    change: human::delta(u.delta),
                    class: class(u.delta),
                })
                .collect(),
            dependencies: t
                .dependencies
                .into_iter()
                .map(|d| Row {
                    name: d.name,
                    base: d.base.unwrap_or_else(|| "—".into()),
                    head: d.head.unwrap_or_else(|| "—".into()),
                    change: d.delta.map_or_else(String::new, human::delta),
                    class: class(d.delta.unwrap_or(0)),
                })
                .collect(),
            steps: t
                .steps
                .into_iter()
                .map(|s| StepRow {
                    commit_href: commit_href(&s.commit),
                    commit: short(&s.commit).to_owned(),
                    previous_href: commit_href(&s.previous),
                    previous: short(&s.previous).to_owned(),
                    before: human::size(s.before),
                    after: human::size(s.after),
                    change: format!("{} ({:+.2}%)", human::delta(s.delta), s.percent),
                    class: class(s.delta),
                })
                .collect(),
            note: t.note,
        })
        .collect();
    ComparePage {
        logged_in,
        repo_href: format!("/repos/{repo}"),
        base: label(&comparison.base.sha, comparison.base.tag.as_deref()),
        base_href: commit_href(&comparison.base.sha),
        head: label(&comparison.head.sha, comparison.head.tag.as_deref()),
        head_href: commit_href(&comparison.head.sha),
        name: repo.clone(),
        metric: comparison.metric.as_str(),
        targets,
    }
}

/// The compare page.
pub(super) async fn compare_page(
    State(state): State<AppState>,
    reader: Reader,
    Path((owner, repo, range)): Path<(String, String, String)>,
) -> Result<Html<String>, PageError> {
    let repository = view::repository(&state, reader, &owner, &repo).await?;
    let comparison = compare(&state, &repository, &range).await?;
    Ok(Html(page(comparison, reader.can_read_private).render()?))
}

#[derive(Debug, Deserialize)]
pub(super) struct CompareForm {
    base: Option<String>,
    head: Option<String>,
}

/// The repository page's form: on to the compare page.
pub(super) async fn compare_form(
    reader: Reader,
    State(state): State<AppState>,
    Path((owner, repo)): Path<(String, String)>,
    Query(form): Query<CompareForm>,
) -> Result<Redirect, PageError> {
    let repository = view::repository(&state, reader, &owner, &repo).await?;
    let base = form.base.unwrap_or_default();
    let head = form.head.unwrap_or_default();
    let (base, head) = (base.trim(), head.trim());
    if base.is_empty() || head.is_empty() {
        return Err(ApiError::BadRequest(
            "pick a base and a head (a tag, a sha or a sha prefix) to compare".into(),
        )
        .into());
    }
    Ok(Redirect::to(&format!(
        "/repos/{}/{}/compare/{}...{}",
        repository.owner,
        repository.name,
        url(base),
        url(head)
    )))
}
