//! The verdict of each target and of the commit. Absolute limits
//! (`max_size`) are judged with or without a baseline; increase limits need
//! one. While a target is still being measured the check stays in progress
//! (the matrix barrier). An approval label turns a failure into a success.

use serde::{Deserialize, Serialize};
use sizegate_analyze::{Advice, Metric, ReportDiff};

use crate::config::{Budget, CommentMode, Config, MissingPolicy};
use crate::format::Units;
use crate::input::{
    BaselineOnlyTarget, BaselineState, Event, GateInput, HeadState, Measurement, TargetInput,
};
use crate::limits::{Violation, signed_delta, violations};
use crate::selection::{BaselineCommit, ConfigSource, NoBaseline};

/// The gate's judgement of one commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// `in_progress` until every uploaded target is measured, then `completed`.
    pub status: CheckStatus,
    /// The conclusion, once completed.
    pub conclusion: Option<Conclusion>,
    /// True when a failure was turned into success by the approval label.
    pub approved: bool,
    /// The label that approves, from the config.
    pub approve_label: Option<String>,
    /// Where the budgets came from.
    pub config_source: ConfigSource,
    /// The metric sizes are compared in.
    pub metric: Metric,
    /// Pull request number, for links.
    pub pull_request: Option<u64>,
    /// When the comment is created (`comment` in the config).
    #[serde(default)]
    pub comment_mode: CommentMode,
    /// What missing targets do to the check (`missing` in the config).
    #[serde(default)]
    pub missing_policy: MissingPolicy,
    /// One entry per target: failures first, then by name.
    pub targets: Vec<TargetEvaluation>,
}

/// Status of the check run, as GitHub names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Some targets are not measured yet.
    InProgress,
    /// Every uploaded target is measured (or failed).
    Completed,
}

impl CheckStatus {
    /// The name GitHub's check-runs API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::InProgress => "in_progress",
            CheckStatus::Completed => "completed",
        }
    }
}

/// Conclusion of the check run, as GitHub names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conclusion {
    /// Every judged target is within budget (or the failure is approved).
    Success,
    /// A target is over budget, or its analysis failed.
    Failure,
    /// Nothing could be judged: no baseline, or no budget.
    Neutral,
}

impl Conclusion {
    /// The name GitHub's check-runs API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Conclusion::Success => "success",
            Conclusion::Failure => "failure",
            Conclusion::Neutral => "neutral",
        }
    }
}

/// The verdict of one target. Ordered from most to least severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Over a budget.
    Fail,
    /// The analysis failed.
    Error,
    /// In the baseline, not uploaded for the head commit.
    Missing,
    /// Uploaded, not measured yet.
    Pending,
    /// Within budget, but could not be fully judged: no baseline, or no
    /// budget applies.
    Neutral,
    /// Within every limit of its budget.
    Pass,
}

impl Verdict {
    /// Lower-case name used in tables and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Fail => "fail",
            Verdict::Error => "error",
            Verdict::Missing => "missing",
            Verdict::Pending => "pending",
            Verdict::Neutral => "neutral",
            Verdict::Pass => "pass",
        }
    }
}

/// The judgement of one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetEvaluation {
    /// Target name.
    pub name: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Size at head in the config's metric, when measured.
    pub head_size: Option<u64>,
    /// Size at the baseline, when there is one.
    pub baseline_size: Option<u64>,
    /// The baseline commit.
    pub baseline: Option<BaselineCommit>,
    /// Why there is no baseline.
    pub no_baseline: Option<NoBaseline>,
    /// The budget that judges it.
    pub budget: Option<BudgetRef>,
    /// The limits it is over.
    pub violations: Vec<Violation>,
    /// Limits that could not be judged, and why.
    pub unjudged: Vec<String>,
    /// The analysis error, for [`Verdict::Error`].
    pub error: Option<String>,
    /// Changes against the baseline, when both were analyzed.
    pub diff: Option<ReportDiff>,
    /// The analyzer's advice for the head artifact.
    pub advice: Vec<Advice>,
    /// True when the target changed by at least `min_change` against its
    /// baseline (or has none to compare with).
    #[serde(default)]
    pub changed: bool,
    /// The units its sizes are written in (those of its budget).
    #[serde(default)]
    pub units: Units,
    /// The unit that grew the most, when one grew.
    #[serde(default)]
    pub growth: Option<UnitGrowth>,
    /// The metric its sizes are in, when its budget sets one other than
    /// the evaluation's (`[[budget]] metric`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
}

