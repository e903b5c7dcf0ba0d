//! What the templates show, computed from an [`Evaluation`]: one summary
//! row and one details block per target, every name already escaped, every
//! size already formatted. The askama templates only lay them out.

use askama::Template;
use sizegate_analyze::{Advice, Cause, Change, Metric};

use super::RenderContext;
use super::escape::{html, markdown, markdown_with_code, url_path};
use crate::evaluate::{Evaluation, TargetEvaluation, UnitGrowth, Verdict};
use crate::format::{
    Units, change_percent, change_percent_against, code, code_in_table, delta, size,
};
use crate::limits::Violation;

/// One line of the summary table.
#[derive(Debug)]
pub(crate) struct Row {
    pub target: String,
    pub baseline: String,
    pub head: String,
    pub delta: String,
    pub percent: String,
    pub growth: String,
    pub budget: String,
    pub verdict: String,
}

/// One line of the folded "within budget" table.
#[derive(Debug)]
pub(crate) struct QuietRow {
    pub target: String,
    pub head: String,
    pub delta: String,
}

/// The collapsed block of one target.
#[derive(Debug)]
pub(crate) struct Details {
    pub summary: String,
    pub lines: Vec<String>,
    pub tables: Vec<ChangeTable>,
    pub causes: Vec<String>,
    pub advice: Vec<String>,
    pub link: String,
}

/// The top changes of one kind, and how many were left out.
#[derive(Debug)]
pub(crate) struct ChangeTable {
    pub title: &'static str,
    pub rows: Vec<ChangeRow>,
    pub more: usize,
    pub partial: bool,
}

/// One changed unit, symbol or section.
#[derive(Debug)]
pub(crate) struct ChangeRow {
    pub name: String,
    pub old: String,
    pub new: String,
    pub delta: String,
}

/// The table and details shared by the comment and the check summary.
#[derive(Debug, Template)]
#[template(path = "body.md")]
pub(crate) struct Body<'a> {
    pub intro: &'a [String],
    pub legend: Option<&'a str>,
    pub show_budget: bool,
    pub rows: &'a [&'a Row],
    pub quiet: &'a [QuietRow],
    pub quiet_total: usize,
    pub details: &'a [&'a Details],
    pub notice: Option<String>,
    pub footer: &'a str,
}

/// The PR comment: marker, heading, then the body.
#[derive(Debug, Template)]
#[template(path = "comment.md")]
pub(crate) struct Comment<'a> {
    pub marker: &'a str,
    pub icon: &'a str,
    pub title: &'a str,
    pub proceed: Option<&'a str>,
    pub body: &'a str,
}

/// The icon of a verdict.
pub(crate) fn icon(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "✅",
        Verdict::Fail => "❌",
        Verdict::Error => "⚠️",
        Verdict::Missing => "❔",
        Verdict::Pending => "⏳",
        Verdict::Neutral => "➖",
    }
}

/// The link to a target's history page.
pub(crate) fn target_url(ctx: &RenderContext, target: &str) -> String {
    format!("{}/targets/{}", repo_url(ctx), url_path(target))
}

/// The link to the repository's dashboard page.
pub(crate) fn repo_url(ctx: &RenderContext) -> String {
    format!(
        "{}/repos/{}/{}",
        ctx.public_url.trim_end_matches('/'),
        url_path(&ctx.owner),
        url_path(&ctx.repo)
    )
}

/// Whether a target goes into the folded "within budget" block: it passed
/// and did not change by `min_change`.
pub(crate) fn is_quiet(target: &TargetEvaluation) -> bool {
    target.verdict == Verdict::Pass && !target.changed
}

/// Whether a target's row and details are the last thing cut.
pub(crate) fn is_failing(target: &TargetEvaluation) -> bool {
    matches!(
        target.verdict,
        Verdict::Fail | Verdict::Error | Verdict::Missing
    )
}

/// The summary row of a target.
pub(crate) fn row(target: &TargetEvaluation, ctx: &RenderContext) -> Row {
    let units = target.units;
    let opt_size = |s: Option<u64>| s.map_or_else(|| "—".to_string(), |s| size(s, units));
    let percent_limit = target.budget.as_ref().and_then(|b| b.max_increase_percent);
    let (delta_text, percent_text) = match (target.delta(), target.baseline_size) {
        (Some(d), Some(base)) => (
            delta(d, units),
            match percent_limit {
                Some(limit) => change_percent_against(d, base, limit),
                None => change_percent(d, base),
            }
            .unwrap_or_else(|| "—".to_string()),
        ),
        _ => ("—".to_string(), "—".to_string()),
    };
    Row {
        target: format!(
            "[{}]({})",
            code_in_table(&target.name),
            target_url(ctx, &target.name)
        ),
        baseline: opt_size(target.baseline_size),
        head: opt_size(target.head_size),
        delta: delta_text,
        percent: percent_text,
        growth: target
            .growth
            .as_ref()
            .map_or_else(|| "—".to_string(), |g| growth(g, units, true)),
        budget: target.budget.as_ref().map_or_else(
            || "—".to_string(),
            |b| format!("{}: {}", code_in_table(&b.target), markdown(&b.limits)),
        ),
        verdict: format!("{} {}", icon(target.verdict), verdict_reason(target, units)),
    }
}

