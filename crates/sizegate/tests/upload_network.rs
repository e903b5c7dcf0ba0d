//! `sizegate upload` against a real `sizegate serve`, through a loopback
//! proxy that counts what the client sends: refusals decided by the headers
//! (bad token, body over the limit) and by the `meta` part come back as the
//! server's message, every time, with almost none of a large artifact sent,
//! and are never retried.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::proxy::Proxy;
use common::{BIN, create_token, drop_database, serve_fake};

const MIB: u64 = 1 << 20;

fn sha_of(n: u8) -> String {
    format!("{n:02x}").repeat(20)
}

/// A sparse file of `size` bytes (fast to make, real bytes to send).
fn artifact(dir: &Path, size: u64) -> PathBuf {
    let path = dir.join(format!("artifact-{size}"));
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(size).unwrap();
    path
}

/// `sizegate upload` of `path` as target `app` with a clean environment.
async fn upload(server: &str, token: &str, path: &Path, extra: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command.args([
        "upload",
        "--server",
        server,
        "--commit",
        &sha_of(0xa1),
        "--branch",
        "main",
    ]);
    if !extra.contains(&"--repo") {
        command.args(["--repo", "acme/app"]);
    }
    command.args(extra);
    command.arg(format!("app={}", path.display()));
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

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Run the upload `tries` times through the proxy; each must fail with exit
/// code 2, print `expected`, open one connection and send less than 1 MiB.
async fn refused_every_time(
    proxy: &Proxy,
    token: &str,
    path: &Path,
    extra: &[&str],
    tries: usize,
    expected: &str,
) {
    let mut most = 0;
    for i in 0..tries {
        proxy.reset();
        let output = upload(&proxy.url, token, path, extra).await;
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "try {i}: {err}");
        assert!(
            err.contains(expected),
            "try {i}: expected `{expected}` in:\n{err}"
        );
        assert!(
            !err.contains("retrying"),
            "try {i}: a final answer was retried:\n{err}"
        );
        assert!(
            !err.to_lowercase().contains("broken pipe"),
            "try {i}: {err}"
        );
        assert_eq!(proxy.connections(), 1, "try {i}: one request only");
        most = most.max(proxy.upstream());
    }
    assert!(most < MIB, "up to {most} bytes sent for a refused upload");
}

#[tokio::test]
async fn a_bad_token_on_a_large_artifact_is_reported_every_time_with_no_body_sent() {
    let server = serve_fake("net_401", &[]);
    create_token(&server.db, "acme/app");
    let proxy = Proxy::start(&server.url).await;
    let dir = tempfile::tempdir().unwrap();
    let big = artifact(dir.path(), 50 * 1_000_000);
    refused_every_time(
        &proxy,
        "sgu_not_a_real_token",
        &big,
        &[],
        100,
        "invalid or revoked upload token",
    )
    .await;
    drop_database(&server.name).await;
}

#[tokio::test]
async fn refusals_from_the_length_and_from_meta_come_back_before_the_body() {
    let limit = (10 * MIB).to_string();
    let server = serve_fake(
        "net_413",
        &[("SIZEGATE_MAX_UPLOAD_BYTES", OsStr::new(&limit))],
    );
    let token = create_token(&server.db, "acme/app");
    create_token(&server.db, "acme/other");
    let proxy = Proxy::start(&server.url).await;
    let dir = tempfile::tempdir().unwrap();
    let big = artifact(dir.path(), 50 * 1_000_000);
    // 413 from Content-Length alone.
    refused_every_time(&proxy, &token, &big, &[], 20, "SIZEGATE_MAX_UPLOAD_BYTES").await;
    refused_every_time(&proxy, &token, &big, &[], 1, "(HTTP 413 Payload Too Large)").await;

    // 422 and 403 from the meta part: the server reads it, answers, and the
    // artifact's bytes never leave.
    let medium = artifact(dir.path(), 8 * 1_000_000);
    let config = dir.path().join("sizegate.toml");
    std::fs::write(&config, "[[budget]]\nthis is not toml\n").unwrap();
    let config_arg = config.to_str().unwrap();
    refused_every_time(
        &proxy,
        &token,
        &medium,
        &["--config", config_arg],
        20,
        "meta.config is not a valid sizegate.toml",
    )
    .await;
    refused_every_time(
        &proxy,
        &token,
        &medium,
        &["--repo", "acme/other"],
        20,
        "this token uploads to acme/app, not to acme/other",
    )
    .await;
    drop_database(&server.name).await;
}

