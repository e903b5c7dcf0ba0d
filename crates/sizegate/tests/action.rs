//! The GitHub Action's script on a pull request, as GitHub runs it: a shallow
//! checkout of the merge commit, the real `pull_request` webhook payload
//! (adapted to the test repository) in `GITHUB_EVENT_PATH`, and a running
//! `sizegate serve`. What the server stored must be the PR head, its base and
//! the base's first-parent history, the config and every artifact.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{create_token, database_url, drop_database, fresh_name, start_serve};
use serde_json::Value;

/// Commits on main before the pull request: more than the 50 ancestors the
/// script sends, so that the limit is exercised.
const MAIN_COMMITS: usize = 60;

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn commit_file(dir: &Path, content: &str) {
    std::fs::write(dir.join("f"), content).unwrap();
    git(dir, &["add", "f"]);
    git(dir, &["commit", "-q", "-m", content]);
}

/// The real `pull_request.opened` payload, pointed at our repository.
fn pull_request_event(head: &str, base: &str, number: u64) -> Value {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../sizegate-github/tests/fixtures/webhooks/pull_request.opened.json");
    let mut event: Value = serde_json::from_slice(&std::fs::read(fixture).unwrap()).unwrap();
    event["number"] = number.into();
    let pr = &mut event["pull_request"];
    pr["number"] = number.into();
    pr["head"]["sha"] = head.into();
    pr["head"]["ref"] = "feature/smaller".into();
    pr["base"]["sha"] = base.into();
    pr["base"]["ref"] = "main".into();
    event["repository"]["full_name"] = "acme/app".into();
    event
}