/// The unit (crate, Go package) that grew the most in a target, and its
/// version change when the reports say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitGrowth {
    /// Unit name.
    pub name: String,
    /// Bytes it grew.
    pub delta: i64,
    /// Its version at the baseline.
    pub old_version: Option<String>,
    /// Its version at the head.
    pub new_version: Option<String>,
}

impl TargetEvaluation {
    /// The metric of its sizes: its budget's, else the evaluation's.
    pub fn metric_or(&self, evaluation_metric: Metric) -> Metric {
        self.metric.unwrap_or(evaluation_metric)
    }

    /// Head minus baseline, when both are known.
    pub fn delta(&self) -> Option<i64> {
        Some(signed_delta(self.baseline_size?, self.head_size?))
    }
}

/// Which `[[budget]]` judged a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetRef {
    /// Index in the file (`budget[i]`).
    pub index: usize,
    /// Its target glob.
    pub target: String,
    /// Its limits, e.g. `≤ 8.0 MiB, ≤ +64.0 KiB`.
    pub limits: String,
    /// Its `max_increase_percent`, to show a change over it with enough digits.
    #[serde(default)]
    pub max_increase_percent: Option<f64>,
}

impl Evaluation {
    /// Number of targets uploaded for the head commit (missing ones excluded).
    pub fn uploaded(&self) -> usize {
        self.targets
            .iter()
            .filter(|t| t.verdict != Verdict::Missing)
            .count()
    }

    /// Number of uploaded targets whose measurement is done (or failed).
    pub fn measured(&self) -> usize {
        self.targets
            .iter()
            .filter(|t| !matches!(t.verdict, Verdict::Missing | Verdict::Pending))
            .count()
    }

    /// Number of targets with a verdict.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.targets.iter().filter(|t| t.verdict == verdict).count()
    }

    /// Sum of the deltas and of the baseline sizes of the targets that have both.
    pub fn total_delta(&self) -> Option<(i64, u64)> {
        let compared: Vec<_> = self
            .targets
            .iter()
            .filter_map(|t| Some((t.delta()?, t.baseline_size?)))
            .collect();
        if compared.is_empty() {
            return None;
        }
        Some(compared.iter().fold((0i64, 0u64), |(d, b), (td, tb)| {
            (d.saturating_add(*td), b.saturating_add(*tb))
        }))
    }
}

/// Judge a commit.
pub fn evaluate(input: &GateInput<'_>) -> Evaluation {
    let config = input.config.config;
    let metric = config.map(|c| c.metric).unwrap_or_default();
    let mut targets: Vec<TargetEvaluation> = input
        .targets
        .iter()
        .map(|t| evaluate_target(t, config, metric))
        .collect();
    targets.extend(
        input
            .baseline_only
            .iter()
            .map(|t| missing_target(t, config, metric)),
    );
    targets.sort_by(|a, b| a.verdict.cmp(&b.verdict).then_with(|| a.name.cmp(&b.name)));

    let approve_label = config.and_then(|c| c.approve_label.clone());
    let labelled = match (&input.event, &approve_label) {
        (Event::PullRequest { labels, .. }, Some(wanted)) => {
            labels.iter().any(|l| l.eq_ignore_ascii_case(wanted))
        }
        _ => false,
    };
    let missing_policy = config.map(|c| c.missing).unwrap_or_default();
    let has = |v: Verdict| targets.iter().any(|t| t.verdict == v);
    let missing_fails = missing_policy == MissingPolicy::Fail && has(Verdict::Missing);
    let (status, conclusion, approved) = if has(Verdict::Pending) {
        (CheckStatus::InProgress, None, false)
    } else if has(Verdict::Fail) || has(Verdict::Error) || missing_fails {
        if labelled {
            (CheckStatus::Completed, Some(Conclusion::Success), true)
        } else {
            (CheckStatus::Completed, Some(Conclusion::Failure), false)
        }
    } else if has(Verdict::Missing) {
        // A broken matrix job must not pass silently.
        (CheckStatus::Completed, Some(Conclusion::Neutral), false)
    } else if has(Verdict::Pass) {
        (CheckStatus::Completed, Some(Conclusion::Success), false)
    } else {
        (CheckStatus::Completed, Some(Conclusion::Neutral), false)
    };
    let pull_request = match input.event {
        Event::PullRequest { number, .. } => Some(number),
        Event::Push => None,
    };
    Evaluation {
        status,
        conclusion,
        approved,
        approve_label,
        config_source: input.config.source,
        metric,
        pull_request,
        comment_mode: config.map(|c| c.comment).unwrap_or_default(),
        missing_policy,
        targets,
    }
}

