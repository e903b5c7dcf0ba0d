//! The text sizegate posts: the sticky PR comment (markdown) and the
//! `sizegate` check run (status, conclusion, one-line title, markdown
//! summary). Both fit GitHub's limits however many targets and symbols there
//! are, cutting with a notice.

mod escape;
mod fit;
mod headline;
mod image;
mod view;

use askama::Template;
use serde::{Deserialize, Serialize};

use crate::evaluate::{CheckStatus, Conclusion, Evaluation};
use fit::Shown;
use headline::Style;
use view::{Body, Comment, Details, Row};

pub use escape::{MAX_NAME_CHARS, html as escape_html, markdown as escape_markdown};

/// Hidden first line of every sizegate comment, to find it again and
/// update it instead of posting a new one.
pub const COMMENT_MARKER: &str = "<!-- sizegate:comment -->";

/// Name of the check run.
pub const CHECK_NAME: &str = "sizegate";

/// Longest comment GitHub accepts, in characters; we count bytes, which is
/// never less.
pub const COMMENT_LIMIT: usize = 65_536;

/// Longest check run summary GitHub accepts, in characters; we count bytes.
pub const CHECK_SUMMARY_LIMIT: usize = 65_535;

/// Where links point and how much to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderContext {
    /// `SIZEGATE_PUBLIC_URL`, e.g. `https://sizegate.example.com`.
    pub public_url: String,
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// Rows per table of changes in a target's details (units, symbols,
    /// sections) and advice items.
    pub top: usize,
    /// The head commit, named and linked in the footer when set.
    pub head_sha: Option<String>,
    /// The GitHub web address the compare link points to (default
    /// `https://github.com`; another host for GitHub Enterprise Server).
    pub github_url: String,
}

impl RenderContext {
    /// A context with the default of 10 rows per table of changes.
    pub fn new(public_url: &str, owner: &str, repo: &str) -> RenderContext {
        RenderContext {
            public_url: public_url.to_string(),
            owner: owner.to_string(),
            repo: repo.to_string(),
            top: 10,
            head_sha: None,
            github_url: "https://github.com".to_string(),
        }
    }
}

/// What the check run shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutput {
    /// `in_progress` until every uploaded target is measured.
    pub status: CheckStatus,
    /// Set once completed.
    pub conclusion: Option<Conclusion>,
    /// One line naming the worst failure, e.g.
    /// `x86_64-unknown-linux-gnu/app: 9.0 MiB > max_size 8.0 MiB (+5.0 MiB, +125%)`.
    pub title: String,
    /// Markdown, at most [`CHECK_SUMMARY_LIMIT`] bytes.
    pub summary: String,
}

/// The PR comment, at most [`COMMENT_LIMIT`] bytes, starting with
/// [`COMMENT_MARKER`]: a heading naming the worst failure (or the largest
/// change), how to proceed when the check fails, then the table and the
/// details. This is what the dashboard shows; the worker posts it when
/// [`Evaluation::comment_has_news`], else [`render_quiet_comment`].
pub fn render_comment(evaluation: &Evaluation, ctx: &RenderContext) -> String {
    let title = headline::title(evaluation, Style::Markdown);
    let proceed = headline::how_to_proceed(evaluation);
    let icon = headline_icon(evaluation);
    let wrap = |body: &str| {
        Comment {
            marker: COMMENT_MARKER,
            icon,
            title: &title,
            proceed: proceed.as_deref(),
            body,
        }
        .render()
        .unwrap_or_else(|e| {
            format!("{COMMENT_MARKER}\nsizegate could not render this comment: {e}\n")
        })
    };
    // The heading costs the same whatever the body holds.
    let overhead = wrap("").len();
    let body = render_body(evaluation, ctx, COMMENT_LIMIT.saturating_sub(overhead));
    fit::truncate(&wrap(&body), COMMENT_LIMIT)
}