/// A client that does not wait for `100 Continue` and sends its body at
/// once (reqwest, as `sizegate upload` did before) still reads the server's
/// answer: the server lingers on close instead of resetting the connection
/// under it, so the client's writes go on until it has read the 401.
#[tokio::test]
async fn a_client_that_sends_at_once_still_reads_the_early_answer() {
    let server = serve_fake("net_early", &[]);
    create_token(&server.db, "acme/app");
    let body = vec![0u8; 50_000_000];
    for i in 0..20 {
        let client = reqwest::Client::new();
        let sent = client
            .post(format!("{}/api/v1/uploads", server.url))
            .bearer_auth("sgu_wrong")
            .header("content-type", "multipart/form-data; boundary=xyz")
            .body(body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => panic!("try {i}: the answer was lost: {e:?}"),
        };
        assert_eq!(response.status().as_u16(), 401, "try {i}");
        let text = response.text().await.unwrap();
        assert!(
            text.contains("invalid or revoked upload token"),
            "try {i}: {text}"
        );
    }
    drop_database(&server.name).await;
}

/// The Action's curl too: a bad token on a large artifact shows the
/// server's message, sends almost none of the body, and is not retried.
#[tokio::test]
async fn the_action_reports_the_servers_refusal_before_sending_the_body() {
    let server = serve_fake("net_action", &[]);
    create_token(&server.db, "acme/app");
    let proxy = Proxy::start(&server.url).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    let file = std::fs::File::create(dir.path().join("dist/app")).unwrap();
    file.set_len(20_000_000).unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.github/actions/upload/upload.sh");
    for i in 0..5 {
        proxy.reset();
        let mut command = Command::new("bash");
        command
            .arg(&script)
            .current_dir(dir.path())
            .env("INPUT_SERVER", &proxy.url)
            .env("INPUT_FILES", "app=dist/app")
            .env("INPUT_TOKEN", "sgu_wrong")
            .env("INPUT_FAIL_ON_ERROR", "true")
            .env("GITHUB_REPOSITORY", "acme/app")
            .env("GITHUB_EVENT_NAME", "push")
            .env("GITHUB_SHA", sha_of(0xa2))
            .env("GITHUB_REF_NAME", "main")
            .env_remove("GITHUB_EVENT_PATH")
            .env_remove("INPUT_CONFIG");
        let output = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        let err = stderr(&output);
        assert!(!output.status.success(), "try {i}");
        assert!(
            err.contains("(HTTP 401): invalid or revoked upload token"),
            "try {i}: {err}"
        );
        assert_eq!(proxy.connections(), 1, "try {i}: no retry");
        assert!(
            proxy.upstream() < MIB,
            "try {i}: {} bytes sent",
            proxy.upstream()
        );
    }
    drop_database(&server.name).await;
}

/// `--debug-file TARGET=PATH`: the debug file travels as a `debug` part,
/// is stored with the build, reaches the analyzer as `--debug-file PATH`,
/// and never counts in the target's sizes.
#[tokio::test]
async fn a_debug_file_reaches_the_analyzer_and_not_the_sizes() {
    use sha2::Digest as _;
    let server = serve_fake("net_debug", &[]);
    let token = create_token(&server.db, "acme/app");
    let dir = tempfile::tempdir().unwrap();
    let args_file = dir.path().join("args.txt");
    let app = dir.path().join("app");
    std::fs::write(&app, format!("ARGS {}\nsome code\n", args_file.display())).unwrap();
    let app_size = std::fs::metadata(&app).unwrap().len();
    let debug = dir.path().join("app.debug");
    let debug_bytes = vec![0x5a_u8; 300_000];
    std::fs::write(&debug, &debug_bytes).unwrap();
    let debug_sha = hex::encode(sha2::Sha256::digest(&debug_bytes));
    let debug_arg = format!("app={}", debug.display());
    let output = upload(&server.url, &token, &app, &["--debug-file", &debug_arg]).await;
    assert!(output.status.success(), "{}", stderr(&output));

    let status = common::wait_for_commit(&server.url, "acme/app", &sha_of(0xa1)).await;
    let target = &status["targets"][0];
    assert_eq!(target["artifact_size"], app_size, "{status}");
    assert_eq!(target["sizes"]["file"], app_size, "{status}");
    let args = std::fs::read_to_string(&args_file).unwrap();
    assert!(args.contains("--debug-file "), "{args}");
    assert!(
        args.contains(&debug_sha),
        "the analyzer got the debug file: {args}"
    );

    // A debug file for a target not in the upload is refused locally.
    let other = format!("other={}", debug.display());
    let output = upload(&server.url, &token, &app, &["--debug-file", &other]).await;
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("no artifact with target `other`"), "{err}");
    drop_database(&server.name).await;
}
