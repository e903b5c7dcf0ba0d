//! Post-merge alerts end to end (issue 18): `sizegate serve` with the real
//! analyzer, a real git history of 12 commits on `main`, each uploaded with
//! the real CLI (`--ancestors-from-git`, an `[alerts]` config). The program
//! is a C binary built now with gcc; every commit's copy carries a few
//! hundred bytes of trailing noise, and from one known commit on it also
//! carries a `.payload` section (`objcopy --add-section`) of 5% of its size.
//! A webhook sink set with `sizegate repo set-alert-webhook` points at a
//! local receiver that answers 500 twice, then 200.
//!
//! Afterwards: exactly one alert, at the commit of the step, naming one
//! commit; the alerts API shows it with its documented keys; the Atom feed
//! has one entry; the receiver accepted it exactly once, on the third try.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::{BIN, create_token, database_url, drop_database, fresh_name, start_serve};
use serde_json::Value;

const COMMITS: usize = 12;
/// The first commit whose binary carries the payload.
const STEP_AT: usize = 8;
const CONFIG: &str = "[alerts]\nmetric = \"file\"\nmin_step = \"1%\"\nwindow = 10\n";

#[derive(Default)]
struct Receiver {
    /// Requests answered so far.
    requests: usize,
    /// (alert id header, JSON body) of the requests answered 200.
    accepted: Vec<(String, Value)>,
}

