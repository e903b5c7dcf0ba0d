//! Tests of [`super::diff`] on hand-built reports.

use super::*;
use crate::report::*;

fn report() -> Report {
    Report {
        schema_version: SCHEMA_VERSION,
        file: FileInfo {
            name: "app".into(),
            size: 1000,
            sha256: "00".into(),
        },
        format: Format::Elf,
        arch: "x86_64".into(),
        language: Language::Rust,
        stripped: false,
        toolchain: Toolchain::default(),
        sizes: Sizes::default(),
        sections: vec![],
        units: vec![],
        symbols: vec![],
        units_instantiating: Vec::new(),
        symbols_truncated: false,
        notes: Vec::new(),
        compression_skipped: false,
        advice: vec![],
        layers: Vec::new(),
        files: Vec::new(),
        directories: Vec::new(),
    }
}

fn section(name: &str, kind: SectionKind, file_size: u64, vm_size: u64) -> Section {
    Section {
        name: name.into(),
        kind,
        file_size,
        vm_size,
    }
}

fn unit(name: &str, size: u64) -> Unit {
    Unit {
        name: name.into(),
        kind: UnitKind::Crate,
        size,
        symbols: 1,
        version: None,
        module: None,
    }
}

fn symbol(name: &str, unit: &str, size: u64) -> Symbol {
    Symbol {
        name: name.into(),
        unit: unit.into(),
        section: ".text".into(),
        size,
    }
}

/// `(name, old, new, status)` of each change, in order.
fn summary(changes: &[Change]) -> Vec<(&str, u64, u64, ChangeStatus)> {
    changes
        .iter()
        .map(|c| (c.name.as_str(), c.old, c.new, c.status))
        .collect()
}

fn go_build(version: &str, deps: &[(&str, &str)], settings: &[(&str, &str)]) -> Toolchain {
    Toolchain {
        go: Some(version.into()),
        go_build: Some(GoBuildInfo {
            go_version: version.into(),
            path: Some("example.com/app".into()),
            main: None,
            deps: deps
                .iter()
                .map(|(path, version)| GoModule {
                    path: (*path).into(),
                    version: (*version).into(),
                    sum: None,
                    replace: None,
                })
                .collect(),
            settings: settings
                .iter()
                .map(|(key, value)| GoBuildSetting {
                    key: (*key).into(),
                    value: (*value).into(),
                })
                .collect(),
        }),
        ..Toolchain::default()
    }
}

use ChangeStatus::{Added, Grown, Removed, Shrunk};

#[test]
fn sections_added_removed_grown_shrunk() {
    let mut old = report();
    old.sections = vec![
        section(".text", SectionKind::Code, 500, 500),
        section(".rodata", SectionKind::Rodata, 200, 200),
        section(".comment", SectionKind::Other, 40, 0),
        section(".bss", SectionKind::Bss, 0, 64),
        section(".data", SectionKind::Data, 16, 16),
    ];
    let mut new = report();
    new.sections = vec![
        section(".text", SectionKind::Code, 700, 700),
        section(".rodata", SectionKind::Rodata, 150, 150),
        section(".tbss", SectionKind::Bss, 0, 8),
        section(".bss", SectionKind::Bss, 0, 96),
        section(".data", SectionKind::Data, 16, 16),
    ];
    let d = diff(&old, &new);
    assert_eq!(
        summary(&d.sections),
        vec![
            (".text", 500, 700, Grown),
            (".rodata", 200, 150, Shrunk),
            (".comment", 40, 0, Removed),
            (".bss", 64, 96, Grown),
            (".tbss", 0, 8, Added),
        ]
    );
    assert_eq!(d.sections[0].delta, 200);
    assert_eq!(d.sections[1].delta, -50);
    assert!(d.sections.iter().all(|c| c.unit.is_none()));
}

