//! Rust release builds for macOS and Windows with their debug files, made
//! during the test run with the installed rustc for each of
//! `aarch64-apple-darwin`, `x86_64-apple-darwin`, `x86_64-pc-windows-msvc`
//! and `aarch64-pc-windows-msvc`, linked without an SDK by the wrappers in
//! `scripts/crossbuild/` (`ld64.lld` with `.tbd` stubs, then rustc's own
//! `dsymutil` run; `lld-link /DEBUG` with stub import libraries). Each is a
//! small program of our own over a local library crate laid out as Cargo's
//! registry lays it out (`tinydep-1.2.3/src/lib.rs`). A target whose
//! standard library is not installed (`rustup target add`) is skipped with
//! a message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sizegate_analyze::{Language, Report};

mod rust_support;
use rust_support::{report as alone, run, size, tinydep_lib, with_debug, write_registry_program};

const MAIN: &str = r#"
use std::collections::HashMap;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let values: Vec<u32> = args.iter().map(|a| a.len() as u32).collect();
    let at = args.len().saturating_sub(1);
    println!("{}", tinydep::pick(&values, at));
    let mut counts: HashMap<usize, usize> = HashMap::new();
    for a in &args {
        *counts.entry(a.len()).or_default() += 1;
    }
    println!("{counts:?} {} {}", tinydep::lookup(at), tinydep::word(at));
}
"#;

/// The files of one target's build.
struct Build {
    /// The release build with its symbol table.
    unstripped: PathBuf,
    /// The same build as shipped without symbols (Mach-O: `-C
    /// strip=symbols`; a PE carries none either way).
    stripped: PathBuf,
    /// The dSYM's DWARF file, or the PDB.
    debug: PathBuf,
}

/// Whether rustup has the standard library of `target`.
fn installed(target: &str) -> bool {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .unwrap();
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    let lib = Path::new(&sysroot)
        .join("lib/rustlib")
        .join(target)
        .join("lib");
    let found = std::fs::read_dir(&lib).is_ok_and(|mut d| {
        d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libstd-")))
    });
    if !found {
        eprintln!(
            "skipped: the {target} standard library is not installed (rustup target add {target})"
        );
    }
    found
}

fn linker(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/crossbuild")
        .join(name)
}

/// Build the program for `target` (once per test process and target).
fn build(target: &str) -> Option<Build> {
    if !installed(target) {
        return None;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("rust-cross-{}", std::process::id()))
        .join(target);
    let lib = write_registry_program(&dir, &tinydep_lib(512, 4), MAIN);
    let apple = target.contains("apple");
    // An SDK root that exists keeps rustc from looking for Xcode.
    let sdk = dir.join("sdk");
    std::fs::create_dir_all(&sdk).unwrap();
    let rustc = || {
        let mut c = Command::new("rustc");
        c.args([
            "--edition=2021",
            "-O",
            "-C",
            "debuginfo=2",
            "--target",
            target,
        ])
        .env("SDKROOT", &sdk)
        .current_dir(&dir);
        c
    };
    run(rustc()
        .args(["--crate-type=rlib", "--crate-name=tinydep"])
        .arg(&lib)
        .arg("--out-dir")
        .arg(&dir));
    let link = |out: &str, extra: &[&str]| {
        let mut c = rustc();
        if apple {
            c.arg("-C")
                .arg(format!("linker={}", linker("ld64-stubs.sh").display()))
                .args(["-C", "linker-flavor=ld64.lld"]);
        } else {
            c.arg("-C")
                .arg(format!("linker={}", linker("lld-link-stubs.sh").display()));
        }
        run(c
            .args(extra)
            .arg("--extern")
            .arg(format!("tinydep={}", dir.join("libtinydep.rlib").display()))
            .arg("main.rs")
            .arg("-o")
            .arg(dir.join(out)));
        dir.join(out)
    };
    Some(if apple {
        // rustc runs dsymutil (split-debuginfo=packed) before it strips.
        let unstripped = link("app", &[]);
        let stripped = link("app-stripped", &["-C", "strip=symbols"]);
        Build {
            unstripped,
            debug: dir.join("app-stripped.dSYM/Contents/Resources/DWARF/app-stripped"),
            stripped,
        }
    } else {
        let exe = link("app.exe", &[]);
        Build {
            unstripped: exe.clone(),
            stripped: exe,
            debug: dir.join("app.pdb"),
        }
    })
}

fn share(report: &Report) -> f64 {
    report.bracketed_size() as f64 * 100.0 / report.sizes.shipped as f64
}

/// Pseudo-units of the file's layout, not of its contents: alignment
/// (arm64 Mach-O pads its segments to 16 KiB pages, a tenth of this small
/// program), headers and the code signature.
const LAYOUT: [&str; 3] = ["[padding]", "[headers]", "[code signature]"];

/// [`share`] without the layout's pseudo-units.
fn content_share(report: &Report) -> f64 {
    let layout: u64 = LAYOUT.iter().map(|u| size(report, u)).sum();
    (report.bracketed_size() - layout) as f64 * 100.0 / report.sizes.shipped as f64
}

/// What every target's build must give: Rust, with and without its debug
/// file; the crates of the program; with the debug file at most `limit`%
/// of the shipped bytes in bracketed units besides the layout's (the
/// figure on real programs, where the layout weighs little, is
/// `scripts/rust-crossbuild.sh`'s).
fn check(target: &str, limit: f64) {
    let Some(build) = build(target) else {
        return;
    };
    let stripped = alone(&build.stripped);
    let unstripped = alone(&build.unstripped);
    let debug = with_debug(&build.stripped, &build.debug);
    for (what, report) in [
        ("stripped", &stripped),
        ("unstripped", &unstripped),
        ("with its debug file", &debug),
    ] {
        assert_eq!(report.language, Language::Rust, "{target} {what}");
        assert_eq!(
            report.units.iter().map(|u| u.size).sum::<u64>(),
            report.sizes.shipped,
            "{target} {what}"
        );
        eprintln!(
            "{target} {what}: {:.1}% of {} shipped bytes bracketed ({:.1}% besides the layout)",
            share(report),
            report.sizes.shipped,
            content_share(report)
        );
    }
    assert_eq!(debug.sizes.shipped, stripped.sizes.shipped);
    assert!(debug.toolchain.debug_info, "{target}");
    for unit in ["std", "core", "alloc", "tinydep", "main"] {
        assert!(
            size(&debug, unit) > 0,
            "{target}: no {unit}: {:?}",
            debug.units
        );
    }
    let bracketed: Vec<_> = debug
        .units
        .iter()
        .filter(|u| u.name.starts_with('['))
        .map(|u| (&u.name, u.size))
        .collect();
    assert!(
        content_share(&debug) <= limit,
        "{target}: {:.1}% bracketed with the debug file: {bracketed:?}",
        content_share(&debug)
    );
}

#[test]
fn macos_arm64_rust_with_its_dsym() {
    check("aarch64-apple-darwin", 5.0);
}

#[test]
fn macos_x86_64_rust_with_its_dsym() {
    check("x86_64-apple-darwin", 5.0);
}

#[test]
fn windows_x64_rust_with_its_pdb() {
    check("x86_64-pc-windows-msvc", 5.0);
}

#[test]
fn windows_arm64_rust_with_its_pdb() {
    check("aarch64-pc-windows-msvc", 5.0);
}
