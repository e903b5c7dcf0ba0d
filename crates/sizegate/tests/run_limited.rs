//! `sizegate run-limited`: the memory limit the worker puts on the analyzer
//! without a shell.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sizegate");

#[test]
fn the_program_runs_under_the_limit() {
    let output = Command::new(BIN)
        .args([
            "run-limited",
            "--memory-bytes",
            "268435456",
            "--",
            "sh",
            "-c",
            "ulimit -v; exit 7",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "262144");
}

#[test]
fn an_allocation_over_the_limit_fails_in_the_child() {
    // 64 MiB of address space cannot hold a 256 MiB buffer.
    let output = Command::new(BIN)
        .args([
            "run-limited",
            "--memory-bytes",
            "67108864",
            "--",
            "python3",
            "-c",
        ])
        .arg("bytearray(256 * 2**20)")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("MemoryError"));
}

#[test]
fn a_missing_program_exits_127_with_a_message() {
    let output = Command::new(BIN)
        .args([
            "run-limited",
            "--memory-bytes",
            "0",
            "--",
            "/nonexistent/analyzer",
            "analyze",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/analyzer"));
}
