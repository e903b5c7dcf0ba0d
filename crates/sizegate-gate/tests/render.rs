//! Snapshots of the PR comment and the check run in every situation the
//! gate knows, and the size limit with a huge matrix.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod support;

use sizegate_analyze::{Change, ChangeStatus};
use sizegate_gate::{
    BaselineOnlyTarget, CHECK_SUMMARY_LIMIT, COMMENT_LIMIT, COMMENT_MARKER, Conclusion, Config,
    Evaluation, Event, GateInput, HeadState, RenderContext, TargetInput, Verdict, choose_config,
    evaluate, render_check, render_comment, render_quiet_comment,
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

/// Every target within budget and under `min_change`: the quiet case.
fn unchanged() -> Evaluation {
    judge(
        &config(BUDGETS),
        pr(&[]),
        vec![
            measured("x86_64-unknown-linux-gnu/app", 4 * MIB, 4 * MIB),
            measured("x86_64-unknown-linux-musl/app", 4 * MIB, 4 * MIB + 300),
            measured("x86_64-apple-darwin/app", 4 * MIB, 4 * MIB - 100),
        ],
    )
}

/// One target over budget among five; two others grew within budget.
fn one_failing_of_many() -> Evaluation {
    judge(
        &config(BUDGETS),
        pr(&[]),
        vec![
            measured("x86_64-unknown-linux-gnu/app", 4 * MIB, 9 * MIB),
            measured("x86_64-unknown-linux-musl/app", 4 * MIB, 4 * MIB + 20 * KIB),
            measured("x86_64-apple-darwin/app", 4 * MIB, 4 * MIB - 30 * KIB),
            measured("x86_64-pc-windows-msvc/app.exe", 4 * MIB, 4 * MIB + 512),
            measured("x86_64-unknown-freebsd/app", 4 * MIB, 4 * MIB),
        ],
    )
}

/// Three targets over different limits.
fn several_failing() -> Evaluation {
    judge(
        &config(BUDGETS),
        pr(&[]),
        vec![
            measured("x86_64-unknown-linux-gnu/app", 4 * MIB, 4 * MIB + 100 * KIB),
            measured(
                "x86_64-unknown-linux-musl/app",
                7 * MIB,
                8 * MIB + 200 * KIB,
            ),
            measured("x86_64-apple-darwin/app", 4 * MIB, 4 * MIB + 50 * KIB),
            measured("x86_64-pc-windows-msvc/app.exe", 4 * MIB, 4 * MIB + 8 * KIB),
        ],
    )
}

/// Only a `[[budget.unit]]` limit is broken.
fn unit_limit_failure() -> Evaluation {
    let budgets = r#"
[[budget]]
target = "*"
max_size = "16 MB"

[[budget.unit]]
name = "regex*"
max_size = "200 kB"
"#;
    judge(
        &config(budgets),
        pr(&[]),
        vec![measured(
            "aarch64-unknown-linux-musl/app",
            2 * MIB,
            2 * MIB + 10 * KIB,
        )],
    )
}

/// The largest growing unit changed version, and the diff says how much
/// that moved.
fn version_change() -> Evaluation {
    let mut target = measured("x86_64-unknown-linux-gnu/app", 4 * MIB, 4 * MIB + 40 * KIB);
    if let HeadState::Measured(head) = &mut target.head {
        for unit in &mut head.units {
            if unit.name == "regex_automata" {
                unit.version = Some("0.4.9".into());
            }
        }
    }
    if let sizegate_gate::BaselineState::Found { measurement, .. } = &mut target.baseline {
        for unit in &mut measurement.units {
            if unit.name == "regex_automata" {
                unit.version = Some("0.4.8".into());
            }
        }
    }
    let diff = target.diff.as_mut().unwrap();
    diff.causes[0] = sizegate_analyze::Cause {
        kind: "dependency".into(),
        subject: "regex-automata".into(),
        old: Some("0.4.8".into()),
        new: Some("0.4.9".into()),
        delta: Some(20 * KIB as i64),
    };
    judge(&config(BUDGETS), pr(&[]), vec![target])
}

/// Every scenario the snapshots cover, by name.
fn scenarios() -> Vec<(&'static str, Evaluation)> {
    vec![
        ("all pass and unchanged", unchanged()),
        ("all pass with growth", passing()),
        ("one failing", failing(&[])),
        ("one failing of many", one_failing_of_many()),
        ("several failing", several_failing()),
        ("approved", failing(&["size-approved"])),
        ("no baseline", no_baseline()),
        ("missing", with_missing()),
        ("in progress", in_progress()),
        ("head config", head_config()),
        ("analysis failed", analysis_failed()),
        ("unit limit", unit_limit_failure()),
        ("version change", version_change()),
        ("truncated", huge_with_failures()),
    ]
}

#[test]
fn comment_all_pass_and_unchanged_is_quiet() {
    let eval = unchanged();
    assert!(!eval.comment_has_news());
    let comment = render_comment(&eval, &ctx());
    assert!(comment.contains("3 targets within budget"));
    insta::assert_snapshot!(comment);
    insta::assert_snapshot!("quiet_one_liner", render_quiet_comment(&eval, &ctx()));
}

#[test]
fn comment_one_failing_of_many() {
    let eval = one_failing_of_many();
    assert!(eval.comment_has_news());
    let comment = render_comment(&eval, &ctx());
    // The unchanged ones fold; the growing one keeps its row; no advice on
    // passing targets.
    assert!(comment.contains("2 targets within budget"));
    assert_eq!(comment.matches("Advice about this change").count(), 1);
    insta::assert_snapshot!(comment);
}

#[test]
fn comment_several_failing_names_the_count_and_the_worst_first() {
    let comment = render_comment(&several_failing(), &ctx());
    let heading = comment.lines().nth(1).unwrap();
    assert!(
        heading.contains("3 targets over budget, worst `x86_64-unknown-linux-musl/app`"),
        "{heading}"
    );
    insta::assert_snapshot!(comment);
}

#[test]
fn comment_unit_limit_failure_in_decimal_units() {
    let comment = render_comment(&unit_limit_failure(), &ctx());
    assert!(comment.contains("unit `regex_automata`"));
    assert!(comment.contains("kB") && !comment.contains("KiB"));
    insta::assert_snapshot!(comment);
}

#[test]
fn comment_version_change_cause() {
    let comment = render_comment(&version_change(), &ctx());
    assert!(comment.contains("(0.4.8 → 0.4.9)"));
    insta::assert_snapshot!(comment);
}

#[test]
fn comment_all_pass_with_growth() {
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
fn comment_missing_target_makes_the_check_neutral_and_names_it() {
    let eval = with_missing();
    assert_eq!(eval.conclusion, Some(Conclusion::Neutral));
    let comment = render_comment(&eval, &ctx());
    assert!(comment.contains("`x86_64-pc-windows-msvc/app.exe`"));
    insta::assert_snapshot!(comment);

    let strict = config(&format!("missing = \"fail\"\n{BUDGETS}"));
    let eval = evaluate(&GateInput {
        event: pr(&[]),
        config: choose_config(Some(&strict), None),
        targets: vec![measured("x86_64-unknown-linux-gnu/app", 4 * MIB, 4 * MIB)],
        baseline_only: vec![BaselineOnlyTarget {
            name: "x86_64-pc-windows-msvc/app.exe".into(),
            commit: commit("c0ffee0000000000000000000000000000000000", 2),
            sizes: sizes(5 * MIB),
        }],
    });
    assert_eq!(eval.conclusion, Some(Conclusion::Failure));
    assert!(render_comment(&eval, &ctx()).contains("upload the missing targets"));
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
    let titles: Vec<String> = scenarios()
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
    let eval = judge(
        &config(BUDGETS),
        pr(&[]),
        vec![measured(name, MIB, 2 * MIB)],
    );
    let comment = render_comment(&eval, &ctx());
    // The name is shown as code: no tag, no mention, no link.
    let html = to_html(&comment);
    assert!(!html.contains("<img"), "{html}");
    assert!(
        html.contains("<code>evil|target &lt;img src=x onerror=alert(1)&gt; `x` @octocat</code>"),
        "{html}"
    );
    let row = comment
        .lines()
        .find(|l| l.starts_with("| [``evil"))
        .unwrap();
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
    assert!(comment.contains("changed or failing targets, the details of"));
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

/// The huge matrix where every tenth target breaks `max_increase`.
fn huge_with_failures() -> Evaluation {
    let targets = (0..500u64)
        .map(|i| {
            let grow = if i % 10 == 0 { 100 * KIB } else { 8 * KIB + i };
            let mut target = measured(&format!("x86_64-linux-{i:03}/app"), 4 * MIB, 4 * MIB + grow);
            target.diff.as_mut().unwrap().symbols = (0..200u64)
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

#[test]
fn a_truncated_comment_cuts_passing_parts_before_failing_details() {
    let eval = huge_with_failures();
    assert_eq!(eval.count(Verdict::Fail), 50);
    let comment = render_comment(&eval, &ctx());
    assert!(comment.len() <= COMMENT_LIMIT);
    assert!(comment.contains("This report was cut to fit"));
    // Every failing target keeps its row...
    for i in (0..500).step_by(10) {
        assert!(
            comment.contains(&format!("[`x86_64-linux-{i:03}/app`]")),
            "row {i}"
        );
    }
    // ...and the details shown are failing targets' only.
    let summaries: Vec<&str> = comment
        .lines()
        .filter(|l| l.starts_with("<details><summary>"))
        .collect();
    assert!(!summaries.is_empty());
    assert!(summaries.iter().all(|l| l.contains('❌')), "{summaries:?}");
    insta::assert_snapshot!(head_and_tail(&comment));
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
    assert!(!comment.contains('\u{202e}'));
    assert!(!to_html(&comment).contains("<|"));
    assert!(comment.contains("This report was cut"));
    let summary = render_check(&eval, &ctx()).summary;
    assert!(summary.len() <= CHECK_SUMMARY_LIMIT);
}

/// The comment as HTML, as GitHub and the dashboard show it.
fn to_html(markdown: &str) -> String {
    let parser = pulldown_cmark::Parser::new_ext(markdown, pulldown_cmark::Options::ENABLE_TABLES);
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    html
}

/// The text a reader sees (text and code, not markup) of a markdown document.
fn visible_text(markdown: &str) -> Vec<String> {
    use pulldown_cmark::{Event as Md, Options, Parser};
    Parser::new_ext(markdown, Options::ENABLE_TABLES)
        .filter_map(|event| match event {
            Md::Text(text) => Some(text.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn every_snapshot_renders_as_commonmark_without_visible_escapes() {
    for (name, eval) in scenarios() {
        let comment = render_comment(&eval, &ctx());
        let summary = render_check(&eval, &ctx()).summary;
        let quiet = render_quiet_comment(&eval, &ctx());
        for (what, markdown) in [
            ("comment", &comment),
            ("check", &summary),
            ("quiet", &quiet),
        ] {
            for text in visible_text(markdown) {
                assert!(
                    !text.contains('`') && !text.contains('\\'),
                    "{name} {what}: a backtick or backslash shows as text: {text:?}"
                );
                assert!(
                    !text.contains("&lt;") && !text.contains("&amp;"),
                    "{name} {what}: an entity shows as text: {text:?}"
                );
            }
            // Names are code, so HTML does not end up double-escaped.
            let html = to_html(markdown);
            assert!(!html.contains("&amp;lt;"), "{name} {what}");
            // Every table row keeps its columns.
            assert!(!html.contains("<td>|"), "{name} {what}");
        }
    }
}

#[test]
fn the_check_title_is_one_plain_line() {
    for (name, eval) in scenarios() {
        let title = render_check(&eval, &ctx()).title;
        assert!(
            !title.contains('\n') && !title.contains('`'),
            "{name}: {title}"
        );
        assert!(title.len() < 1000, "{name}");
    }
}

#[test]
fn percentages_read_the_same_everywhere() {
    for (name, eval) in scenarios() {
        let comment = render_comment(&eval, &ctx());
        for bad in ["0.0%", "-0.0%", ".00%", "+0%"] {
            assert!(!comment.contains(bad), "{name}: {bad}");
        }
    }
}
