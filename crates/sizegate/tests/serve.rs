//! `sizegate serve` as users run it: on a database that does not exist
//! yet, with a token from `sizegate token create`, an upload measured end to
//! end, and a clean stop on SIGTERM.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Proc, database_url};
use serde_json::Value;

/// A database name no other test uses.
fn fresh_name(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("sizegate_e2e_{tag}_{}_{nanos}", std::process::id())
}

async fn drop_database(name: &str) {
    let admin = sqlx::PgPool::connect(&database_url("postgres"))
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
}

/// Start `sizegate serve` and return it with the address its log announces.
/// With `analyzer`, the fake one is used; the log is JSON lines when asked.
fn start_serve(
    db: &str,
    data: &Path,
    analyzer: Option<&Path>,
    log: &Path,
    json_logs: bool,
) -> (Proc, String) {
    let mut args = vec![
        "serve".to_owned(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--database-url".into(),
        db.into(),
        "--data-dir".into(),
        data.to_str().unwrap().into(),
        "--poll-interval-ms".into(),
        "200".into(),
    ];
    if let Some(analyzer) = analyzer {
        args.extend(["--analyzer".into(), analyzer.to_str().unwrap().into()]);
    }
    if json_logs {
        args.extend(["--log-format".into(), "json".into()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proc = Proc::spawn(&args, &[], log.to_owned());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = proc.log_text();
        let messages: Vec<String> = if json_logs {
            // Every complete line is a JSON object with the message in `fields`.
            text.lines()
                .filter(|l| text.ends_with('\n') || !text.ends_with(*l))
                .map(|l| {
                    let v: Value = serde_json::from_str(l)
                        .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"));
                    v["fields"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect()
        } else {
            text.lines().map(str::to_owned).collect()
        };
        if let Some(line) = messages.iter().find(|l| l.contains("listening on http://")) {
            let address = line.rsplit("http://").next().unwrap().trim().to_owned();
            return (proc, format!("http://{address}"));
        }
        assert!(Instant::now() < deadline, "serve did not start:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn create_token(db: &str, repo: &str) -> String {
    let output = Command::new(BIN)
        .args(["token", "create", repo, "--database-url", db])
        .env_remove("DATABASE_URL")
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("sgu_"), "{token}");
    token
}

async fn upload_and_wait(url: &str, token: &str, target: &str, bytes: Vec<u8>) -> Value {
    sizegate_store::install_crypto_provider();
    let client = reqwest::Client::new();
    let sha = "b".repeat(40);
    let meta = serde_json::json!({"repo": "acme/app", "commit": sha, "branch": "main"});
    let form = reqwest::multipart::Form::new()
        .text("meta", meta.to_string())
        .part(
            "artifact",
            reqwest::multipart::Part::bytes(bytes).file_name(target.to_owned()),
        );
    let response = client
        .post(format!("{url}/api/v1/uploads"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let body: Value = client
            .get(format!("{url}/api/v1/repos/acme/app/commits/{sha}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["complete"] == Value::Bool(true) {
            return body;
        }
        assert!(Instant::now() < deadline, "not measured in time: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

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