/// The one-line comment that replaces an existing sticky comment when the
/// evaluation has nothing new to say (`no size change`), or while targets
/// are still being measured. Never posted as a new comment.
pub fn render_quiet_comment(evaluation: &Evaluation, ctx: &RenderContext) -> String {
    let text = if evaluation.status == CheckStatus::InProgress {
        headline::title(evaluation, Style::Markdown)
    } else if evaluation.targets.iter().all(|t| !t.changed) {
        let n = evaluation.targets.len();
        format!(
            "no size change ({n} target{} within budget)",
            if n == 1 { "" } else { "s" }
        )
    } else {
        headline::title(evaluation, Style::Markdown)
    };
    format!(
        "{COMMENT_MARKER}\n{} sizegate: {text} · [details]({})\n",
        headline_icon(evaluation),
        dashboard_url(evaluation, ctx)
    )
}

/// The check run: status, conclusion, title and a summary of at most
/// [`CHECK_SUMMARY_LIMIT`] bytes. Posted whatever the comment does.
pub fn render_check(evaluation: &Evaluation, ctx: &RenderContext) -> CheckOutput {
    let mut summary = String::new();
    if let Some(proceed) = headline::how_to_proceed(evaluation) {
        summary.push_str(&proceed);
        summary.push_str("\n\n");
    }
    let overhead = summary.len();
    summary.push_str(&render_body(
        evaluation,
        ctx,
        CHECK_SUMMARY_LIMIT.saturating_sub(overhead),
    ));
    CheckOutput {
        status: evaluation.status,
        conclusion: evaluation.conclusion,
        title: title(evaluation),
        summary,
    }
}

/// The one-line title of the check (plain text): the worst failing target,
/// its metric and the limit it broke; or the largest change.
pub fn title(evaluation: &Evaluation) -> String {
    headline::title(evaluation, Style::Plain)
}

fn headline_icon(evaluation: &Evaluation) -> &'static str {
    match (evaluation.status, evaluation.conclusion) {
        (CheckStatus::InProgress, _) | (_, None) => "⏳",
        (_, Some(Conclusion::Success)) => "✅",
        (_, Some(Conclusion::Failure)) => "❌",
        (_, Some(Conclusion::Neutral)) => "➖",
    }
}

fn dashboard_url(evaluation: &Evaluation, ctx: &RenderContext) -> String {
    match evaluation.pull_request {
        Some(n) => format!("{}/pulls/{n}", view::repo_url(ctx)),
        None => view::repo_url(ctx),
    }
}

/// The links under the report: the dashboard, the head commit, and the
/// baseline…head compare on GitHub.
fn footer(evaluation: &Evaluation, ctx: &RenderContext) -> String {
    let dashboard = dashboard_url(evaluation, ctx);
    let page = if evaluation.pull_request.is_some() {
        "this pull request on the sizegate dashboard"
    } else {
        "the sizegate dashboard"
    };
    let mut links = vec![format!("[Open {page}]({dashboard})")];
    if let Some(sha) = ctx.head_sha.as_deref() {
        let short: String = sha.chars().take(10).collect();
        links.push(format!(
            "commit [{}]({}/commits/{})",
            escape::markdown(&short),
            view::repo_url(ctx),
            escape::url_path(sha)
        ));
        let base = evaluation
            .targets
            .iter()
            .find_map(|t| t.baseline.as_ref())
            .map(|b| b.sha.as_str());
        if let Some(base) = base.filter(|b| *b != sha) {
            links.push(format!(
                "[compare baseline…head on GitHub]({}/{}/{}/compare/{}...{})",
                ctx.github_url.trim_end_matches('/'),
                escape::url_path(&ctx.owner),
                escape::url_path(&ctx.repo),
                escape::url_path(base),
                escape::url_path(sha)
            ));
        }
    }
    let own: Vec<String> = evaluation
        .targets
        .iter()
        .filter_map(|t| {
            let metric = t.metric.filter(|m| *m != evaluation.metric)?;
            Some(format!("{}: `{metric}`", escape::markdown(&t.name)))
        })
        .collect();
    let exceptions = if own.is_empty() {
        String::new()
    } else {
        format!(" ({})", own.join(", "))
    };
    format!(
        "{} · sizes are `{}` bytes{exceptions}",
        links.join(" · "),
        evaluation.metric
    )
}

