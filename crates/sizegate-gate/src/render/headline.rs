//! The headline: what a reviewer reads first. It names the worst failing
//! target, its metric and the limit it broke, then how to proceed (the
//! approval label, or which budget entry to raise). Several failures give
//! the count, worst first. Unrelated targets are never summed.

use crate::evaluate::{CheckStatus, Evaluation, TargetEvaluation, Verdict};
use crate::format::{change_percent, delta, percent_against, plain_percent, size};
use crate::limits::Violation;

/// How names are written: plain in the check title, code spans in markdown.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Style {
    Plain,
    Markdown,
}

impl Style {
    fn name(self, text: &str) -> String {
        match self {
            Style::Plain => text
                .chars()
                .take(crate::format::MAX_NAME_CHARS)
                .map(|c| {
                    if crate::format::is_invisible_control(c) {
                        ' '
                    } else {
                        c
                    }
                })
                .collect(),
            Style::Markdown => crate::format::code(text),
        }
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The failing target that is furthest over a limit, with that limit.
pub(crate) fn worst(evaluation: &Evaluation) -> Option<(&TargetEvaluation, &Violation)> {
    evaluation
        .targets
        .iter()
        .filter(|t| t.verdict == Verdict::Fail)
        .filter_map(|t| Some((t, worst_violation(t)?)))
        .max_by(|a, b| {
            severity(a.1)
                .cmp(&severity(b.1))
                .then_with(|| b.0.name.cmp(&a.0.name))
        })
}

/// The violation of a target to name first: an absolute `max_size` of the
/// target before its increase limits, those before unit limits; then the
/// one furthest over.
pub(crate) fn worst_violation(target: &TargetEvaluation) -> Option<&Violation> {
    target.violations.iter().rev().max_by_key(|v| severity(v))
}

fn severity(violation: &Violation) -> (u8, u64) {
    let class = match (violation, violation.unit()) {
        (_, Some(_)) => 0,
        (Violation::MaxSize { .. }, None) => 2,
        _ => 1,
    };
    (class, violation.excess())
}

/// `name: 9.0 MiB > max_size 8.0 MiB (+5.0 MiB, +125%)`.
pub(crate) fn broken_limit(
    target: &TargetEvaluation,
    violation: &Violation,
    style: Style,
) -> String {
    let units = target.units;
    let name = style.name(&target.name);
    let change = match (target.delta(), target.baseline_size) {
        (Some(d), Some(base)) => change_percent(d, base)
            .map(|p| format!("{}, {p}", delta(d, units)))
            .unwrap_or_else(|| delta(d, units)),
        _ => String::new(),
    };
    let with_change = |text: String| {
        if change.is_empty() {
            text
        } else {
            format!("{text} ({change})")
        }
    };
    match violation {
        Violation::MaxSize {
            unit: None,
            limit,
            size: actual,
        } => with_change(format!(
            "{name}: {}{} > max_size {}",
            // A budget with its own metric says which size it judged.
            target.metric.map(|m| format!("{m} ")).unwrap_or_default(),
            size(*actual, units),
            size(*limit, units)
        )),
        Violation::MaxSize {
            unit: Some(unit),
            limit,
            size: actual,
        } => format!(
            "{name}: unit {} is {} > max_size {}",
            style.name(unit),
            size(*actual, units),
            size(*limit, units)
        ),
        Violation::MaxIncrease {
            unit: None,
            limit,
            increase,
        } => format!(
            "{name}: {} > max_increase +{}{}",
            delta(*increase, units),
            size(*limit, units),
            target
                .baseline_size
                .and_then(|base| change_percent(*increase, base))
                .map(|p| format!(" ({p})"))
                .unwrap_or_default()
        ),
        Violation::MaxIncrease {
            unit: Some(unit),
            limit,
            increase,
        } => format!(
            "{name}: unit {} grew {} > max_increase +{}",
            style.name(unit),
            delta(*increase, units),
            size(*limit, units)
        ),
        Violation::MaxIncreasePercent {
            limit,
            increase,
            grew,
            ..
        } => format!(
            "{name}: {} > max_increase_percent +{} ({})",
            percent_against(*increase, *limit),
            plain_percent(*limit),
            delta(i64::try_from(*grew).unwrap_or(i64::MAX), units)
        ),
    }
}

/// The one-line title of the check and the comment heading.
pub(crate) fn title(evaluation: &Evaluation, style: Style) -> String {
    if evaluation.status == CheckStatus::InProgress {
        let (measured, uploaded) = (evaluation.measured(), evaluation.uploaded());
        return format!(
            "{measured} of {} measured",
            plural(uploaded, "target", "targets")
        );
    }
    let failed = evaluation.count(Verdict::Fail);
    let errors = evaluation.count(Verdict::Error);
    let missing: Vec<&TargetEvaluation> = evaluation
        .targets
        .iter()
        .filter(|t| t.verdict == Verdict::Missing)
        .collect();
    let mut parts = Vec::new();
    if let Some((target, violation)) = worst(evaluation) {
        let limit = broken_limit(target, violation, style);
        parts.push(if failed == 1 {
            limit
        } else {
            format!("{failed} targets over budget, worst {limit}")
        });
    }
    if errors > 0 {
        parts.push(format!(
            "{} failed to analyze",
            plural(errors, "target", "targets")
        ));
    }
    if !missing.is_empty() {
        let names: Vec<String> = missing
            .iter()
            .take(3)
            .map(|t| style.name(&t.name))
            .collect();
        let more = missing.len().saturating_sub(names.len());
        parts.push(format!(
            "{} missing: {}{}",
            plural(missing.len(), "target", "targets"),
            names.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    if evaluation.approved
        && let Some(label) = &evaluation.approve_label
    {
        parts.push(format!("approved by label {}", style.name(label)));
    }
    if parts.is_empty() {
        parts.push(calm_title(evaluation, style));
    }
    parts.join("; ")
}

/// The title when nothing failed, is missing or broke: the largest change
/// of one target, or that nothing changed.
fn calm_title(evaluation: &Evaluation, style: Style) -> String {
    let passing = evaluation.count(Verdict::Pass);
    let no_baseline = evaluation
        .targets
        .iter()
        .filter(|t| t.head_size.is_some() && t.baseline_size.is_none())
        .count();
    let within = match passing {
        0 => String::new(),
        n if n == evaluation.targets.len() => match n {
            1 => "within budget".to_string(),
            2 => "both targets within budget".to_string(),
            n => format!("all {n} targets within budget"),
        },
        n => format!("{} within budget", plural(n, "target", "targets")),
    };
    let largest = evaluation
        .targets
        .iter()
        .filter(|t| t.changed)
        .filter_map(|t| Some((t, t.delta()?, t.baseline_size?)))
        .max_by_key(|(_, d, _)| d.unsigned_abs());
    let mut parts = Vec::new();
    match largest {
        Some((target, d, base)) => parts.push(format!(
            "{} {}{}",
            style.name(&target.name),
            delta(d, target.units),
            change_percent(d, base)
                .map(|p| format!(" ({p})"))
                .unwrap_or_default()
        )),
        None if evaluation.targets.iter().any(|t| t.delta().is_some()) => {
            parts.push("no size change".to_string());
        }
        None => {}
    }
    if !within.is_empty() {
        parts.push(within);
    }
    if no_baseline > 0 {
        parts.push(format!(
            "no baseline for {}",
            plural(no_baseline, "target", "targets")
        ));
    }
    let unjudged = evaluation
        .targets
        .iter()
        .filter(|t| t.verdict == Verdict::Neutral && t.budget.is_none())
        .count();
    if unjudged > 0 {
        parts.push(format!(
            "{} without a budget",
            plural(unjudged, "target", "targets")
        ));
    }
    if parts.is_empty() {
        return format!(
            "{} uploaded",
            plural(evaluation.uploaded(), "target", "targets")
        );
    }
    parts.join(", ")
}

/// One line on how to get the pull request through, for a failing check.
pub(crate) fn how_to_proceed(evaluation: &Evaluation) -> Option<String> {
    use crate::config::MissingPolicy;
    use crate::evaluate::Conclusion;
    if evaluation.conclusion != Some(Conclusion::Failure) {
        return None;
    }
    let mut ways = Vec::new();
    if let Some((target, violation)) = worst(evaluation) {
        let what = match violation.unit() {
            Some(unit) => format!(
                "the `[[budget.unit]]` `{}` limit matching {}",
                violation.key(),
                crate::format::code(unit)
            ),
            None => format!("`{}`", violation.key()),
        };
        let entry = match &target.budget {
            Some(budget) => format!(
                "budget\\[{}\\] ({})",
                budget.index,
                crate::format::code(&budget.target)
            ),
            None => "its budget".to_string(),
        };
        ways.push(format!(
            "shrink the change, or raise {what} of {entry} in `sizegate.toml` on the base branch (the baseline's budgets judge)"
        ));
    }
    if evaluation.count(Verdict::Error) > 0 {
        ways.push("fix the build of the target that failed to analyze".to_string());
    }
    if evaluation.count(Verdict::Missing) > 0 && evaluation.missing_policy == MissingPolicy::Fail {
        ways.push("upload the missing targets, or set `missing = \"neutral\"`".to_string());
    }
    let mut line = format!("**To proceed:** {}", ways.join("; "));
    if let Some(label) = &evaluation.approve_label {
        line.push_str(&format!(
            "; or add the label {} to accept it",
            crate::format::code(label)
        ));
    }
    line.push('.');
    Some(line)
}
