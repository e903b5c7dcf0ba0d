//! Step detection after a measured push: read the trailing series of the
//! target on its protected branch, ask `sizegate-gate`'s detector whether
//! the new point completes a step, and store an alert naming the culprit
//! (one commit when the previous measured point is its parent, else the
//! range) with the top changes from the diff of the two reports. A late
//! measurement of a commit inside an alert's range narrows it instead.

use serde_json::json;
use sizegate_analyze::Metric;
use sizegate_gate::{AlertsConfig, Config, Step, newest_step};
use sizegate_store::alerts::{AlertRange, NewAlert, SeriesPoint, StepBuild};

use crate::{Error, Worker};

/// What [`Worker::check_steps`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepCheck {
    /// The build is not a measured, baseline-eligible build of a protected
    /// branch, or alerts are off: nothing was looked at.
    Skipped,
    /// No step ends at this point.
    NoStep,
    /// A new alert was stored, with this id.
    Alert(i64),
    /// A step was found but its alert exists already (a re-run).
    AlreadyAlerted,
    /// A late measurement narrowed these alerts.
    Narrowed(Vec<i64>),
}

/// Most changes of each kind kept on an alert.
const TOP_CHANGES: usize = 5;

fn alerts_config(text: Option<&str>) -> AlertsConfig {
    text.and_then(|text| Config::parse(text, "sizegate.toml").ok())
        .map(|config| config.alerts)
        .unwrap_or_default()
}

impl Worker {
    /// Look for a step that build `build_id` completes, and store its alert.
    /// Idempotent: a job delivered twice stores one alert.
    pub async fn check_steps(&self, build_id: i64) -> Result<StepCheck, Error> {
        let Some(build) = self.store.step_build(build_id).await? else {
            return Ok(StepCheck::Skipped);
        };
        let Some(branch) = build.branch.clone() else {
            return Ok(StepCheck::Skipped);
        };
        // Only trusted builds of protected branches count (the same rule
        // as baselines), and only the build shown for its commit.
        if !build.baseline_eligible || !build.current {
            return Ok(StepCheck::Skipped);
        }
        let config = alerts_config(build.config.as_deref());
        if !config.enabled {
            return Ok(StepCheck::Skipped);
        }
        // One detection per target at a time, so two workers measuring
        // neighbouring pushes see each other's points.
        let _lock = self
            .store
            .lock_for_report(&[format!("sizegate:steps:{}", build.target_id)])
            .await?;
        if self
            .store
            .is_backfill(build.target_id, &branch, build.build_id, &build.sha)
            .await?
        {
            // Measured after newer commits were: a backfill. It may narrow
            // an alert's range; it is no new point at the end of the series.
            return self.narrow(&build, config.metric).await;
        }
        self.detect(&build, &branch, &config).await
    }

    /// Look for a step at the end of the build's series and store an alert
    /// for it.
    async fn detect(
        &self,
        build: &StepBuild,
        branch: &str,
        config: &AlertsConfig,
    ) -> Result<StepCheck, Error> {
        let Some((before, culprit, step)) = self.find_step(build, branch, config).await? else {
            return Ok(StepCheck::NoStep);
        };
        let culprit_ancestors = if culprit.build_id == build.build_id {
            build.ancestors.clone()
        } else {
            self.store
                .commit_ancestors(build.repository_id, &culprit.sha)
                .await?
        };
        let range_start =
            (culprit_ancestors.first() != Some(&before.sha)).then(|| before.sha.clone());
        let changes = self
            .step_changes(&before.report_key, &culprit.report_key, config.metric)
            .await?;
        // A culprit narrowed to one commit that a merged pull request made
        // names that pull request and its author.
        let merged = match range_start {
            None => {
                self.store
                    .merged_pull_request(build.repository_id, &culprit.sha)
                    .await?
            }
            Some(_) => None,
        };
        let own_pr = (culprit.build_id == build.build_id)
            .then_some(build.pr_number)
            .flatten();
        let pr_number = merged.as_ref().map(|(number, _)| *number).or(own_pr);
        let alert = NewAlert {
            repository_id: build.repository_id,
            target_id: build.target_id,
            metric: config.metric,
            branch: branch.to_owned(),
            commit_sha: culprit.sha.clone(),
            range_start_sha: range_start,
            before_size: step.before,
            after_size: step.after,
            percent: step.percent(),
            author_login: merged.and_then(|(_, author)| author),
            pr_number,
            changes,
        };
        self.store_alert(build, &alert, &step).await
    }

    /// The newest step of the build's series when the build is its last
    /// point: the point before the step, the culprit and the step.
    async fn find_step(
        &self,
        build: &StepBuild,
        branch: &str,
        config: &AlertsConfig,
    ) -> Result<Option<(SeriesPoint, SeriesPoint, Step)>, Error> {
        let policy = config.step_policy();
        let window = policy.window.max(1);
        let confirm = policy.confirm.max(1);
        let limit = i64::try_from(2 * window + confirm).unwrap_or(i64::MAX);
        let mut series = self
            .store
            .step_series(
                build.target_id,
                branch,
                config.metric,
                build.build_id,
                limit,
            )
            .await?;
        if series.last().map(|p| p.build_id) != Some(build.build_id) {
            // Not measured yet (or not in the series): nothing to compare.
            return Ok(None);
        }
        let values: Vec<u64> = series
            .iter()
            .map(|p| u64::try_from(p.size).unwrap_or(0))
            .collect();
        let Some(step) = newest_step(&values, &policy) else {
            return Ok(None);
        };
        if step.index == 0 || step.index >= series.len() {
            return Ok(None);
        }
        series.truncate(step.index + 1);
        let (Some(culprit), Some(before)) = (series.pop(), series.pop()) else {
            return Ok(None);
        };
        Ok(Some((before, culprit, step)))
    }

