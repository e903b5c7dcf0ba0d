//! `sizegate serve` as users run it: on a database that does not exist
//! yet, with a token from `sizegate token create`, an upload measured end to
//! end, and a clean stop on SIGTERM.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::process::Command;
use std::time::Duration;

use common::{create_token, database_url, drop_database, fresh_name, start_serve, upload_and_wait};
use serde_json::Value;

#[tokio::test]
async fn serve_starts_on_an_empty_database_and_measures_an_upload() {
    sizegate_store::install_crypto_provider();
    let name = fresh_name("serve");
    let db = database_url(&name);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let analyzer = common::fake_analyzer();
    let (mut server, url) = start_serve(
        &db,
        &data,
        Some(&analyzer),
        &dir.path().join("serve.log"),
        true,
        &[],
    );

    let health: Value = reqwest::get(format!("{url}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let token = create_token(&db, "acme/app");
    let commit = upload_and_wait(
        &url,
        &token,
        "x86_64-unknown-linux-gnu/app",
        vec![5u8; 2048],
    )
    .await;
    let target = &commit["targets"][0];
    assert_eq!(target["status"], "done", "{commit}\n{}", server.log_text());
    assert_eq!(target["sizes"]["file"], 2048);
    assert!(data.join("artifacts").is_dir());

    server.terminate();
    let status = server.wait_timeout(Duration::from_secs(30));
    assert!(status.success(), "{}", server.log_text());
    assert!(server.log_text().contains("sizegate stopped"));
    drop(server);
    drop_database(&name).await;
}

/// The real analyzer as the worker's child process, on a binary built now.
/// Until `sizegate analyze` lands on main (another branch), it answers
/// "not written yet" and this test fails: run it with `--ignored` after
/// merging main.
#[tokio::test]
#[ignore = "needs `sizegate analyze` from main; run with --ignored once merged"]
async fn serve_measures_a_real_binary_with_the_real_analyzer() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("hello.c");
    std::fs::write(
        &source,
        "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n",
    )
    .unwrap();
    let binary = dir.path().join("hello");
    let status = Command::new("gcc")
        .arg("-O2")
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .status()
        .expect("gcc is needed to build the test binary");
    assert!(status.success());
    let bytes = std::fs::read(&binary).unwrap();

    let name = fresh_name("real");
    let db = database_url(&name);
    let (mut server, url) = start_serve(
        &db,
        &dir.path().join("data"),
        None,
        &dir.path().join("serve.log"),
        false,
        &[],
    );
    let token = create_token(&db, "acme/app");
    let commit = upload_and_wait(
        &url,
        &token,
        "x86_64-unknown-linux-gnu/hello",
        bytes.clone(),
    )
    .await;
    let target = &commit["targets"][0];
    assert_eq!(target["status"], "done", "{commit}");
    assert_eq!(target["sizes"]["file"], bytes.len() as u64);
    assert_eq!(target["format"], "elf");
    server.terminate();
    assert!(server.wait_timeout(Duration::from_secs(30)).success());
    drop(server);
    drop_database(&name).await;
}
