//! The home page (repositories with their targets' latest size, 30-day
//! change and sparkline) and the repository page (targets per metric with
//! the change over 30 days, budget and headroom, and a branch selector).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use chrono::{Duration, Utc};
use serde::Deserialize;
use sizegate_analyze::{Metric, human};
use sizegate_store::TargetRef;

use super::PageError;
use super::chart::sparkline;
use super::view::{self, METRICS, change, change_class, url};
use crate::AppState;
use crate::session::Reader;

/// Days the "change" columns look back.
const WINDOW_DAYS: i64 = 30;
/// Most points a sparkline is drawn from.
const SPARK_POINTS: i64 = 500;

/// The branch shown when none is asked for: `main`, `master`, or the
/// most recently used one.
pub(super) fn default_branch(branches: &[String]) -> Option<String> {
    ["main", "master"]
        .iter()
        .find(|b| branches.iter().any(|x| x == *b))
        .map(|b| (*b).to_owned())
        .or_else(|| branches.first().cloned())
}

struct HomeTarget {
    name: String,
    href: String,
    size: String,
    change: String,
    change_class: &'static str,
    spark: String,
}

struct HomeRepo {
    name: String,
    href: String,
    private: bool,
    branch: String,
    targets: Vec<HomeTarget>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    logged_in: bool,
    repos: Vec<HomeRepo>,
}

/// `/`: the repositories the reader may see.
pub(super) async fn home(
    State(state): State<AppState>,
    reader: Reader,
) -> Result<Html<String>, PageError> {
    let since = Utc::now() - Duration::days(WINDOW_DAYS);
    let mut repos = Vec::new();
    for summary in state
        .store
        .list_repositories(reader.can_read_private)
        .await?
    {
        let repository = view::repository(&state, reader, &summary.owner, &summary.name).await?;
        let branches = state.store.branches(repository.id).await?;
        let branch = default_branch(&branches);
        let mut targets = Vec::new();
        let refs = state.store.target_refs(repository.id).await?;
        let ids: Vec<i64> = refs.iter().map(|t| t.id).collect();
        // Two queries per repository, not two per target.
        let mut all_series = state
            .store
            .target_series_each(&ids, branch.as_deref(), Some(since), SPARK_POINTS)
            .await?;
        let mut all_before = state
            .store
            .target_point_at_each(&ids, branch.as_deref(), since)
            .await?;
        for TargetRef { id, name } in refs {
            let series = all_series.remove(&id).unwrap_or_default();
            let before = all_before.remove(&id);
            let Some(latest) = series.last().or(before.as_ref()) else {
                continue;
            };
            let now = latest.sizes.shipped;
            let then = before
                .as_ref()
                .or(series.first())
                .map_or(now, |p| p.sizes.shipped);
            let values: Vec<u64> = before
                .iter()
                .chain(series.iter())
                .map(|p| p.sizes.shipped)
                .collect();
            targets.push(HomeTarget {
                href: format!(
                    "/repos/{}/{}/targets/{}",
                    repository.owner,
                    repository.name,
                    url(&name)
                ),
                spark: sparkline(
                    &values,
                    &format!("{name}: shipped size over {WINDOW_DAYS} days"),
                ),
                size: human::size(now),
                change: change(then, now),
                change_class: change_class(then, now),
                name,
            });
        }
        repos.push(HomeRepo {
            href: format!("/repos/{}/{}", repository.owner, repository.name),
            name: format!("{}/{}", repository.owner, repository.name),
            private: repository.private,
            branch: branch.unwrap_or_default(),
            targets,
        });
    }
    Ok(Html(
        HomePage {
            logged_in: reader.can_read_private,
            repos,
        }
        .render()?,
    ))
}

/// The query of the repository page.
#[derive(Debug, Deserialize)]
pub(super) struct RepoQuery {
    branch: Option<String>,
}

struct MetricCell {
    size: String,
    change: String,
    change_class: &'static str,
}

struct RepoTarget {
    name: String,
    href: String,
    cells: Vec<MetricCell>,
    budget: String,
    headroom: String,
    headroom_class: &'static str,
}

