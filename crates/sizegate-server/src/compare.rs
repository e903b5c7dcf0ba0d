//! `GET /api/v1/repos/{owner}/{repo}/compare/{base}...{head}`: a release
//! to release report. Per target the size change in the repository's
//! metric, the units and dependency versions that moved (the diff of the
//! two stored reports, the one the pull request comment uses) and the steps
//! of the series in between (`sizegate_gate::detect_steps`).
//!
//! axum cannot split `{base}...{head}` inside one path segment, so the
//! route takes `{range}` and splits it at the first `...`: a sha has no
//! dot, and git forbids `..` in ref names (so in tags), hence the first
//! `...` is always the separator.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sizegate_analyze::{Metric, Report, UnitKind};
use sizegate_gate::{Config, StepPolicy, detect_steps};
use sizegate_store::MetricPoint;
use sizegate_store::compare::{CompareBuild, Resolution, ResolvedCommit, SeriesRange};
use sizegate_store::history::Repository;
use utoipa::ToSchema;

use crate::api::find_repository;
use crate::session::Reader;
use crate::{ApiError, AppState};

/// Targets whose reports are read and diffed; further targets get their
/// sizes and steps only (bounds the work of one request).
pub(crate) const MAX_DIFFED_TARGETS: usize = 32;
/// Moved units listed per target, largest move first.
pub(crate) const MAX_UNITS: usize = 50;
/// Points of a target's series read between the two commits.
pub(crate) const MAX_SERIES_POINTS: i64 = 20_000;
/// Longest `{base}...{head}` accepted.
const MAX_RANGE_BYTES: usize = 420;

/// The API route.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/repos/{owner}/{repo}/compare/{range}",
        get(compare_route),
    )
}

// The answer's types are the one home of its JSON shape: the server
// serializes them, the OpenAPI description derives its schemas from them
// (under the names it has always used), and `sizegate report` reads them.

/// One side of a compare: the commit, the tag it was named by (else its
/// first tag) and its branch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = CompareSide)]
pub struct Side {
    /// Full sha.
    pub sha: String,
    /// The tag the side was asked by, else the commit's first tag.
    pub tag: Option<String>,
    /// The branch the commit was built on.
    pub branch: Option<String>,
}

/// A unit (crate, Go package, ...) that moved between the two reports.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = CompareUnit)]
pub struct UnitMove {
    /// The unit's name.
    pub name: String,
    /// `crate`, `package`, `std`, ... (`null` when unknown).
    #[schema(value_type = Option<String>)]
    pub kind: Option<UnitKind>,
    /// Bytes at the base.
    pub base: u64,
    /// Bytes at the head.
    pub head: u64,
    /// `head - base`.
    pub delta: i64,
}

/// A dependency or toolchain version that changed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = CompareDependency)]
pub struct DependencyMove {
    /// `dependency` or `toolchain`.
    pub kind: String,
    /// Crate, Go module, `rustc`, `go`, ...
    pub name: String,
    /// The version at the base, if it had one.
    pub base: Option<String>,
    /// The version at the head, if it has one.
    pub head: Option<String>,
    /// Shipped bytes its units moved, where known.
    pub delta: Option<i64>,
}

/// A step of the target's series between base and head.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = CompareStep)]
pub struct StepView {
    /// The first commit at the new level.
    pub commit: String,
    /// The commit measured just before it.
    pub previous: String,
    /// `after - before`.
    pub delta: i64,
    /// The delta as a percentage of `before`.
    pub percent: f64,
    /// The level before the step.
    pub before: u64,
    /// The level after it.
    pub after: u64,
}

