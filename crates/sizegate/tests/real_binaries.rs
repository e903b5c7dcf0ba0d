//! End-to-end tests of `sizegate analyze` and `sizegate diff` on real
//! binaries: the `sizegate` binary itself, and a small Rust program built
//! during the test with and without a local path dependency.

// A test that cannot set itself up should fail loudly.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sizegate_analyze::{ChangeStatus, Report, ReportDiff};

fn sizegate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sizegate"))
        .args(args)
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

/// The invariants DESIGN.md promises for every report.
fn assert_invariants(report: &Report) {
    let sections: u64 = report.sections.iter().map(|s| s.file_size).sum();
    assert_eq!(sections, report.file.size, "sections sum to the file size");
    assert_eq!(report.sizes.file, report.file.size);
    let units: u64 = report.units.iter().map(|u| u.size).sum();
    assert_eq!(units, report.sizes.shipped, "units sum to the shipped size");
    assert!(report.sizes.shipped <= report.sizes.file);
    assert!(
        report.units.windows(2).all(|w| w[0].size >= w[1].size),
        "units by size"
    );
    assert!(
        report.symbols.windows(2).all(|w| w[0].size >= w[1].size),
        "symbols by size"
    );
    assert_eq!(report.file.sha256.len(), 64);
}

#[test]
fn analyze_json_of_a_real_binary_parses_back_with_its_invariants() {
    let binary = env!("CARGO_BIN_EXE_sizegate");
    let text = stdout(&sizegate(&[
        "analyze", binary, "--format", "json", "--top", "50",
    ]));
    let report: Report = serde_json::from_str(&text).unwrap();
    assert_invariants(&report);
    assert_eq!(report.file.name, "sizegate");
    assert_eq!(report.file.size, std::fs::metadata(binary).unwrap().len());
    assert_eq!(report.symbols.len(), 50);
    assert!(report.symbols_truncated);
    assert_eq!(report.language, sizegate_analyze::Language::Rust);
    assert!(report.units.iter().any(|u| u.name == "sizegate_analyze"));

    let table = stdout(&sizegate(&["analyze", binary]));
    assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
    assert!(table.contains("SYMBOLS (top 20 of "), "{table}");
}

#[test]
fn no_compress_skips_only_the_compressed_sizes_and_says_so() {
    // The sizegate binary itself: tens of MiB in a test build, so more
    // than one gzip chunk.
    let binary = env!("CARGO_BIN_EXE_sizegate");
    let full: Report = serde_json::from_str(&stdout(&sizegate(&[
        "analyze", binary, "--format", "json", "--top", "0",
    ])))
    .unwrap();
    let text = stdout(&sizegate(&[
        "analyze",
        binary,
        "--no-compress",
        "--format",
        "json",
        "--top",
        "0",
    ]));
    assert!(
        text.contains("\"compression_skipped\": true"),
        "{text:.400}"
    );
    let skipped: Report = serde_json::from_str(&text).unwrap();
    assert_invariants(&skipped);
    assert!(!full.compression_skipped && skipped.compression_skipped);
    assert!(full.sizes.gzip > 0 && full.sizes.zstd > 0);
    assert!(full.sizes.gzip < full.sizes.file && full.sizes.zstd < full.sizes.file);
    assert_eq!((skipped.sizes.gzip, skipped.sizes.zstd), (0, 0));
    let mut expected = full.clone();
    expected.sizes.gzip = 0;
    expected.sizes.zstd = 0;
    expected.compression_skipped = true;
    assert_eq!(skipped, expected);

    let table = stdout(&sizegate(&["analyze", binary, "--no-compress"]));
    let gzip_row = table
        .lines()
        .find(|l| l.trim_start().starts_with("gzip"))
        .unwrap();
    assert!(gzip_row.contains("not computed (--no-compress)"), "{table}");
}

#[test]
fn a_binary_and_its_full_json_report_diff_to_nothing() {
    let binary = env!("CARGO_BIN_EXE_sizegate");
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("sizegate.json");
    let text = stdout(&sizegate(&[
        "analyze", binary, "--format", "json", "--top", "0",
    ]));
    std::fs::write(&report, text).unwrap();
    let report = report.to_str().unwrap();
    for (old, new) in [(report, binary), (binary, report)] {
        let text = stdout(&sizegate(&["diff", old, new, "--format", "json"]));
        let diff: ReportDiff = serde_json::from_str(&text).unwrap();
        assert!(diff.sections.is_empty() && diff.units.is_empty() && diff.symbols.is_empty());
        assert!(diff.causes.is_empty() && !diff.symbols_partial);
        assert_eq!(diff.old.sha256, diff.new.sha256);
    }
}