#[tokio::test]
async fn pull_request_upload_sends_the_head_its_base_and_the_base_history() {
    sizegate_store::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();

    // The repository on "GitHub": main, a feature branch, and the merge
    // commit GitHub builds for the pull request under refs/pull/7/merge.
    let upstream = dir.path().join("upstream");
    std::fs::create_dir(&upstream).unwrap();
    git(&upstream, &["init", "-q", "-b", "main"]);
    git(
        &upstream,
        &["config", "uploadpack.allowAnySHA1InWant", "true"],
    );
    for i in 0..MAIN_COMMITS {
        commit_file(&upstream, &format!("main {i}"));
    }
    let base = git(&upstream, &["rev-parse", "HEAD"]);
    let base_history = git(&upstream, &["rev-list", "--first-parent", "HEAD"]);
    git(&upstream, &["checkout", "-q", "-b", "feature/smaller"]);
    std::fs::write(upstream.join("g"), "feature").unwrap();
    git(&upstream, &["add", "g"]);
    git(&upstream, &["commit", "-q", "-m", "feature"]);
    let head = git(&upstream, &["rev-parse", "HEAD"]);
    git(&upstream, &["checkout", "-q", "main"]);
    git(
        &upstream,
        &["merge", "-q", "--no-ff", "-m", "merge", "feature/smaller"],
    );
    let merge = git(&upstream, &["rev-parse", "HEAD"]);
    git(&upstream, &["update-ref", "refs/pull/7/merge", &merge]);
    git(&upstream, &["reset", "-q", "--hard", &base]);

    // What actions/checkout leaves: the merge commit alone, depth 1.
    let checkout = dir.path().join("checkout");
    std::fs::create_dir(&checkout).unwrap();
    git(&checkout, &["init", "-q"]);
    let origin = format!("file://{}", upstream.display());
    git(&checkout, &["remote", "add", "origin", &origin]);
    git(
        &checkout,
        &["fetch", "-q", "--depth=1", "origin", "refs/pull/7/merge"],
    );
    git(&checkout, &["checkout", "-q", "FETCH_HEAD"]);
    std::fs::write(
        checkout.join("sizegate.toml"),
        "metric = \"shipped\"\n\n[[budget]]\ntarget = \"*\"\nmax_size = \"8 MiB\"\n",
    )
    .unwrap();
    std::fs::create_dir(checkout.join("dist")).unwrap();
    std::fs::write(checkout.join("dist/app"), vec![1u8; 1000]).unwrap();
    std::fs::write(checkout.join("dist/a.wasm"), vec![2u8; 300]).unwrap();
    std::fs::write(checkout.join("dist/b.wasm"), vec![3u8; 200]).unwrap();

    let event_path = dir.path().join("event.json");
    std::fs::write(
        &event_path,
        serde_json::to_vec_pretty(&pull_request_event(&head, &base, 7)).unwrap(),
    )
    .unwrap();
    let output_path = dir.path().join("github_output");
    let summary_path = dir.path().join("step_summary");

    let name = fresh_name("action-pr");
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
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.github/actions/upload/upload.sh");
    let output = Command::new("bash")
        .arg(&script)
        .current_dir(&checkout)
        .env("INPUT_SERVER", format!("{url}/"))
        // A bare path, an explicit target, and a glob under a target.
        .env(
            "INPUT_FILES",
            "dist/app\n  web/app.wasm=dist/a.wasm\n\nweb/all=dist/*.wasm\n",
        )
        .env("INPUT_TOKEN", &token)
        .env("INPUT_FAIL_ON_ERROR", "true")
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", &event_path)
        .env("GITHUB_SHA", &merge)
        .env("GITHUB_REF", "refs/pull/7/merge")
        .env("GITHUB_REF_NAME", "7/merge")
        .env("RUNNER_OS", "Linux")
        .env("RUNNER_ARCH", "X64")
        .env("GITHUB_OUTPUT", &output_path)
        .env("GITHUB_STEP_SUMMARY", &summary_path)
        .env_remove("INPUT_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "upload.sh failed:\n{stdout}\n{stderr}"
    );

    let status_url = format!("{url}/api/v1/repos/acme/app/commits/{head}");
    assert!(stdout.contains(&status_url), "{stdout}");
    let outputs = std::fs::read_to_string(&output_path).unwrap();
    assert!(
        outputs.contains(&format!("status-url={status_url}")),
        "{outputs}"
    );
    let summary = std::fs::read_to_string(&summary_path).unwrap();
    for target in [
        "linux-x64/app",
        "web/app.wasm",
        "web/all/a.wasm",
        "web/all/b.wasm",
    ] {
        assert!(summary.contains(target), "{target} missing in\n{summary}");
    }

    let commit = common::wait_for_commit(&url, "acme/app", &head).await;
    let client = reqwest::Client::new();
    // The PR head, not the merge commit; the base and its history.
    assert_eq!(commit["sha"], head.as_str());
    assert_eq!(commit["branch"], "feature/smaller");
    assert_eq!(commit["pr_number"], 7);
    assert_eq!(commit["base_sha"], base.as_str());
    let expected: Vec<&str> = base_history.lines().skip(1).take(50).collect();
    assert_eq!(expected.len(), 50);
    assert_eq!(commit["ancestors"], serde_json::json!(expected));
    let mut sizes: Vec<(String, i64)> = commit["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t["status"], "done", "{t}");
            (
                t["target"].as_str().unwrap().to_string(),
                t["sizes"]["file"].as_i64().unwrap(),
            )
        })
        .collect();
    sizes.sort();
    assert_eq!(
        sizes,
        [
            ("linux-x64/app".to_string(), 1000),
            ("web/all/a.wasm".to_string(), 300),
            ("web/all/b.wasm".to_string(), 200),
            ("web/app.wasm".to_string(), 300),
        ]
    );
    let merge_status = client
        .get(format!("{url}/api/v1/repos/acme/app/commits/{merge}"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(merge_status, reqwest::StatusCode::NOT_FOUND);

    // The config went along verbatim.
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let config: Option<String> = sqlx::query_scalar("SELECT config FROM commits WHERE sha = $1")
        .bind(&head)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        config.as_deref(),
        Some("metric = \"shipped\"\n\n[[budget]]\ntarget = \"*\"\nmax_size = \"8 MiB\"")
    );
    pool.close().await;

    server.terminate();
    assert!(server.wait_timeout(Duration::from_secs(30)).success());
    drop(server);
    drop_database(&name).await;
}