/// One target of a compare; sizes are `null` on a side without it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = CompareTarget)]
pub struct TargetComparison {
    /// The target's name.
    pub target: String,
    /// The metric of its sizes (the answer's).
    #[schema(value_type = String)]
    pub metric: Metric,
    /// Its size at the base.
    pub base_size: Option<u64>,
    /// Its size at the head.
    pub head_size: Option<u64>,
    /// `head_size - base_size`, when both sides have it.
    pub delta: Option<i64>,
    /// The delta as a percentage of `base_size`.
    pub percent: Option<f64>,
    /// The units that moved, largest move first.
    pub units: Vec<UnitMove>,
    /// The dependency and toolchain versions that changed.
    pub dependencies: Vec<DependencyMove>,
    /// The steps of its series between the two commits.
    pub steps: Vec<StepView>,
    /// Why units or steps are missing or partial, when they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub note: Option<String>,
}

/// A release to release report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = CompareAnswer)]
pub struct Comparison {
    /// `owner/name`.
    pub repository: String,
    /// The older side.
    pub base: Side,
    /// The newer side.
    pub head: Side,
    /// The metric of the sizes: the head branch's `sizegate.toml`, else `shipped`.
    #[schema(value_type = String)]
    pub metric: Metric,
    /// One entry per target.
    pub targets: Vec<TargetComparison>,
}

async fn compare_route(
    State(state): State<AppState>,
    reader: Reader,
    Path((owner, repo, range)): Path<(String, String, String)>,
) -> Result<Json<Comparison>, ApiError> {
    let repository = find_repository(&state, reader, &owner, &repo).await?;
    Ok(Json(compare(&state, &repository, &range).await?))
}

/// `{base}...{head}` split at the first `...`.
pub(crate) fn split_range(range: &str) -> Result<(&str, &str), ApiError> {
    if range.len() > MAX_RANGE_BYTES {
        return Err(ApiError::Unprocessable(format!(
            "the compare range is longer than {MAX_RANGE_BYTES} bytes"
        )));
    }
    match range.split_once("...") {
        Some((base, head)) if !base.is_empty() && !head.is_empty() => Ok((base, head)),
        _ => Err(ApiError::Unprocessable(format!(
            "the compare range must be BASE...HEAD (a sha, a sha prefix of 7 or more hex digits, or a tag on each side), got `{}`",
            range.escape_default()
        ))),
    }
}

/// Resolve one side, or say why not: unknown is 404, ambiguous is 422.
async fn resolve(
    state: &AppState,
    repository: &Repository,
    side: &str,
    revision: &str,
) -> Result<(ResolvedCommit, Option<String>), ApiError> {
    let shown = revision.escape_default().to_string();
    match state.store.resolve_commit(repository.id, revision).await? {
        Resolution::Found(commit) => {
            let asked_tag = commit.tags.iter().any(|t| t == revision);
            let tag = if asked_tag {
                Some(revision.to_owned())
            } else {
                commit.tags.first().cloned()
            };
            Ok((commit, tag))
        }
        Resolution::Unknown => Err(ApiError::NotFound(format!(
            "{side} `{shown}` names no uploaded commit of {}/{}: use a full sha, a unique sha prefix of at least 7 hex digits, or a tag sent with an upload",
            repository.owner, repository.name
        ))),
        Resolution::Ambiguous(shas) => Err(ApiError::Unprocessable(format!(
            "{side} `{shown}` is ambiguous: it starts {} uploaded commits ({}); give more digits",
            if shas.len() >= 5 {
                "at least 5"
            } else {
                "several"
            },
            shas.join(", ")
        ))),
    }
}

/// The metric and step policy of the comparison.
/// The metric and the step policy of the repository's `[alerts]` table, so
/// this report and the post-merge alerts find the same steps.
fn step_policy(config: Option<&Config>) -> (Metric, StepPolicy) {
    config.map_or((Metric::Shipped, StepPolicy::default()), |c| {
        (c.alerts.metric, c.alerts.step_policy())
    })
}

