//! `sizegate serve` as users run it: on a database that does not exist
//! yet, with a token from `sizegate token create`, an upload measured end to
//! end, and a clean stop on SIGTERM.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::process::Command;
use std::time::Duration;

use common::{
    create_token, database_url, drop_database, fresh_name, start_serve, upload_and_wait,
    upload_and_wait_commit,
};
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

/// The real analyzer as the worker's child process (through
/// `sizegate run-limited`), on a binary built now, and on bytes that are no
/// binary at all: that job fails at once with the analyzer's message.
#[tokio::test]
async fn serve_measures_a_real_binary_with_the_real_analyzer() {
    let dir = tempfile::tempdir().unwrap();
    let binary = common::build_hello(dir.path());
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
    assert!(target["sizes"]["shipped"].as_u64().unwrap() <= bytes.len() as u64);
    assert_eq!(target["format"], "elf");
    assert_eq!(target["language"], "c");

    let garbage =
        upload_and_wait_commit(&url, &token, &"c".repeat(40), "garbage", vec![0x42; 4096]).await;
    let target = &garbage["targets"][0];
    assert_eq!(target["status"], "failed", "{garbage}");
    assert_eq!(
        target["attempts"], 1,
        "not retried: the artifact is at fault"
    );
    let error = target["error"].as_str().unwrap();
    assert!(error.contains("unsupported file format"), "{error}");
    server.terminate();
    assert!(server.wait_timeout(Duration::from_secs(30)).success());
    drop(server);
    drop_database(&name).await;
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git is needed");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The GitHub Action's script (`.github/actions/upload/upload.sh`) against
/// a real server: the two sides of the upload contract agree.
#[tokio::test]
async fn the_upload_action_script_uploads_to_serve() {
    sizegate_store::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let checkout = dir.path().join("checkout");
    std::fs::create_dir(&checkout).unwrap();
    git(&checkout, &["init", "-q", "-b", "main"]);
    for i in 0..3 {
        std::fs::write(checkout.join("f"), format!("{i}")).unwrap();
        git(&checkout, &["add", "f"]);
        git(&checkout, &["commit", "-q", "-m", &format!("c{i}")]);
    }
    let head = git(&checkout, &["rev-parse", "HEAD"]);
    let parents = git(&checkout, &["rev-list", "--first-parent", "HEAD"]);
    let artifact = dir.path().join("app");
    std::fs::write(&artifact, vec![4u8; 777]).unwrap();

    let name = fresh_name("action");
    let db = database_url(&name);
    let analyzer = common::fake_analyzer();
    let (mut server, url) = start_serve(
        &db,
        &dir.path().join("data"),
        Some(&analyzer),
        &dir.path().join("serve.log"),
        false,
        &[],
    );
    let token = create_token(&db, "acme/app");
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.github/actions/upload/upload.sh");
    let output = Command::new("bash")
        .arg(&script)
        .current_dir(&checkout)
        .env("INPUT_SERVER", &url)
        .env(
            "INPUT_FILES",
            format!("x86_64-unknown-linux-gnu/app={}", artifact.display()),
        )
        .env("INPUT_TOKEN", &token)
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_SHA", &head)
        .env("GITHUB_REF_NAME", "main")
        .env_remove("GITHUB_EVENT_PATH")
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "upload.sh failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("{url}/api/v1/repos/acme/app/commits/{head}")),
        "{stdout}"
    );

    let commit = common::wait_for_commit(&url, "acme/app", &head).await;
    assert_eq!(commit["branch"], "main");
    let expected: Vec<&str> = parents.lines().skip(1).collect();
    assert_eq!(commit["ancestors"], serde_json::json!(expected));
    let target = &commit["targets"][0];
    assert_eq!(target["target"], "x86_64-unknown-linux-gnu/app");
    assert_eq!(target["status"], "done", "{commit}");
    assert_eq!(target["sizes"]["file"], 777);

    server.terminate();
    assert!(server.wait_timeout(Duration::from_secs(30)).success());
    drop(server);
    drop_database(&name).await;
}

/// The Action's script in a `workflow_run` workflow of the base repository,
/// uploading what a fork's pull request built: the commit is the run's head
/// sha, the pull request and its base come from the payload, the branch is
/// labelled with the fork's owner and the commit is stored as a fork upload.
#[tokio::test]
async fn the_upload_action_script_uploads_a_fork_build_from_workflow_run() {
    sizegate_store::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let checkout = dir.path().join("checkout");
    std::fs::create_dir(&checkout).unwrap();
    git(&checkout, &["init", "-q", "-b", "main"]);
    for i in 0..2 {
        std::fs::write(checkout.join("f"), format!("{i}")).unwrap();
        git(&checkout, &["add", "f"]);
        git(&checkout, &["commit", "-q", "-m", &format!("c{i}")]);
    }
    let base = git(&checkout, &["rev-parse", "HEAD~1"]);
    // The fork's head is not what the privileged workflow checked out.
    let head = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
    let fixture = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/workflow_run.fork.json");
    let event = std::fs::read_to_string(fixture)
        .unwrap()
        .replace("HEAD_SHA", head)
        .replace("BASE_SHA", &base);
    let event_path = dir.path().join("event.json");
    std::fs::write(&event_path, event).unwrap();
    let artifact = dir.path().join("app");
    std::fs::write(&artifact, vec![4u8; 321]).unwrap();

    let name = fresh_name("forkrun");
    let db = database_url(&name);
    let analyzer = common::fake_analyzer();
    let (mut server, url) = start_serve(
        &db,
        &dir.path().join("data"),
        Some(&analyzer),
        &dir.path().join("serve.log"),
        false,
        &[],
    );
    let token = create_token(&db, "acme/app");
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.github/actions/upload/upload.sh");
    let output = Command::new("bash")
        .arg(&script)
        .current_dir(&checkout)
        .env("INPUT_SERVER", &url)
        .env("INPUT_FILES", format!("linux/app={}", artifact.display()))
        .env("INPUT_TOKEN", &token)
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GITHUB_EVENT_NAME", "workflow_run")
        .env("GITHUB_EVENT_PATH", &event_path)
        .env("GITHUB_SHA", git(&checkout, &["rev-parse", "HEAD"]))
        .env("GITHUB_REF_NAME", "main")
        .env_remove("INPUT_PR_NUMBER")
        .env_remove("INPUT_BASE_SHA")
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "upload.sh failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(&format!("acme/app@{head}")), "{stdout}");

    let commit: Value = reqwest::Client::new()
        .get(format!("{url}/api/v1/repos/acme/app/commits/{head}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(commit["branch"], "someone:changes", "{commit}");
    assert_eq!(commit["pr_number"], 2, "{commit}");
    assert_eq!(commit["base_sha"], base.as_str(), "{commit}");
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let fork: bool = sqlx::query_scalar("SELECT fork FROM commits WHERE sha = $1")
        .bind(head)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        fork,
        "a workflow_run upload of a fork's head is a fork upload"
    );
    pool.close().await;

    server.terminate();
    assert!(server.wait_timeout(Duration::from_secs(30)).success());
    drop(server);
    drop_database(&name).await;
}
