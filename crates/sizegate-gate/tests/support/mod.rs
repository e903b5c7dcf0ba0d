//! Builders of gate inputs shared by the integration tests: measured
//! targets, baselines and hand-made diffs (the real `diff()` is written
//! elsewhere).
#![allow(dead_code, clippy::unwrap_used)] // each test file uses a part

use sizegate_analyze::{
    Advice, Cause, Change, ChangeStatus, DiffSide, ReportDiff, SCHEMA_VERSION, Sizes,
};
use sizegate_gate::{
    BaselineCommit, BaselineState, Config, HeadState, Measurement, NoBaseline, TargetInput,
    UnitSize,
};

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * 1024;

pub fn config(text: &str) -> Config {
    Config::parse(text, "sizegate.toml").unwrap()
}

pub fn sizes(shipped: u64) -> Sizes {
    Sizes {
        file: shipped + shipped / 4,
        vm: shipped + 4096,
        shipped,
        gzip: shipped / 3,
        zstd: shipped / 4,
        debug: shipped / 5,
        symbols: shipped / 20,
        ..Default::default()
    }
}

pub fn measurement(shipped: u64, units: &[(&str, u64)]) -> Measurement {
    Measurement {
        sizes: sizes(shipped),
        units: units
            .iter()
            .map(|(name, size)| UnitSize {
                name: name.to_string(),
                size: *size,
                version: None,
            })
            .collect(),
        advice: Vec::new(),
        ..Default::default()
    }
}

pub fn commit(sha: &str, behind: usize) -> BaselineCommit {
    BaselineCommit {
        sha: sha.to_string(),
        behind,
    }
}

pub fn change(name: &str, unit: Option<&str>, old: u64, new: u64) -> Change {
    let status = match (old, new) {
        (0, _) => ChangeStatus::Added,
        (_, 0) => ChangeStatus::Removed,
        (o, n) if n > o => ChangeStatus::Grown,
        _ => ChangeStatus::Shrunk,
    };
    Change {
        name: name.to_string(),
        unit: unit.map(str::to_string),
        old,
        new,
        delta: new as i64 - old as i64,
        status,
    }
}

/// A diff with a few changes of each kind between two shipped sizes.
pub fn diff(name: &str, old: u64, new: u64) -> ReportDiff {
    let grow = new as i64 - old as i64;
    let half = (grow / 2).unsigned_abs();
    ReportDiff {
        schema_version: SCHEMA_VERSION,
        old: DiffSide {
            name: name.to_string(),
            sha256: "aa".repeat(32),
            sizes: sizes(old),
        },
        new: DiffSide {
            name: name.to_string(),
            sha256: "bb".repeat(32),
            sizes: sizes(new),
        },
        sections: vec![
            change(".text", None, old / 2, old / 2 + half),
            change(".rodata", None, old / 4, old / 4 + half),
        ],
        units: vec![
            change("regex_automata", None, 0, half),
            change("serde_json", None, 40 * KIB, 40 * KIB + half),
            change("std", None, 300 * KIB, 300 * KIB - 512),
        ],
        symbols: vec![
            change(
                "regex_automata::meta::Regex::new",
                Some("regex_automata"),
                0,
                half / 2,
            ),
            change(
                "<serde_json::Value as core::fmt::Debug>::fmt",
                Some("serde_json"),
                100,
                900,
            ),
            change(
                "core::fmt::write | `inject` <b>bold</b>",
                Some("core"),
                700,
                0,
            ),
        ],
        symbols_partial: false,
        causes: vec![
            Cause {
                kind: "dependency".to_string(),
                subject: "regex".to_string(),
                old: None,
                new: Some("1.11.1".to_string()),
                delta: None,
            },
            Cause {
                kind: "toolchain".to_string(),
                subject: "rustc".to_string(),
                old: Some("1.94.0".to_string()),
                new: Some("1.95.0".to_string()),
                delta: None,
            },
        ],
        layers: vec![],
        files: vec![],
        binary_units: vec![],
    }
}

/// A measured target with a baseline and a diff.
pub fn measured(name: &str, base: u64, head: u64) -> TargetInput {
    let mut head_measurement =
        measurement(head, &[("std", 300 * KIB), ("regex_automata", head / 10)]);
    head_measurement.advice = vec![Advice {
        id: "panic-abort".to_string(),
        saving: 20 * KIB,
        message: "Set `panic = \"abort\"` in the release profile to drop unwinding tables."
            .to_string(),
    }];
    TargetInput {
        name: name.to_string(),
        head: HeadState::Measured(head_measurement),
        baseline: BaselineState::Found {
            commit: commit("b4se000000000000000000000000000000000000", 0),
            measurement: measurement(base, &[("std", 300 * KIB), ("regex_automata", base / 20)]),
        },
        diff: Some(diff(name, base, head)),
    }
}

/// A measured target without a baseline.
pub fn without_baseline(name: &str, head: u64) -> TargetInput {
    TargetInput {
        name: name.to_string(),
        head: HeadState::Measured(measurement(head, &[("std", head / 2)])),
        baseline: BaselineState::None(NoBaseline::NotMeasured { searched: 3 }),
        diff: None,
    }
}

/// A target not measured yet.
pub fn pending(name: &str) -> TargetInput {
    TargetInput {
        name: name.to_string(),
        head: HeadState::Pending,
        baseline: BaselineState::None(NoBaseline::NotMeasured { searched: 1 }),
        diff: None,
    }
}