/// Compare `{base}...{head}` in `repository`.
pub(crate) async fn compare(
    state: &AppState,
    repository: &Repository,
    range: &str,
) -> Result<Comparison, ApiError> {
    let (base_rev, head_rev) = split_range(range)?;
    let (base, base_tag) = resolve(state, repository, "base", base_rev).await?;
    let (head, head_tag) = resolve(state, repository, "head", head_rev).await?;

    // The config of the head's branch decides the metric; one that no
    // longer parses is ignored (the defaults apply).
    let config_text = state
        .store
        .latest_config(repository.id, head.branch.as_deref())
        .await?;
    let config = config_text.and_then(|text| Config::parse(&text, "sizegate.toml").ok());
    let (metric, policy) = step_policy(config.as_ref());

    let builds = state.store.compare_builds(&[base.id, head.id]).await?;
    let by_target = pair_builds(builds, base.id, head.id);
    let ranges: Vec<SeriesRange> = by_target
        .iter()
        .filter_map(|(_, b, h)| {
            let (b, h) = (b.as_ref()?, h.as_ref()?);
            Some(SeriesRange {
                target_id: h.target_id,
                from_build: b.build_id,
                to_build: h.build_id,
            })
        })
        .collect();
    let series = if ranges.is_empty() {
        HashMap::new()
    } else {
        state
            .store
            .compare_series(&ranges, head.branch.as_deref(), metric, MAX_SERIES_POINTS)
            .await?
    };

    let mut targets = Vec::with_capacity(by_target.len());
    for (position, (name, base_build, head_build)) in by_target.into_iter().enumerate() {
        let (base_build, head_build) = (base_build.as_ref(), head_build.as_ref());
        let mut target = sizes_and_steps(name, base_build, head_build, &series, metric, &policy);
        let (units, dependencies) = if position < MAX_DIFFED_TARGETS {
            match moved(state, base_build, head_build).await {
                Ok(moved) => moved,
                Err(e) => {
                    tracing::warn!(error = %e, target = %target.target, "reading reports for a compare");
                    target.note =
                        Some("a stored report could not be read; units are left out".into());
                    (Vec::new(), Vec::new())
                }
            }
        } else {
            target.note = Some(format!(
                "units are listed for the first {MAX_DIFFED_TARGETS} targets only"
            ));
            (Vec::new(), Vec::new())
        };
        target.units = units;
        target.dependencies = dependencies;
        targets.push(target);
    }
    Ok(Comparison {
        repository: format!("{}/{}", repository.owner, repository.name),
        base: Side {
            sha: base.sha,
            tag: base_tag,
            branch: base.branch,
        },
        head: Side {
            sha: head.sha,
            tag: head_tag,
            branch: head.branch,
        },
        metric,
        targets,
    })
}

/// Per target, by name: its build at the base commit and at the head
/// commit (the same commit on both sides fills both).
fn pair_builds(
    builds: Vec<CompareBuild>,
    base_id: i64,
    head_id: i64,
) -> Vec<(String, Option<CompareBuild>, Option<CompareBuild>)> {
    let mut by_target: Vec<(String, Option<CompareBuild>, Option<CompareBuild>)> = Vec::new();
    for build in builds {
        let index = match by_target.iter().position(|(t, _, _)| *t == build.target) {
            Some(i) => i,
            None => {
                by_target.push((build.target.clone(), None, None));
                by_target.len() - 1
            }
        };
        let entry = &mut by_target[index];
        if build.commit_id == base_id {
            entry.1 = Some(build.clone());
        }
        if build.commit_id == head_id {
            entry.2 = Some(build);
        }
    }
    by_target.sort_by(|a, b| a.0.cmp(&b.0));
    by_target
}

