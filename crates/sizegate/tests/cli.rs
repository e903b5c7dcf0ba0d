//! End-to-end tests of `sizegate analyze` and `sizegate diff` on JSON
//! reports: the real binary runs on the hand-built reports under
//! `tests/fixtures/`, and its output is compared to committed snapshots.

// A test that cannot set itself up should fail loudly.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use sizegate_analyze::{Report, ReportDiff, SCHEMA_VERSION};

/// Runs the binary from the crate directory, so fixture paths (and the
/// messages naming them) are relative and stable.
fn sizegate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sizegate"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}, stderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn fixture(name: &str) -> Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn assert_fits_terminal(text: &str) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= 100,
            "line wider than 100 columns: {line:?}"
        );
    }
}

const RUST_OLD: &str = "tests/fixtures/rust-old.json";
const RUST_NEW: &str = "tests/fixtures/rust-new.json";
const GO_OLD: &str = "tests/fixtures/go-old.json";
const GO_NEW: &str = "tests/fixtures/go-new.json";

#[test]
fn analyze_table_of_a_json_report() {
    let text = stdout(&sizegate(&["analyze", RUST_NEW]));
    assert_fits_terminal(&text);
    insta::assert_snapshot!("analyze_table_rust", text);
}

#[test]
fn analyze_table_limits_rows_with_top() {
    let text = stdout(&sizegate(&["analyze", GO_NEW, "--top", "3"]));
    assert_fits_terminal(&text);
    insta::assert_snapshot!("analyze_table_go_top3", text);
}

#[test]
fn analyze_json_truncates_symbols_to_top() {
    let text = stdout(&sizegate(&[
        "analyze", RUST_NEW, "--format", "json", "--top", "3",
    ]));
    insta::assert_snapshot!("analyze_json_rust_top3", text);
    let report: Report = serde_json::from_str(&text).unwrap();
    let mut expected = fixture("rust-new.json");
    expected.truncate_symbols(3);
    assert_eq!(report, expected);
    assert!(report.symbols_truncated);
}

#[test]
fn analyze_top_zero_lists_every_symbol() {
    let all = fixture("rust-new.json").symbols.len();
    let text = stdout(&sizegate(&[
        "analyze", RUST_NEW, "--format", "json", "--top", "0",
    ]));
    let report: Report = serde_json::from_str(&text).unwrap();
    assert_eq!(report.symbols.len(), all);
    assert!(!report.symbols_truncated);
    let table = stdout(&sizegate(&["analyze", RUST_NEW, "--top", "0"]));
    assert!(table.contains(&format!("SYMBOLS ({all})")), "{table}");
}

#[test]
fn diff_table_of_two_rust_reports() {
    let text = stdout(&sizegate(&["diff", RUST_OLD, RUST_NEW]));
    assert_fits_terminal(&text);
    insta::assert_snapshot!("diff_table_rust", text);
}

#[test]
fn diff_table_of_two_go_reports() {
    let text = stdout(&sizegate(&["diff", GO_OLD, GO_NEW, "--top", "4"]));
    assert_fits_terminal(&text);
    insta::assert_snapshot!("diff_table_go_top4", text);
}

#[test]
fn diff_json_carries_every_change() {
    let text = stdout(&sizegate(&[
        "diff", RUST_OLD, RUST_NEW, "--format", "json", "--top", "1",
    ]));
    insta::assert_snapshot!("diff_json_rust", text);
    let diff: ReportDiff = serde_json::from_str(&text).unwrap();
    assert_eq!(diff.schema_version, SCHEMA_VERSION);
    assert_eq!(
        diff,
        sizegate_analyze::diff(&fixture("rust-old.json"), &fixture("rust-new.json"))
    );
    assert!(diff.symbols.len() > 1, "--top does not cut JSON");
}

#[test]
fn diff_markdown_of_two_rust_reports() {
    let text = stdout(&sizegate(&[
        "diff", RUST_OLD, RUST_NEW, "--format", "markdown",
    ]));
    insta::assert_snapshot!("diff_markdown_rust", text);
}

#[test]
fn diff_markdown_of_two_go_reports() {
    let text = stdout(&sizegate(&[
        "diff", GO_OLD, GO_NEW, "--format", "markdown", "--top", "3",
    ]));
    insta::assert_snapshot!("diff_markdown_go_top3", text);
}

