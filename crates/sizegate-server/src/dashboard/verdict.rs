//! The gate's verdict box of the pull request and commit pages: the
//! conclusion and check title of a commit's stored evaluation, each
//! target's verdict with the budget that judged it and the baseline used,
//! the state of the report to GitHub, and the comment as it is (or would
//! be) posted.

use sizegate_gate::{CheckStatus, Conclusion, TargetEvaluation};
use sizegate_store::evaluations::{ReportState, StoredEvaluation};

use super::view::short;

/// One target's line in the verdict box.
pub(super) struct TargetVerdict {
    /// Target name.
    pub name: String,
    /// `fail`, `error`, `missing`, `pending`, `neutral` or `pass`.
    pub verdict: &'static str,
    /// The budget that judged it, e.g. `budget[0] (app*): ≤ 8.0 MiB`.
    pub budget: String,
    /// The limits it is over, in a few words each.
    pub violations: Vec<String>,
    /// Limits that could not be judged, the analysis error, and the like.
    pub notes: Vec<String>,
    /// Short sha of the baseline, empty without one.
    pub baseline_short: String,
    /// Link to the baseline commit, empty without one.
    pub baseline_href: String,
    /// How far behind the base the baseline is, or why there is none.
    pub baseline_note: String,
}

/// The verdict box of a commit that was evaluated.
pub(super) struct VerdictView {
    /// `success`, `failure`, `neutral` or `in progress`.
    pub conclusion: String,
    /// CSS class for the conclusion badge.
    pub conclusion_class: &'static str,
    /// The check run's title.
    pub title: String,
    /// The approval label, when it turned a failure into a success.
    pub approved_by: String,
    /// What happened to the report on GitHub.
    pub report_state: String,
    /// Per target, failures first (the gate's order).
    pub targets: Vec<TargetVerdict>,
    /// The sticky comment rendered to sanitized HTML, as GitHub shows it.
    pub comment_html: String,
}

/// Words for the report state of a stored evaluation.
fn report_state(stored: &StoredEvaluation) -> String {
    match stored.report_state {
        ReportState::Posted => "posted to GitHub".to_owned(),
        ReportState::Disabled => {
            "not posted: no GitHub App configured — this is what would be posted".to_owned()
        }
        ReportState::Failed => format!(
            "posting failed: {}",
            stored
                .report_last_error
                .as_deref()
                .unwrap_or("no error recorded")
        ),
        ReportState::Pending => "waiting to be posted to GitHub".to_owned(),
    }
}

fn target_verdict(owner_repo: &str, target: &TargetEvaluation) -> TargetVerdict {
    let mut notes = target.unjudged.clone();
    notes.extend(target.error.iter().cloned());
    let (baseline_short, baseline_href, baseline_note) =
        match (&target.baseline, &target.no_baseline) {
            (Some(base), _) => (
                short(&base.sha).to_owned(),
                format!("/repos/{owner_repo}/commits/{}", base.sha),
                match base.behind {
                    0 => "the base itself".to_owned(),
                    1 => "1 commit behind the base".to_owned(),
                    n => format!("{n} commits behind the base"),
                },
            ),
            (None, Some(why)) => (String::new(), String::new(), format!("no baseline: {why}")),
            (None, None) => (String::new(), String::new(), "no baseline".to_owned()),
        };
    TargetVerdict {
        name: target.name.clone(),
        verdict: target.verdict.as_str(),
        budget: target
            .budget
            .as_ref()
            .map(|b| format!("budget[{}] ({}): {}", b.index, b.target, b.limits))
            .unwrap_or_else(|| "no budget".to_owned()),
        violations: target.violations.iter().map(|v| v.short()).collect(),
        notes,
        baseline_short,
        baseline_href,
        baseline_note,
    }
}

/// The verdict box for `stored`, the evaluation of a commit of
/// `owner_repo` (`owner/name`).
pub(super) fn verdict_view(owner_repo: &str, stored: &StoredEvaluation) -> VerdictView {
    let evaluation = &stored.evaluation;
    let (conclusion, conclusion_class) = match (stored.status, stored.conclusion) {
        (CheckStatus::InProgress, _) | (_, None) => ("in progress".to_owned(), "pending"),
        (CheckStatus::Completed, Some(c)) => (
            c.as_str().to_owned(),
            match c {
                Conclusion::Success => "pass",
                Conclusion::Failure => "fail",
                Conclusion::Neutral => "neutral",
            },
        ),
    };
    let targets = evaluation
        .targets
        .iter()
        .map(|t| target_verdict(owner_repo, t))
        .collect();
    let approved_by = if evaluation.approved {
        evaluation
            .approve_label
            .clone()
            .unwrap_or_else(|| "label".to_owned())
    } else {
        String::new()
    };
    VerdictView {
        conclusion,
        conclusion_class,
        title: stored.check_title.clone(),
        approved_by,
        report_state: report_state(stored),
        targets,
        comment_html: super::markdown::comment_html(&stored.comment_markdown),
    }
}
