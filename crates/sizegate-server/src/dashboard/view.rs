//! What the pages share: finding a repository the reader may see, the
//! metrics a page can chart, and the formatting of sizes, deltas and shas.

use chrono::{DateTime, Utc};
use sizegate_analyze::{Metric, human};
use sizegate_store::history::Repository;

use crate::session::Reader;
use crate::{ApiError, AppState};

/// The metrics the repository page shows for every target, in display order.
pub(super) const METRICS: [Metric; 4] = [Metric::File, Metric::Shipped, Metric::Gzip, Metric::Zstd];

/// The metrics a target's chart offers: [`METRICS`], then the three only
/// container images have (a binary target has no points in them).
pub(super) const CHART_METRICS: [Metric; 7] = [
    Metric::File,
    Metric::Shipped,
    Metric::Gzip,
    Metric::Zstd,
    Metric::Compressed,
    Metric::Uncompressed,
    Metric::Pull,
];

/// The repository if `reader` may see it, else "not found".
pub(super) async fn repository(
    state: &AppState,
    reader: Reader,
    owner: &str,
    repo: &str,
) -> Result<Repository, ApiError> {
    crate::api::find_repository(state, reader, owner, repo).await
}

/// A metric named in a query string (`file`, `shipped`, `gzip`, `zstd`,
/// `compressed`, `uncompressed`, `pull`).
pub(super) fn parse_metric(name: Option<&str>) -> Result<Metric, ApiError> {
    match name.filter(|n| !n.is_empty()) {
        None => Ok(Metric::Shipped),
        Some(name) => CHART_METRICS
            .into_iter()
            .find(|m| m.as_str() == name)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "unknown metric `{}`: use file, shipped, gzip, zstd, compressed, uncompressed or pull",
                    name.escape_default()
                ))
            }),
    }
}

/// A size in bytes, signed.
pub(super) fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The change from `old` to `new` in the metric, as `+1.2 KiB (+0.5%)`.
pub(super) fn change(old: u64, new: u64) -> String {
    let delta = signed(new) - signed(old);
    format!("{} ({})", human::delta(delta), human::percent(delta, old))
}

/// CSS class of a change: `up`, `down` or `same`.
pub(super) fn change_class(old: u64, new: u64) -> &'static str {
    match new.cmp(&old) {
        std::cmp::Ordering::Greater => "up",
        std::cmp::Ordering::Less => "down",
        std::cmp::Ordering::Equal => "same",
    }
}

/// The first 7 digits of a sha.
pub(super) fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// A date for tables: `2026-11-26 06:53`.
pub(super) fn date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// Percent-encode a path segment or query value (`/` kept, as target
/// routes take it as is).
pub(super) fn url(value: &str) -> String {
    sizegate_core::url_path(value)
}

/// The budget (max size, in its metric: the budget's own or the
/// config's) for `target`, from a `sizegate.toml`. An unreadable config
/// gives no budget.
pub(super) fn budget(config: Option<&str>, target: &str) -> Option<(Metric, u64)> {
    let config = sizegate_gate::Config::parse(config?, "sizegate.toml").ok()?;
    let (_, budget) = config.budget_for(target)?;
    Some((
        budget.metric.unwrap_or(config.metric),
        budget.max_size?.bytes(),
    ))
}

/// A stored (non-negative) size as unsigned.
pub(super) fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}
