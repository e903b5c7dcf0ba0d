//! What the templates show, computed from an [`Evaluation`]: one summary
//! row and one details block per target, every name already escaped, every
//! size already formatted. The askama templates only lay them out.

use askama::Template;
use sizegate_analyze::human::{delta, percent, size};
use sizegate_analyze::{Cause, Change};

use super::RenderContext;
use super::escape::{html, markdown, markdown_message, url_path};
use crate::evaluate::{Evaluation, TargetEvaluation, Verdict};

/// One line of the summary table.
#[derive(Debug)]
pub(crate) struct Row {
    pub target: String,
    pub baseline: String,
    pub head: String,
    pub delta: String,
    pub percent: String,
    pub budget: String,
    pub verdict: String,
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
    pub rows: &'a [Row],
    pub details: &'a [Details],
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

/// The summary row of a target.
pub(crate) fn row(target: &TargetEvaluation, ctx: &RenderContext) -> Row {
    let opt_size = |s: Option<u64>| s.map_or_else(|| "—".to_string(), size);
    let (delta_text, percent_text) = match (target.delta(), target.baseline_size) {
        (Some(d), Some(base)) => (delta(d), percent(d, base)),
        _ => ("—".to_string(), "—".to_string()),
    };
    Row {
        target: format!(
            "[{}]({})",
            markdown(&target.name),
            target_url(ctx, &target.name)
        ),
        baseline: opt_size(target.baseline_size),
        head: opt_size(target.head_size),
        delta: delta_text,
        percent: percent_text,
        budget: target
            .budget
            .as_ref()
            .map_or_else(|| "—".to_string(), |b| markdown(&b.limits)),
        verdict: format!("{} {}", icon(target.verdict), verdict_reason(target)),
    }
}

fn verdict_reason(target: &TargetEvaluation) -> String {
    match target.verdict {
        Verdict::Pass => "pass".to_string(),
        Verdict::Fail => {
            let first = target
                .violations
                .first()
                .map(|v| format!(": {}", markdown(&v.short())))
                .unwrap_or_default();
            let more = match target.violations.len() {
                0 | 1 => String::new(),
                n => format!(" and {} more", n - 1),
            };
            format!("**fail**{first}{more}")
        }
        Verdict::Error => "error: analysis failed".to_string(),
        Verdict::Missing => "missing: not uploaded".to_string(),
        Verdict::Pending => "pending".to_string(),
        Verdict::Neutral if target.budget.is_none() => "neutral: no budget".to_string(),
        Verdict::Neutral => "neutral: no baseline".to_string(),
    }
}

/// The details block of a target.
pub(crate) fn details(target: &TargetEvaluation, ctx: &RenderContext, pull: bool) -> Details {
    let headline = match (target.delta(), target.baseline_size) {
        (Some(d), Some(base)) => format!(" {} ({})", delta(d), percent(d, base)),
        _ => String::new(),
    };
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
            markdown(&short),
            repo_url(ctx),
            url_path(&commit.sha)
        ));
    }
    if let Some(why) = &target.no_baseline {
        lines.push(format!("No baseline: {why}."));
    }
    if let Some(budget) = &target.budget {
        lines.push(format!(
            "Budget: budget\\[{}\\] for {}: {}.",
            budget.index,
            markdown(&budget.target),
            markdown(&budget.limits)
        ));
    }
    for violation in &target.violations {
        lines.push(format!(
            "❌ Over budget: {}.",
            markdown(&violation.describe())
        ));
    }
    for note in &target.unjudged {
        lines.push(format!("Note: {}.", markdown(note)));
    }
    if let Some(error) = &target.error {
        lines.push(format!(
            "⚠️ The analysis failed: {}",
            markdown_message(error)
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
    let empty = |title| ChangeTable {
        title,
        rows: Vec::new(),
        more: 0,
        partial: false,
    };
    let (units, symbols, sections, causes) = match &target.diff {
        Some(diff) => (
            change_table("Units (crates, packages)", &diff.units, ctx.top, false),
            change_table("Symbols", &diff.symbols, ctx.top, diff.symbols_partial),
            change_table("Sections", &diff.sections, ctx.top, false),
            diff.causes.iter().map(cause).collect(),
        ),
        None => (
            empty("Units (crates, packages)"),
            empty("Symbols"),
            empty("Sections"),
            Vec::new(),
        ),
    };
    Details {
        summary: format!("{} {}{headline}", icon(target.verdict), html(&target.name)),
        lines,
        tables: vec![units, symbols, sections],
        causes,
        advice: target
            .advice
            .iter()
            .take(ctx.top)
            .map(|a| {
                format!(
                    "{} (saves about {})",
                    markdown_message(&a.message),
                    size(a.saving)
                )
            })
            .collect(),
        link: target_url(ctx, &target.name),
    }
}

fn change_table(title: &'static str, changes: &[Change], top: usize, partial: bool) -> ChangeTable {
    ChangeTable {
        title,
        rows: changes
            .iter()
            .take(top)
            .map(|c| ChangeRow {
                name: markdown(&c.name),
                old: size(c.old),
                new: size(c.new),
                delta: delta(c.delta),
            })
            .collect(),
        more: changes.len().saturating_sub(top),
        partial,
    }
}

fn cause(cause: &Cause) -> String {
    let value = |v: &Option<String>| v.as_deref().map_or_else(|| "none".to_string(), markdown);
    let moved = cause
        .delta
        .map_or_else(String::new, |bytes| format!(": {}", delta(bytes)));
    format!(
        "{} {}: {} → {}{moved}",
        markdown(&cause.kind.replace('_', " ")),
        markdown(&cause.subject),
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
            markdown(label),
            match evaluation.count(Verdict::Fail) + evaluation.count(Verdict::Error) {
                1 => "1 target".to_string(),
                n => format!("{n} targets"),
            }
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
