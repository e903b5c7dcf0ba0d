//! Helpers for the end-to-end tests: the `sizegate` binary as child
//! processes (server, workers) over a real Postgres.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sizegate_store::Store;
use sizegate_store::blob::{BlobUpload, LocalBlobStore};
use sizegate_store::uploads::{CommitMeta, NewArtifact};

pub mod github;
pub mod oidc;
pub mod proxy;

pub const BIN: &str = env!("CARGO_BIN_EXE_sizegate");

/// A small C program (`puts("hi")`), built now with `gcc -O2` in `dir`;
/// returns the binary's path.
pub fn build_hello(dir: &Path) -> PathBuf {
    let source = dir.join("hello.c");
    std::fs::write(
        &source,
        "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n",
    )
    .unwrap();
    let binary = dir.join("hello");
    let status = Command::new("gcc")
        .arg("-O2")
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .status()
        .expect("gcc is needed to build the test binary");
    assert!(status.success());
    binary
}

pub fn fake_analyzer() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/fake-analyzer")
}

/// The server URL of `DATABASE_URL` (as CI sets it) with database `name`.
pub fn database_url(name: &str) -> String {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut url = url::Url::parse(&base).expect("DATABASE_URL is a URL");
    url.set_path(name);
    url.to_string()
}

/// A child process whose stderr goes to a file, killed on drop.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(args: &[&str], envs: &[(&str, &OsStr)], log: PathBuf) -> Proc {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_remove("DATABASE_URL")
            .env("SIZEGATE_LOG", "info,sqlx=warn")
            // The analyzer's environment is cleared: the stand-in's log
            // path is passed on by name.
            .env("SIZEGATE_ANALYZER_PASS_ENV", "FAKE_ANALYZER_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap());
        for (k, v) in envs {
            command.env(k, v);
        }
        Proc {
            child: command.spawn().unwrap(),
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, as an orchestrator would.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn wait_timeout(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "process did not exit within {limit:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Store `contents` as artifacts of one commit, as an upload would.
pub async fn enqueue(store: &Store, data_dir: &Path, contents: &[Vec<u8>]) -> Vec<i64> {
    let blobs = LocalBlobStore::open(data_dir).await.unwrap();
    let repo = store
        .ensure_repository(&sizegate_store::RepoName::parse("acme/app").unwrap())
        .await
        .unwrap();
    let mut artifacts = Vec::new();
    for (i, content) in contents.iter().enumerate() {
        let upload = BlobUpload::start(&blobs, 1 << 30).await.unwrap();
        let blob = upload.write(content).await.unwrap().finish();
        let (sha256, size) = (blob.sha256.clone(), blob.size);
        let blob_key = blob.commit().await.unwrap();
        artifacts.push(NewArtifact {
            target: format!("target-{i}"),
            sha256,
            size,
            blob_key,
        });
    }
    let meta = CommitMeta {
        sha: "a".repeat(40),
        ..Default::default()
    };
    store
        .record_upload(repo, &meta, &artifacts, 3)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.job_id)
        .collect()
}

/// Poll until `check` holds, or panic after `limit` with `context()`.
pub async fn wait_for<F, Fut>(limit: Duration, mut check: F, context: impl Fn() -> String)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn job_states(store: &Store) -> Vec<(i64, String, i32)> {
    sqlx::query_as("SELECT id, state, attempts FROM jobs ORDER BY id")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

/// A database name no other test uses.
pub fn fresh_name(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("sizegate_e2e_{tag}_{}_{nanos}", std::process::id())
}

pub async fn drop_database(name: &str) {
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
pub fn start_serve(
    db: &str,
    data: &Path,
    analyzer: Option<&Path>,
    log: &Path,
    json_logs: bool,
    envs: &[(&str, &OsStr)],
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
    let proc = Proc::spawn(&args, envs, log.to_owned());
    wait_listening(proc, json_logs)
}

/// `serve --listen 127.0.0.1:0` with `extra` arguments (and no
/// `--database-url`), once it listens.
#[allow(dead_code)]
pub fn start_serve_with(extra: &[&str], envs: &[(&str, &OsStr)], log: &Path) -> (Proc, String) {
    let mut args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--poll-interval-ms",
        "200",
    ];
    args.extend_from_slice(extra);
    wait_listening(Proc::spawn(&args, envs, log.to_owned()), false)
}

/// A `serve` on a fresh database with the fake analyzer, its data and log
/// in a temporary folder.
pub struct FakeServe {
    _serve: Proc,
    pub url: String,
    pub db: String,
    /// The database's name.
    pub name: String,
    /// The data directory (blobs).
    pub data: PathBuf,
    pub dir: tempfile::TempDir,
}

/// Start a [`FakeServe`] with extra environment variables.
pub fn serve_fake(tag: &str, envs: &[(&str, &OsStr)]) -> FakeServe {
    sizegate_store::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let name = fresh_name(tag);
    let db = database_url(&name);
    let data = dir.path().join("data");
    let (serve, url) = start_serve(
        &db,
        &data,
        Some(&fake_analyzer()),
        &dir.path().join("serve.log"),
        false,
        envs,
    );
    FakeServe {
        _serve: serve,
        url,
        db,
        name,
        data,
        dir,
    }
}

/// Wait until `proc` (a `serve`) logs its address; the base URL.
fn wait_listening(proc: Proc, json_logs: bool) -> (Proc, String) {
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

pub fn create_token(db: &str, repo: &str) -> String {
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

pub async fn upload_and_wait(url: &str, token: &str, target: &str, bytes: Vec<u8>) -> Value {
    upload_and_wait_commit(url, token, &"b".repeat(40), target, bytes).await
}

/// Upload one artifact for `sha` of acme/app and poll until it is measured or failed.
pub async fn upload_and_wait_commit(
    url: &str,
    token: &str,
    sha: &str,
    target: &str,
    bytes: Vec<u8>,
) -> Value {
    sizegate_store::install_crypto_provider();
    let client = reqwest::Client::new();
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
    wait_for_commit(url, "acme/app", sha).await
}

/// Poll the commit's status until every target is measured or failed
/// (two minutes at most) and return it.
pub async fn wait_for_commit(url: &str, repo: &str, sha: &str) -> Value {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let body: Value = client
            .get(format!("{url}/api/v1/repos/{repo}/commits/{sha}"))
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

/// `sizegate repo set-oidc REPO on` with GitHub's ids.
pub fn set_oidc(db: &str, repo: &str, github_id: i64, owner_id: i64) {
    let output = Command::new(BIN)
        .args(["repo", "set-oidc", repo, "on", "--database-url", db])
        .args(["--github-id", &github_id.to_string()])
        .args(["--github-owner-id", &owner_id.to_string()])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