#[test]
fn units_added_removed_grown_shrunk() {
    let mut old = report();
    old.units = vec![
        unit("std", 300),
        unit("regex", 400),
        unit("log", 10),
        unit("core", 7),
    ];
    let mut new = report();
    new.units = vec![
        unit("std", 310),
        unit("regex", 100),
        unit("serde", 90),
        unit("core", 7),
    ];
    let d = diff(&old, &new);
    assert_eq!(
        summary(&d.units),
        vec![
            ("regex", 400, 100, Shrunk),
            ("serde", 0, 90, Added),
            ("log", 10, 0, Removed),
            ("std", 300, 310, Grown),
        ]
    );
}

#[test]
fn symbols_added_removed_grown_shrunk() {
    let mut old = report();
    old.symbols = vec![
        symbol("app::main", "app", 100),
        symbol("app::old_helper", "app", 40),
        symbol("regex::compile", "regex", 900),
        symbol("std::io::print", "std", 33),
    ];
    let mut new = report();
    new.symbols = vec![
        symbol("app::main", "app", 120),
        symbol("serde_json::to_string", "serde_json", 60),
        symbol("regex::compile", "regex", 500),
        symbol("std::io::print", "std", 33),
    ];
    let d = diff(&old, &new);
    assert_eq!(
        summary(&d.symbols),
        vec![
            ("regex::compile", 900, 500, Shrunk),
            ("serde_json::to_string", 0, 60, Added),
            ("app::old_helper", 40, 0, Removed),
            ("app::main", 100, 120, Grown),
        ]
    );
    assert_eq!(d.symbols[1].unit.as_deref(), Some("serde_json"));
    assert_eq!(d.symbols[2].unit.as_deref(), Some("app"));
    assert!(!d.symbols_partial);
}

#[test]
fn rust_legacy_hashes_do_not_break_matching() {
    let mut old = report();
    old.symbols = vec![symbol("app::parse::h0123456789abcdef", "app", 100)];
    let mut new = report();
    new.symbols = vec![symbol("app::parse::hfedcba9876543210", "app", 130)];
    let d = diff(&old, &new);
    assert_eq!(summary(&d.symbols), vec![("app::parse", 100, 130, Grown)]);
}

#[test]
fn rust_v0_disambiguators_do_not_break_matching() {
    let mut old = report();
    old.symbols = vec![
        symbol(
            "<app[1a2b3c4d5e6f7a8b]::Config as core[0011aabb]::fmt::Debug>::fmt",
            "app",
            80,
        ),
        symbol("mycrate[abcd]::f", "mycrate", 20),
    ];
    let mut new = report();
    new.symbols = vec![
        symbol(
            "<app[99aa88bb77cc66dd]::Config as core[ffee0011]::fmt::Debug>::fmt",
            "app",
            80,
        ),
        symbol("mycrate[ef01]::f", "mycrate", 28),
    ];
    let d = diff(&old, &new);
    // The Debug impl is unchanged and so omitted.
    assert_eq!(summary(&d.symbols), vec![("mycrate::f", 20, 28, Grown)]);
}

#[test]
fn go_closures_pair_by_size_not_by_number() {
    let mut old = report();
    old.symbols = vec![
        symbol("main.serve.func1", "main", 300),
        symbol("main.serve.func2", "main", 1200),
        symbol("main.other.func1", "main", 64),
    ];
    let mut new = report();
    // A new closure came first in `serve`: the old ones are now func2 and
    // func3, and the big one grew a little.
    new.symbols = vec![
        symbol("main.serve.func1", "main", 48),
        symbol("main.serve.func2", "main", 300),
        symbol("main.serve.func3", "main", 1216),
        symbol("main.other.func1", "main", 64),
    ];
    let d = diff(&old, &new);
    assert_eq!(
        summary(&d.symbols),
        vec![
            ("main.serve.func1", 0, 48, Added),
            ("main.serve.func3", 1200, 1216, Grown),
        ]
    );
}

#[test]
fn rust_closures_pair_by_size_too() {
    let mut old = report();
    old.symbols = vec![
        symbol("app::run::{closure#0}", "app", 500),
        symbol("app::run::{closure#1}", "app", 90),
    ];
    let mut new = report();
    new.symbols = vec![symbol("app::run::{closure#0}", "app", 92)];
    let d = diff(&old, &new);
    // The new closure#0 is the old closure#1; the big one went away.
    assert_eq!(
        summary(&d.symbols),
        vec![
            ("app::run::{closure#0}", 500, 0, Removed),
            ("app::run::{closure#0}", 90, 92, Grown),
        ]
    );
}

