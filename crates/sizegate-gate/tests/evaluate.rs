//! Verdicts of targets and commits: budgets, baselines, the matrix barrier
//! and the approval label.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod support;

use sizegate_analyze::Metric;
use sizegate_gate::{
    BaselineOnlyTarget, CheckStatus, Conclusion, ConfigSource, Event, GateInput, HeadState,
    TargetInput, Verdict, Violation, choose_config, evaluate,
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

fn pr(labels: &[&str]) -> Event {
    Event::PullRequest {
        number: 7,
        labels: labels.iter().map(|l| l.to_string()).collect(),
    }
}

fn run(
    config: &sizegate_gate::Config,
    event: Event,
    targets: Vec<TargetInput>,
) -> sizegate_gate::Evaluation {
    evaluate(&GateInput {
        event,
        config: choose_config(Some(config), None),
        targets,
        baseline_only: Vec::new(),
    })
}

#[test]
fn within_every_limit_passes() {
    let config = config(BUDGETS);
    let eval = run(
        &config,
        pr(&[]),
        vec![measured("x86_64-linux/app", 4 * MIB, 4 * MIB + 10 * KIB)],
    );
    assert_eq!(eval.status, CheckStatus::Completed);
    assert_eq!(eval.conclusion, Some(Conclusion::Success));
    assert!(!eval.approved);
    let target = &eval.targets[0];
    assert_eq!(target.verdict, Verdict::Pass);
    assert_eq!(target.delta(), Some(10 * KIB as i64));
    assert_eq!(target.budget.as_ref().unwrap().index, 0);
    assert!(target.violations.is_empty());
}

#[test]
fn each_limit_is_reported_with_its_excess() {
    let config = config(BUDGETS);
    // 9 MiB: over max_size by 1 MiB, grew 5 MiB (over 64 KiB and 1%), and
    // regex_automata is 921.6 KiB, over its 512 KiB unit limit.
    let eval = run(
        &config,
        pr(&[]),
        vec![measured("x86_64-linux/app", 4 * MIB, 9 * MIB)],
    );
    assert_eq!(eval.conclusion, Some(Conclusion::Failure));
    let target = &eval.targets[0];
    assert_eq!(target.verdict, Verdict::Fail);
    let described: Vec<String> = target.violations.iter().map(Violation::describe).collect();
    assert_eq!(
        described,
        [
            "9.0 MiB is over max_size 8.0 MiB by 1.0 MiB",
            "grew +5.0 MiB, over max_increase 64.0 KiB by 4.9 MiB",
            "grew +5.0 MiB (+125%), over max_increase_percent 1% (41.0 KiB) by 5.0 MiB",
            "unit `regex_automata`: 921.6 KiB is over max_size 512.0 KiB by 409.6 KiB",
        ]
    );
}

#[test]
fn the_metric_of_the_config_is_the_one_judged() {
    // gzip is a third of shipped in these fixtures: 3 MiB shipped = 1 MiB gzip.
    let config = config("metric = \"gzip\"\n[[budget]]\ntarget = \"*\"\nmax_size = \"1.5 MiB\"\n");
    let eval = run(
        &config,
        Event::Push,
        vec![measured("app", 3 * MIB, 3 * MIB + 3 * KIB)],
    );
    assert_eq!(eval.metric, Metric::Gzip);
    assert_eq!(eval.targets[0].verdict, Verdict::Pass);
    assert_eq!(eval.targets[0].head_size, Some((3 * MIB + 3 * KIB) / 3));
}

#[test]
fn unit_increase_counts_a_new_unit_from_zero() {
    let config = config(
        "[[budget]]\ntarget = \"*\"\n[[budget.unit]]\nname = \"left*\"\nmax_increase = \"1 KiB\"\n",
    );
    let mut target = measured("app", MIB, MIB);
    if let HeadState::Measured(m) = &mut target.head {
        m.units.push(sizegate_gate::UnitSize {
            name: "leftpad".into(),
            size: 2 * KIB,
            version: None,
        });
    }
    let eval = run(&config, Event::Push, vec![target]);
    assert_eq!(
        eval.targets[0].violations,
        [Violation::MaxIncrease {
            unit: Some("leftpad".into()),
            limit: KIB,
            increase: 2 * KIB as i64
        }]
    );
}

#[test]
fn shrinking_never_fails_an_increase_limit() {
    let config =
        config("[[budget]]\ntarget = \"*\"\nmax_increase = \"0\"\nmax_increase_percent = 0\n");
    let eval = run(&config, Event::Push, vec![measured("app", 2 * MIB, MIB)]);
    assert_eq!(eval.targets[0].verdict, Verdict::Pass);
}

#[test]
fn without_a_baseline_max_size_still_fails_and_otherwise_it_is_neutral() {
    let config = config(BUDGETS);
    let eval = run(
        &config,
        pr(&[]),
        vec![without_baseline("x86_64-linux/app", 2 * MIB)],
    );
    assert_eq!(eval.conclusion, Some(Conclusion::Neutral));
    let target = &eval.targets[0];
    assert_eq!(target.verdict, Verdict::Neutral);
    assert_eq!(target.unjudged, ["increase limits not judged: no baseline"]);
    assert!(target.no_baseline.is_some());

    let eval = run(
        &config,
        pr(&[]),
        vec![without_baseline("x86_64-linux/app", 9 * MIB)],
    );
    assert_eq!(eval.conclusion, Some(Conclusion::Failure));
    assert_eq!(eval.targets[0].verdict, Verdict::Fail);
}

#[test]
fn a_target_no_budget_matches_is_neutral() {
    let config = config(BUDGETS);
    let eval = run(
        &config,
        pr(&[]),
        vec![measured("aarch64-darwin/app", MIB, 2 * MIB)],
    );
    assert_eq!(eval.targets[0].verdict, Verdict::Neutral);
    assert!(eval.targets[0].budget.is_none());
    assert_eq!(eval.conclusion, Some(Conclusion::Neutral));
    // One passing target makes the commit a success.
    let eval = run(
        &config,
        pr(&[]),
        vec![
            measured("aarch64-darwin/app", MIB, 2 * MIB),
            measured("x86_64-linux/app", MIB, MIB),
        ],
    );
    assert_eq!(eval.conclusion, Some(Conclusion::Success));
}

#[test]
fn the_approval_label_turns_a_failure_into_success() {
    let config = config(BUDGETS);
    let over = || vec![measured("x86_64-linux/app", 4 * MIB, 9 * MIB)];
    let eval = run(&config, pr(&["bug", "Size-Approved"]), over());
    assert_eq!(eval.conclusion, Some(Conclusion::Success));
    assert!(eval.approved);
    assert_eq!(
        eval.targets[0].verdict,
        Verdict::Fail,
        "the target stays over budget"
    );
    // A push cannot carry labels, and another label does not approve.
    assert_eq!(
        run(&config, Event::Push, over()).conclusion,
        Some(Conclusion::Failure)
    );
    assert_eq!(
        run(&config, pr(&["size"]), over()).conclusion,
        Some(Conclusion::Failure)
    );
}

#[test]
fn the_check_waits_for_every_uploaded_target() {
    let config = config(BUDGETS);
    let eval = run(
        &config,
        pr(&[]),
        vec![
            measured("x86_64-linux/app", MIB, 9 * MIB),
            pending("x86_64-linux/cli"),
            pending("x86_64-musl/app"),
        ],
    );
    assert_eq!(eval.status, CheckStatus::InProgress);
    assert_eq!(eval.conclusion, None);
    assert_eq!((eval.measured(), eval.uploaded()), (1, 3));
}

#[test]
fn failed_analysis_fails_and_missing_targets_are_listed() {
    let config = config(BUDGETS);
    let failed = TargetInput {
        name: "x86_64-linux/broken".into(),
        head: HeadState::Failed {
            error: "malformed elf file: truncated section headers".into(),
        },
        baseline: sizegate_gate::BaselineState::None(sizegate_gate::NoBaseline::NoParent),
        diff: None,
    };
    let eval = evaluate(&GateInput {
        event: pr(&[]),
        config: choose_config(None, Some(&config)),
        targets: vec![measured("x86_64-linux/app", MIB, MIB), failed],
        baseline_only: vec![BaselineOnlyTarget {
            name: "x86_64-linux/gone".into(),
            commit: commit("b4se", 0),
            sizes: sizes(MIB),
        }],
    });
    assert_eq!(eval.config_source, ConfigSource::Head);
    assert_eq!(eval.conclusion, Some(Conclusion::Failure));
    let verdicts: Vec<(&str, Verdict)> = eval
        .targets
        .iter()
        .map(|t| (t.name.as_str(), t.verdict))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("x86_64-linux/broken", Verdict::Error),
            ("x86_64-linux/gone", Verdict::Missing),
            ("x86_64-linux/app", Verdict::Pass),
        ]
    );
    assert_eq!((eval.measured(), eval.uploaded()), (2, 2));
}