async fn receive(
    State(receiver): State<Arc<Mutex<Receiver>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut r = receiver.lock().unwrap();
    r.requests += 1;
    if r.requests <= 2 {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let id = headers
        .get("x-sizegate-alert")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_owned();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.accepted.push((id, json));
    StatusCode::OK
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn git(repo: &Path, args: &[&str]) -> String {
    run(Command::new("git")
        .args(args)
        .current_dir(repo)
        .env("GIT_AUTHOR_NAME", "Octo Cat")
        .env("GIT_AUTHOR_EMAIL", "octocat@example.com")
        .env("GIT_COMMITTER_NAME", "Octo Cat")
        .env("GIT_COMMITTER_EMAIL", "octocat@example.com"))
}

/// A C program with a 120 KB table (so a few hundred bytes are noise, far
/// under 1%), and the same binary with a 5% `.payload` section added.
fn build_programs(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let source = dir.join("app.c");
    std::fs::write(
        &source,
        "static const unsigned char table[120000] = {1, 2, 3};\n\
         int main(int argc, char **argv) { (void)argv; return table[argc * 1000]; }\n",
    )
    .unwrap();
    let binary = dir.join("app");
    run(Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&binary)
        .arg(&source));
    let plain = std::fs::read(&binary).unwrap();
    let payload = dir.join("payload.bin");
    let payload_bytes: Vec<u8> = (0..plain.len() / 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&payload, payload_bytes).unwrap();
    let stepped = dir.join("app-stepped");
    run(Command::new("objcopy")
        .arg(format!("--add-section=.payload={}", payload.display()))
        .arg(&binary)
        .arg(&stepped));
    let stepped = std::fs::read(&stepped).unwrap();
    assert!(stepped.len() > plain.len() + plain.len() / 25);
    (plain, stepped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_in_real_pushes_raises_one_alert_delivered_once_after_retries() {
    sizegate_store::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let (plain, stepped) = build_programs(dir.path());

    // The receiver.
    let receiver = Arc::new(Mutex::new(Receiver::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The server, with the real analyzer and no backoff between retries.
    let name = fresh_name("alerts_e2e");
    let db = database_url(&name);
    let (server, url) = start_serve(
        &db,
        &dir.path().join("data"),
        None,
        &dir.path().join("serve.log"),
        false,
        &[("SIZEGATE_RETRY_BACKOFF_SECS", OsStr::new("0"))],
    );
    let token = create_token(&db, "acme/app");
    run(Command::new(BIN)
        .args(["repo", "set-alert-webhook", "acme/app", &hook_url])
        .args(["--database-url", &db])
        .env_remove("DATABASE_URL"));

    // A git history of 12 commits, with the config in the work tree.
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("sizegate.toml"), CONFIG).unwrap();
    git(&repo, &["add", "sizegate.toml"]);
    git(&repo, &["commit", "-q", "-m", "commit 0"]);
    for n in 1..COMMITS {
        git(
            &repo,
            &[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                &format!("commit {n}"),
            ],
        );
    }
    let shas: Vec<String> = git(&repo, &["rev-list", "--reverse", "HEAD"])
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(shas.len(), COMMITS);

    // Each commit uploaded with the CLI, in order, measured before the next.
    for (n, sha) in shas.iter().enumerate() {
        let mut bytes = if n >= STEP_AT {
            stepped.clone()
        } else {
            plain.clone()
        };
        // Trailing noise: 0 to 299 bytes.
        bytes.resize(bytes.len() + (n * 137) % 300, 0x5a);
        let artifact = dir.path().join(format!("app-{n}"));
        std::fs::write(&artifact, &bytes).unwrap();
        let mut upload = Command::new(BIN);
        upload.current_dir(&repo);
        for (key, _) in std::env::vars() {
            if key.starts_with("SIZEGATE_") || key.starts_with("ACTIONS_ID_TOKEN") {
                upload.env_remove(key);
            }
        }
        run(upload
            .args(["upload", "--server", &url, "--repo", "acme/app"])
            .args(["--commit", sha, "--branch", "main", "--ancestors-from-git"])
            .arg(format!("linux/app={}", artifact.display()))
            .env("SIZEGATE_TOKEN", &token));
        let commit = common::wait_for_commit(&url, "acme/app", sha).await;
        assert_eq!(
            commit["targets"][0]["status"],
            "done",
            "{commit}\n{}",
            server.log_text()
        );
    }

    // The receiver gets the alert after two failures.
    common::wait_for(
        Duration::from_secs(60),
        || {
            let receiver = receiver.clone();
            async move { !receiver.lock().unwrap().accepted.is_empty() }
        },
        || server.log_text(),
    )
    .await;

    let client = reqwest::Client::new();
    let alerts: Value = client
        .get(format!("{url}/api/v1/repos/acme/app/alerts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alerts = alerts.as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    let keys: BTreeSet<&str> = alert
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = [
        "id",
        "target",
        "metric",
        "branch",
        "commit",
        "range_start",
        "delta",
        "percent",
        "before",
        "after",
        "author",
        "pr_number",
        "changes",
        "state",
        "state_changed_by",
        "created_at",
        "updated_at",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected);
    assert_eq!(alert["commit"], shas[STEP_AT].as_str(), "{alert}");
    assert_eq!(alert["range_start"], Value::Null, "one commit: {alert}");
    assert_eq!(alert["target"], "linux/app");
    assert_eq!(alert["metric"], "file");
    assert_eq!(alert["branch"], "main");
    assert_eq!(alert["state"], "open");
    let delta = alert["delta"].as_i64().unwrap();
    let grown = (stepped.len() - plain.len()) as i64;
    assert!(
        (delta - grown).abs() < 300,
        "delta {delta}, section {grown}"
    );
    let percent = alert["percent"].as_f64().unwrap();
    assert!((4.5..6.5).contains(&percent), "{percent}");

    // The Atom feed: one entry.
    let feed = client
        .get(format!("{url}/repos/acme/app/alerts.atom"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(feed.matches("<entry>").count(), 1, "{feed}");
    assert!(feed.contains(&shas[STEP_AT][..7]), "{feed}");

    // Delivered once: three requests, the third accepted, the row closed.
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let (attempts, delivered, error): (i32, bool, Option<String>) = sqlx::query_as(
        "SELECT attempts, delivered_at IS NOT NULL, last_error FROM alert_deliveries",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(delivered, "{attempts} {error:?}");
    assert_eq!(attempts, 3, "{error:?}");
    {
        let r = receiver.lock().unwrap();
        assert_eq!(r.requests, 3);
        assert_eq!(r.accepted.len(), 1);
        let (id, body) = &r.accepted[0];
        assert_eq!(id, &alert["id"].to_string());
        assert_eq!(body["alert"]["id"], alert["id"]);
        assert_eq!(body["repository"], "acme/app");
        let text = body["text"].as_str().unwrap();
        assert!(text.contains("linux/app"), "{text}");
    }
    pool.close().await;
    drop(server);
    drop_database(&name).await;
}
