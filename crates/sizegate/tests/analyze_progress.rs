//! `analyze` of a large file draws a spinner on a terminal (a pseudo-terminal
//! made by util-linux `script`), and nothing when stderr is not one.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sizegate");

#[test]
fn analyze_shows_progress_only_on_a_terminal() {
    // The sizegate executable itself is the large file (debug builds are
    // tens of MiB; the spinner starts at 32 MiB).
    let size = std::fs::metadata(BIN).unwrap().len();
    if size < 32 << 20 {
        eprintln!("skipped: {BIN} is {size} bytes, under the 32 MiB progress threshold");
        return;
    }
    let on_tty = Command::new("script")
        .args([
            "-qec",
            &format!("{BIN} analyze --top 1 {BIN} > /dev/null"),
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert!(on_tty.status.success(), "{on_tty:?}");
    let drawn = String::from_utf8_lossy(&on_tty.stdout);
    assert!(drawn.contains("measuring"), "{drawn}");

    let piped = Command::new(BIN)
        .args(["analyze", "--top", "1", BIN])
        .output()
        .unwrap();
    assert!(piped.status.success());
    assert!(
        piped.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
}
