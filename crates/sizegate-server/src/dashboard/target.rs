//! The target page: the trend of one metric over the commits of a branch,
//! with the budget as a line, a tooltip and a link per point, the steps
//! larger than a threshold marked and listed, and the commit table. The
//! whole state (branch, metric, count, since, threshold) is in the query
//! string, so a link shows the same view.

use std::collections::HashSet;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use sizegate_analyze::{Metric, human};
use sizegate_store::MetricPoint;
use sizegate_store::history::Repository;

use super::PageError;
use super::chart::{PointLabel, trend};
use super::pages::default_branch;
use super::view::{self, CHART_METRICS, change, change_class, date, short, signed, url};
use crate::session::Reader;
use crate::{ApiError, AppState};

/// Points shown by default.
const DEFAULT_COUNT: i64 = 200;
/// Most points a page reads.
const MAX_COUNT: i64 = 10_000;
/// Rows of the commit table (newest first).
const TABLE_ROWS: usize = 200;
/// Steps larger than this are marked by default.
const DEFAULT_THRESHOLD: u64 = 16 * 1024;

/// The query string of the target page.
#[derive(Debug, Default, Deserialize)]
pub(super) struct TargetQuery {
    branch: Option<String>,
    metric: Option<String>,
    count: Option<i64>,
    since: Option<String>,
    threshold: Option<String>,
}

/// The view the query string asks for, checked.
struct ViewSettings {
    metric: Metric,
    count: i64,
    since: Option<DateTime<Utc>>,
    /// Steps larger than this many bytes are marked.
    threshold: u64,
}

impl ViewSettings {
    fn parse(query: &TargetQuery) -> Result<Self, ApiError> {
        let metric = view::parse_metric(query.metric.as_deref())?;
        let count = query.count.unwrap_or(DEFAULT_COUNT);
        if !(1..=MAX_COUNT).contains(&count) {
            return Err(ApiError::BadRequest(format!(
                "count must be between 1 and {MAX_COUNT}"
            )));
        }
        let since = match query.since.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(text) => {
                let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                    ApiError::BadRequest(format!(
                        "since must be a date like 2026-01-31, not `{}`",
                        text.escape_default()
                    ))
                })?;
                day.and_hms_opt(0, 0, 0).map(|t| Utc.from_utc_datetime(&t))
            }
        };
        let threshold = match query.threshold.as_deref().filter(|s| !s.is_empty()) {
            None => DEFAULT_THRESHOLD,
            Some(text) => sizegate_gate::parse_size(text)
                .map_err(|e| ApiError::BadRequest(format!("threshold: {e}")))?
                .bytes(),
        };
        Ok(Self {
            metric,
            count,
            since,
            threshold,
        })
    }
}

/// What the page reads from the store.
struct TargetReads {
    branches: Vec<String>,
    /// The branch shown: the one asked for, else the default one.
    branch: Option<String>,
    /// The points of the metric, oldest first.
    series: Vec<MetricPoint>,
    /// The budget of the target in this metric, from the branch's config.
    budget: Option<(Metric, u64)>,
    /// The commits stored alerts of this target and metric blame.
    alerted: HashSet<String>,
}

impl TargetReads {
    async fn load(
        state: &AppState,
        repository: &Repository,
        target: &str,
        branch: Option<String>,
        settings: &ViewSettings,
    ) -> Result<Self, ApiError> {
        let target_ref = state
            .store
            .target_refs(repository.id)
            .await?
            .into_iter()
            .find(|t| t.name == target)
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "no target `{target}` in {}/{}",
                    repository.owner, repository.name
                ))
            })?;
        let branches = state.store.branches(repository.id).await?;
        let branch = crate::api::query_branch(branch)?.or_else(|| default_branch(&branches));
        let (metric, branch_ref) = (settings.metric, branch.as_deref());
        let series = state
            .store
            .target_metric_series(
                target_ref.id,
                branch_ref,
                settings.since,
                settings.count,
                metric,
            )
            .await?;
        let config = state.store.latest_config(repository.id, branch_ref).await?;
        let budget = view::budget(config.as_deref(), target).filter(|(m, _)| *m == metric);
        let alerted = state
            .store
            .target_alerts(repository.id, target)
            .await?
            .into_iter()
            .filter(|a| a.metric == metric.as_str())
            .map(|a| a.commit)
            .collect();
        Ok(Self {
            branches,
            branch,
            series,
            budget,
            alerted,
        })
    }
}

struct Step {
    text: String,
    href: String,
    class: &'static str,
}

struct Row {
    sha: String,
    short: String,
    href: String,
    date: String,
    size: String,
    change: String,
    change_class: &'static str,
}

#[derive(Template)]
#[template(path = "target.html")]
struct TargetPage {
    logged_in: bool,
    repo: String,
    repo_href: String,
    target: String,
    branch: String,
    branches: Vec<String>,
    metric: &'static str,
    metrics: Vec<&'static str>,
    count: i64,
    since: String,
    threshold: String,
    chart: String,
    budget: String,
    steps: Vec<Step>,
    rows: Vec<Row>,
    points: usize,
}