#[test]
fn missing_artifacts_and_bad_input_fail_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.github/actions/upload/upload.sh");
    let run = |files: &str, fail_on_error: &str| {
        Command::new("bash")
            .arg(&script)
            .current_dir(dir.path())
            .env("INPUT_SERVER", "http://127.0.0.1:9")
            .env("INPUT_FILES", files)
            .env("INPUT_TOKEN", "t")
            .env("INPUT_FAIL_ON_ERROR", fail_on_error)
            .env("GITHUB_REPOSITORY", "acme/app")
            .env("GITHUB_EVENT_NAME", "push")
            .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
            .env("GITHUB_REF_NAME", "main")
            .env_remove("GITHUB_EVENT_PATH")
            .output()
            .unwrap()
    };
    let out = run("app=dist/nothing-here", "true");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("dist/nothing-here"), "{stderr}");

    std::fs::write(dir.path().join("x"), b"x").unwrap();
    let out = run("../escape=x", "true");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("'..'"));

    // fail-on-error: false reports the error but lets the job go on.
    let out = run("app=dist/nothing-here", "false");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dist/nothing-here"));
}

/// `wait: true`: the step waits for the gate, writes the comment into the
/// job summary, sets the `conclusion` output, and fails over budget unless
/// `fail-on-gate` is false.
#[tokio::test]
async fn wait_makes_the_step_the_gate() {
    sizegate_store::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    commit_file(&work, "one");
    std::fs::write(
        work.join("sizegate.toml"),
        "[[budget]]\ntarget = \"*\"\nmax_size = \"1 KiB\"\n",
    )
    .unwrap();
    std::fs::write(work.join("small"), vec![1u8; 1000]).unwrap();
    std::fs::write(work.join("big"), vec![2u8; 8000]).unwrap();
    let name = fresh_name("action-wait");
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
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.github/actions/upload/upload.sh");
    let run = |sha: &str, file: &str, fail_on_gate: &str| {
        let summary = dir.path().join(format!("summary-{sha}"));
        let outputs = dir.path().join(format!("output-{sha}"));
        let output = Command::new("bash")
            .arg(&script)
            .current_dir(&work)
            .env("INPUT_SERVER", &url)
            .env("INPUT_FILES", format!("linux/app={file}"))
            .env("INPUT_TOKEN", &token)
            .env("INPUT_WAIT", "true")
            .env("INPUT_WAIT_TIMEOUT", "60s")
            .env("INPUT_FAIL_ON_GATE", fail_on_gate)
            .env("GITHUB_REPOSITORY", "acme/app")
            .env("GITHUB_EVENT_NAME", "push")
            .env("GITHUB_SHA", sha)
            .env("GITHUB_REF_NAME", "main")
            .env("GITHUB_OUTPUT", &outputs)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env_remove("GITHUB_EVENT_PATH")
            .env_remove("INPUT_CONFIG")
            .output()
            .unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (
            output.status.code(),
            log,
            std::fs::read_to_string(summary).unwrap_or_default(),
            std::fs::read_to_string(outputs).unwrap_or_default(),
        )
    };
    // The stand-in analyzer reports shipped = half the file: 500 B passes.
    let (code, log, summary, outputs) = run(&"a1".repeat(20), "small", "true");
    assert_eq!(code, Some(0), "{log}\n{}", server.log_text());
    assert!(log.contains("sizegate: waiting: linux/app"), "{log}");
    assert!(summary.contains("<!-- sizegate:comment -->"), "{summary}");
    assert!(outputs.contains("conclusion="), "{outputs}");
    // 4000 B is over budget: the step fails...
    let (code, log, summary, _) = run(&"b2".repeat(20), "big", "true");
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("concluded 'failure'"), "{log}");
    assert!(summary.contains("linux/app"), "{summary}");
    // ...unless fail-on-gate is false.
    let (code, log, _, outputs) = run(&"c3".repeat(20), "big", "false");
    assert_eq!(code, Some(0), "{log}");
    assert!(outputs.contains("conclusion=failure"), "{outputs}");
    drop(server);
    drop_database(&name).await;
}
