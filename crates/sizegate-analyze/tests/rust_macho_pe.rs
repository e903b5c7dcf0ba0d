//! Real Rust release builds for macOS (arm64 Mach-O) and Windows (x86-64
//! PE): oxlint's Node.js bindings as npm ships them
//! (`@oxlint/binding-darwin-arm64`, `@oxlint/binding-win32-x64-msvc`,
//! fetched by `scripts/fetch-rust-artifacts.sh npm` into
//! `target/test-artifacts/npm/`). Both keep only their exports; their
//! functions come from `LC_FUNCTION_STARTS` and `.pdata`, their crates from
//! the panic locations the code refers to. Skipped with a message when the
//! packages are not there (no network here: run the script once).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use sizegate_analyze::{Language, Report};

mod rust_support;
use rust_support::{report_named, size};

const VERSION: &str = "1.96.0";

fn artifact(package: &str, file: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-artifacts/npm")
        .join(format!("oxlint-binding-{package}-{VERSION}/package/{file}"));
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "skipped: {} is missing (offline?); run scripts/fetch-rust-artifacts.sh npm",
            path.display()
        );
        None
    }
}

fn report(path: &Path) -> Report {
    report_named("oxlint", path)
}

/// What both builds must give: Rust, the workspace's and the registry's
/// crates with a share each, units adding up, most bytes charged.
fn check(report: &Report, code: &str) {
    assert_eq!(report.language, Language::Rust);
    assert_eq!(
        report.units.iter().map(|u| u.size).sum::<u64>(),
        report.sizes.shipped
    );
    for (unit, share) in [
        ("oxc_linter", 5),
        ("oxc_parser", 2),
        ("regex_syntax", 1),
        ("std", 1),
    ] {
        let bytes = size(report, unit);
        assert!(
            bytes * 100 >= report.sizes.shipped * share,
            "{unit}: {bytes} of {} bytes",
            report.sizes.shipped
        );
    }
    let code_size = report
        .sections
        .iter()
        .find(|s| s.name == code)
        .unwrap()
        .file_size;
    let left = size(report, &format!("[{code} unattributed]"));
    assert!(
        left * 2 < code_size,
        "{code}: {left} of {code_size} bytes unattributed"
    );
    assert!(
        report.bracketed_size() * 2 < report.sizes.shipped,
        "{} of {} bytes bracketed",
        report.bracketed_size(),
        report.sizes.shipped
    );
}

#[test]
fn macos_arm64_rust_dylib_gets_crates_from_its_functions() {
    let Some(path) = artifact("darwin-arm64", "oxlint.darwin-arm64.node") else {
        return;
    };
    let report = report(&path);
    check(&report, "__TEXT,__text");
    // The one export ends at the next function start, not at the next
    // export (which would be the whole of `__text`).
    let export = report
        .symbols
        .iter()
        .find(|s| s.name == "napi_register_module_v1")
        .unwrap();
    assert!(export.size < 64 * 1024, "{export:?}");
    assert!(size(&report, "[C]") * 100 < report.sizes.shipped);
    // Compact unwind entries and LSDAs go with their functions.
    for section in ["__TEXT,__unwind_info", "__TEXT,__gcc_except_tab"] {
        let total = report
            .sections
            .iter()
            .find(|s| s.name == section)
            .unwrap()
            .file_size;
        let left = size(&report, &format!("[{section} unattributed]"));
        assert!(left * 2 < total, "{section}: {left} of {total} bytes left");
    }
}

#[test]
fn windows_x64_rust_dll_gets_crates_and_pdata_from_its_functions() {
    let Some(path) = artifact("win32-x64-msvc", "oxlint.win32-x64-msvc.node") else {
        return;
    };
    let report = report(&path);
    check(&report, ".text");
    // `.pdata` entries with their functions; `.reloc` entries with the
    // owner of the pointer they patch.
    for section in [".pdata", ".reloc"] {
        let total = report
            .sections
            .iter()
            .find(|s| s.name == section)
            .unwrap()
            .file_size;
        let left = size(&report, &format!("[{section} unattributed]"));
        assert!(
            left * 2 < total,
            "{section}: {left} of {total} bytes unattributed"
        );
    }
}
