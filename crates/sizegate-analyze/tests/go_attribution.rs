//! Go attribution in depth on real binaries built during the test run from
//! `tests/fixtures/go`: the pclntab split between packages, function sizes
//! from the pc tables (checked against `go tool nm -size` on the unstripped
//! build), and module versions on the package units.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod go_support;

use std::collections::HashMap;

use go_support::{Binary, Variant, build, nm_text_symbols};
use sizegate_analyze::go::{PCLNTAB_HEADER, package_of, split_pclntab};
use sizegate_analyze::{Options, Report, analyze};

const PLAIN: Variant = Variant::native("plain", &[]);
const SMALL: Variant = Variant::native("small", &["-ldflags=-s -w -X main.version=1.2.3"]);

fn report_of(variant: Variant) -> Report {
    let path = build(variant);
    let bytes = std::fs::read(&path).unwrap();
    let options = Options {
        skip_compression: true,
        ..Options::default()
    };
    analyze(variant.name, &bytes, &options)
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
}

fn unit_size(report: &Report, name: &str) -> u64 {
    report
        .units
        .iter()
        .find(|u| u.name == name)
        .map_or(0, |u| u.size)
}

#[test]
fn pclntab_bytes_are_split_between_the_packages_of_their_functions() {
    let binary = Binary::read(&build(SMALL));
    let (sections, target) = binary.sections();
    let split = split_pclntab(&sections, target).expect("a Go 1.18+ pclntab");
    let section = sections.iter().find(|s| s.name == ".gopclntab").unwrap();
    // Every byte of the section is charged once.
    let total: u64 = split.by_package.iter().map(|p| p.1).sum();
    assert_eq!(total, section.data.len() as u64);
    assert_eq!(split.size, total);
    let share = |name: &str| {
        split
            .by_package
            .iter()
            .find(|p| p.0 == name)
            .map_or(0, |p| p.1)
    };
    // The shared rest (header, end entry) is tiny, and named.
    let header = share(PCLNTAB_HEADER);
    assert!(
        header > 0 && header * 200 < total,
        "header {header} of {total}"
    );
    // runtime keeps its own share only: the other packages hold theirs.
    for package in ["main", "fmt", "os", "example.com/dotted%2ev2"] {
        assert!(share(package) > 0, "{package} has no pclntab bytes");
    }
    assert!(share("runtime") < total * 3 / 4, "{:?}", split.by_package);

    // In the report: the pclntab no longer sits in one unit, and units
    // still sum to the shipped size.
    let report = report_of(SMALL);
    let sum: u64 = report.units.iter().map(|u| u.size).sum();
    assert_eq!(sum, report.sizes.shipped);
    assert_eq!(unit_size(&report, PCLNTAB_HEADER), header);
    let text_of = |unit: &str| -> u64 {
        report
            .symbols
            .iter()
            .filter(|s| s.unit == unit && s.section == ".text")
            .map(|s| s.size)
            .sum()
    };
    // fmt's unit holds its code and pclntab share, and its type data too.
    assert!(unit_size(&report, "fmt") > text_of("fmt") + share("fmt"));
}

#[test]
fn stripped_per_package_text_equals_go_tool_nm_on_the_unstripped_build() {
    let report = report_of(SMALL);
    let mut ours: HashMap<String, u64> = HashMap::new();
    for symbol in report.symbols.iter().filter(|s| s.section == ".text") {
        *ours.entry(symbol.unit.clone()).or_default() += symbol.size;
    }
    let mut truth: HashMap<String, u64> = HashMap::new();
    // Names without a package (assembly entry points) are charged to
    // `[C]`-like units by the analyzer: compare packages only.
    for symbol in nm_text_symbols(&build(PLAIN)) {
        let package = package_of(&symbol.name);
        if !package.starts_with('[') {
            *truth.entry(package.to_owned()).or_default() += symbol.size;
        }
    }
    let mut largest: Vec<(&String, &u64)> = truth.iter().collect();
    largest.sort_by(|a, b| b.1.cmp(a.1));
    assert!(largest.len() >= 20, "only {} packages", largest.len());
    for (package, &expected) in largest.into_iter().take(20) {
        let got = ours.get(package).copied().unwrap_or(0);
        let off = got.abs_diff(expected) as f64 / expected as f64;
        assert!(
            off <= 0.005,
            "{package}: {got} bytes of .text, go tool nm says {expected}"
        );
    }
    // The alignment between functions is a padding unit of its own.
    assert!(unit_size(&report, "[.text padding]") > 0);
    assert_eq!(unit_size(&report, "[.text unattributed]"), 0);
}

#[test]
fn package_units_carry_their_module_and_version() {
    let report = report_of(PLAIN);
    let unit = |name: &str| report.units.iter().find(|u| u.name == name).unwrap();
    let dotted = unit("example.com/dotted%2ev2");
    assert_eq!(dotted.module.as_deref(), Some("example.com/dotted.v2"));
    assert!(dotted.version.is_some());
    let main = unit("main");
    assert_eq!(main.module.as_deref(), Some("example.com/app"));
    assert_eq!(unit("fmt").module, None);
}
