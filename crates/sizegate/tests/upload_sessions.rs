//! Resumable upload sessions against a real `sizegate serve`: a large
//! artifact sent by `sizegate upload` through a proxy that cuts the
//! connection at 60% completes after resuming from the server's offset,
//! resending little; a finishing PUT with a wrong sha256 is refused and
//! leaves nothing behind; an abandoned session is collected by `gc`; a
//! session that would pass the quota is refused at once.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;

use common::proxy::Proxy;
use common::{BIN, create_token, drop_database, serve_fake};
use serde_json::{Value, json};
use sha2::Digest as _;

const MIB: u64 = 1 << 20;

fn sha_of(n: u8) -> String {
    format!("{n:02x}").repeat(20)
}

/// A file of `size` bytes that differs everywhere (a chunk out of place
/// would change its sha256); returns its path and sha256.
fn pattern_file(dir: &Path, size: u64) -> (PathBuf, String) {
    let path = dir.join(format!("pattern-{size}"));
    let mut hasher = sha2::Sha256::new();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut block = vec![0u8; MIB as usize];
    for i in 0..size.div_ceil(MIB) {
        for (j, b) in block.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31) ^ (j as u8).wrapping_mul(7) ^ ((j >> 8) as u8);
        }
        let n = (size - i * MIB).min(MIB) as usize;
        std::io::Write::write_all(&mut out, &block[..n]).unwrap();
        hasher.update(&block[..n]);
    }
    std::io::Write::flush(&mut out).unwrap();
    (path, hex::encode(hasher.finalize()))
}

/// Files under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn a_large_upload_cut_at_60_percent_resumes_and_resends_little() {
    let server = serve_fake("sess_resume", &[]);
    let token = create_token(&server.db, "acme/app");
    let proxy = Proxy::start(&server.url).await;
    let size = 200 * MIB;
    let (path, sha256) = pattern_file(server.dir.path(), size);
    proxy
        .counters
        .cut_after
        .store(size * 6 / 10, Ordering::SeqCst);
    let commit = sha_of(0xb1);
    let mut command = Command::new(BIN);
    command
        .args([
            "upload", "--server", &proxy.url, "--repo", "acme/app", "--commit", &commit,
        ])
        .args([
            "--branch",
            "main",
            "--chunked-threshold",
            "1048576",
            "--chunk-size",
        ])
        .arg((8 * MIB).to_string())
        .arg(format!("big/app={}", path.display()))
        .env("SIZEGATE_TOKEN", &token)
        .env_remove("SIZEGATE_SERVER")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL");
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{err}");
    assert!(
        proxy.counters.cut.load(Ordering::SeqCst),
        "the proxy cut once"
    );
    assert!(err.contains("going on from there"), "{err}");
    let sent = proxy.upstream();
    let resent = sent.saturating_sub(size);
    assert!(
        resent * 100 <= size * 45,
        "sent {sent} bytes for {size}: {resent} again"
    );
    // The artifact is there, whole, under its sha256.
    let blob = server
        .data
        .join("artifacts")
        .join(&sha256[..2])
        .join(&sha256);
    assert_eq!(std::fs::metadata(&blob).unwrap().len(), size);
    let status = common::wait_for_commit(&server.url, "acme/app", &commit).await;
    let targets = status["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1, "{status}");
    assert_eq!(targets[0]["sha256"], sha256.as_str(), "{status}");
    // No chunk is left behind.
    assert!(files_under(&server.data.join("upload-sessions")).is_empty());
    drop_database(&server.name).await;
}

