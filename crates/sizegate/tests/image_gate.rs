//! Container images as gated targets, end to end: `sizegate upload
//! x86_64-linux/app-image=app.tar` to `serve` with the real analyzer, a
//! `[[budget]] metric = "compressed"` judging the image (pass under it,
//! fail over it) in the check run on the fake GitHub, the pull request
//! comment's image details, and the same metric on a binary target as a
//! configuration error in the check.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{create_token, database_url, drop_database, fresh_name, start_serve, wait_for_commit};

const OWNER: &str = "acme";
const NAME: &str = "app";
const REPO: &str = "acme/app";
const IMAGE: &str = "x86_64-linux/app-image";

const CONFIG: &str = r#"
[[budget]]
target = "*-image"
metric = "compressed"
max_size = "80 KiB"

[[budget.unit]]
name = "layer:0"
max_size = "64 KiB"

[[budget]]
target = "*"
metric = "compressed"
max_size = "1 MiB"
"#;

fn run(cmd: &mut Command) {
    let status = cmd.status().unwrap();
    assert!(status.success(), "{cmd:?}");
}

/// Bytes that do not compress (an xorshift stream), so the gzip layer is
/// about as large as the file.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A `docker save` archive with two gzip layers: a base (`etc/os-release`,
/// a 1 KiB text) and `usr/local/bin/app` of `app` incompressible bytes.
fn docker_archive(dir: &Path, tag: &str, app: usize) -> PathBuf {
    let work = dir.join(tag);
    let base = work.join("base");
    let top = work.join("top");
    std::fs::create_dir_all(base.join("etc")).unwrap();
    std::fs::create_dir_all(top.join("usr/local/bin")).unwrap();
    std::fs::write(base.join("etc/os-release"), "ID=test\n".repeat(128)).unwrap();
    std::fs::write(top.join("usr/local/bin/app"), noise(app, 7)).unwrap();
    let save = work.join("save");
    for (i, src) in [&base, &top].into_iter().enumerate() {
        std::fs::create_dir_all(save.join(format!("l{i}"))).unwrap();
        let tar = work.join(format!("l{i}.tar"));
        run(Command::new("tar")
            .arg("-cf")
            .arg(&tar)
            .arg("-C")
            .arg(src)
            .arg("."));
        run(Command::new("gzip").arg("-n").arg(&tar));
        std::fs::rename(
            work.join(format!("l{i}.tar.gz")),
            save.join(format!("l{i}/layer.tar")),
        )
        .unwrap();
    }
    std::fs::write(
        save.join("config.json"),
        serde_json::to_vec(&serde_json::json!({"os": "linux", "architecture": "amd64",
            "history": [{"created_by": "ADD base /"}, {"created_by": "COPY app /usr/local/bin/app"}]}))
        .unwrap(),
    )
    .unwrap();
    std::fs::write(
        save.join("manifest.json"),
        serde_json::to_vec(
            &serde_json::json!([{"Config": "config.json", "RepoTags": ["app:1"],
            "Layers": ["l0/layer.tar", "l1/layer.tar"]}]),
        )
        .unwrap(),
    )
    .unwrap();
    let archive = dir.join(format!("{tag}.tar"));
    run(Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(&save)
        .arg("."));
    archive
}