/// The row of a target folded into the "within budget" block.
pub(crate) fn quiet_row(target: &TargetEvaluation, ctx: &RenderContext) -> QuietRow {
    QuietRow {
        target: format!(
            "[{}]({})",
            code_in_table(&target.name),
            target_url(ctx, &target.name)
        ),
        head: target
            .head_size
            .map_or_else(|| "—".to_string(), |s| size(s, target.units)),
        delta: target
            .delta()
            .map_or_else(|| "—".to_string(), |d| delta(d, target.units)),
    }
}

/// `` `regex` +2.5 MiB (1.10.0 → 1.11.1) ``.
fn growth(growth: &UnitGrowth, units: Units, in_table: bool) -> String {
    let name = if in_table {
        code_in_table(&growth.name)
    } else {
        code(&growth.name)
    };
    let version = match (&growth.old_version, &growth.new_version) {
        (Some(old), Some(new)) if old != new => {
            format!(" ({} → {})", markdown(old), markdown(new))
        }
        (None, Some(new)) => format!(" (new, {})", markdown(new)),
        _ => String::new(),
    };
    format!("{name} {}{version}", delta(growth.delta, units))
}

/// The verdict cell: every limit broken, unit limits never hidden behind a
/// count.
fn verdict_reason(target: &TargetEvaluation, units: Units) -> String {
    match target.verdict {
        Verdict::Pass => "pass".to_string(),
        Verdict::Fail => {
            const SHOWN: usize = 3;
            let all = &target.violations;
            let mut shown: Vec<&Violation> = all.iter().take(SHOWN).collect();
            if let Some(unit) = all.iter().find(|v| v.unit().is_some())
                && !shown.iter().any(|v| v.unit().is_some())
                && let Some(last) = shown.last_mut()
            {
                *last = unit;
            }
            let mut text = format!(
                "**fail**: {}",
                shown
                    .iter()
                    .map(|v| short(v, units))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if all.len() > shown.len() {
                text.push_str(&format!(" and {} more", all.len() - shown.len()));
            }
            text
        }
        Verdict::Error => "error: analysis failed".to_string(),
        Verdict::Missing => "missing: not uploaded".to_string(),
        Verdict::Pending => "pending".to_string(),
        Verdict::Neutral if target.budget.is_none() => "neutral: no budget".to_string(),
        Verdict::Neutral => "neutral: no baseline".to_string(),
    }
}

/// `max_size +1.0 MiB over`, `` unit `regex` max_size +409.6 KiB over ``.
fn short(violation: &Violation, units: Units) -> String {
    let unit = violation
        .unit()
        .map(|u| format!("unit {} ", code_in_table(u)))
        .unwrap_or_default();
    format!(
        "{unit}{} +{} over",
        violation.key(),
        size(violation.excess(), units)
    )
}

/// One sentence: which limit, and by how much.
fn describe(violation: &Violation, units: Units) -> String {
    let of = |unit: Option<&str>| {
        unit.map(|u| format!("unit {}: ", code(u)))
            .unwrap_or_default()
    };
    match violation {
        Violation::MaxSize { limit, size: s, .. } => format!(
            "{}{} is over `max_size` {} by {}",
            of(violation.unit()),
            size(*s, units),
            size(*limit, units),
            size(s.saturating_sub(*limit), units)
        ),
        Violation::MaxIncrease {
            limit, increase, ..
        } => format!(
            "{}grew {}, over `max_increase` {} by {}",
            of(violation.unit()),
            delta(*increase, units),
            size(*limit, units),
            size(violation.excess(), units)
        ),
        Violation::MaxIncreasePercent {
            limit,
            increase,
            allowed,
            grew,
        } => format!(
            "grew {} ({}), over `max_increase_percent` {} ({}) by {}",
            delta(i64::try_from(*grew).unwrap_or(i64::MAX), units),
            crate::format::percent_against(*increase, *limit),
            crate::format::plain_percent(*limit),
            size(*allowed, units),
            size(grew.saturating_sub(*allowed), units)
        ),
    }
}

/// The details block of a target.
pub(crate) fn details(
    target: &TargetEvaluation,
    evaluation: &Evaluation,
    ctx: &RenderContext,
    show_budget: bool,
) -> Details {
    let units = target.units;
    let headline = match (target.delta(), target.baseline_size) {
        (Some(d), Some(base)) => format!(
            " {}{}",
            delta(d, units),
            change_percent(d, base)
                .map(|p| format!(" ({p})"))
                .unwrap_or_default()
        ),
        _ => String::new(),
    };
    let pull = evaluation.pull_request.is_some();
    let (tables, causes) = diff_tables(target, ctx.top);
    Details {
        summary: format!(
            "{} <code>{}</code>{headline}",
            icon(target.verdict),
            html(&target.name)
        ),
        lines: detail_lines(target, ctx, pull, show_budget),
        tables,
        causes,
        advice: advice(target, evaluation, ctx.top.min(MAX_ADVICE)),
        link: target_url(ctx, &target.name),
    }
}

/// The sentences of a target's details: its baseline (or why it has
/// none), its budget, every limit broken, notes, the analysis error, and
/// an image's headline.
fn detail_lines(
    target: &TargetEvaluation,
    ctx: &RenderContext,
    pull: bool,
    show_budget: bool,
) -> Vec<String> {
    let units = target.units;
    let mut lines = Vec::new();
    if let Some(commit) = &target.baseline {
        let short: String = commit.sha.chars().take(10).collect();
        let place = match (commit.behind, pull) {
            (0, true) => "the base commit".to_string(),
            (0, false) => "the parent commit".to_string(),
            (1, _) => "1 commit behind the base".to_string(),
            (n, _) => format!("{n} commits behind the base"),
        };
        lines.push(format!(
            "Baseline: [{}]({}/commits/{}) ({place}).",
            code(&short),
            repo_url(ctx),
            url_path(&commit.sha)
        ));
    }
    if let Some(why) = &target.no_baseline {
        lines.push(format!("No baseline: {}.", markdown(&why.to_string())));
    }
    if show_budget && let Some(budget) = &target.budget {
        lines.push(format!(
            "Budget: budget\\[{}\\] for {}: {}.",
            budget.index,
            code(&budget.target),
            markdown(&budget.limits)
        ));
    }
    for violation in &target.violations {
        lines.push(format!("❌ Over budget: {}.", describe(violation, units)));
    }
    for note in &target.unjudged {
        lines.push(format!("Note: {}.", markdown(note)));
    }
    if let Some(error) = &target.error {
        lines.push(format!(
            "⚠️ The analysis failed: {}",
            super::escape::markdown_message(error)
        ));
    }
    match target.verdict {
        Verdict::Missing => lines.push(
            "This target was measured at the baseline but was not uploaded for this commit."
                .to_string(),
        ),
        Verdict::Pending => lines.push("Not measured yet.".to_string()),
        _ => {}
    }
    if let Some(line) = target
        .diff
        .as_ref()
        .filter(|d| super::image::is_image(d))
        .and_then(|d| super::image::headline(d, units))
    {
        lines.push(line);
    }
    lines
}

/// The change tables of a target's diff (an image's own, or units,
/// symbols and sections) and the likely causes.
fn diff_tables(target: &TargetEvaluation, top: usize) -> (Vec<ChangeTable>, Vec<String>) {
    let units = target.units;
    let Some(diff) = &target.diff else {
        return (Vec::new(), Vec::new());
    };
    let tables = if super::image::is_image(diff) {
        super::image::tables(diff, top, units)
    } else {
        vec![
            change_table("Units (crates, packages)", &diff.units, top, false, units),
            change_table("Symbols", &diff.symbols, top, diff.symbols_partial, units),
            change_table("Sections", &diff.sections, top, false, units),
        ]
    };
    (
        tables,
        diff.causes.iter().map(|c| cause(c, units)).collect(),
    )
}

/// Most advice items per target.
const MAX_ADVICE: usize = 3;

/// Advice about the change: only for a failing target (or, with
/// `comment = "always"`, a growing one), never a lever that cannot move the
/// judged metric, ranked by how much the units it names grew.
fn advice(target: &TargetEvaluation, evaluation: &Evaluation, top: usize) -> Vec<String> {
    use crate::config::CommentMode;
    let growing = target.delta().is_some_and(|d| d > 0);
    let wanted = target.verdict == Verdict::Fail
        || (evaluation.comment_mode == CommentMode::Always && growing);
    if !wanted {
        return Vec::new();
    }
    let grown: Vec<&Change> = target
        .diff
        .as_ref()
        .map(|d| d.units.iter().filter(|c| c.delta > 0).collect())
        .unwrap_or_default();
    let growth_of = |a: &Advice| -> i64 {
        grown
            .iter()
            .filter(|c| names_unit(&a.message, &c.name))
            .map(|c| c.delta)
            .max()
            .unwrap_or(0)
    };
    let mut ranked: Vec<(&Advice, i64)> = target
        .advice
        .iter()
        .filter(|a| moves_metric(a, evaluation.metric))
        .map(|a| (a, growth_of(a)))
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.saving.cmp(&a.0.saving)));
    ranked
        .into_iter()
        .take(top)
        .map(|(a, _)| {
            let message = markdown_with_code(&a.message);
            // One "saves" figure: the analyzer's message usually says it.
            if a.saving == 0 || a.message.to_ascii_lowercase().contains("sav") {
                message
            } else {
                format!("{message} (saves about {})", size(a.saving, target.units))
            }
        })
        .collect()
}