#[test]
fn truncated_sides_mark_symbols_partial() {
    let old = report();
    let mut new = report();
    new.symbols_truncated = true;
    assert!(diff(&old, &new).symbols_partial);
    assert!(!diff(&old, &old).symbols_partial);
}

#[test]
fn stripping_one_side_does_not_list_every_symbol_as_removed() {
    let mut old = report();
    old.symbols = vec![symbol("app::main", "app", 100), symbol("app::f", "app", 50)];
    let mut new = report();
    new.stripped = true;
    let d = diff(&old, &new);
    assert!(d.symbols.is_empty());
    assert!(d.symbols_partial);
    assert_eq!(
        causes(&d),
        vec![("stripped", "symbols", Some("no"), Some("yes"))]
    );
    // Go keeps its symbols when stripped (the pclntab): compared as usual.
    new.symbols = vec![symbol("app::main", "app", 100)];
    let d = diff(&old, &new);
    assert_eq!(summary(&d.symbols), vec![("app::f", 50, 0, Removed)]);
    assert!(!d.symbols_partial);
}

#[test]
fn order_is_stable_and_independent_of_input_order() {
    let mut old = report();
    old.symbols = vec![
        symbol("b", "x", 10),
        symbol("a", "x", 10),
        symbol("c", "x", 10),
        symbol("dup", "x", 5),
        symbol("dup", "y", 5),
    ];
    old.units = vec![unit("zeta", 5), unit("alpha", 5), unit("mid", 50)];
    let mut new = report();
    let first = diff(&old, &new);
    old.symbols.reverse();
    old.units.reverse();
    let second = diff(&old, &new);
    assert_eq!(first, second);
    let names: Vec<(&str, Option<&str>)> = first
        .symbols
        .iter()
        .map(|c| (c.name.as_str(), c.unit.as_deref()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("a", Some("x")),
            ("b", Some("x")),
            ("c", Some("x")),
            ("dup", Some("x")),
            ("dup", Some("y"))
        ]
    );
    let units: Vec<&str> = first.units.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(units, vec!["mid", "alpha", "zeta"]);
    // Nothing changed: nothing listed.
    new.symbols = old.symbols.clone();
    new.units = old.units.clone();
    let same = diff(&old, &new);
    assert!(same.symbols.is_empty() && same.units.is_empty() && same.causes.is_empty());
}

fn causes(d: &ReportDiff) -> Vec<(&str, &str, Option<&str>, Option<&str>)> {
    d.causes
        .iter()
        .map(|c| {
            (
                c.kind.as_str(),
                c.subject.as_str(),
                c.old.as_deref(),
                c.new.as_deref(),
            )
        })
        .collect()
}

#[test]
fn rustc_version_change_is_a_cause() {
    let mut old = report();
    old.toolchain.rustc = Some("rustc version 1.94.0 (4a4ef493e 2026-03-02)".into());
    old.toolchain.compilers = vec!["GCC: (Debian 12.2.0-14) 12.2.0".into()];
    let mut new = report();
    new.toolchain.rustc = Some("rustc version 1.95.0 (59807616e 2026-04-14)".into());
    new.toolchain.compilers = vec![
        "GCC: (Debian 12.2.0-14) 12.2.0".into(),
        "Linker: LLD 17.0.6".into(),
    ];
    assert_eq!(
        causes(&diff(&old, &new)),
        vec![
            (
                "toolchain",
                "rustc",
                Some("rustc version 1.94.0 (4a4ef493e 2026-03-02)"),
                Some("rustc version 1.95.0 (59807616e 2026-04-14)")
            ),
            ("toolchain", "Linker", None, Some("Linker: LLD 17.0.6")),
        ]
    );
}

