//! Snapshots of the PR comment and the check run in every situation the
//! gate knows, and the size limit with a huge matrix.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod support;

use sizegate_analyze::{Change, ChangeStatus};
use sizegate_gate::{
    BaselineOnlyTarget, CHECK_SUMMARY_LIMIT, COMMENT_LIMIT, COMMENT_MARKER, Config, Evaluation,
    Event, GateInput, HeadState, RenderContext, TargetInput, choose_config, evaluate, render_check,
    render_comment,
};
use support::*;

const BUDGETS: &str = r#"
approve_label = "size-approved"

[[budget]]
target = "x86_64-*"
max_size = "8 MiB"
max_increase = "64 KiB"
max_increase_percent = 1.0

[[budget.unit]]
name = "regex*"
max_size = "512 KiB"
"#;

fn ctx() -> RenderContext {
    RenderContext {
        head_sha: Some("4ead00000000000000000000000000000000beef".to_string()),
        ..RenderContext::new("https://sizegate.example.com/", "acme", "rocket")
    }
}

fn pr(labels: &[&str]) -> Event {
    Event::PullRequest {
        number: 42,
        labels: labels.iter().map(|l| l.to_string()).collect(),
    }
}

fn judge(config: &Config, event: Event, targets: Vec<TargetInput>) -> Evaluation {
    evaluate(&GateInput {
        event,
        config: choose_config(Some(config), None),
        targets,
        baseline_only: Vec::new(),
    })
}

fn passing() -> Evaluation {
    judge(
        &config(BUDGETS),
        pr(&[]),
        vec![
            measured("x86_64-unknown-linux-gnu/app", 4 * MIB, 4 * MIB + 12 * KIB),
            measured("x86_64-unknown-linux-musl/app", 4 * MIB, 4 * MIB - 3 * KIB),
        ],
    )
}

fn failing(labels: &[&str]) -> Evaluation {
    judge(
        &config(BUDGETS),
        pr(labels),
        vec![
            measured("x86_64-unknown-linux-gnu/app", 4 * MIB, 9 * MIB),
            measured("x86_64-unknown-linux-musl/app", 4 * MIB, 4 * MIB + 2 * KIB),
        ],
    )
}

fn no_baseline() -> Evaluation {
    judge(
        &config(BUDGETS),
        pr(&[]),
        vec![without_baseline("x86_64-unknown-linux-gnu/app", 3 * MIB)],
    )
}

fn with_missing() -> Evaluation {
    let config = config(BUDGETS);
    evaluate(&GateInput {
        event: pr(&[]),
        config: choose_config(Some(&config), None),
        targets: vec![measured("x86_64-unknown-linux-gnu/app", 4 * MIB, 4 * MIB)],
        baseline_only: vec![BaselineOnlyTarget {
            name: "x86_64-pc-windows-msvc/app.exe".into(),
            commit: commit("c0ffee0000000000000000000000000000000000", 2),
            sizes: sizes(5 * MIB),
        }],
    })
}

fn in_progress() -> Evaluation {
    judge(
        &config(BUDGETS),
        pr(&[]),
        vec![
            measured("x86_64-unknown-linux-gnu/app", 4 * MIB, 4 * MIB + KIB),
            pending("aarch64-apple-darwin/app"),
            pending("x86_64-pc-windows-msvc/app.exe"),
        ],
    )
}

fn head_config() -> Evaluation {
    let head = config(BUDGETS);
    evaluate(&GateInput {
        event: pr(&[]),
        config: choose_config(None, Some(&head)),
        targets: vec![measured(
            "x86_64-unknown-linux-gnu/app",
            4 * MIB,
            4 * MIB + KIB,
        )],
        baseline_only: Vec::new(),
    })
}

fn analysis_failed() -> Evaluation {
    judge(
        &config(BUDGETS),
        Event::Push,
        vec![TargetInput {
            name: "x86_64-unknown-linux-gnu/app".into(),
            head: HeadState::Failed {
                error: "malformed ELF file: section header table runs past the end".into(),
            },
            baseline: sizegate_gate::BaselineState::None(sizegate_gate::NoBaseline::NoParent),
            diff: None,
        }],
    )
}

#[test]
fn comment_all_pass() {
    insta::assert_snapshot!(render_comment(&passing(), &ctx()));
}

#[test]
fn comment_one_failing() {
    insta::assert_snapshot!(render_comment(&failing(&[]), &ctx()));
}

#[test]
fn comment_approved_by_label() {
    let comment = render_comment(&failing(&["size-approved"]), &ctx());
    assert!(comment.contains("Approved by label"));
    insta::assert_snapshot!(comment);
}

#[test]
fn comment_no_baseline_is_neutral_and_says_why() {
    insta::assert_snapshot!(render_comment(&no_baseline(), &ctx()));
}

#[test]
fn comment_missing_target() {
    insta::assert_snapshot!(render_comment(&with_missing(), &ctx()));
}

#[test]
fn comment_pending_while_in_progress() {
    insta::assert_snapshot!(render_comment(&in_progress(), &ctx()));
}

#[test]
fn comment_head_config_when_baseline_has_none() {
    let comment = render_comment(&head_config(), &ctx());
    assert!(comment.contains("the baseline commit has none"));
    insta::assert_snapshot!(comment);
}

#[test]
fn comment_analysis_failed_on_push() {
    insta::assert_snapshot!(render_comment(&analysis_failed(), &ctx()));
}

