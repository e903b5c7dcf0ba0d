//! Rust cross-built for Windows with the GNU toolchain
//! (`x86_64-pc-windows-gnu`: a mingw PE with a COFF symbol table) and for
//! WebAssembly (`wasm32-unknown-unknown`: function names in the `name`
//! section, the data in data segments), built during the test run with the
//! installed rustc: a registry-style library crate (`tinydep-1.2.3`) and a
//! program using it, with symbols and stripped. Each test is skipped with a
//! message when the target's standard library (`rustup target add`) or,
//! for Windows, the mingw linker (`x86_64-w64-mingw32-gcc`) is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sizegate_analyze::{Format, Language, Report, UnitKind};

mod rust_support;
use rust_support::{
    TINYDEP_LIB_PATH, bracketed_units, report, run, size, tinydep_lib, write_registry_program,
};

const MAIN: &str = r#"
use std::collections::BTreeMap;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let values: Vec<u32> = args.iter().map(|a| a.len() as u32).collect();
    let at = args.len().saturating_sub(1);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &args {
        *counts.entry(a.as_str()).or_default() += 1;
    }
    let parsed: u64 = args.get(5).map(|s| s.parse().unwrap()).unwrap_or(1);
    println!("{} {parsed} {counts:?}", tinydep::pick(&values, at));
    println!("{} {}", tinydep::lookup(at), tinydep::word(at));
}
"#;

/// Whether rustup installed the standard library of `target`.
fn has_target(target: &str) -> bool {
    let sysroot = Command::new("rustc").args(["--print", "sysroot"]).output();
    let Ok(sysroot) = sysroot else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    Path::new(&sysroot)
        .join("lib/rustlib")
        .join(target)
        .join("lib")
        .is_dir()
}

fn has_command(name: &str) -> bool {
    Command::new(name).arg("--version").output().is_ok()
}

/// Build the program for `target` (`rustc` flags `extra`), with symbols
/// and stripped: (with symbols, stripped).
fn build(target: &str, extension: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("rust-cross-{target}-{}", std::process::id()));
    write_registry_program(&dir, &tinydep_lib(512, 4), MAIN);
    let rustc = |args: &[&str]| {
        let mut command = Command::new("rustc");
        command
            .args(["--edition=2021", "-O", "--target", target])
            .args(extra)
            .args(args)
            .current_dir(&dir);
        run(&mut command);
    };
    rustc(&[
        "--crate-type=rlib",
        "--crate-name=tinydep",
        TINYDEP_LIB_PATH,
    ]);
    let binary = |name: &str, strip: &str| {
        let out = format!("{name}.{extension}");
        rustc(&[
            "--crate-name=app",
            "-C",
            strip,
            "--extern",
            "tinydep=libtinydep.rlib",
            "main.rs",
            "-o",
            &out,
        ]);
        dir.join(out)
    };
    (
        binary("app", "strip=debuginfo"),
        binary("app-stripped", "strip=symbols"),
    )
}

/// Rust, units summing to the shipped size, the program's own crates and
/// the standard library's with bytes, at most `bracketed` percent in
/// bracketed units.
fn check_symbols(report: &Report, bracketed: u64) {
    assert_eq!(report.language, Language::Rust);
    assert!(!report.stripped);
    assert_eq!(
        report.units.iter().map(|u| u.size).sum::<u64>(),
        report.sizes.shipped
    );
    for unit in ["app", "tinydep", "std", "core", "alloc"] {
        let found = report.units.iter().find(|u| u.name == unit);
        assert!(
            found.is_some_and(|u| u.size > 0 && u.kind == UnitKind::Crate),
            "{unit}: {found:?}"
        );
    }
    assert!(
        report.bracketed_size() * 100 <= report.sizes.shipped * bracketed,
        "{} of {} bytes bracketed: {:?}",
        report.bracketed_size(),
        report.sizes.shipped,
        bracketed_units(report)
    );
}

#[test]
fn windows_gnu_rust_gets_crates_from_its_coff_symbols() {
    const TARGET: &str = "x86_64-pc-windows-gnu";
    if !has_target(TARGET) || !has_command("x86_64-w64-mingw32-gcc") {
        eprintln!(
            "skipped: needs `rustup target add {TARGET}` and x86_64-w64-mingw32-gcc (gcc-mingw-w64-x86-64-win32)"
        );
        return;
    }
    let (plain, stripped) = build(TARGET, "exe", &["-C", "linker=x86_64-w64-mingw32-gcc"]);
    let report = report(&plain);
    assert_eq!(report.format, Format::Pe);
    check_symbols(&report, 5);
    // `.pdata` entries and unwind info go with the functions.
    for section in [".pdata", ".xdata"] {
        let total = report
            .sections
            .iter()
            .find(|s| s.name == section)
            .map_or(0, |s| s.file_size);
        let left = size(&report, &format!("[{section} unattributed]"));
        assert!(left * 10 < total, "{section}: {left} of {total} bytes left");
    }
    // Stripped: still Rust, with crates from panic locations and `.pdata`.
    let report = rust_support::report(&stripped);
    assert!(report.stripped);
    assert_eq!(report.language, Language::Rust);
    assert!(size(&report, "tinydep") > 0, "{:?}", report.units);
    assert!(
        size(&report, "std") + size(&report, "core") > 0,
        "{:?}",
        report.units
    );
    // The standard library's Windows paths (`/rustc/<commit>/library\core\…`)
    // name the rustc commit.
    let commit = report.toolchain.rustc_commit.as_deref().unwrap_or("");
    assert_eq!(commit.len(), 40, "{:?}", report.toolchain);
}

#[test]
fn wasm_rust_gets_crates_from_its_name_section_and_data_from_its_code() {
    const TARGET: &str = "wasm32-unknown-unknown";
    if !has_target(TARGET) {
        eprintln!("skipped: needs `rustup target add {TARGET}`");
        return;
    }
    let (plain, stripped) = build(TARGET, "wasm", &[]);
    let report = report(&plain);
    assert_eq!(report.format, Format::Wasm);
    check_symbols(&report, 5);
    // The 4 KiB table and the strings are the library's, found through
    // the code's `i32.const` addresses.
    let code: u64 = report
        .symbols
        .iter()
        .filter(|s| s.unit == "tinydep")
        .map(|s| s.size)
        .sum();
    assert!(
        size(&report, "tinydep") >= code + 4096,
        "tinydep: {} bytes, {code} of code",
        size(&report, "tinydep")
    );
    // Stripped (no `name` section): functions get crates from the panic
    // locations their code refers to.
    let report = rust_support::report(&stripped);
    assert!(report.stripped);
    assert_eq!(report.language, Language::Rust);
    assert!(size(&report, "tinydep") > 0, "{:?}", report.units);
    assert_eq!(
        report.units.iter().map(|u| u.size).sum::<u64>(),
        report.sizes.shipped
    );
}
