//! `sizegate upload` against a recording HTTP server on loopback: the
//! multipart body (meta and streamed artifacts), retries on 5xx and on
//! connection errors, 4xx messages, local checks, git ancestors, and the
//! GitHub Actions OIDC token request.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_sizegate");
const TOKEN: &str = "sgu_secret-token-value";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const BASE: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// One part as received.
#[derive(Debug, Clone)]
struct Part {
    name: String,
    file_name: Option<String>,
    content_type: Option<String>,
    bytes: Vec<u8>,
}

/// One request as received.
#[derive(Debug, Clone)]
struct Received {
    authorization: Option<String>,
    parts: Vec<Part>,
}

impl Received {
    fn meta(&self) -> Value {
        let meta = self.parts.iter().find(|p| p.name == "meta").unwrap();
        serde_json::from_slice(&meta.bytes).unwrap()
    }

    fn artifacts(&self) -> Vec<&Part> {
        self.parts.iter().filter(|p| p.name == "artifact").collect()
    }
}

#[derive(Default)]
struct Recorder {
    /// Answer 503 to this many requests first.
    fail_first: usize,
    /// The status of those first answers instead of 503, and a
    /// `Retry-After` header to send with them.
    fail_with: Option<(StatusCode, Option<&'static str>)>,
    /// Answer every request with this status and `{"error": message}`.
    reject: Option<(StatusCode, String)>,
    received: Vec<Received>,
    oidc_requests: Vec<(Option<String>, String)>,
}

type Shared = Arc<Mutex<Recorder>>;

async fn uploads(
    State(rec): State<Shared>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> axum::response::Response {
    let mut parts = Vec::new();
    while let Some(field) = multipart.next_field().await.unwrap() {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let bytes = field.bytes().await.unwrap().to_vec();
        parts.push(Part {
            name,
            file_name,
            content_type,
            bytes,
        });
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let mut rec = rec.lock().unwrap();
    rec.received.push(Received {
        authorization,
        parts: parts.clone(),
    });
    if rec.received.len() <= rec.fail_first {
        let (status, retry_after) = rec
            .fail_with
            .unwrap_or((StatusCode::SERVICE_UNAVAILABLE, None));
        let mut response =
            (status, Json(json!({"error": "database is restarting"}))).into_response();
        if let Some(value) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, value.parse().unwrap());
        }
        return response;
    }
    if let Some((status, message)) = &rec.reject {
        return (*status, Json(json!({ "error": message }))).into_response();
    }
    let targets: Vec<Value> = parts
        .iter()
        .filter(|p| p.name == "artifact")
        .map(|p| {
            let target = p.file_name.clone().unwrap();
            json!({
                "target": target,
                "status": "queued",
                "status_url": format!("http://sizegate.test/api/v1/repos/acme/app/commits/{COMMIT}#{target}"),
            })
        })
        .collect();
    (
        StatusCode::ACCEPTED,
        Json(json!({
            "repository": "acme/app",
            "commit": COMMIT,
            "status_url": format!("http://sizegate.test/api/v1/repos/acme/app/commits/{COMMIT}"),
            "targets": targets,
        })),
    )
        .into_response()
}

async fn oidc_token(
    State(rec): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Json<Value> {
    let audience = query.get("audience").cloned().unwrap_or_default();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap().to_owned());
    rec.lock()
        .unwrap()
        .oidc_requests
        .push((authorization, audience.clone()));
    Json(json!({ "value": format!("oidc-token-for:{audience}") }))
}

struct Server {
    addr: SocketAddr,
    rec: Shared,
}

impl Server {
    async fn start(recorder: Recorder) -> Server {
        let rec: Shared = Arc::new(Mutex::new(recorder));
        let app = Router::new()
            .route(
                "/api/v1/uploads",
                post(uploads).layer(axum::extract::DefaultBodyLimit::disable()),
            )
            .route("/oidc-token", get(oidc_token))
            .with_state(Arc::clone(&rec));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { addr, rec }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.rec.lock().unwrap().received.clone()
    }
}

/// `sizegate upload ARGS` in `dir` with a clean environment.
async fn upload(dir: &Path, args: Vec<String>, env: Vec<(&'static str, String)>) -> Output {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(BIN);
        command.arg("upload").args(&args).current_dir(&dir);
        for (key, _) in std::env::vars() {
            if key.starts_with("SIZEGATE_") || key.starts_with("ACTIONS_ID_TOKEN") {
                command.env_remove(key);
            }
        }
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().unwrap()
    })
    .await
    .unwrap()
}