/// Whether `message` names the unit `unit` (as a code span or a path prefix).
fn names_unit(message: &str, unit: &str) -> bool {
    !unit.starts_with('[')
        && (message.contains(&format!("`{unit}`"))
            || message.contains(&format!("`{unit}::"))
            || message.contains(&format!("`<{unit}::")))
}

/// Stripping symbols or debug info changes the file, not what `shipped`
/// (measured after stripping) or `vm` (what is loaded) measure.
fn moves_metric(advice: &Advice, metric: Metric) -> bool {
    let strips = matches!(
        advice.id.as_str(),
        "strip-symbols" | "strip-debug" | "go-ldflags-s-w"
    );
    !(strips && matches!(metric, Metric::Shipped | Metric::Vm))
}

fn change_table(
    title: &'static str,
    changes: &[Change],
    top: usize,
    partial: bool,
    units: Units,
) -> ChangeTable {
    named_change_table(title, changes, top, partial, units, |c| {
        code_in_table(&c.name)
    })
}

/// The first `top` of `changes` as a table, each row named by `name`.
pub(crate) fn named_change_table(
    title: &'static str,
    changes: &[Change],
    top: usize,
    partial: bool,
    units: Units,
    name: impl Fn(&Change) -> String,
) -> ChangeTable {
    ChangeTable {
        title,
        rows: changes
            .iter()
            .take(top)
            .map(|c| ChangeRow {
                name: name(c),
                old: size(c.old, units),
                new: size(c.new, units),
                delta: delta(c.delta, units),
            })
            .collect(),
        more: changes.len().saturating_sub(top),
        partial,
    }
}