#[test]
fn check_titles() {
    let titles: Vec<String> = [
        ("all pass", passing()),
        ("one failing", failing(&[])),
        ("approved", failing(&["size-approved"])),
        ("no baseline", no_baseline()),
        ("missing", with_missing()),
        ("in progress", in_progress()),
        ("head config", head_config()),
        ("analysis failed", analysis_failed()),
    ]
    .into_iter()
    .map(|(name, eval)| {
        let check = render_check(&eval, &ctx());
        format!(
            "{name}: {} {} | {}",
            serde_json::to_string(&check.status).unwrap(),
            serde_json::to_string(&check.conclusion).unwrap(),
            check.title
        )
    })
    .collect();
    insta::assert_snapshot!(titles.join("\n"));
}

#[test]
fn check_summary_one_failing() {
    let check = render_check(&failing(&[]), &ctx());
    assert!(!check.summary.contains(COMMENT_MARKER));
    insta::assert_json_snapshot!(check);
}

#[test]
fn check_in_progress_has_no_conclusion() {
    let check = render_check(&in_progress(), &ctx());
    insta::assert_json_snapshot!(check, { ".summary" => "[summary]" });
}

#[test]
fn names_cannot_break_the_table_or_inject_html() {
    let name = "evil|target <img src=x onerror=alert(1)> `x` @octocat";
    let eval = judge(&config(BUDGETS), pr(&[]), vec![measured(name, MIB, MIB)]);
    let comment = render_comment(&eval, &ctx());
    assert!(!comment.contains("<img"));
    assert!(!comment.contains("@octocat"));
    let row = comment.lines().find(|l| l.starts_with("| [evil")).unwrap();
    // 8 cell borders, none of them from the name.
    let borders = row
        .match_indices('|')
        .filter(|(i, _)| !row[..*i].ends_with('\\'))
        .count();
    assert_eq!(borders, 8, "{row}");
    assert_eq!(comment.matches(COMMENT_MARKER).count(), 1);
}

/// 500 targets with 1000 symbol changes each: far over the limit.
fn huge() -> Evaluation {
    let targets = (0..500)
        .map(|i| {
            let mut target = measured(
                &format!("x86_64-linux-{i:03}/app"),
                4 * MIB,
                4 * MIB + i * 100,
            );
            let diff = target.diff.as_mut().unwrap();
            diff.symbols = (0..1000u64)
                .map(|s| Change {
                    name: format!("crate_{i}::module::function_with_a_long_name_{s}::<T>"),
                    unit: Some(format!("crate_{i}")),
                    old: 1000,
                    new: 1000 + s,
                    delta: s as i64,
                    status: ChangeStatus::Grown,
                })
                .collect();
            target
        })
        .collect();
    judge(&config(BUDGETS), pr(&[]), targets)
}

fn head_and_tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    format!(
        "{}\n[... {} lines ...]\n{}",
        lines[..12].join("\n"),
        lines.len() - 18,
        lines[lines.len() - 6..].join("\n")
    )
}

#[test]
fn a_huge_comment_is_cut_with_a_notice() {
    let eval = huge();
    let comment = render_comment(&eval, &ctx());
    assert!(comment.len() <= COMMENT_LIMIT, "{} bytes", comment.len());
    assert!(
        comment.len() > COMMENT_LIMIT - 4096,
        "cut too much: {} bytes",
        comment.len()
    );
    assert!(comment.starts_with(COMMENT_MARKER));
    assert!(comment.contains("This report was cut to fit GitHub's size limit"));
    assert!(comment.contains("of 500 targets in the table"));
    assert!(comment.trim_end().ends_with("sizes are `shipped` bytes"));
    assert!(comment.contains("commit [4ead000000]("));
    insta::assert_snapshot!(head_and_tail(&comment));

    let check = render_check(&eval, &ctx());
    assert!(check.summary.len() <= CHECK_SUMMARY_LIMIT);
    assert!(
        check
            .summary
            .contains("This report was cut to fit GitHub's size limit")
    );
}

#[test]
fn a_huge_comment_keeps_failing_targets_first() {
    let mut eval = huge();
    // Make the last target fail: it must move to the top and survive the cut.
    let last = eval
        .targets
        .iter_mut()
        .find(|t| t.name == "x86_64-linux-000/app")
        .unwrap();
    last.verdict = sizegate_gate::Verdict::Fail;
    eval.targets
        .sort_by(|a, b| a.verdict.cmp(&b.verdict).then(a.name.cmp(&b.name)));
    let comment = render_comment(&eval, &ctx());
    assert!(comment.len() <= COMMENT_LIMIT);
    assert!(comment.contains("x86_64-linux-000/app"));
}

#[test]
fn multibyte_and_hostile_names_stay_within_the_limit() {
    let hostile = "é<|`@x\u{202e}".repeat(100);
    let targets = (0..300)
        .map(|i| {
            let mut target = measured(&format!("{i}{hostile}"), MIB, 2 * MIB);
            let diff = target.diff.as_mut().unwrap();
            diff.symbols = (0..200u64)
                .map(|s| Change {
                    name: format!("{s}{hostile}"),
                    unit: None,
                    old: 0,
                    new: s,
                    delta: s as i64,
                    status: ChangeStatus::Added,
                })
                .collect();
            target
        })
        .collect();
    let eval = judge(&config(BUDGETS), pr(&[]), targets);
    let comment = render_comment(&eval, &ctx());
    assert!(comment.len() <= COMMENT_LIMIT);
    assert!(comment.chars().count() <= COMMENT_LIMIT);
    assert!(!comment.contains("<|") && !comment.contains('\u{202e}'));
    assert!(comment.contains("This report was cut"));
    let summary = render_check(&eval, &ctx()).summary;
    assert!(summary.len() <= CHECK_SUMMARY_LIMIT);
}