#[test]
fn go_version_change_is_a_cause() {
    let mut old = report();
    old.toolchain = go_build("go1.19.8", &[], &[]);
    let mut new = report();
    new.toolchain = go_build("go1.21.0", &[], &[]);
    assert_eq!(
        causes(&diff(&old, &new)),
        vec![("toolchain", "go", Some("go1.19.8"), Some("go1.21.0"))]
    );
}

#[test]
fn ldflags_change_is_a_cause_and_vcs_settings_are_not() {
    let mut old = report();
    old.toolchain = go_build(
        "go1.19.8",
        &[],
        &[
            ("-ldflags", "-X main.version=1"),
            ("CGO_ENABLED", "1"),
            ("vcs.revision", "aaa"),
        ],
    );
    let mut new = report();
    new.toolchain = go_build(
        "go1.19.8",
        &[],
        &[
            ("-ldflags", "-s -w"),
            ("CGO_ENABLED", "1"),
            ("vcs.revision", "bbb"),
            ("-trimpath", "true"),
        ],
    );
    new.stripped = true;
    assert_eq!(
        causes(&diff(&old, &new)),
        vec![
            ("stripped", "symbols", Some("no"), Some("yes")),
            (
                "build_setting",
                "-ldflags",
                Some("-X main.version=1"),
                Some("-s -w")
            ),
            ("build_setting", "-trimpath", None, Some("true")),
        ]
    );
}

#[test]
fn go_dependency_bump_and_new_dependency_are_causes() {
    let mut old = report();
    old.toolchain = go_build(
        "go1.19.8",
        &[
            ("golang.org/x/sys", "v0.1.0"),
            ("github.com/old/gone", "v1.0.0"),
        ],
        &[],
    );
    let mut new = report();
    new.toolchain = go_build(
        "go1.19.8",
        &[
            ("golang.org/x/sys", "v0.2.0"),
            ("github.com/spf13/cobra", "v1.8.0"),
        ],
        &[],
    );
    assert_eq!(
        causes(&diff(&old, &new)),
        vec![
            ("dependency", "github.com/old/gone", Some("v1.0.0"), None),
            ("dependency", "github.com/spf13/cobra", None, Some("v1.8.0")),
            (
                "dependency",
                "golang.org/x/sys",
                Some("v0.1.0"),
                Some("v0.2.0")
            ),
        ]
    );
}

#[test]
fn go_module_bump_carries_the_bytes_its_packages_moved() {
    let package = |name: &str, size: u64, version: &str| Unit {
        kind: UnitKind::Package,
        version: Some(version.into()),
        module: Some("golang.org/x/net".into()),
        ..unit(name, size)
    };
    let mut old = report();
    old.toolchain = go_build("go1.22.1", &[("golang.org/x/net", "v0.20.0")], &[]);
    old.units = vec![
        package("golang.org/x/net/http2", 100_000, "v0.20.0"),
        package("golang.org/x/net/idna", 20_000, "v0.20.0"),
        unit("main", 5),
    ];
    let mut new = report();
    new.toolchain = go_build("go1.22.1", &[("golang.org/x/net", "v0.23.0")], &[]);
    new.units = vec![
        package("golang.org/x/net/http2", 141_984, "v0.23.0"),
        package("golang.org/x/net/idna", 20_000, "v0.23.0"),
        unit("main", 5),
    ];
    let d = diff(&old, &new);
    let cause = d
        .causes
        .iter()
        .find(|c| c.subject == "golang.org/x/net")
        .unwrap();
    assert_eq!(cause.old.as_deref(), Some("v0.20.0"));
    assert_eq!(cause.new.as_deref(), Some("v0.23.0"));
    assert_eq!(cause.delta, Some(41_984));
}

#[test]
fn replaced_go_module_shows_its_replacement() {
    let mut old = report();
    old.toolchain = go_build("go1.19.8", &[("example.com/lib", "v1.0.0")], &[]);
    let mut new = old.clone();
    if let Some(info) = new.toolchain.go_build.as_mut() {
        info.deps[0].replace = Some(Box::new(GoModule {
            path: "../lib".into(),
            version: String::new(),
            sum: None,
            replace: None,
        }));
    }
    assert_eq!(
        causes(&diff(&old, &new)),
        vec![(
            "dependency",
            "example.com/lib",
            Some("v1.0.0"),
            Some("v1.0.0 => ../lib")
        )]
    );
}