fn args(server: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--server".into(),
        server.into(),
        "--repo".into(),
        "acme/app".into(),
        "--commit".into(),
        COMMIT.into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Bytes that differ at every position, so a reordered or truncated
/// stream cannot compare equal by accident.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[tokio::test]
async fn sends_meta_and_every_artifact_streamed_whole() {
    let server = Server::start(Recorder::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let big = pattern(6 * 1024 * 1024 + 123, 1);
    let small = pattern(4096, 2);
    write_file(dir.path(), "app", &big);
    write_file(dir.path(), "app.wasm", &small);
    let config = "metric = \"shipped\"\n\n[[budget]]\ntarget = \"*\"\nmax_size = \"8 MiB\"\n";
    write_file(dir.path(), "sizegate.toml", config.as_bytes());

    let output = upload(
        dir.path(),
        args(
            &server.url(),
            &[
                "--branch",
                "main",
                "x86_64-unknown-linux-gnu/app=app",
                "wasm32-unknown-unknown/app.wasm=app.wasm",
            ],
        ),
        vec![("SIZEGATE_TOKEN", TOKEN.into())],
    )
    .await;
    assert!(output.status.success(), "{}", stderr(&output));

    let received = server.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(
        request.authorization.as_deref(),
        Some(&*format!("Bearer {TOKEN}"))
    );
    assert_eq!(request.parts[0].name, "meta", "meta comes first");
    assert_eq!(
        request.meta(),
        json!({
            "repo": "acme/app",
            "commit": COMMIT,
            "branch": "main",
            "pr": null,
            "base_sha": null,
            "ancestors": [],
            "config": config,
        })
    );
    let artifacts = request.artifacts();
    assert_eq!(artifacts.len(), 2);
    assert_eq!(
        artifacts[0].file_name.as_deref(),
        Some("x86_64-unknown-linux-gnu/app")
    );
    assert_eq!(
        artifacts[0].content_type.as_deref(),
        Some("application/octet-stream")
    );
    assert!(artifacts[0].bytes == big, "big artifact differs");
    assert_eq!(
        artifacts[1].file_name.as_deref(),
        Some("wasm32-unknown-unknown/app.wasm")
    );
    assert!(artifacts[1].bytes == small, "small artifact differs");

    let out = stdout(&output);
    assert!(
        out.contains(&format!(
            "status: http://sizegate.test/api/v1/repos/acme/app/commits/{COMMIT}"
        )),
        "{out}"
    );
    assert!(
        out.contains("x86_64-unknown-linux-gnu/app (queued): http://"),
        "{out}"
    );
    assert!(!out.contains(TOKEN) && !stderr(&output).contains(TOKEN));
    // stderr is not a terminal here: no progress line.
    assert!(
        !stderr(&output).contains("uploading"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn pull_request_meta_and_explicit_config() {
    let server = Server::start(Recorder::default()).await;
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "app", b"\x7fELF not really");
    write_file(dir.path(), "budgets.toml", b"metric = \"file\"\n");
    let output = upload(
        dir.path(),
        args(
            &server.url(),
            &[
                "--token",
                TOKEN,
                "--pr",
                "42",
                "--base-sha",
                &BASE.to_ascii_uppercase(),
                "--config",
                "budgets.toml",
                "linux/app=app",
            ],
        ),
        vec![],
    )
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let meta = server.received()[0].meta();
    assert_eq!(meta["pr"], json!(42));
    assert_eq!(meta["base_sha"], json!(BASE), "lower-cased");
    assert_eq!(meta["config"], json!("metric = \"file\"\n"));
    assert_eq!(meta["branch"], Value::Null);
}

#[tokio::test]
async fn retries_5xx_and_streams_the_files_again() {
    let server = Server::start(Recorder {
        fail_first: 2,
        ..Recorder::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let bytes = pattern(300_000, 3);
    write_file(dir.path(), "app", &bytes);
    let output = upload(
        dir.path(),
        args(&server.url(), &["linux/app=app"]),
        vec![("SIZEGATE_TOKEN", TOKEN.into())],
    )
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let received = server.received();
    assert_eq!(received.len(), 3, "two 503s, then accepted");
    for request in &received {
        assert!(
            request.artifacts()[0].bytes == bytes,
            "each try sends the whole file"
        );
    }
    let err = stderr(&output);
    assert!(err.contains("attempt 1 of 4 failed"), "{err}");
    assert!(err.contains("database is restarting"), "{err}");
    assert!(err.contains("attempt 2 of 4 failed"), "{err}");
    assert!(!err.contains("attempt 3 of 4"), "{err}");
}

#[tokio::test]
async fn gives_up_after_four_5xx() {
    let server = Server::start(Recorder {
        fail_first: 100,
        ..Recorder::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "app", b"abc");
    let output = upload(
        dir.path(),
        args(&server.url(), &["linux/app=app"]),
        vec![("SIZEGATE_TOKEN", TOKEN.into())],
    )
    .await;
    assert!(!output.status.success());
    assert_eq!(server.received().len(), 4);
    let err = stderr(&output);
    assert!(err.contains("upload failed after 4 attempts"), "{err}");
    assert!(err.contains("HTTP 503"), "{err}");
}

#[tokio::test]
async fn client_errors_are_final_and_show_the_server_message() {
    let message = "this token uploads to acme/app, not to acme/other";
    let server = Server::start(Recorder {
        reject: Some((StatusCode::FORBIDDEN, message.into())),
        ..Recorder::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "app", b"abc");
    let output = upload(
        dir.path(),
        args(&server.url(), &["linux/app=app"]),
        vec![("SIZEGATE_TOKEN", TOKEN.into())],
    )
    .await;
    assert!(!output.status.success());
    assert_eq!(server.received().len(), 1, "no retry on 4xx");
    let err = stderr(&output);
    assert!(
        err.contains(&format!("upload rejected (HTTP 403 Forbidden): {message}")),
        "{err}"
    );
    assert!(!err.contains(TOKEN));
}

#[tokio::test]
async fn too_many_requests_and_timeouts_are_retried_other_4xx_are_not() {
    for (status, retry_after) in [
        (StatusCode::TOO_MANY_REQUESTS, Some("1")),
        (StatusCode::TOO_MANY_REQUESTS, None),
        (StatusCode::REQUEST_TIMEOUT, None),
    ] {
        let server = Server::start(Recorder {
            fail_first: 1,
            fail_with: Some((status, retry_after)),
            ..Recorder::default()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        write_file(dir.path(), "app", b"abc");
        let started = std::time::Instant::now();
        let output = upload(
            dir.path(),
            args(&server.url(), &["linux/app=app"]),
            vec![("SIZEGATE_TOKEN", TOKEN.into())],
        )
        .await;
        let err = stderr(&output);
        assert!(output.status.success(), "{status}: {err}");
        assert_eq!(server.received().len(), 2, "{status}: one retry");
        assert!(err.contains(&format!("HTTP {status}")), "{err}");
        if retry_after.is_some() {
            assert!(err.contains("as the server asked"), "{err}");
            assert!(started.elapsed() >= std::time::Duration::from_secs(1));
        }
    }
    for status in [
        StatusCode::UNAUTHORIZED,
        StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::UNPROCESSABLE_ENTITY,
        StatusCode::CONFLICT,
    ] {
        let server = Server::start(Recorder {
            reject: Some((status, "no".into())),
            ..Recorder::default()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        write_file(dir.path(), "app", b"abc");
        let output = upload(
            dir.path(),
            args(&server.url(), &["linux/app=app"]),
            vec![("SIZEGATE_TOKEN", TOKEN.into())],
        )
        .await;
        assert_eq!(output.status.code(), Some(2), "{status}");
        assert_eq!(server.received().len(), 1, "{status}: final, no resend");
        let err = stderr(&output);
        assert_eq!(err.matches("upload rejected").count(), 1, "{err}");
    }
}

#[tokio::test]
async fn connection_errors_are_retried() {
    // A port that was just free: nothing listens there.
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "app", b"abc");
    let output = upload(
        dir.path(),
        args(&format!("http://{addr}"), &["linux/app=app"]),
        vec![("SIZEGATE_TOKEN", TOKEN.into())],
    )
    .await;
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("attempt 3 of 4 failed"), "{err}");
    assert!(err.contains("upload failed after 4 attempts"), "{err}");
}

#[tokio::test]
async fn local_checks_fail_before_any_request() {
    let server = Server::start(Recorder::default()).await;
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "app", b"abc");
    std::fs::create_dir(dir.path().join("a-directory")).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            args(&server.url(), &["linux/app=no-such-file"]),
            "artifact `linux/app`: cannot read no-such-file",
        ),
        (
            args(&server.url(), &["linux/app=a-directory"]),
            "artifact `linux/app`: a-directory is not a regular file",
        ),
        (
            args(&server.url(), &["linux/app=app", "linux/app=app"]),
            "target `linux/app` is given twice",
        ),
        (
            args(&server.url(), &["../app=app"]),
            "target name `../app` contains `..`",
        ),
        (
            args(&server.url(), &["app"]),
            "artifact `app` must be TARGET=PATH",
        ),
        (
            args(&server.url(), &["--pr", "7", "linux/app=app"]),
            "--pr requires --base-sha",
        ),
        (
            {
                let mut a = args(&server.url(), &["linux/app=app"]);
                a[5] = "abc123".into();
                a
            },
            "--commit must be a full commit sha (40 hex digits), got `abc123`",
        ),
        (
            args(
                &server.url(),
                &["--config", "missing.toml", "linux/app=app"],
            ),
            "reading the config file missing.toml",
        ),
    ];
    for (case_args, expected) in cases {
        let output = upload(
            dir.path(),
            case_args,
            vec![("SIZEGATE_TOKEN", TOKEN.into())],
        )
        .await;
        assert!(!output.status.success(), "{expected}");
        let err = stderr(&output);
        assert!(err.contains(expected), "expected `{expected}` in:\n{err}");
    }
    let no_credentials = upload(dir.path(), args(&server.url(), &["linux/app=app"]), vec![]).await;
    assert!(!no_credentials.status.success());
    assert!(stderr(&no_credentials).contains("no credentials"));
    assert_eq!(server.received().len(), 0, "nothing was sent");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", stderr(&output));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn ancestors_come_from_first_parent_history() {
    let server = Server::start(Recorder::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "-q", "-b", "main"]);
    let mut history = Vec::new();
    for i in 0..60 {
        git(
            repo,
            &["commit", "-q", "--allow-empty", "-m", &format!("c{i}")],
        );
        history.push(git(repo, &["rev-parse", "HEAD"]));
    }
    // A merge whose second parent must not appear in first-parent history.
    git(repo, &["checkout", "-q", "-b", "side", &history[50]]);
    git(repo, &["commit", "-q", "--allow-empty", "-m", "side"]);
    let side = git(repo, &["rev-parse", "HEAD"]);
    git(repo, &["checkout", "-q", "main"]);
    git(repo, &["merge", "-q", "--no-ff", "-m", "merge", "side"]);
    let head = git(repo, &["rev-parse", "HEAD"]);
    write_file(repo, "app", b"abc");

    let mut push = args(&server.url(), &["--ancestors-from-git", "linux/app=app"]);
    push[5] = head.clone();
    let output = upload(repo, push, vec![("SIZEGATE_TOKEN", TOKEN.into())]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let meta = server.received()[0].meta();
    let expected: Vec<String> = history.iter().rev().take(50).cloned().collect();
    assert_eq!(meta["ancestors"], json!(expected));
    assert!(!meta["ancestors"].as_array().unwrap().contains(&json!(side)));

    // For a pull request, the history is the base's.
    let mut pr = args(
        &server.url(),
        &[
            "--pr",
            "3",
            "--base-sha",
            &history[9],
            "--ancestors-from-git",
            "linux/app=app",
        ],
    );
    pr[5] = head;
    let output = upload(repo, pr, vec![("SIZEGATE_TOKEN", TOKEN.into())]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let meta = server.received()[1].meta();
    let expected: Vec<String> = history[..9].iter().rev().cloned().collect();
    assert_eq!(meta["ancestors"], json!(expected));

    // A commit the clone does not have: a clear error, nothing sent.
    let output = upload(
        repo,
        args(&server.url(), &["--ancestors-from-git", "linux/app=app"]),
        vec![("SIZEGATE_TOKEN", TOKEN.into())],
    )
    .await;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("fetch-depth"),
        "{}",
        stderr(&output)
    );
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn github_oidc_token_is_requested_for_the_server_audience() {
    let server = Server::start(Recorder::default()).await;
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "app", b"abc");
    let request_url = format!("{}/oidc-token?api-version=2.0", server.url());
    let output = upload(
        dir.path(),
        args(&format!("{}/", server.url()), &["linux/app=app"]),
        vec![
            ("ACTIONS_ID_TOKEN_REQUEST_URL", request_url),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runner-secret".into()),
        ],
    )
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let oidc = server.rec.lock().unwrap().oidc_requests.clone();
    assert_eq!(
        oidc,
        vec![(Some("Bearer runner-secret".into()), server.url())],
        "audience is the server URL without the trailing slash"
    );
    assert_eq!(
        server.received()[0].authorization.as_deref(),
        Some(&*format!("Bearer oidc-token-for:{}", server.url()))
    );
}

/// A GitHub OIDC token is single-use (the server remembers its id), so a
/// retry after a 503 asks the runner for a fresh token instead of sending
/// the used one again.
#[tokio::test]
async fn every_attempt_gets_a_fresh_github_oidc_token() {
    let server = Server::start(Recorder {
        fail_first: 1,
        ..Recorder::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "app", b"abc");
    let request_url = format!("{}/oidc-token?api-version=2.0", server.url());
    let output = upload(
        dir.path(),
        args(&server.url(), &["linux/app=app"]),
        vec![
            ("ACTIONS_ID_TOKEN_REQUEST_URL", request_url),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runner-secret".into()),
        ],
    )
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(server.received().len(), 2, "one retry after the 503");
    assert_eq!(
        server.rec.lock().unwrap().oidc_requests.len(),
        2,
        "one OIDC token per attempt"
    );
}