/// A target measured at the baseline but not uploaded for this commit.
fn missing_target(
    target: &BaselineOnlyTarget,
    config: Option<&Config>,
    config_metric: Metric,
) -> TargetEvaluation {
    let budget = config.and_then(|c| c.budget_for(&target.name));
    let own = budget
        .and_then(|(_, b)| b.metric)
        .filter(|m| *m != config_metric);
    TargetEvaluation {
        name: target.name.clone(),
        verdict: Verdict::Missing,
        head_size: None,
        baseline_size: Some(target.sizes.get(own.unwrap_or(config_metric))),
        baseline: Some(target.commit.clone()),
        no_baseline: None,
        budget: None,
        violations: Vec::new(),
        unjudged: Vec::new(),
        error: None,
        diff: None,
        advice: Vec::new(),
        changed: true,
        units: budget.map_or(Units::Binary, |(_, b)| b.units),
        growth: None,
        metric: own,
    }
}

fn evaluate_target(
    input: &TargetInput,
    config: Option<&Config>,
    config_metric: Metric,
) -> TargetEvaluation {
    let (baseline, no_baseline, base) = match &input.baseline {
        BaselineState::Found {
            commit,
            measurement,
        } => (Some(commit.clone()), None, Some(measurement)),
        BaselineState::None(why) => (None, Some(why.clone()), None),
    };
    let budget = config.and_then(|c| c.budget_for(&input.name));
    let own_metric = budget
        .and_then(|(_, b)| b.metric)
        .filter(|m| *m != config_metric);
    let metric = own_metric.unwrap_or(config_metric);
    let mut evaluation = TargetEvaluation {
        name: input.name.clone(),
        verdict: Verdict::Pending,
        head_size: None,
        baseline_size: base.map(|m| m.sizes.get(metric)),
        baseline,
        no_baseline,
        budget: budget.map(|(index, b)| BudgetRef {
            index,
            target: b.target.as_str().to_string(),
            limits: b.describe(),
            max_increase_percent: b.max_increase_percent,
        }),
        violations: Vec::new(),
        unjudged: Vec::new(),
        error: None,
        diff: input.diff.clone(),
        advice: Vec::new(),
        changed: true,
        units: budget.map_or(Units::Binary, |(_, b)| b.units),
        growth: None,
        metric: own_metric,
    };
    match &input.head {
        HeadState::Pending => {}
        HeadState::Failed { error } => {
            evaluation.verdict = Verdict::Error;
            evaluation.error = Some(error.clone());
        }
        // A binary has no image sizes: judging it on 0 bytes would pass
        // every budget silently, so the config error shows instead.
        HeadState::Measured(head) if metric.image_only() && !head.image => {
            evaluation.verdict = Verdict::Error;
            evaluation.baseline_size = None;
            evaluation.error = Some(not_an_image(&input.name, budget, metric));
        }
        HeadState::Measured(head) => {
            judge(&mut evaluation, input, head, base, budget, config, metric);
        }
    }
    evaluation
}