#[test]
fn new_rust_crate_is_a_dependency_cause() {
    let mut old = report();
    old.units = vec![unit("std", 100), unit("app", 10)];
    let mut new = report();
    new.units = vec![unit("std", 100), unit("app", 10), unit("serde", 50)];
    new.units.push(Unit {
        name: "[.rodata unattributed]".into(),
        kind: UnitKind::Pseudo,
        size: 9,
        symbols: 0,
        version: None,
        module: None,
    });
    assert_eq!(
        causes(&diff(&old, &new)),
        vec![("dependency", "serde", None, Some("linked"))]
    );
}

#[test]
fn format_arch_and_debug_info_changes_are_causes() {
    let old = report();
    let mut new = report();
    new.format = Format::Macho;
    new.arch = "aarch64".into();
    new.toolchain.debug_info = true;
    assert_eq!(
        causes(&diff(&old, &new)),
        vec![
            ("format", "format", Some("elf"), Some("macho")),
            ("format", "arch", Some("x86_64"), Some("aarch64")),
            ("stripped", "debug_info", Some("no"), Some("yes")),
        ]
    );
}

#[test]
fn headline_deltas_and_extreme_sizes() {
    let mut old = report();
    old.sizes.shipped = 1000;
    old.units = vec![unit("huge", u64::MAX), unit("huge", 5)];
    let mut new = report();
    new.sizes.shipped = 1500;
    new.units = vec![unit("huge", 0)];
    let d = diff(&old, &new);
    assert_eq!(d.size_delta(Metric::Shipped), 500);
    assert_eq!(d.units[0].delta, i64::MIN);
    assert_eq!(d.old.name, "app");
    old.sizes.file = u64::MAX;
    assert_eq!(diff(&old, &new).size_delta(Metric::File), i64::MIN);
}

fn crates(list: &[(&str, &str)]) -> Vec<CrateVersion> {
    list.iter()
        .map(|(name, version)| CrateVersion {
            name: (*name).into(),
            version: (*version).into(),
        })
        .collect()
}

#[test]
fn crate_version_change_names_versions_and_delta() {
    let mut old = report();
    old.units = vec![unit("std", 100), unit("regex", 10_000)];
    old.toolchain.crates = crates(&[("regex", "1.10.6"), ("std", "")]);
    let mut new = report();
    new.units = vec![unit("std", 100), unit("regex", 48_912)];
    new.toolchain.crates = crates(&[("regex", "1.11.1"), ("std", "")]);
    let d = diff(&old, &new);
    assert_eq!(
        causes(&d),
        vec![("dependency", "regex", Some("1.10.6"), Some("1.11.1"))]
    );
    assert_eq!(d.causes[0].delta, Some(38_912));
}

#[test]
fn crate_in_two_versions_is_a_duplicate_versions_cause() {
    let mut old = report();
    old.units = vec![unit("syn", 100)];
    old.toolchain.crates = crates(&[("syn", "2.0.87")]);
    let mut new = report();
    new.units = vec![unit("syn", 300)];
    new.toolchain.crates = crates(&[("syn", "1.0.109"), ("syn", "2.0.87")]);
    let d = diff(&old, &new);
    assert_eq!(
        causes(&d),
        vec![(
            "duplicate_versions",
            "syn",
            Some("2.0.87"),
            Some("1.0.109, 2.0.87")
        )]
    );
    assert_eq!(d.causes[0].delta, Some(200));
}

#[test]
fn rustc_from_source_paths_is_a_toolchain_cause() {
    let mut old = report();
    old.toolchain.rustc = None;
    old.toolchain.rustc_release = Some("1.63.0".into());
    let mut new = old.clone();
    new.toolchain.rustc_release = Some("1.70.0".into());
    assert_eq!(
        causes(&diff(&old, &new)),
        vec![("toolchain", "rustc", Some("1.63.0"), Some("1.70.0"))]
    );
}