async fn create_session(
    client: &reqwest::Client,
    server: &common::FakeServe,
    token: &str,
    size: u64,
) -> reqwest::Response {
    client
        .post(format!("{}/api/v1/upload-sessions", server.url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(
            json!({
                "meta": {"repo": "acme/app", "commit": sha_of(0xb2), "branch": "main"},
                "target": "app",
                "size": size,
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap()
}

async fn patch(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    start: u64,
    bytes: Vec<u8>,
    size: u64,
) -> reqwest::Response {
    let end = start + bytes.len() as u64 - 1;
    client
        .patch(url)
        .bearer_auth(token)
        .header("content-range", format!("bytes {start}-{end}/{size}"))
        .body(bytes)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_wrong_sha256_is_refused_and_leaves_nothing_and_offsets_are_checked() {
    let server = serve_fake("sess_sha", &[]);
    let token = create_token(&server.db, "acme/app");
    let client = reqwest::Client::new();
    let size = 3 * MIB;
    let bytes: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
    let created = create_session(&client, &server, &token, size).await;
    assert_eq!(created.status().as_u16(), 201);
    let session: Value = created.json().await.unwrap();
    assert_eq!(session["offset"], 0);
    let url = format!("{}{}", server.url, session["url"].as_str().unwrap());

    // Another token's repository does not see it.
    let other = create_token(&server.db, "acme/other");
    let hidden = client.get(&url).bearer_auth(&other).send().await.unwrap();
    assert_eq!(hidden.status().as_u16(), 404);

    let first = patch(&client, &url, &token, 0, bytes[..2_000_000].to_vec(), size).await;
    assert_eq!(first.status().as_u16(), 202);
    // A chunk that does not start at the offset: 416 with the offset.
    let gap = patch(
        &client,
        &url,
        &token,
        2_500_000,
        bytes[2_500_000..].to_vec(),
        size,
    )
    .await;
    assert_eq!(gap.status().as_u16(), 416);
    let gap: Value = gap.json().await.unwrap();
    assert_eq!(gap["offset"], 2_000_000);
    let state: Value = client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["offset"], 2_000_000);
    let rest = patch(
        &client,
        &url,
        &token,
        2_000_000,
        bytes[2_000_000..].to_vec(),
        size,
    )
    .await;
    assert_eq!(rest.status().as_u16(), 202);

    let wrong = client
        .put(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(json!({"sha256": "ab".repeat(32)}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 422);
    let message: Value = wrong.json().await.unwrap();
    assert!(
        message["error"]
            .as_str()
            .unwrap()
            .contains("nothing was stored"),
        "{message}"
    );
    // Nothing left: no chunk, no artifact, no session, no build.
    assert!(files_under(&server.data.join("upload-sessions")).is_empty());
    assert!(files_under(&server.data.join("artifacts")).is_empty());
    let gone = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(gone.status().as_u16(), 404);
    let commit = client
        .get(format!(
            "{}/api/v1/repos/acme/app/commits/{}",
            server.url,
            sha_of(0xb2)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(commit.status().as_u16(), 404);
    drop_database(&server.name).await;
}

#[tokio::test]
async fn an_abandoned_session_is_collected_and_the_quota_counts_sessions() {
    let quota = (10 * MIB).to_string();
    let server = serve_fake(
        "sess_gc",
        &[
            ("SIZEGATE_UPLOAD_SESSION_TTL_SECS", OsStr::new("1")),
            ("SIZEGATE_REPO_QUOTA_BYTES", OsStr::new(&quota)),
        ],
    );
    let token = create_token(&server.db, "acme/app");
    let client = reqwest::Client::new();
    // Over the quota from the announced size: refused before any byte.
    let over = create_session(&client, &server, &token, 11 * MIB).await;
    assert_eq!(over.status().as_u16(), 507);

    let size = 4 * MIB;
    let session: Value = create_session(&client, &server, &token, size)
        .await
        .json()
        .await
        .unwrap();
    let url = format!("{}{}", server.url, session["url"].as_str().unwrap());
    let half = patch(
        &client,
        &url,
        &token,
        0,
        vec![7u8; (2 * MIB) as usize],
        size,
    )
    .await;
    assert_eq!(half.status().as_u16(), 202);
    // The open session's 4 MiB count: 7 MiB more do not fit.
    let second = create_session(&client, &server, &token, 7 * MIB).await;
    assert_eq!(second.status().as_u16(), 507);
    assert_eq!(files_under(&server.data.join("upload-sessions")).len(), 1);

    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let expired = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(expired.status().as_u16(), 404);
    let output = Command::new(BIN)
        .args(["gc", "--json", "--database-url", &server.db, "--data-dir"])
        .arg(&server.data)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["upload_sessions"], 1, "{report}");
    assert_eq!(report["upload_session_bytes"], 2 * MIB, "{report}");
    assert!(files_under(&server.data.join("upload-sessions")).is_empty());
    drop_database(&server.name).await;
}

/// The Action's script resumes too: a 64 MiB artifact through the same
/// cutting proxy, in sessions of 8 MiB chunks.
#[tokio::test]
async fn the_action_resumes_a_cut_upload() {
    let server = serve_fake("sess_action", &[]);
    let token = create_token(&server.db, "acme/app");
    let proxy = Proxy::start(&server.url).await;
    let size = 64 * MIB;
    let checkout = server.dir.path().join("checkout");
    std::fs::create_dir_all(checkout.join("dist")).unwrap();
    let (path, sha256) = pattern_file(&checkout.join("dist"), size);
    proxy
        .counters
        .cut_after
        .store(size * 6 / 10, Ordering::SeqCst);
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.github/actions/upload/upload.sh");
    let commit = sha_of(0xb3);
    let mut command = Command::new("bash");
    command
        .arg(&script)
        .current_dir(&checkout)
        .env("INPUT_SERVER", &proxy.url)
        .env("INPUT_FILES", format!("big/app={}", path.display()))
        .env("INPUT_TOKEN", &token)
        .env("INPUT_FAIL_ON_ERROR", "true")
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_SHA", &commit)
        .env("GITHUB_REF_NAME", "main")
        .env("SIZEGATE_CHUNKED_THRESHOLD", "1048576")
        .env("SIZEGATE_CHUNK_SIZE", (8 * MIB).to_string())
        .env_remove("GITHUB_EVENT_PATH")
        .env_remove("INPUT_CONFIG");
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{out}\n{err}");
    assert!(proxy.counters.cut.load(Ordering::SeqCst));
    assert!(out.contains("going on from there"), "{out}");
    let resent = proxy.upstream().saturating_sub(size);
    assert!(resent * 100 <= size * 45, "{resent} bytes sent again");
    let status = common::wait_for_commit(&server.url, "acme/app", &commit).await;
    assert_eq!(status["targets"][0]["sha256"], sha256.as_str(), "{status}");
    assert!(files_under(&server.data.join("upload-sessions")).is_empty());
    drop_database(&server.name).await;
}