/// The budget goes in one legend line when every judged row shares it;
/// a budget column (the second value) only when rows differ.
fn budget_legend(evaluation: &Evaluation) -> (Option<String>, bool) {
    let loud_budgets: Vec<&crate::evaluate::BudgetRef> = evaluation
        .targets
        .iter()
        .filter(|t| !view::is_quiet(t))
        .filter_map(|t| t.budget.as_ref())
        .collect();
    let shared = loud_budgets
        .first()
        .filter(|first| loud_budgets.iter().all(|b| b.index == first.index));
    let legend = shared.map(|b| {
        format!(
            "Budget of every row: budget\\[{}\\] for {}: {}.",
            b.index,
            crate::format::code(&b.target),
            escape::markdown(&b.limits)
        )
    });
    let show_budget = legend.is_none() && !loud_budgets.is_empty();
    (legend, show_budget)
}

/// What a comment cut to fit says it left out.
fn cut_notice(
    rows: usize,
    all_rows: usize,
    details: usize,
    quiet_shown: usize,
    quiet: usize,
) -> String {
    let folded = if quiet == 0 {
        String::new()
    } else {
        format!(", {quiet_shown} of {quiet} unchanged targets")
    };
    format!(
        "This report was cut to fit GitHub's size limit: it shows {rows} of {all_rows} \
         changed or failing targets, the details of {details} of them{folded}. Failing \
         targets come first; the dashboard has everything."
    )
}

/// The summary table, the folded "within budget" block and the details,
/// cut to `limit` bytes.
fn render_body(evaluation: &Evaluation, ctx: &RenderContext, limit: usize) -> String {
    let intro = view::intro(evaluation);
    let (legend, show_budget) = budget_legend(evaluation);
    let quiet: Vec<_> = evaluation
        .targets
        .iter()
        .filter(|t| view::is_quiet(t))
        .map(|t| view::quiet_row(t, ctx))
        .collect();
    let loud: Vec<_> = evaluation
        .targets
        .iter()
        .filter(|t| !view::is_quiet(t))
        .collect();
    let (failing, passing): (Vec<_>, Vec<_>) = loud.iter().partition(|t| view::is_failing(t));
    let rows_of = |targets: &[&&crate::evaluate::TargetEvaluation]| -> Vec<Row> {
        targets.iter().map(|t| view::row(t, ctx)).collect()
    };
    let details_of = |targets: &[&&crate::evaluate::TargetEvaluation]| -> Vec<Details> {
        targets
            .iter()
            .map(|t| view::details(t, evaluation, ctx, show_budget))
            .collect()
    };
    let (fail_rows, pass_rows) = (rows_of(&failing), rows_of(&passing));
    let (fail_details, pass_details) = (details_of(&failing), details_of(&passing));
    let footer = footer(evaluation, ctx);
    // Cutting order: folded rows, passing details, passing rows, failing
    // details, failing rows.
    let total: Shown = [
        quiet.len(),
        pass_details.len(),
        pass_rows.len(),
        fail_details.len(),
        fail_rows.len(),
    ];
    let all_rows = fail_rows.len() + pass_rows.len();
    fit::fit(total, limit, |shown, all| {
        let [quiet_n, pass_d, pass_r, fail_d, fail_r] = shown;
        let rows: Vec<&Row> = fail_rows[..fail_r]
            .iter()
            .chain(&pass_rows[..pass_r])
            .collect();
        let details: Vec<&Details> = fail_details[..fail_d]
            .iter()
            .chain(&pass_details[..pass_d])
            .collect();
        let notice =
            (!all).then(|| cut_notice(rows.len(), all_rows, details.len(), quiet_n, quiet.len()));
        Body {
            intro: &intro,
            legend: legend.as_deref(),
            show_budget,
            rows: &rows,
            quiet: &quiet[..quiet_n],
            quiet_total: quiet.len(),
            details: &details,
            notice,
            footer: &footer,
        }
        .render()
        .unwrap_or_else(|e| format!("sizegate could not render this report: {e}"))
    })
}