const MAIN_RS: &str = r#"
fn main() {
    let n = std::env::args().count() as u64;
    #[cfg(feature = "extra")]
    let n = bigdep::mix(n);
    println!("{n}");
}
"#;

/// Many distinct functions reached through a table, so the optimizer can
/// neither inline them into `main` nor merge them.
fn bigdep_source() -> String {
    let mut source = String::from("#![allow(clippy::all)]\n");
    for i in 0..96u64 {
        source.push_str(&format!(
            "#[inline(never)]\nfn step{i}(mut x: u64) -> u64 {{\n    \
             for k in 0..{rounds} {{ x = x.rotate_left({rot}) ^ (x >> {shift}).wrapping_mul({mul}u64.wrapping_add(k)); \
             if x % {modulus} == {i} {{ x = x.wrapping_add({add}); }} }}\n    x\n}}\n",
            rounds = 3 + i % 7,
            rot = 1 + i % 63,
            shift = 1 + (i * 7) % 60,
            mul = 0x9e37_79b9_7f4a_7c15u64.wrapping_add(i * 0x1234_5678_9abc),
            modulus = 97 + i,
            add = 0x5851_f42d_4c95_7f2du64 ^ (i << 17),
        ));
    }
    source.push_str("static STEPS: [fn(u64) -> u64; 96] = [");
    for i in 0..96 {
        source.push_str(&format!("step{i}, "));
    }
    source.push_str(
        "];\n/// Runs every step.\npub fn mix(x: u64) -> u64 {\n    \
         STEPS.iter().fold(x, |acc, step| step(std::hint::black_box(acc)))\n}\n",
    );
    source
}

/// Builds the test program (`app`) with `cargo build --release`, with or
/// without the `extra` feature that links the `bigdep` path crate.
fn build_app(dir: &Path, extra: bool) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--offline", "--quiet"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    if extra {
        command.args(["--features", "extra"]);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let built = dir.join("target/release/app");
    let kept = dir.join(if extra {
        "app-with-bigdep"
    } else {
        "app-without"
    });
    std::fs::copy(built, &kept).unwrap();
    kept
}