#[test]
fn without_any_config_nothing_is_judged() {
    let eval = evaluate(&GateInput {
        event: Event::Push,
        config: choose_config(None, None),
        targets: vec![measured("app", MIB, 2 * MIB)],
        baseline_only: Vec::new(),
    });
    assert_eq!(eval.config_source, ConfigSource::None);
    assert_eq!(eval.conclusion, Some(Conclusion::Neutral));
    assert_eq!(eval.total_delta(), Some((MIB as i64, MIB)));
}

#[test]
fn evaluations_round_trip_through_json() {
    let config = config(BUDGETS);
    let eval = run(
        &config,
        pr(&["size-approved"]),
        vec![measured("x86_64-linux/app", MIB, 9 * MIB)],
    );
    let json = serde_json::to_value(&eval).unwrap();
    assert_eq!(json["status"], "completed");
    assert_eq!(json["conclusion"], "success");
    assert_eq!(json["targets"][0]["verdict"], "fail");
    assert_eq!(json["targets"][0]["violations"][0]["kind"], "max_size");
    let back: sizegate_gate::Evaluation = serde_json::from_value(json).unwrap();
    assert_eq!(back, eval);
}

#[test]
fn names_match_serde_and_the_github_api() {
    use sizegate_gate::{CheckStatus, Conclusion, Verdict};
    for status in [CheckStatus::InProgress, CheckStatus::Completed] {
        assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
    }
    for conclusion in [
        Conclusion::Success,
        Conclusion::Failure,
        Conclusion::Neutral,
    ] {
        assert_eq!(
            serde_json::to_value(conclusion).unwrap(),
            conclusion.as_str()
        );
    }
    for verdict in [
        Verdict::Fail,
        Verdict::Error,
        Verdict::Missing,
        Verdict::Pending,
        Verdict::Neutral,
        Verdict::Pass,
    ] {
        assert_eq!(serde_json::to_value(verdict).unwrap(), verdict.as_str());
    }
}