/// One target's sizes on both sides, their change, and the steps of its
/// series in between (`series`: per target id, the points from the base
/// build to the head build); units and dependencies are left empty.
fn sizes_and_steps(
    name: String,
    base_build: Option<&CompareBuild>,
    head_build: Option<&CompareBuild>,
    series: &HashMap<i64, Vec<MetricPoint>>,
    metric: Metric,
    policy: &StepPolicy,
) -> TargetComparison {
    let base_size = base_build.map(|b| b.sizes.get(metric));
    let head_size = head_build.map(|b| b.sizes.get(metric));
    let (delta, percent) = match (base_size, head_size) {
        (Some(b), Some(h)) => {
            let delta = signed(h) - signed(b);
            let percent = if b == 0 {
                0.0
            } else {
                delta as f64 * 100.0 / b as f64
            };
            (Some(delta), Some(percent))
        }
        _ => (None, None),
    };
    let (mut note, mut steps) = (None, Vec::new());
    if let (Some(_), Some(h)) = (base_build, head_build) {
        let points = series.get(&h.target_id).map(Vec::as_slice).unwrap_or(&[]);
        if points.last().map(|p| p.build_id) != Some(h.build_id) {
            note = Some(format!(
                "the series between the two commits has more than {MAX_SERIES_POINTS} points; steps are listed for the first {MAX_SERIES_POINTS}"
            ));
        }
        steps = step_views(points, policy);
    }
    TargetComparison {
        target: name,
        metric,
        base_size,
        head_size,
        delta,
        percent,
        units: Vec::new(),
        dependencies: Vec::new(),
        steps,
        note,
    }
}

/// The steps the detector finds in `points`, each with the commit before it.
fn step_views(points: &[MetricPoint], policy: &StepPolicy) -> Vec<StepView> {
    let values: Vec<u64> = points
        .iter()
        .map(|p| u64::try_from(p.value).unwrap_or(0))
        .collect();
    detect_steps(&values, policy)
        .into_iter()
        .filter_map(|step| {
            let at = points.get(step.index)?;
            let previous = points.get(step.index.checked_sub(1)?)?;
            Some(StepView {
                commit: at.commit.clone(),
                previous: previous.commit.clone(),
                delta: step.delta(),
                percent: step.percent(),
                before: step.before,
                after: step.after,
            })
        })
        .collect()
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

async fn load_report(
    state: &AppState,
    build: &CompareBuild,
) -> Result<Report, sizegate_store::Error> {
    let bytes = state.blobs.get(&build.report_key).await?;
    sizegate_store::measurements::decode_report(&bytes, build.artifact_size)
}

/// The units and dependency versions that moved from `base` to `head`: the
/// diff of their reports; a side without the target counts as empty.
async fn moved(
    state: &AppState,
    base: Option<&CompareBuild>,
    head: Option<&CompareBuild>,
) -> Result<(Vec<UnitMove>, Vec<DependencyMove>), sizegate_store::Error> {
    let (Some(base), Some(head)) = (base, head) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let old = load_report(state, base).await?;
    let new = load_report(state, head).await?;
    let diff = sizegate_analyze::diff(&old, &new);
    let kind_of = |name: &str| {
        new.units
            .iter()
            .chain(old.units.iter())
            .find(|u| u.name == name)
            .map(|u| u.kind)
    };
    let units = diff
        .units
        .iter()
        .take(MAX_UNITS)
        .map(|c| UnitMove {
            name: c.name.clone(),
            kind: kind_of(&c.name),
            base: c.old,
            head: c.new,
            delta: c.delta,
        })
        .collect();
    let dependencies = diff
        .causes
        .iter()
        .filter(|c| c.kind == "dependency" || c.kind == "toolchain")
        .map(|c| DependencyMove {
            kind: c.kind.clone(),
            name: c.subject.clone(),
            base: c.old.clone(),
            head: c.new.clone(),
            delta: c.delta,
        })
        .collect();
    Ok((units, dependencies))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_split_at_the_first_three_dots() {
        assert_eq!(split_range("v1.0...v1.1").unwrap(), ("v1.0", "v1.1"));
        assert_eq!(
            split_range("abc1234...v2.0.1").unwrap(),
            ("abc1234", "v2.0.1")
        );
        for bad in ["v1.0..v1.1", "...v1", "v1...", "v1"] {
            assert!(split_range(bad).is_err(), "{bad}");
        }
        // A tag cannot hold `..`, so a head like `.x` is refused later as a tag.
        assert_eq!(split_range("a....x").unwrap(), ("a", ".x"));
    }
}
