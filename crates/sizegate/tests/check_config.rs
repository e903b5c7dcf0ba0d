//! `sizegate check-config` run as a real process on files in a temporary
//! directory: a valid file (exit 0, summary), invalid ones (exit 2, the
//! error with line and field), unreadable ones.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::path::Path;
use std::process::{Command, Output};

fn check_config(dir: &Path, file: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sizegate"))
        .current_dir(dir)
        .args(["check-config", file])
        .output()
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn a_valid_file_prints_its_budgets() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "sizegate.toml",
        r#"
metric = "shipped"
approve_label = "size-approved"

[[budget]]
target = "x86_64-unknown-linux-gnu/*"
max_size = "8 MiB"
max_increase = "64 KiB"
max_increase_percent = 1.0

[[budget.unit]]
name = "regex*"
max_size = "512 KiB"

[[budget]]
target = "*-image"
metric = "compressed"
max_size = "120 MiB"

[[budget.unit]]
name = "layer:0"
max_size = "80 MiB"

[[budget]]
target = "*"
max_size = 1500000
"#,
    );
    let out = check_config(dir.path(), "sizegate.toml");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
    insta::assert_snapshot!(String::from_utf8(out.stdout).unwrap());
}

#[test]
fn an_invalid_file_prints_the_error_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "sizegate.toml",
        "metric = \"gzip\"\n\n[[budget]]\ntarget = \"x/*\"\nmax_size = \"8 MiB\"\n\nmax_increase = \"8 MB/s\"\n",
    );
    let out = check_config(dir.path(), "sizegate.toml");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: sizegate.toml:7: budget[0].max_increase: `8 MB/s` is not a size \
         (examples: \"8 MiB\", \"64 KiB\", 1500000)\n"
    );
}

#[test]
fn an_unknown_key_gets_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "budgets.toml", "aprove_label = \"ok\"\n");
    let out = check_config(dir.path(), "budgets.toml");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("error: budgets.toml:1: aprove_label: unknown key `aprove_label` (did you mean `approve_label`?)"),
        "{stderr}"
    );
}

#[test]
fn missing_oversized_and_binary_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = check_config(dir.path(), "nope.toml");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("cannot open nope.toml")
    );

    write(dir.path(), "big.toml", &"#".repeat(1 << 20));
    let out = check_config(dir.path(), "big.toml");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("may be at most 262144 bytes"), "{stderr}");

    std::fs::write(dir.path().join("bin.toml"), [0xff, 0xfe, 0x00]).unwrap();
    let out = check_config(dir.path(), "bin.toml");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("bin.toml is not UTF-8 text")
    );
}

#[test]
fn every_mistake_is_listed_in_line_order() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "sizegate.toml",
        "metric = \"bytes\"\ncolour = 1\n\n[[budget]]\ntarget = \"a\"\nmax_size = \"1 KB/s\"\n\n\
         [[budget]]\ntarget = \"b\"\nmax_size = 1\n\n[[budget]]\ntarget = \"c\"\nmax_sise = 1\n",
    );
    let out = check_config(dir.path(), "sizegate.toml");
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!(String::from_utf8(out.stderr).unwrap());
}

/// The budgets sizegate gates itself with (dogfooding) stay valid.
#[test]
fn the_repositorys_own_config_is_valid() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sizegate.toml");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sizegate"))
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("x86_64-unknown-linux-gnu/*"), "{stdout}");
}