#[test]
fn min_change_decides_what_counts_as_changed() {
    // Default: 1 KiB or 0.1% of the baseline (here 4.2 KB), whichever is larger.
    let eval = run(
        &config(BUDGETS),
        pr(&[]),
        vec![
            measured("x86_64-a/app", 4 * MIB, 4 * MIB + 4 * KIB),
            measured("x86_64-b/app", 4 * MIB, 4 * MIB + 5 * KIB),
            measured("x86_64-c/app", 4 * MIB, 4 * MIB - 5 * KIB),
        ],
    );
    let changed: Vec<bool> = eval.targets.iter().map(|t| t.changed).collect();
    assert_eq!(changed, [false, true, true]);
    assert!(eval.comment_has_news());

    let strict = config(&format!("min_change = 100\n{BUDGETS}"));
    let eval = run(
        &strict,
        pr(&[]),
        vec![measured("x86_64-a/app", 4 * MIB, 4 * MIB + 101)],
    );
    assert!(eval.targets[0].changed);
    let loose = config(&format!("min_change = \"5%\"\n{BUDGETS}"));
    let eval = run(
        &loose,
        pr(&[]),
        vec![measured("x86_64-a/app", 4 * MIB, 4 * MIB + 30 * KIB)],
    );
    assert!(!eval.targets[0].changed);
    assert!(
        !eval.comment_has_news(),
        "a pass under min_change says nothing new"
    );
}

#[test]
fn the_comment_mode_decides_when_there_is_news() {
    let small = || vec![measured("x86_64-a/app", 4 * MIB, 4 * MIB + 20 * KIB)];
    let over = || vec![measured("x86_64-a/app", 4 * MIB, 9 * MIB)];
    let same = || vec![measured("x86_64-a/app", 4 * MIB, 4 * MIB)];
    let with = |mode: &str| config(&format!("comment = \"{mode}\"\n{BUDGETS}"));
    let news = |mode: &str, targets, labels: &[&str]| {
        run(&with(mode), pr(labels), targets).comment_has_news()
    };
    assert!(news("always", same(), &[]));
    assert!(news("on-change", small(), &[]));
    assert!(!news("on-change", same(), &[]));
    assert!(
        news(
            "on-change",
            vec![without_baseline("x86_64-a/app", MIB)],
            &[]
        ),
        "a new target is news"
    );
    assert!(!news("on-failure", small(), &[]));
    assert!(news("on-failure", over(), &[]));
    assert!(
        news("on-failure", over(), &["size-approved"]),
        "approved failures still speak"
    );
    // Nothing is said while targets are being measured.
    let pending = vec![pending("x86_64-b/app")];
    assert!(!run(&with("always"), pr(&[]), pending).comment_has_news());
}

#[test]
fn the_largest_growing_unit_carries_its_version_change() {
    let mut target = measured("x86_64-a/app", 4 * MIB, 4 * MIB + 20 * KIB);
    if let HeadState::Measured(head) = &mut target.head {
        head.units[1].version = Some("0.4.9".into());
    }
    if let sizegate_gate::BaselineState::Found { measurement, .. } = &mut target.baseline {
        measurement.units[1].version = Some("0.4.8".into());
    }
    let eval = run(&config(BUDGETS), pr(&[]), vec![target]);
    let growth = eval.targets[0].growth.as_ref().unwrap();
    assert_eq!(growth.name, "regex_automata");
    assert_eq!(growth.delta, 10 * KIB as i64);
    assert_eq!(growth.old_version.as_deref(), Some("0.4.8"));
    assert_eq!(growth.new_version.as_deref(), Some("0.4.9"));
}
