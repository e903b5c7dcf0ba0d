//! The target view built from hand-made rows and reports, no database.

use std::collections::HashMap;

use chrono::{TimeZone, Utc};
use sizegate_analyze::{
    Advice, FileInfo, Format, Language, Report, Sizes, Toolchain, Unit, UnitKind,
};
use sizegate_store::history::TargetStatus;
use sizegate_store::queue::JobState;
use sizegate_store::{MeasuredTarget, SymbolRow, UnitRow};

use super::*;

const BASE: &str = "1111111111111111111111111111111111111111";

fn status(target: &str, state: JobState) -> TargetStatus {
    TargetStatus {
        target: target.into(),
        status: state,
        attempts: 1,
        max_attempts: 3,
        error: None,
        build_id: 1,
        job_id: 1,
        sha256: "0".repeat(64),
        artifact_size: 1_000,
        replaced_build_id: None,
        provenance: "oidc-push".into(),
        baseline_eligible: true,
        uploaded_at: Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap(),
        finished_at: None,
        sizes: None,
        format: None,
        arch: None,
        language: None,
    }
}

fn measured(target: &str, shipped: u64) -> MeasuredTarget {
    MeasuredTarget {
        target_id: 7,
        target: target.into(),
        format: "elf".into(),
        arch: "x86_64".into(),
        language: "rust".into(),
        stripped: false,
        sizes: Sizes {
            file: shipped + 100,
            shipped,
            ..Sizes::default()
        },
        toolchain: Toolchain {
            rustc: Some("rustc 1.91.0".into()),
            ..Toolchain::default()
        },
        advice: vec![Advice {
            id: "strip".into(),
            saving: 2_048,
            message: "Strip symbols".into(),
        }],
        report_key: "head".into(),
        sections: vec![],
        units: vec![
            UnitRow {
                name: "small".into(),
                kind: "crate".into(),
                size: 10,
                symbols: 1,
            },
            UnitRow {
                name: "large".into(),
                kind: "crate".into(),
                size: 3_000,
                symbols: 1,
            },
        ],
        symbols: (0..30)
            .map(|i| SymbolRow {
                name: format!("sym{i}"),
                unit: "large".into(),
                section: ".text".into(),
                size: 100,
            })
            .collect(),
    }
}

/// A report of `units` (name, size), shipping their sum.
fn report(units: &[(&str, u64)]) -> Report {
    let shipped = units.iter().map(|(_, size)| size).sum();
    Report {
        schema_version: sizegate_analyze::SCHEMA_VERSION,
        file: FileInfo {
            name: "app".into(),
            size: shipped,
            sha256: "0".repeat(64),
        },
        format: Format::Elf,
        arch: "x86_64".into(),
        language: Language::Rust,
        stripped: false,
        toolchain: Toolchain::default(),
        sizes: Sizes {
            file: shipped,
            shipped,
            ..Sizes::default()
        },
        sections: vec![],
        units: units
            .iter()
            .map(|&(name, size)| Unit {
                name: name.into(),
                kind: UnitKind::Crate,
                size,
                symbols: 1,
                version: None,
                module: None,
            })
            .collect(),
        units_instantiating: vec![],
        symbols: vec![],
        symbols_truncated: false,
        compression_skipped: false,
        advice: vec![],
        notes: vec![],
        layers: vec![],
        files: vec![],
        directories: vec![],
    }
}

/// A choice that knows only the gate's candidates.
fn candidates(shas: &[&str]) -> BaselineChoice {
    BaselineChoice {
        evaluated: HashMap::new(),
        candidates: shas.iter().map(|s| (*s).to_owned()).collect(),
    }
}

#[test]
fn an_unmeasured_target_shows_its_job_and_provenance_only() {
    let mut queued = status("x86_64/app v2", JobState::Failed);
    queued.error = Some("analyzer crashed".into());
    queued.baseline_eligible = false;
    let detail = target_detail("o/r", &queued, None, 15);
    assert_eq!(detail.status, "failed");
    assert_eq!(detail.error, "analyzer crashed");
    assert_eq!(detail.provenance, "oidc-push");
    assert!(detail.provenance_title.starts_with("not baseline-eligible"));
    assert_eq!(detail.href, "/repos/o/r/targets/x86_64/app%20v2");
    assert_eq!(detail.anchor, "t-x86_64-app-20v2");
    assert!(detail.facts.is_empty() && detail.baseline.is_none());
    assert_eq!(detail.summary_class, "same");
}