/// Why `target`, a binary, cannot be judged on the image-only `metric`.
fn not_an_image(target: &str, budget: Option<(usize, &Budget)>, metric: Metric) -> String {
    let from = match budget {
        Some((index, b)) if b.metric.is_some() => {
            format!("budget[{index}] (`{}`) sets", b.target.as_str())
        }
        _ => "the top-level".to_string(),
    };
    format!(
        "configuration error: {from} `metric = \"{metric}\"`, which only container images \
         have, and `{target}` is not an image; give it a [[budget]] with a binary metric \
         (`file`, `shipped`, `gzip`, ...) before this one"
    )
}

/// Judge a measured head in `metric` against its baseline (if any) and
/// its budget (if any): sizes, whether it changed, the unit that grew the
/// most, the limits broken and the verdict.
fn judge(
    evaluation: &mut TargetEvaluation,
    input: &TargetInput,
    head: &Measurement,
    base: Option<&Measurement>,
    budget: Option<(usize, &Budget)>,
    config: Option<&Config>,
    metric: Metric,
) {
    let head_size = head.sizes.get(metric);
    evaluation.head_size = Some(head_size);
    evaluation.advice = head.advice.clone();
    if let Some(base) = base {
        let base_size = base.sizes.get(metric);
        let min_change = config.map_or_else(
            || Config::default().min_change_bytes(base_size),
            |c| c.min_change_bytes(base_size),
        );
        evaluation.changed = signed_delta(base_size, head_size).unsigned_abs() >= min_change.max(1);
        evaluation.growth = largest_growth(input, head, base);
    }
    let Some((_, budget)) = budget else {
        evaluation.verdict = Verdict::Neutral;
        evaluation
            .unjudged
            .push("no budget matches this target".to_string());
        return;
    };
    evaluation.violations = violations(budget, head, base, metric);
    if base.is_none() && budget.has_increase_limits() {
        evaluation
            .unjudged
            .push("increase limits not judged: no baseline".to_string());
    }
    evaluation.verdict = if !evaluation.violations.is_empty() {
        Verdict::Fail
    } else if base.is_none() {
        Verdict::Neutral
    } else {
        Verdict::Pass
    };
}

/// The unit that grew the most: from the diff when there is one, else from
/// the unit sizes of both sides.
fn largest_growth(
    input: &TargetInput,
    head: &Measurement,
    base: &Measurement,
) -> Option<UnitGrowth> {
    let (name, delta) = match &input.diff {
        Some(diff) => diff
            .units
            .iter()
            .filter(|c| c.delta > 0)
            .max_by(|a, b| a.delta.cmp(&b.delta).then_with(|| b.name.cmp(&a.name)))
            .map(|c| (c.name.clone(), c.delta))?,
        None => head
            .units
            .iter()
            .map(|u| {
                let before = base
                    .units
                    .iter()
                    .find(|b| b.name == u.name)
                    .map_or(0, |b| b.size);
                (u.name.clone(), signed_delta(before, u.size))
            })
            .filter(|(_, d)| *d > 0)
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))?,
    };
    let version = |m: &crate::input::Measurement| {
        m.units
            .iter()
            .find(|u| u.name == name)
            .and_then(|u| u.version.clone())
    };
    Some(UnitGrowth {
        old_version: version(base),
        new_version: version(head),
        name,
        delta,
    })
}

impl Evaluation {
    /// Whether the comment has something new to say: with
    /// `comment = "always"`, always; with `on-failure`, when the check fails
    /// or a failure is approved; with `on-change` (the default), also when a
    /// target changed by at least `min_change` against its baseline, is new
    /// (no baseline), is missing or failed to analyze. Never while targets
    /// are still being measured. When it has not, an existing sticky
    /// comment becomes one line and no new comment is created.
    pub fn comment_has_news(&self) -> bool {
        if self.status == CheckStatus::InProgress {
            return false;
        }
        let failing = self.conclusion == Some(Conclusion::Failure) || self.approved;
        match self.comment_mode {
            CommentMode::Always => true,
            CommentMode::OnFailure => failing,
            CommentMode::OnChange => {
                failing
                    || self.targets.iter().any(|t| {
                        // A target without a baseline is new: its first size is news.
                        matches!(t.verdict, Verdict::Fail | Verdict::Error | Verdict::Missing)
                            || (t.changed && t.head_size.is_some())
                    })
            }
        }
    }
}