    /// Store `alert` unless an alert for its step exists.
    async fn store_alert(
        &self,
        build: &StepBuild,
        alert: &NewAlert,
        step: &Step,
    ) -> Result<StepCheck, Error> {
        match self.store.insert_alert(alert).await? {
            Some(id) => {
                tracing::info!(
                    alert = id,
                    target = %build.target,
                    commit = %alert.commit_sha,
                    delta = step.delta(),
                    "size step found; alert stored"
                );
                Ok(StepCheck::Alert(id))
            }
            None => Ok(StepCheck::AlreadyAlerted),
        }
    }

    /// A late measurement of a commit inside alerts' ranges: at the new
    /// level, the step happened at or before it (it becomes the range's
    /// end); at the old level, after it (it becomes the range's start).
    async fn narrow(&self, build: &StepBuild, metric: Metric) -> Result<StepCheck, Error> {
        let ranges = self
            .store
            .alerts_with_range_holding(build.target_id, metric, &build.sha)
            .await?;
        if ranges.is_empty() {
            return Ok(StepCheck::Skipped);
        }
        let Some(size) = self.store.build_size(build.build_id, metric).await? else {
            return Ok(StepCheck::Skipped);
        };
        let mut narrowed = Vec::new();
        for range in ranges {
            let (commit, start) = narrowed_range(&range, &build.sha, &build.ancestors, size);
            if self
                .store
                .narrow_alert(range.id, &commit, start.as_deref())
                .await?
            {
                tracing::info!(alert = range.id, commit = %commit, range_start = ?start, "alert range narrowed");
                narrowed.push(range.id);
            }
        }
        Ok(StepCheck::Narrowed(narrowed))
    }

    /// The top unit and symbol changes and the likely causes between two
    /// stored reports.
    async fn step_changes(
        &self,
        old_key: &str,
        new_key: &str,
        metric: Metric,
    ) -> Result<serde_json::Value, Error> {
        let old = self.store.read_report(self.blobs.as_ref(), old_key).await?;
        let new = self.store.read_report(self.blobs.as_ref(), new_key).await?;
        let diff = sizegate_analyze::diff(&old, &new);
        let top = |changes: &[sizegate_analyze::diff::Change]| {
            let mut changes: Vec<_> = changes.iter().filter(|c| c.delta != 0).collect();
            changes.sort_by_key(|c| std::cmp::Reverse(c.delta.unsigned_abs()));
            changes
                .into_iter()
                .take(TOP_CHANGES)
                .map(|c| json!({"name": c.name, "delta": c.delta}))
                .collect::<Vec<_>>()
        };
        let causes: Vec<String> = diff
            .causes
            .iter()
            .take(TOP_CHANGES)
            .map(|c| match (&c.old, &c.new) {
                (Some(old), Some(new)) => format!("{} {}: {old} → {new}", c.kind, c.subject),
                _ => format!("{} {}", c.kind, c.subject),
            })
            .collect();
        Ok(json!({
            "metric_delta": diff.size_delta(metric),
            "units": top(&diff.units),
            "symbols": top(&diff.symbols),
            "causes": causes,
        }))
    }
}

/// The range of `range` once commit `sha` (first-parent history
/// `ancestors`) is measured at `size`: `(last commit, start or None)`.
fn narrowed_range(
    range: &AlertRange,
    sha: &str,
    ancestors: &[String],
    size: u64,
) -> (String, Option<String>) {
    let before = u64::try_from(range.before_size).unwrap_or(0);
    let after = u64::try_from(range.after_size).unwrap_or(0);
    let at_new_level = size.abs_diff(after) < size.abs_diff(before);
    if at_new_level {
        // The step is in (range_start, sha].
        let start = (ancestors.first() != Some(&range.range_start_sha))
            .then(|| range.range_start_sha.clone());
        (sha.to_owned(), start)
    } else {
        // The step is in (sha, commit].
        let start = (range.commit_ancestors.first().map(String::as_str) != Some(sha))
            .then(|| sha.to_owned());
        (range.commit_sha.clone(), start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(n: u8) -> String {
        format!("{n:040x}")
    }

    fn range() -> AlertRange {
        // Commits 1..=5 on first-parent history; 1 and 5 measured, step in (1, 5].
        AlertRange {
            id: 1,
            commit_sha: sha(5),
            range_start_sha: sha(1),
            before_size: 1000,
            after_size: 2000,
            commit_ancestors: vec![sha(4), sha(3), sha(2), sha(1)],
        }
    }

    #[test]
    fn a_point_at_the_new_level_ends_the_range() {
        let (commit, start) = narrowed_range(&range(), &sha(3), &[sha(2), sha(1)], 1990);
        assert_eq!((commit, start), (sha(3), Some(sha(1))));
        let (commit, start) = narrowed_range(&range(), &sha(2), &[sha(1)], 2010);
        assert_eq!(
            (commit, start),
            (sha(2), None),
            "one commit: its parent is the start"
        );
    }

    #[test]
    fn a_point_at_the_old_level_starts_the_range() {
        let (commit, start) = narrowed_range(&range(), &sha(3), &[sha(2), sha(1)], 1005);
        assert_eq!((commit, start), (sha(5), Some(sha(3))));
        let (commit, start) = narrowed_range(&range(), &sha(4), &[sha(3)], 1005);
        assert_eq!((commit, start), (sha(5), None));
    }
}