/// `sizegate upload` of `artifacts` for `sha`; extra flags (`--pr`, ...).
fn upload(url: &str, token: &str, sha: &str, extra: &[&str], artifacts: &[String], config: &Path) {
    let out = Command::new(common::BIN)
        .args(["upload", "--server", url, "--token", token, "--repo", REPO])
        .args(["--commit", sha, "--config"])
        .arg(config)
        .args(extra)
        .args(artifacts)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "upload failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn check_run(github: &sizegate_github::fake::FakeGitHub, sha: &str) -> (String, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let runs = github.check_runs(OWNER, NAME, sha);
        if let Some(run) = runs.iter().find(|r| r.status == "completed") {
            return (
                run.conclusion.clone().unwrap_or_default(),
                format!("{}\n{}", run.title, run.summary),
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no check run: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_compressed_budget_gates_an_image_uploaded_with_the_cli() {
    sizegate_store::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let (github, github_env) = common::github::start(dir.path(), OWNER, NAME).await;
    let envs: Vec<(&str, &OsStr)> = github_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_os_str()))
        .collect();
    let name = fresh_name("images");
    let db = database_url(&name);
    let (server, url) = start_serve(
        &db,
        &dir.path().join("data"),
        None,
        &dir.path().join("serve.log"),
        false,
        &envs,
    );
    let token = create_token(&db, REPO);
    let config = dir.path().join("sizegate.toml");
    std::fs::write(&config, CONFIG).unwrap();

    // main: a 48 KiB app, about 49 KiB of layer blobs: within 80 KiB.
    let small = docker_archive(dir.path(), "small", 48 * 1024);
    let main_sha = "a".repeat(40);
    let image_arg = |p: &Path| format!("{IMAGE}={}", p.display());
    upload(
        &url,
        &token,
        &main_sha,
        &["--branch", "main"],
        &[image_arg(&small)],
        &config,
    );
    let status = wait_for_commit(&url, REPO, &main_sha).await;
    let target = &status["targets"][0];
    assert_eq!(target["status"], "done", "{status}\n{}", server.log_text());
    assert_eq!(target["format"], "docker-archive");
    let compressed = target["sizes"]["compressed"].as_u64().unwrap();
    assert!((48 * 1024..80 * 1024).contains(&compressed), "{status}");
    assert!(target["sizes"]["uncompressed"].as_u64().unwrap() > 48 * 1024);
    assert!(target["sizes"]["pull"].as_u64().unwrap() > compressed);
    let (conclusion, summary) = check_run(&github, &main_sha).await;
    assert_eq!(
        conclusion, "neutral",
        "within budget, no baseline: {summary}"
    );

    // A pull request growing the app to 56 KiB: still within 80 KiB.
    let medium = docker_archive(dir.path(), "medium", 56 * 1024);
    let under_sha = "d".repeat(40);
    upload(
        &url,
        &token,
        &under_sha,
        &["--branch", "feature", "--pr", "4", "--base-sha", &main_sha],
        &[image_arg(&medium)],
        &config,
    );
    wait_for_commit(&url, REPO, &under_sha).await;
    let (conclusion, summary) = check_run(&github, &under_sha).await;
    assert_eq!(conclusion, "success", "{summary}");

    // A pull request doubling the app: about 97 KiB of blobs, over 80 KiB.
    let big = docker_archive(dir.path(), "big", 96 * 1024);
    let pr_sha = "b".repeat(40);
    upload(
        &url,
        &token,
        &pr_sha,
        &["--branch", "feature", "--pr", "5", "--base-sha", &main_sha],
        &[image_arg(&big)],
        &config,
    );
    wait_for_commit(&url, REPO, &pr_sha).await;
    let (conclusion, summary) = check_run(&github, &pr_sha).await;
    assert_eq!(conclusion, "failure", "{summary}");
    assert!(summary.contains("compressed"), "{summary}");
    let comments = github.comments(OWNER, NAME, 5);
    assert_eq!(comments.len(), 1, "{comments:?}");
    let body = &comments[0].body;
    for needle in [
        "`x86_64-linux/app-image`: compressed",
        "uncompressed: `/usr/local/bin/app` +48.0 KiB.",
        "**Layers**",
        "`layer 2: COPY app /usr/local/bin/app`",
        "**Files (owner)**",
        "sizes are `shipped` bytes (x86\\_64-linux/app-image: `compressed`)",
    ] {
        assert!(body.contains(needle), "{needle} missing from:\n{body}");
    }

    // The dashboard charts the image in its metrics.
    let page = reqwest::get(format!(
        "{url}/repos/{REPO}/targets/{IMAGE}?metric=compressed&branch=main"
    ))
    .await
    .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("compressed size of"), "{page}");
    // The pull request's commit page: the layer chart, the file treemap
    // and the layer and file changes against the baseline.
    let page = reqwest::get(format!("{url}/repos/{REPO}/commits/{pr_sha}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        r#"<svg class="layers""#,
        "1: COPY app /usr/local/bin/app",
        "bytes by file (largest: /usr/local/bin/app)",
        "Layers changed",
        "Files changed",
        "<th scope=\"row\">compressed</th>",
    ] {
        assert!(
            page.contains(needle),
            "{needle} missing from the commit page"
        );
    }

    // A binary under a budget on `compressed`: a configuration error.
    let hello = common::build_hello(dir.path());
    let binary_sha = "c".repeat(40);
    upload(
        &url,
        &token,
        &binary_sha,
        &["--branch", "main"],
        &[format!("x86_64-linux/hello={}", hello.display())],
        &config,
    );
    wait_for_commit(&url, REPO, &binary_sha).await;
    let (conclusion, summary) = check_run(&github, &binary_sha).await;
    assert_eq!(conclusion, "failure", "{summary}");
    assert!(
        summary.contains("configuration error") && summary.contains("not an image"),
        "{summary}"
    );

    drop(server);
    drop_database(&name).await;
}

/// Peak resident memory of a running process, from `/proc/PID/status`.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A 300 MiB image (one uncompressed layer holding a file of zeros) goes
/// through `sizegate upload` in a chunked session, the server's blob store
/// and the limited analyzer child, with the memory of the CLI and of the
/// server far below the image's size.
#[tokio::test]
async fn a_300_mib_image_streams_through_upload_and_analysis_in_bounded_memory() {
    sizegate_store::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let name = fresh_name("bigimage");
    let db = database_url(&name);
    let max = (1u64 << 30).to_string();
    let envs: Vec<(&str, &OsStr)> = vec![
        ("SIZEGATE_MAX_ARTIFACT_BYTES", OsStr::new(&max)),
        ("SIZEGATE_MAX_UPLOAD_BYTES", OsStr::new(&max)),
    ];
    let (server, url) = start_serve(
        &db,
        &dir.path().join("data"),
        None,
        &dir.path().join("serve.log"),
        false,
        &envs,
    );
    let token = create_token(&db, REPO);

    // The layer: a 300 MiB file of zeros, stored (not compressed).
    let work = dir.path().join("big");
    let rootfs = work.join("rootfs/opt");
    std::fs::create_dir_all(&rootfs).unwrap();
    let zeros = std::fs::File::create(rootfs.join("zeros")).unwrap();
    zeros.set_len(300 << 20).unwrap();
    drop(zeros);
    let save = work.join("save");
    std::fs::create_dir_all(save.join("l0")).unwrap();
    run(Command::new("tar")
        .arg("-cf")
        .arg(save.join("l0/layer.tar"))
        .arg("-C")
        .arg(work.join("rootfs"))
        .arg("."));
    std::fs::remove_file(rootfs.join("zeros")).unwrap();
    std::fs::write(
        save.join("config.json"),
        br#"{"os":"linux","architecture":"amd64","history":[{"created_by":"ADD zeros /opt"}]}"#,
    )
    .unwrap();
    std::fs::write(
        save.join("manifest.json"),
        br#"[{"Config":"config.json","RepoTags":["big:1"],"Layers":["l0/layer.tar"]}]"#,
    )
    .unwrap();
    let archive = dir.path().join("big.tar");
    run(Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(&save)
        .arg("."));
    std::fs::remove_dir_all(&save).unwrap();
    let archive_size = std::fs::metadata(&archive).unwrap().len();
    assert!(archive_size > 300 << 20);

    // The CLI under /usr/bin/time: its peak RSS in KiB is the last line.
    let sha = "e".repeat(40);
    let out = Command::new("/usr/bin/time")
        .args([
            "-f",
            "%M",
            common::BIN,
            "upload",
            "--server",
            &url,
            "--token",
            &token,
        ])
        .args(["--repo", REPO, "--commit", &sha, "--branch", "main"])
        .arg(format!("{IMAGE}={}", archive.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "upload failed: {stderr}");
    let cli_kib: u64 = stderr.lines().last().unwrap().trim().parse().unwrap();
    let status = wait_for_commit(&url, REPO, &sha).await;
    let target = &status["targets"][0];
    assert_eq!(target["status"], "done", "{status}\n{}", server.log_text());
    assert_eq!(target["artifact_size"], archive_size);
    assert!(target["sizes"]["uncompressed"].as_u64().unwrap() > 300 << 20);
    let server_kib = peak_rss_kib(server.pid());
    eprintln!(
        "300 MiB image: CLI peak RSS {} MiB, serve peak RSS {} MiB",
        cli_kib >> 10,
        server_kib >> 10
    );
    assert!(cli_kib < 64 << 10, "CLI peak RSS {cli_kib} KiB");
    assert!(server_kib < 128 << 10, "serve peak RSS {server_kib} KiB");
    drop(server);
    drop_database(&name).await;
}
