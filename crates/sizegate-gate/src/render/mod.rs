//! The text sizegate posts: the sticky PR comment (markdown) and the
//! `sizegate` check run (status, conclusion, one-line title, markdown
//! summary). Both fit GitHub's limits however many targets and symbols there
//! are, cutting with a notice.

mod escape;
mod fit;
mod view;

use askama::Template;
use serde::{Deserialize, Serialize};
use sizegate_analyze::human::{delta, percent};

use crate::evaluate::{CheckStatus, Conclusion, Evaluation, Verdict};
use fit::Shown;
use view::{Body, Comment};

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
    /// One line, e.g. `+12.3 KiB (+0.4%) on 3 targets, 1 over budget`.
    pub title: String,
    /// Markdown, at most [`CHECK_SUMMARY_LIMIT`] bytes.
    pub summary: String,
}

/// The PR comment, at most [`COMMENT_LIMIT`] bytes, starting with
/// [`COMMENT_MARKER`].
pub fn render_comment(evaluation: &Evaluation, ctx: &RenderContext) -> String {
    let title = title(evaluation);
    let icon = headline_icon(evaluation);
    let wrap = |body: &str| {
        Comment {
            marker: COMMENT_MARKER,
            icon,
            title: &title,
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

/// The check run: status, conclusion, title and a summary of at most
/// [`CHECK_SUMMARY_LIMIT`] bytes.
pub fn render_check(evaluation: &Evaluation, ctx: &RenderContext) -> CheckOutput {
    CheckOutput {
        status: evaluation.status,
        conclusion: evaluation.conclusion,
        title: title(evaluation),
        summary: render_body(evaluation, ctx, CHECK_SUMMARY_LIMIT),
    }
}

/// The one-line title of the check and the comment heading.
pub fn title(evaluation: &Evaluation) -> String {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    if evaluation.status == CheckStatus::InProgress {
        let (measured, uploaded) = (evaluation.measured(), evaluation.uploaded());
        return format!(
            "{measured} of {uploaded} target{} measured",
            plural(uploaded)
        );
    }
    let compared = evaluation
        .targets
        .iter()
        .filter(|t| t.delta().is_some())
        .count();
    let mut parts = Vec::new();
    match evaluation.total_delta() {
        Some((0, _)) => parts.push(format!(
            "no change on {compared} target{}",
            plural(compared)
        )),
        Some((d, base)) => parts.push(format!(
            "{} ({}) on {compared} target{}",
            delta(d),
            percent(d, base),
            plural(compared)
        )),
        None => {
            let n = evaluation
                .targets
                .iter()
                .filter(|t| t.head_size.is_some())
                .count();
            if n > 0 {
                parts.push(format!("no baseline for {n} target{}", plural(n)));
            }
        }
    }
    let failed = evaluation.count(Verdict::Fail);
    if failed > 0 {
        parts.push(format!("{failed} over budget"));
    } else if evaluation.count(Verdict::Pass) > 0 {
        parts.push("all within budget".to_string());
    }
    let errors = evaluation.count(Verdict::Error);
    if errors > 0 {
        parts.push(format!("{errors} failed to analyze"));
    }
    let missing = evaluation.count(Verdict::Missing);
    if missing > 0 {
        parts.push(format!("{missing} missing"));
    }
    if evaluation.approved {
        parts.push("approved by label".to_string());
    }
    if parts.is_empty() {
        let n = evaluation.uploaded();
        return format!("{n} target{} uploaded", plural(n));
    }
    parts.join(", ")
}

fn headline_icon(evaluation: &Evaluation) -> &'static str {
    match (evaluation.status, evaluation.conclusion) {
        (CheckStatus::InProgress, _) | (_, None) => "⏳",
        (_, Some(Conclusion::Success)) => "✅",
        (_, Some(Conclusion::Failure)) => "❌",
        (_, Some(Conclusion::Neutral)) => "➖",
    }
}

/// The summary table and details, cut to `limit` bytes.
fn render_body(evaluation: &Evaluation, ctx: &RenderContext, limit: usize) -> String {
    let intro = view::intro(evaluation);
    let rows: Vec<_> = evaluation
        .targets
        .iter()
        .map(|t| view::row(t, ctx))
        .collect();
    let pull = evaluation.pull_request.is_some();
    let details: Vec<_> = evaluation
        .targets
        .iter()
        .map(|t| view::details(t, ctx, pull))
        .collect();
    let dashboard = match evaluation.pull_request {
        Some(n) => format!("{}/pulls/{n}", view::repo_url(ctx)),
        None => view::repo_url(ctx),
    };
    let commit = ctx.head_sha.as_deref().map_or_else(String::new, |sha| {
        let short: String = sha.chars().take(10).collect();
        format!(
            " · commit [{}]({}/commits/{})",
            escape::markdown(&short),
            view::repo_url(ctx),
            escape::url_path(sha)
        )
    });
    let footer = format!(
        "[Open in the sizegate dashboard]({dashboard}){commit} · sizes are `{}` bytes",
        evaluation.metric
    );
    let total = Shown {
        rows: rows.len(),
        details: details.len(),
    };
    fit::fit(total, limit, |shown, all| {
        let notice = (!all).then(|| {
            let details = match shown.details {
                0 => "no target details".to_string(),
                1 => "the details of the first target".to_string(),
                n => format!("the details of the first {n}"),
            };
            format!(
                "This report was cut to fit GitHub's size limit: it shows {} of {} targets in \
                 the table and {details}. The dashboard has everything.",
                shown.rows,
                rows.len(),
            )
        });
        Body {
            intro: &intro,
            rows: &rows[..shown.rows],
            details: &details[..shown.details],
            notice,
            footer: &footer,
        }
        .render()
        .unwrap_or_else(|e| format!("sizegate could not render this report: {e}"))
    })
}