fn cause(cause: &Cause, units: Units) -> String {
    let value = |v: &Option<String>| v.as_deref().map_or_else(|| "none".to_string(), code);
    let moved = cause
        .delta
        .map(|d| format!(": {}", delta(d, units)))
        .unwrap_or_default();
    format!(
        "{} {}: {} → {}{moved}",
        markdown(&cause.kind.replace('_', " ")),
        code(&cause.subject),
        value(&cause.old),
        value(&cause.new)
    )
}

/// Sentences above the table: approval, progress, where budgets came from.
pub(crate) fn intro(evaluation: &Evaluation) -> Vec<String> {
    use crate::evaluate::CheckStatus;
    use crate::selection::ConfigSource;
    let mut intro = Vec::new();
    if evaluation.status == CheckStatus::InProgress {
        intro.push(format!(
            "⏳ {} of {} targets measured; this updates as the others finish.",
            evaluation.measured(),
            evaluation.uploaded()
        ));
    }
    if evaluation.approved {
        let label = evaluation.approve_label.as_deref().unwrap_or_default();
        intro.push(format!(
            "✅ **Approved by label** {}: the pull request passes although {} failed the gate.",
            code(label),
            match evaluation.count(Verdict::Fail) + evaluation.count(Verdict::Error) {
                1 => "1 target".to_string(),
                n => format!("{n} targets"),
            }
        ));
    }
    let missing = evaluation.count(Verdict::Missing);
    if missing > 0 {
        use crate::config::MissingPolicy;
        let effect = match evaluation.missing_policy {
            MissingPolicy::Neutral => "the check is neutral (`missing = \"neutral\"`)",
            MissingPolicy::Fail => "the check fails (`missing = \"fail\"`)",
        };
        intro.push(format!(
            "❔ {} measured at the baseline {} not uploaded for this commit, so {effect}: {}.",
            if missing == 1 {
                "1 target".to_string()
            } else {
                format!("{missing} targets")
            },
            if missing == 1 { "was" } else { "were" },
            evaluation
                .targets
                .iter()
                .filter(|t| t.verdict == Verdict::Missing)
                .take(10)
                .map(|t| code(&t.name))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    match evaluation.config_source {
        ConfigSource::Baseline => {}
        ConfigSource::Head => intro.push(
            "Budgets come from this commit's sizegate.toml: the baseline commit has none."
                .to_string(),
        ),
        ConfigSource::None => {
            intro.push("No sizegate.toml on either side: no budgets apply.".to_string());
        }
    }
    intro
}