#[test]
fn missing_file_exits_2_naming_the_file() {
    let output = sizegate(&["analyze", "tests/fixtures/no-such-file"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("cannot read `tests/fixtures/no-such-file`: No such file"),
        "{message}"
    );
    let output = sizegate(&["diff", RUST_OLD, "tests/fixtures/no-such-file"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("`tests/fixtures/no-such-file`"));
    assert!(output.stdout.is_empty());
}

#[test]
fn binary_only_refuses_a_json_report() {
    let output = sizegate(&[
        "analyze",
        "--binary-only",
        "--format",
        "json",
        "--top",
        "0",
        RUST_NEW,
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let message = stderr(&output);
    assert!(
        message.contains(&format!("`{RUST_NEW}` is not a binary"))
            && message.contains("--binary-only"),
        "{message}"
    );
    // Leading whitespace does not sneak a report past it either.
    let dir = tempfile::tempdir().unwrap();
    let padded = dir.path().join("padded");
    let mut bytes = b"\n\t  ".to_vec();
    bytes.extend(std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(RUST_NEW)).unwrap());
    std::fs::write(&padded, bytes).unwrap();
    let output = sizegate(&["analyze", "--binary-only", padded.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("is not a binary"));
}

#[test]
fn garbage_file_is_an_unsupported_format() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.bin");
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, bytes).unwrap();
    let path = garbage.to_str().unwrap();
    for args in [vec!["analyze", path], vec!["diff", path, RUST_NEW]] {
        let output = sizegate(&args);
        assert_eq!(output.status.code(), Some(2));
        let message = stderr(&output);
        assert!(message.contains("unsupported file format"), "{message}");
        assert!(message.contains(path), "{message}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn unknown_schema_version_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let mut report = serde_json::to_value(fixture("rust-old.json")).unwrap();
    report["schema_version"] = 99.into();
    let path = dir.path().join("future.json");
    std::fs::write(&path, serde_json::to_vec(&report).unwrap()).unwrap();
    let output = sizegate(&["diff", path.to_str().unwrap(), RUST_NEW]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("is a sizegate report with schema_version 99")
            && message.contains("reads schema_version 1"),
        "{message}"
    );
}

#[test]
fn json_that_is_not_a_report_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("other.json", "{\"name\": \"x\"}", "has no `schema_version`"),
        ("broken.json", "  {\"schema_version\": 1,", "does not parse"),
        (
            "wrong.json",
            "{\"schema_version\": 1, \"file\": 3}",
            "not a valid sizegate report",
        ),
        ("empty.json", "[]", "empty JSON array"),
    ];
    for (name, content, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let output = sizegate(&["analyze", path.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{name}");
        let message = stderr(&output);
        assert!(
            message.contains(expected) && message.contains(name),
            "{name}: {message}"
        );
    }
}

#[test]
fn help_documents_the_exit_codes() {
    for command in ["analyze", "diff"] {
        let text = stdout(&sizegate(&[command, "--help"]));
        assert!(
            text.contains("Exit codes: 0 done; 2 usage or input error"),
            "{text}"
        );
    }
}

#[test]
fn directories_and_bad_flags_exit_2() {
    let output = sizegate(&["analyze", "tests"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot read `tests`: it is a directory"));
    let output = sizegate(&["analyze", RUST_NEW, "--format", "xml"]);
    assert_eq!(output.status.code(), Some(2));
    let output = sizegate(&["diff", RUST_NEW]);
    assert_eq!(output.status.code(), Some(2));
}

/// A report array, as `analyze --format json` writes for a universal
/// Mach-O file without `--arch`.
fn universal_reports(dir: &Path) -> String {
    let x86 = fixture("rust-old.json");
    let mut arm = fixture("rust-new.json");
    arm.format = sizegate_analyze::Format::Macho;
    arm.arch = "aarch64".into();
    let path = dir.join("universal.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&vec![x86, arm]).unwrap()).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn universal_reports_are_all_shown_or_chosen_with_arch() {
    let dir = tempfile::tempdir().unwrap();
    let path = universal_reports(dir.path());

    let table = stdout(&sizegate(&["analyze", &path]));
    assert!(table.contains("arch        x86_64") && table.contains("arch        aarch64"));
    let json = stdout(&sizegate(&["analyze", &path, "--format", "json"]));
    let reports: Vec<Report> = serde_json::from_str(&json).unwrap();
    assert_eq!(reports.len(), 2);

    let json = stdout(&sizegate(&[
        "analyze", &path, "--format", "json", "--arch", "aarch64",
    ]));
    let one: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(one.arch, "aarch64");

    let output = sizegate(&["diff", &path, RUST_NEW]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("holds 2 architectures (x86_64, aarch64); choose one with --arch")
    );

    let output = sizegate(&["analyze", &path, "--arch", "ppc"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("architecture `ppc` not found"));
}

#[test]
fn hostile_names_cannot_drive_the_terminal_or_break_the_layout() {
    let dir = tempfile::tempdir().unwrap();
    let mut report = fixture("rust-new.json");
    report.symbols[0].name = format!("evil\u{1b}[2J{}", "x".repeat(5000));
    report.units[0].name = "u|nit\nnewline".into();
    report.sizes.file = u64::MAX;
    let path = dir.path().join("hostile.json");
    std::fs::write(&path, serde_json::to_vec(&report).unwrap()).unwrap();
    let path = path.to_str().unwrap();
    let table = stdout(&sizegate(&["analyze", path]));
    assert!(!table.contains('\u{1b}'));
    assert_fits_terminal(&table);
    let diff = stdout(&sizegate(&["diff", RUST_OLD, path]));
    assert!(!diff.contains('\u{1b}'));
    assert_fits_terminal(&diff);
    let markdown = stdout(&sizegate(&["diff", RUST_OLD, path, "--format", "markdown"]));
    assert!(markdown.contains("`u\\|nit?newline`"), "{markdown}");
}

#[test]
fn debug_file_gives_a_stripped_binary_its_symbols() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("hello.c");
    std::fs::write(
        &c,
        "#include <stdio.h>\nint twice(int x) { return 2 * x; }\nint main(int argc, char **argv) { printf(\"%d\\n\", twice(argc)); return 0; }\n",
    )
    .unwrap();
    let (full, stripped, debug, other) = (
        dir.path().join("hello"),
        dir.path().join("hello.stripped"),
        dir.path().join("hello.debug"),
        dir.path().join("other"),
    );
    let ok = |cmd: &mut Command| assert!(cmd.status().unwrap().success(), "{cmd:?}");
    ok(Command::new("cc")
        .args(["-O2", "-g", "-Wl,--build-id"])
        .arg(&c)
        .arg("-o")
        .arg(&full));
    ok(Command::new("objcopy")
        .arg("--only-keep-debug")
        .arg(&full)
        .arg(&debug));
    ok(Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(&stripped)
        .arg(&full));
    ok(Command::new("cc")
        .args(["-O0", "-g", "-Wl,--build-id"])
        .arg(&c)
        .arg("-o")
        .arg(&other));
    let (stripped, debug, other) = (
        stripped.to_str().unwrap(),
        debug.to_str().unwrap(),
        other.to_str().unwrap(),
    );
    let text = stdout(&sizegate(&[
        "analyze",
        stripped,
        "--debug-file",
        debug,
        "--format",
        "json",
        "--top",
        "0",
    ]));
    let report: Report = serde_json::from_str(&text).unwrap();
    assert!(report.stripped);
    assert!(report.toolchain.debug_info);
    assert!(
        report.symbols.iter().any(|s| s.name == "twice"),
        "{:?}",
        report.symbols
    );

    let output = sizegate(&["analyze", stripped, "--debug-file", other]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("build-id mismatch"), "{message}");
    assert!(message.contains(other), "{message}");
}

/// A report with both crate rules shows both unit tables, each with the
/// line naming its rule.
#[test]
fn analyze_table_shows_both_crate_rules() {
    let mut report = fixture("rust-new.json");
    // 40,000 bytes of `regex_syntax` generics instantiated in `app`.
    let mut instantiating = report.units.clone();
    for unit in &mut instantiating {
        match unit.name.as_str() {
            "regex_syntax" => unit.size -= 40_000,
            "app" => unit.size += 40_000,
            _ => {}
        }
    }
    instantiating.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    report.units_instantiating = instantiating;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("both-rules.json");
    std::fs::write(&path, serde_json::to_vec(&report).unwrap()).unwrap();
    let text = stdout(&sizegate(&[
        "analyze",
        path.to_str().unwrap(),
        "--top",
        "4",
    ]));
    assert_fits_terminal(&text);
    let defining = text.find("UNITS, DEFINING CRATE (").unwrap();
    let instantiating = text.find("UNITS, INSTANTIATING CRATE (").unwrap();
    assert!(defining < instantiating, "{text}");
    let rules: Vec<&str> = text.lines().filter(|l| l.starts_with("rule: ")).collect();
    assert_eq!(rules.len(), 2, "{text}");
    assert!(rules[0].contains("defines it"), "{text}");
    assert!(rules[1].contains("codegen unit"), "{text}");
    // `app` (27,000 + 40,000 bytes) is in the top 4 only by the second
    // rule, where it passes `core` (61,000).
    let app = |table: &str| table.lines().any(|l| l.trim_start().starts_with("app "));
    assert!(!app(&text[defining..instantiating]), "{text}");
    assert!(app(&text[instantiating..]), "{text}");
    // A report without the second list keeps the single, unnamed table.
    let plain = stdout(&sizegate(&["analyze", RUST_NEW]));
    assert!(plain.contains("\nUNITS (") && !plain.contains("rule: "));
}

/// An LLVM tool on the PATH, else in Debian's versioned LLVM directory
/// (where `ld64.lld` lives without a suffix).
fn llvm_tool(name: &str) -> std::path::PathBuf {
    if Command::new(name).arg("--version").output().is_ok() {
        return name.into();
    }
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.is_file() && p.to_string_lossy().contains("llvm-"))
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("`{name}` not found: install clang, lld and llvm (bash .ci/run does)")
    })
}

/// `--debug-file APP.dSYM`: the bundle directory stands for the DWARF
/// file inside it; a directory that is no bundle is a clear error.
#[test]
fn debug_file_takes_a_dsym_bundle_directory() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("tiny.c");
    std::fs::write(
        &c,
        "int twice(int x) { return 2 * x; }\nint main(void) { return twice(21); }\n",
    )
    .unwrap();
    let (object, full, stripped, bundle) = (
        dir.path().join("tiny.o"),
        dir.path().join("tiny"),
        dir.path().join("tiny.stripped"),
        dir.path().join("tiny.dSYM"),
    );
    let ok = |cmd: &mut Command| {
        let output = cmd.output().unwrap();
        assert!(
            output.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    ok(Command::new(llvm_tool("clang"))
        .args(["--target=x86_64-apple-macos11", "-g", "-O1", "-c"])
        .arg(&c)
        .arg("-o")
        .arg(&object));
    ok(Command::new(llvm_tool("ld64.lld"))
        .args([
            "-arch",
            "x86_64",
            "-platform_version",
            "macos",
            "11.0",
            "11.0",
        ])
        .args(["-e", "_main", "-o"])
        .arg(&full)
        .arg(&object));
    ok(Command::new(llvm_tool("dsymutil"))
        .arg(&full)
        .arg("-o")
        .arg(&bundle));
    ok(Command::new(llvm_tool("llvm-strip"))
        .arg(&full)
        .arg("-o")
        .arg(&stripped));
    let (stripped, bundle) = (stripped.to_str().unwrap(), bundle.to_str().unwrap());
    let text = stdout(&sizegate(&[
        "analyze",
        stripped,
        "--debug-file",
        bundle,
        "--format",
        "json",
        "--top",
        "0",
    ]));
    let report: Report = serde_json::from_str(&text).unwrap();
    assert!(report.toolchain.debug_info);
    assert!(
        report.symbols.iter().any(|s| s.name == "twice"),
        "{:?}",
        report.symbols
    );

    let not_a_bundle = dir.path().to_str().unwrap();
    let output = sizegate(&["analyze", stripped, "--debug-file", not_a_bundle]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("no .dSYM bundle"), "{message}");
}