/// `/repos/{owner}/{repo}/targets/{target}`.
pub(super) async fn page(
    State(state): State<AppState>,
    reader: Reader,
    Path((owner, repo, target)): Path<(String, String, String)>,
    query: Result<Query<TargetQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Html<String>, PageError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let repository = view::repository(&state, reader, &owner, &repo).await?;
    let settings = ViewSettings::parse(&query)?;
    let reads = TargetReads::load(&state, &repository, &target, query.branch, &settings).await?;
    let shown = Shown {
        owner_repo: format!("{owner}/{repo}"),
        target,
        since: query.since.unwrap_or_default(),
        threshold: query
            .threshold
            .unwrap_or_else(|| human::size(DEFAULT_THRESHOLD)),
        logged_in: reader.can_read_private,
    };
    Ok(Html(target_page(shown, &settings, reads).render()?))
}

/// What the page echoes back as it was asked for.
struct Shown {
    owner_repo: String,
    target: String,
    /// The `since` and `threshold` fields as typed.
    since: String,
    threshold: String,
    logged_in: bool,
}

/// The page model: the chart with its step markers, the steps listed, the
/// commit table and the view's controls.
fn target_page(shown: Shown, settings: &ViewSettings, reads: TargetReads) -> TargetPage {
    let Shown {
        owner_repo,
        target,
        since,
        threshold,
        logged_in,
    } = shown;
    let TargetReads {
        branches,
        branch,
        series,
        budget,
        alerted,
    } = reads;
    let values: Vec<u64> = series.iter().map(|p| view::unsigned(p.value)).collect();
    let is_step = step_marks(&values, &series, &alerted, settings.threshold);
    let commit_href = |sha: &str| format!("/repos/{owner_repo}/commits/{sha}");
    let label = format!(
        "{} size of {target} on {}: {} points{}",
        settings.metric,
        branch.as_deref().unwrap_or("all branches"),
        series.len(),
        values
            .last()
            .map(|v| format!(", latest {}", human::size(*v)))
            .unwrap_or_default()
    );
    let chart = trend(&values, &is_step, budget.map(|(_, b)| b), &label, |i| {
        let p = &series[i];
        PointLabel {
            title: format!(
                "{} · {} · {}{}",
                short(&p.commit),
                date(p.uploaded_at),
                human::size(values[i]),
                delta_at(&values, i)
                    .map(|d| format!(" · {}", human::delta(d)))
                    .unwrap_or_default()
            ),
            href: commit_href(&p.commit),
        }
    });
    TargetPage {
        logged_in,
        repo_href: format!(
            "/repos/{owner_repo}{}",
            branch
                .as_deref()
                .map(|b| format!("?branch={}", url(b)))
                .unwrap_or_default()
        ),
        steps: steps(&values, &series, &is_step, &commit_href),
        rows: rows(&values, &series, &commit_href),
        repo: owner_repo,
        target,
        branch: branch.unwrap_or_default(),
        branches,
        metric: settings.metric.as_str(),
        metrics: CHART_METRICS.iter().map(|m| m.as_str()).collect(),
        count: settings.count,
        since,
        threshold,
        chart,
        budget: budget.map_or_else(
            || "none".to_owned(),
            |(m, b)| format!("{} ({m})", human::size(b)),
        ),
        points: series.len(),
    }
}

/// The change into point `i` from the one before it.
fn delta_at(values: &[u64], i: usize) -> Option<i64> {
    i.checked_sub(1)
        .map(|j| signed(values[i]) - signed(values[j]))
}

/// Which points end a step: the change points the step detector finds
/// (the level before is the median of the trailing window, so noise and
/// slow drift are not steps), plus the culprits of stored alerts.
fn step_marks(
    values: &[u64],
    series: &[MetricPoint],
    alerted: &HashSet<String>,
    threshold: u64,
) -> Vec<bool> {
    let policy = sizegate_gate::StepPolicy {
        min_step: sizegate_gate::MinChange::Bytes(sizegate_gate::ByteSize(threshold.max(1))),
        ..sizegate_gate::StepPolicy::default()
    };
    let mut is_step = vec![false; values.len()];
    for step in sizegate_gate::detect_steps(values, &policy) {
        if let Some(marked) = is_step.get_mut(step.index) {
            *marked = true;
        }
    }
    for (marked, point) in is_step.iter_mut().zip(series) {
        if alerted.contains(&point.commit) {
            *marked = true;
        }
    }
    is_step
}

/// The marked steps, oldest first.
fn steps(
    values: &[u64],
    series: &[MetricPoint],
    is_step: &[bool],
    commit_href: &dyn Fn(&str) -> String,
) -> Vec<Step> {
    (0..values.len())
        .filter(|&i| is_step[i])
        .filter_map(|i| {
            let d = delta_at(values, i)?;
            Some(Step {
                text: format!("{} at {}", human::delta(d), short(&series[i].commit)),
                href: commit_href(&series[i].commit),
                class: if d > 0 { "up" } else { "down" },
            })
        })
        .collect()
}

/// The commit table: the newest [`TABLE_ROWS`] points, newest first.
fn rows(values: &[u64], series: &[MetricPoint], commit_href: &dyn Fn(&str) -> String) -> Vec<Row> {
    series
        .iter()
        .enumerate()
        .rev()
        .take(TABLE_ROWS)
        .map(|(i, p)| {
            let value = values[i];
            let old = i.checked_sub(1).map(|j| values[j]);
            Row {
                sha: p.commit.clone(),
                short: short(&p.commit).to_owned(),
                href: commit_href(&p.commit),
                date: date(p.uploaded_at),
                size: human::size(value),
                change: old.map_or_else(|| "—".to_owned(), |old| change(old, value)),
                change_class: old.map_or("same", |old| change_class(old, value)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