#[test]
fn a_measured_target_lists_facts_units_largest_first_and_top_symbols() {
    let m = measured("app", 3_010);
    let measured = Measured {
        measurement: &m,
        image: None,
        baseline: BaselineOutcome::NotMeasured,
    };
    let detail = target_detail("o/r", &status("app", JobState::Done), Some(measured), 15);
    assert_eq!(detail.status, "done");
    assert_eq!(detail.provenance, "oidc-push · baseline");
    let facts: Vec<(&str, &str)> = detail
        .facts
        .iter()
        .map(|f| (f.key.as_str(), f.value.as_str()))
        .collect();
    assert_eq!(
        facts,
        [
            ("format", "elf"),
            ("arch", "x86_64"),
            ("language", "rust"),
            ("stripped", "false"),
            ("rustc", "rustc 1.91.0"),
        ]
    );
    let units: Vec<&str> = detail.units.iter().map(|u| u.key.as_str()).collect();
    assert_eq!(units, ["large", "small"]);
    assert!(detail.treemap.contains("largest: large"));
    assert_eq!(detail.symbols.len(), TOP_SYMBOLS);
    assert_eq!(detail.advice, ["Strip symbols (saves about 2.0 KiB)"]);
    // A binary shows no image-only metric.
    assert!(detail.sizes.iter().all(|s| s.key != "uncompressed"));
    assert!(detail.baseline.is_none());
    assert!(detail.baseline_missing.starts_with("no measured baseline"));
    assert_eq!(detail.summary[2], "no baseline");
}

#[test]
fn the_diff_fills_the_summary_and_caps_each_change_table() {
    let m = measured("app", 3_010);
    let old = report(&[("a", 1_000), ("b", 1_000), ("c", 1_000)]);
    let new = report(&[("a", 1_500), ("b", 900), ("c", 1_100)]);
    let measured = Measured {
        measurement: &m,
        image: None,
        baseline: BaselineOutcome::Diff {
            sha: BASE.into(),
            diff: Box::new(sizegate_analyze::diff(&old, &new)),
        },
    };
    let detail = target_detail("o/r", &status("app", JobState::Done), Some(measured), 2);
    assert_eq!(detail.summary_class, "up");
    assert_eq!(detail.summary[0], human::size(3_000));
    assert_eq!(detail.summary[1], human::size(3_500));
    assert_eq!(detail.summary[2], human::delta(500));
    let baseline = detail.baseline.expect("a baseline section");
    assert_eq!(baseline.short, "1111111");
    assert_eq!(baseline.href, format!("/repos/o/r/commits/{BASE}"));
    let units = baseline
        .tables
        .iter()
        .find(|t| t.title == "Units")
        .expect("a units table");
    assert_eq!(units.rows.len(), 2);
    assert_eq!(units.more, 1);
    assert!(detail.baseline_missing.is_empty());
}

#[test]
fn the_baseline_decision_names_what_is_missing() {
    let m = measured("app", 3_010);
    let reports: HashMap<String, Result<Report, String>> = HashMap::from([
        ("base".to_owned(), Ok(report(&[("a", 1)]))),
        ("head".to_owned(), Ok(report(&[("a", 2)]))),
        ("broken".to_owned(), Err("blob missing".to_owned())),
    ]);
    let choice = candidates(&[BASE]);
    let found = |key: &str| (BASE.to_owned(), key.to_owned());
    assert!(matches!(
        decide_baseline(&choice, &m, None, &reports),
        BaselineOutcome::NotMeasured
    ));
    assert!(matches!(
        decide_baseline(&choice, &m, Some(&found("broken")), &reports),
        BaselineOutcome::Unreadable(sha) if sha == BASE
    ));
    assert!(matches!(
        decide_baseline(&choice, &m, Some(&found("never read")), &reports),
        BaselineOutcome::Unreadable(_)
    ));
    match decide_baseline(&choice, &m, Some(&found("base")), &reports) {
        BaselineOutcome::Diff { sha, diff } => {
            assert_eq!(sha, BASE);
            assert_eq!((diff.old.sizes.shipped, diff.new.sizes.shipped), (1, 2));
        }
        _ => panic!("expected a diff"),
    }
    let refused = BaselineChoice {
        evaluated: HashMap::from([("app".to_owned(), Err("fork upload".to_owned()))]),
        candidates: vec![BASE.to_owned()],
    };
    assert!(matches!(
        decide_baseline(&refused, &m, Some(&found("base")), &reports),
        BaselineOutcome::Refused(reason) if reason == "fork upload"
    ));
    assert_eq!(refused.for_target("other"), Ok(vec![BASE.to_owned()]));
}