#[derive(Template)]
#[template(path = "repository.html")]
struct RepositoryPage {
    logged_in: bool,
    name: String,
    private: bool,
    branch: String,
    branches: Vec<String>,
    metrics: Vec<&'static str>,
    targets: Vec<RepoTarget>,
    /// Tags, newest first, for the compare form.
    tags: Vec<TagLink>,
    compare_action: String,
    alerts_href: String,
    open_alerts: Vec<super::alerts::AlertRow>,
}

/// A tag on the repository page: a link to the report from the tag
/// before it (or to its commit page, for the oldest).
struct TagLink {
    name: String,
    sha: String,
    href: String,
}

/// Tags offered by the repository page's compare form.
const FORM_TAGS: i64 = 100;

/// `/repos/{owner}/{repo}`: the targets of a branch.
pub(super) async fn repository(
    State(state): State<AppState>,
    reader: Reader,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<RepoQuery>,
) -> Result<Html<String>, PageError> {
    let repository = view::repository(&state, reader, &owner, &repo).await?;
    let branches = state.store.branches(repository.id).await?;
    let branch = crate::api::query_branch(query.branch)?.or_else(|| default_branch(&branches));
    let config = state
        .store
        .latest_config(repository.id, branch.as_deref())
        .await?;
    let then_at = Utc::now() - Duration::days(WINDOW_DAYS);
    let mut targets = Vec::new();
    for TargetRef { id, name } in state.store.target_refs(repository.id).await? {
        let Some(latest) = state
            .store
            .target_point_at(id, branch.as_deref(), Utc::now())
            .await?
        else {
            continue;
        };
        let then = state
            .store
            .target_point_at(id, branch.as_deref(), then_at)
            .await?;
        let cells = METRICS
            .iter()
            .map(|&metric| {
                let now = latest.sizes.get(metric);
                match &then {
                    Some(then) => {
                        let old = then.sizes.get(metric);
                        MetricCell {
                            size: human::size(now),
                            change: change(old, now),
                            change_class: change_class(old, now),
                        }
                    }
                    None => MetricCell {
                        size: human::size(now),
                        change: "new".into(),
                        change_class: "same",
                    },
                }
            })
            .collect();
        let (budget, headroom, headroom_class) = match view::budget(config.as_deref(), &name) {
            Some((metric, max)) => {
                let now = latest.sizes.get(metric);
                let left = view::signed(max) - view::signed(now);
                (
                    format!("{} ({metric})", human::size(max)),
                    human::delta(left),
                    if left < 0 { "up" } else { "down" },
                )
            }
            None => ("none".to_owned(), "—".to_owned(), "same"),
        };
        let branch_param = branch
            .as_deref()
            .map(|b| format!("?branch={}", url(b)))
            .unwrap_or_default();
        targets.push(RepoTarget {
            href: format!("/repos/{owner}/{repo}/targets/{}{branch_param}", url(&name)),
            name,
            cells,
            budget,
            headroom,
            headroom_class,
        });
    }
    let tags = state
        .store
        .repository_tags(repository.id, FORM_TAGS)
        .await?;
    let tags = tags
        .iter()
        .enumerate()
        .map(|(i, (tag, sha))| TagLink {
            name: tag.clone(),
            sha: view::short(sha).to_owned(),
            href: match tags.get(i + 1) {
                Some((previous, _)) => format!(
                    "/repos/{owner}/{repo}/compare/{}...{}",
                    url(previous),
                    url(tag)
                ),
                None => format!("/repos/{owner}/{repo}/commits/{sha}"),
            },
        })
        .collect();
    let open: Vec<_> = state
        .store
        .list_alerts(repository.id, 20)
        .await?
        .into_iter()
        .filter(|a| a.state == "open")
        .collect();
    let open_alerts = super::alerts::rows(&repository.owner, &repository.name, &open);
    Ok(Html(
        RepositoryPage {
            logged_in: reader.can_read_private,
            name: format!("{}/{}", repository.owner, repository.name),
            private: repository.private,
            branch: branch.unwrap_or_default(),
            branches,
            metrics: METRICS.iter().map(|m: &Metric| m.as_str()).collect(),
            targets,
            tags,
            compare_action: format!("/repos/{}/{}/compare", repository.owner, repository.name),
            alerts_href: format!("/repos/{}/{}/alerts", repository.owner, repository.name),
            open_alerts,
        }
        .render()?,
    ))
}