fn write_project(dir: &Path) {
    let write = |path: &str, text: &str| {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\nbigdep = { path = \"bigdep\", optional = true }\n\n\
         [features]\nextra = [\"dep:bigdep\"]\n\n[workspace]\n",
    );
    write("src/main.rs", MAIN_RS);
    write(
        "bigdep/Cargo.toml",
        "[package]\nname = \"bigdep\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    write("bigdep/src/lib.rs", &bigdep_source());
}

#[test]
fn diff_names_a_new_dependency_as_the_biggest_unit_grower() {
    let dir = tempfile::tempdir().unwrap();
    write_project(dir.path());
    let without = build_app(dir.path(), false);
    let with = build_app(dir.path(), true);
    let (without, with) = (without.to_str().unwrap(), with.to_str().unwrap());

    for side in [without, with] {
        let text = stdout(&sizegate(&[
            "analyze", side, "--format", "json", "--top", "0",
        ]));
        assert_invariants(&serde_json::from_str(&text).unwrap());
    }

    let text = stdout(&sizegate(&["diff", without, with, "--format", "json"]));
    let diff: ReportDiff = serde_json::from_str(&text).unwrap();
    let grower = diff
        .units
        .iter()
        .filter(|c| c.delta > 0)
        .max_by_key(|c| c.delta)
        .unwrap();
    assert_eq!(grower.name, "bigdep", "units: {:#?}", diff.units);
    assert_eq!(grower.status, ChangeStatus::Added);
    assert!(diff.size_delta(sizegate_analyze::Metric::Shipped) > 0);
    assert!(
        diff.causes
            .iter()
            .any(|c| c.kind == "dependency" && c.subject == "bigdep"),
        "causes: {:#?}",
        diff.causes
    );
    assert!(
        diff.symbols
            .iter()
            .any(|c| c.unit.as_deref() == Some("bigdep"))
    );

    let table = stdout(&sizegate(&["diff", without, with]));
    // Shown with `--nocapture`, to see what a user sees.
    println!("{table}");
    assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
    let units = table.split("UNITS").nth(1).unwrap();
    let first_row = units.lines().nth(2).unwrap();
    assert!(first_row.trim_start().starts_with("bigdep "), "{table}");
}

const GO_SERVE_V1: &str = r#"package main

import (
	"fmt"
	"os"
	"strings"
)

func serve(args []string) int {
	count := func(s string) int { return strings.Count(s, "a") + len(s)*3 }
	render := func(n int) string {
		var b strings.Builder
		for i := 0; i < n%7; i++ {
			fmt.Fprintf(&b, "%d:%s;", i, strings.Repeat("x", i))
		}
		return strings.ToUpper(b.String())
	}
	total := 0
	for _, a := range args {
		total += count(a)
		total += len(render(total))
	}
	return total
}

func main() { fmt.Println(serve(os.Args)) }
"#;

/// Builds a Go program with inlining off, so every closure is a function.
fn build_go(dir: &Path, name: &str, source: &str) -> PathBuf {
    let package = dir.join(name);
    std::fs::create_dir_all(&package).unwrap();
    std::fs::write(
        package.join("go.mod"),
        "module example.com/serve\n\ngo 1.19\n",
    )
    .unwrap();
    std::fs::write(package.join("main.go"), source).unwrap();
    let binary = dir.join(format!("{name}.bin"));
    let output = Command::new("go")
        .args(["build", "-gcflags=-l", "-o"])
        .arg(&binary)
        .arg(".")
        .current_dir(&package)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .output()
        .unwrap_or_else(|e| panic!("cannot run `go` (install Go to run this test): {e}"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    binary
}

#[test]
fn diff_of_go_binaries_pairs_renumbered_closures() {
    let dir = tempfile::tempdir().unwrap();
    // v2 adds a closure before the others: `count` goes from func1 to
    // func2 and `render` from func2 to func3, their code unchanged.
    let v2 = GO_SERVE_V1
        .replace(
            "\tcount := func",
            "\tnorm := func(s string) string { return strings.TrimSpace(s) }\n\tcount := func",
        )
        .replace("total += count(a)", "total += count(norm(a))");
    let old = build_go(dir.path(), "v1", GO_SERVE_V1);
    let new = build_go(dir.path(), "v2", &v2);
    let (old, new) = (old.to_str().unwrap(), new.to_str().unwrap());

    let closures = |path: &str| -> Vec<String> {
        let text = stdout(&sizegate(&[
            "analyze", path, "--format", "json", "--top", "0",
        ]));
        let report: Report = serde_json::from_str(&text).unwrap();
        assert_invariants(&report);
        let mut names: Vec<String> = report
            .symbols
            .into_iter()
            .map(|s| s.name)
            .filter(|n| n.starts_with("main.serve.func"))
            .collect();
        names.sort();
        names
    };
    assert_eq!(closures(old), ["main.serve.func1", "main.serve.func2"]);
    assert_eq!(
        closures(new),
        ["main.serve.func1", "main.serve.func2", "main.serve.func3"]
    );

    let text = stdout(&sizegate(&["diff", old, new, "--format", "json"]));
    let diff: ReportDiff = serde_json::from_str(&text).unwrap();
    let changed: Vec<(&str, ChangeStatus)> = diff
        .symbols
        .iter()
        .filter(|c| c.name.starts_with("main.serve.func"))
        .map(|c| (c.name.as_str(), c.status))
        .collect();
    assert_eq!(
        changed,
        [("main.serve.func1", ChangeStatus::Added)],
        "{:#?}",
        diff.symbols
    );
}

/// The pull request comment for a real pair of builds: the test program
/// gains the `bigdep` crate on one target and over its `max_increase`,
/// while a second target does not change. With `SIZEGATE_WRITE_EXAMPLE=1`
/// it is written to `docs/example-comment.md`, which the docs show.
#[test]
fn a_real_pull_request_comment() {
    use sizegate_gate::{
        BaselineCommit, BaselineState, Config, Event, GateInput, HeadState, Measurement,
        RenderContext, TargetInput, choose_config, evaluate, render_comment,
    };
    let dir = tempfile::tempdir().unwrap();
    write_project(dir.path());
    let without = build_app(dir.path(), false);
    let with = build_app(dir.path(), true);
    let report = |path: &Path| -> Report {
        let text = stdout(&sizegate(&[
            "analyze",
            path.to_str().unwrap(),
            "--format",
            "json",
            "--top",
            "0",
        ]));
        serde_json::from_str(&text).unwrap()
    };
    let (old, new) = (report(&without), report(&with));
    let config = Config::parse(
        "approve_label = \"size-approved\"\n\n\
         [[budget]]\ntarget = \"x86_64-unknown-linux-gnu/*\"\n\
         max_size = \"2 MiB\"\nmax_increase = \"4 KiB\"\n",
        "sizegate.toml",
    )
    .unwrap();
    let base_sha = "5e1f00d2c0ffee5e1f00d2c0ffee5e1f00d2c0ff";
    let target = |name: &str, old: &Report, new: &Report| TargetInput {
        name: name.to_owned(),
        head: HeadState::Measured(Measurement::from_report(new)),
        baseline: BaselineState::Found {
            commit: BaselineCommit {
                sha: base_sha.to_owned(),
                behind: 0,
            },
            measurement: Measurement::from_report(old),
        },
        diff: Some(sizegate_analyze::diff(old, new)),
    };
    let evaluation = evaluate(&GateInput {
        event: Event::PullRequest {
            number: 42,
            labels: Vec::new(),
        },
        config: choose_config(Some(&config), None),
        targets: vec![
            target("x86_64-unknown-linux-gnu/app", &old, &new),
            target("x86_64-unknown-linux-gnu/app-lite", &old, &old),
        ],
        baseline_only: Vec::new(),
    });
    let mut ctx = RenderContext::new("https://sizegate.example.com", "acme", "app");
    ctx.head_sha = Some("a11ce0ffee5a11ce0ffee5a11ce0ffee5a11ce0f".to_owned());
    ctx.top = 5;
    let comment = render_comment(&evaluation, &ctx);
    println!("{comment}");

    let heading = comment.lines().nth(1).unwrap();
    assert!(
        heading.starts_with("### ❌ sizegate: `x86_64-unknown-linux-gnu/app`: +")
            && heading.contains("> max_increase +4.0 KiB"),
        "{heading}"
    );
    assert!(comment.contains("**To proceed:**") && comment.contains("`size-approved`"));
    let row = comment
        .lines()
        .find(|l| l.starts_with("| [`x86_64-unknown-linux-gnu/app`]"))
        .unwrap();
    assert!(row.contains("| `bigdep` +"), "{row}");
    assert!(comment.contains("1 target within budget"));
    assert!(comment.contains("https://github.com/acme/app/compare/5e1f00d2"));
    // `shipped` is measured after stripping: no stripping advice.
    assert!(!comment.contains("strip"), "{comment}");

    if std::env::var_os("SIZEGATE_WRITE_EXAMPLE").is_some_and(|v| v == "1") {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/example-comment.md");
        std::fs::write(
            path,
            format!(
                "<!-- Written by `SIZEGATE_WRITE_EXAMPLE=1 cargo nextest run -p sizegate -E \
                 'test(a_real_pull_request_comment)'`: the comment for a real pair of builds \
                 of the test program in crates/sizegate/tests/real_binaries.rs. -->\n\n{comment}"
            ),
        )
        .unwrap();
        // The README shows the same comment in full, between its markers.
        let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
        let text = std::fs::read_to_string(&readme).unwrap();
        let (start, end) = (
            "<!-- example-comment:start -->\n",
            "\n<!-- example-comment:end -->",
        );
        let from = text.find(start).expect("README has the start marker") + start.len();
        let to = text.find(end).expect("README has the end marker");
        let comment = comment.trim_end();
        std::fs::write(readme, format!("{}{comment}{}", &text[..from], &text[to..])).unwrap();
    }
}

/// What the worker demands of the analyzer's output holds on real
/// binaries: the JSON of every symbol fits the cap for the artifact's size,
/// and the report passes the plausibility checks (the sizegate binary
/// itself, a stripped system binary, and a C program with an 8 MiB `.bss`
/// array, whose symbol is larger than the file).
#[test]
fn real_reports_fit_the_workers_caps() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("bss.c");
    std::fs::write(
        &source,
        "#include <stdio.h>\nstatic char big[8 << 20];\n\
         int main(int c, char **v) { big[c] = 1; puts(v[0]); return big[3]; }\n",
    )
    .unwrap();
    let bss = dir.path().join("bss");
    let built = Command::new("gcc")
        .arg("-O2")
        .arg("-o")
        .arg(&bss)
        .arg(&source)
        .status()
        .expect("gcc is needed to build the test binary");
    assert!(built.success());
    let mut binaries = vec![PathBuf::from(env!("CARGO_BIN_EXE_sizegate")), bss];
    binaries.extend(
        ["/bin/ls", "/usr/bin/gcc"]
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.exists()),
    );
    for binary in binaries {
        let path = binary.to_str().unwrap();
        let text = stdout(&sizegate(&[
            "analyze",
            "--binary-only",
            "--format",
            "json",
            "--top",
            "0",
            path,
        ]));
        let size = std::fs::metadata(&binary).unwrap().len();
        let cap = sizegate_store::measurements::report_json_cap(size);
        eprintln!(
            "{path}: {size} bytes, {} bytes of JSON ({:.2} per artifact byte), cap {cap}",
            text.len(),
            text.len() as f64 / size as f64
        );
        assert!(text.len() as u64 <= cap, "{path}: {} > {cap}", text.len());
        let report: Report = serde_json::from_str(&text).unwrap();
        let sha = report.file.sha256.clone();
        assert_eq!(
            sizegate_worker::plausible::check(&report, size, Some(&sha)),
            Ok(()),
            "{path}"
        );
    }
}
