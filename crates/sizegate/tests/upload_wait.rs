//! `sizegate upload --wait` against a real `sizegate serve` with workers
//! (the stand-in analyzer: a file's first line picks its behaviour): exit 0
//! within budget, 1 over budget, 2 when the analysis fails or the timeout
//! passes; the comment goes to standard output and to `--summary-file`,
//! each target's state to standard error while waiting.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{BIN, create_token, database_url, drop_database, fresh_name, start_serve};

fn sha_of(n: u8) -> String {
    format!("{:02x}", n).repeat(20)
}

/// `sizegate upload --wait` of one artifact with `contents`, budgets from
/// `config`, and `extra` flags.
async fn upload_wait(
    dir: &Path,
    url: &str,
    token: &str,
    sha: &str,
    contents: Vec<u8>,
    config: &str,
    extra: &[&str],
) -> Output {
    let artifact = dir.join(format!("artifact-{sha}"));
    std::fs::write(&artifact, contents).unwrap();
    let config_path = dir.join(format!("sizegate-{sha}.toml"));
    std::fs::write(&config_path, config).unwrap();
    let mut command = Command::new(BIN);
    command
        .args(["upload", "--wait", "--server", url, "--repo", "acme/app"])
        .args(["--commit", sha, "--branch", "main", "--config"])
        .arg(&config_path)
        .args(if extra.contains(&"--timeout") {
            &[][..]
        } else {
            &["--timeout", "90s"][..]
        })
        .args(extra)
        .arg(format!("linux/app={}", artifact.display()));
    for (key, _) in std::env::vars() {
        if key.starts_with("SIZEGATE_") || key.starts_with("ACTIONS_ID_TOKEN") {
            command.env_remove(key);
        }
    }
    command.env("SIZEGATE_TOKEN", token);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

const BUDGET: &str = "[[budget]]\ntarget = \"*\"\nmax_size = \"4 KiB\"\n";

#[tokio::test]
async fn upload_wait_exits_0_1_2_with_the_gate() {
    sizegate_store::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let name = fresh_name("upload_wait");
    let db = database_url(&name);
    let analyzer = common::fake_analyzer();
    let (server, url) = start_serve(
        &db,
        &dir.path().join("data"),
        Some(&analyzer),
        &dir.path().join("serve.log"),
        false,
        &[],
    );
    let token = create_token(&db, "acme/app");
    let summary = dir.path().join("summary.md");
    let summary_arg = summary.to_str().unwrap();

    // Within budget (the stand-in reports shipped = half the file): 0, and
    // the comment on stdout and in the summary file.
    let pass = upload_wait(
        dir.path(),
        &url,
        &token,
        &sha_of(1),
        vec![b'a'; 4096],
        BUDGET,
        &["--summary-file", summary_arg],
    )
    .await;
    assert_eq!(
        pass.status.code(),
        Some(0),
        "{}\n{}",
        text(&pass),
        server.log_text()
    );
    let stdout = String::from_utf8_lossy(&pass.stdout);
    let stderr = String::from_utf8_lossy(&pass.stderr);
    assert!(stdout.contains("linux/app"), "{}", text(&pass));
    assert!(stderr.contains("waiting: linux/app"), "{}", text(&pass));
    // No baseline yet: neutral, which passes.
    assert!(stderr.contains("gate: neutral"), "{}", text(&pass));
    let written = std::fs::read_to_string(&summary).unwrap();
    assert!(written.contains("linux/app"), "{written}");

    // Over budget: 1.
    let fail = upload_wait(
        dir.path(),
        &url,
        &token,
        &sha_of(2),
        vec![b'b'; 64 * 1024],
        BUDGET,
        &[],
    )
    .await;
    assert_eq!(fail.status.code(), Some(1), "{}", text(&fail));
    assert!(
        String::from_utf8_lossy(&fail.stderr).contains("gate: failure"),
        "{}",
        text(&fail)
    );

    // The analysis fails: 2, and the state says why.
    let error = upload_wait(
        dir.path(),
        &url,
        &token,
        &sha_of(3),
        b"REJECT\n".to_vec(),
        BUDGET,
        &[],
    )
    .await;
    assert_eq!(error.status.code(), Some(2), "{}", text(&error));
    assert!(
        String::from_utf8_lossy(&error.stderr).contains("linux/app failed"),
        "{}",
        text(&error)
    );

    // No verdict within the timeout: 2.
    let slow = upload_wait(
        dir.path(),
        &url,
        &token,
        &sha_of(4),
        b"SLOW 20\n".to_vec(),
        BUDGET,
        &["--timeout", "2s"],
    )
    .await;
    assert_eq!(slow.status.code(), Some(2), "{}", text(&slow));
    assert!(
        String::from_utf8_lossy(&slow.stderr).contains("no verdict"),
        "{}",
        text(&slow)
    );

    // A bad duration is refused before anything is sent.
    let bad = upload_wait(
        dir.path(),
        &url,
        &token,
        &sha_of(5),
        vec![1],
        "",
        &["--timeout", "10"],
    )
    .await;
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("no unit"),
        "{}",
        text(&bad)
    );

    drop(server);
    drop_database(&name).await;
}
