//! GitHub faults end to end: a real server and worker over a fresh
//! database, the fake analyzer, and the fake GitHub playing a script of
//! faults per endpoint — 500s, a secondary rate limit without headers, a
//! 429 with `retry-after`, answers slower than the client's timeout to
//! creates GitHub did carry out. The report must get through with exactly
//! one comment and one check run, with the waits the retry policy
//! documents; and when GitHub keeps failing, the report ends `failed` with
//! the reason, in the API and on the dashboard, and nothing is posted.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use common::{TestServer, github_app_key, sha};
use serde_json::{Value, json};
use sizegate_github::fake::{FailureRule, FakeGitHub, FakeGitHubConfig, InjectedFailure};
use sizegate_github::{FakeClock, GitHubClient, GitHubConfig};
use sizegate_server::ServerConfig;

const REPO: &str = "octo-org/app";
const OWNER: &str = "octo-org";
const NAME: &str = "app";
const APP_ID: u64 = 4242;
const PR: u64 = 12;
const TARGET: &str = "x86_64-unknown-linux-gnu/app";

struct Setup {
    server: TestServer,
    github: FakeGitHub,
    clock: Arc<FakeClock>,
    token: String,
}

/// The client waits on a fake clock (its waits are recorded, not slept),
/// but its requests time out after one real second.
async fn setup(pool: sqlx::PgPool, max_attempts: u32) -> Setup {
    let (pem, der) = github_app_key();
    let clock = Arc::new(FakeClock::new());
    let github = FakeGitHub::start(
        FakeGitHubConfig::new(APP_ID, der, clock.clone()).with_repo(OWNER, NAME, 77),
    )
    .await
    .unwrap();
    let mut config = GitHubConfig::new(APP_ID, pem);
    config.api_url = github.url();
    config.request_timeout = Duration::from_secs(1);
    config.retry.max_attempts = max_attempts;
    let client = Arc::new(GitHubClient::with_clock(config, clock.clone()).unwrap());
    let server_config = ServerConfig {
        github: Some(client.clone()),
        ..ServerConfig::for_tests()
    };
    let server = TestServer::start_reporting(pool, server_config, true, Some(client)).await;
    let token = server.token(REPO).await;
    Setup {
        server,
        github,
        clock,
        token,
    }
}

async fn upload(setup: &Setup, commit: &str, pr: Option<u64>) {
    let mut meta = json!({ "repo": REPO, "commit": commit, "branch": "main" });
    if let Some(number) = pr {
        meta["pr"] = json!(number);
        meta["base_sha"] = json!(sha(1));
        meta["branch"] = json!("feature");
    }
    let bytes = format!("artifact of {commit}\n").into_bytes();
    let (status, body) = setup
        .server
        .upload(Some(&setup.token), &meta, &[(TARGET, bytes)])
        .await;
    assert_eq!(status, 202, "{body}");
}

/// Poll the report of `commit` until `done` holds (50 s at most); a
/// failure lists the calls the fake GitHub received.
async fn wait_report(setup: &Setup, commit: &str, done: impl Fn(&Value) -> bool) -> Value {
    let calls = || {
        let calls: Vec<String> = setup
            .github
            .calls()
            .iter()
            .map(|c| format!("{} {} {}", c.method, c.path, c.status))
            .collect();
        format!("\ncalls: {calls:#?}")
    };
    setup
        .server
        .wait_for_report(REPO, commit, Duration::from_secs(50), done, calls)
        .await
}

#[sqlx::test(migrations = "../../migrations")]
async fn scripted_github_faults_are_retried_and_nothing_is_posted_twice(pool: sqlx::PgPool) {
    let setup = setup(pool, 5).await;
    let slow = InjectedFailure::Slow(Duration::from_secs(3));
    // The script, played in this order on each endpoint.
    for rule in [
        FailureRule::next(1, InjectedFailure::ServerError).matching(Method::GET, "/comments"),
        FailureRule::next(1, InjectedFailure::SecondaryRateLimit)
            .matching(Method::POST, "/comments"),
        FailureRule::next(1, slow.clone())
            .matching(Method::POST, "/comments")
            .after_applying(),
        FailureRule::next(1, InjectedFailure::TooManyRequests(3))
            .matching(Method::GET, "/check-runs"),
        FailureRule::next(1, slow)
            .matching(Method::POST, "/check-runs")
            .after_applying(),
    ] {
        setup.github.fail(rule);
    }
    upload(&setup, &sha(2), Some(PR)).await;
    let report = wait_report(&setup, &sha(2), |b| b["report_state"] == "posted").await;

    let comments = setup.github.comments(OWNER, NAME, PR);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(
        comments[0].body,
        report["comment_markdown"].as_str().unwrap()
    );
    let checks = setup.github.check_runs(OWNER, NAME, &sha(2));
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(checks[0].status, "completed");

    // The waits: backoff after the 500, GitHub's minute after the bare
    // secondary limit, backoff after each timeout, retry-after for the 429.
    let waits: Vec<u64> = setup.clock.sleeps().iter().map(Duration::as_secs).collect();
    assert_eq!(waits, [1, 60, 4, 3, 2], "{waits:?}");
    // Each create reached GitHub once more after it timed out... as a
    // look-up, never as a second create.
    let creates: Vec<(String, u16)> = setup
        .github
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && !c.path.contains("access_tokens"))
        .map(|c| (c.path.clone(), c.status))
        .collect();
    assert_eq!(
        creates,
        [
            (format!("/repos/{REPO}/issues/{PR}/comments"), 403),
            (format!("/repos/{REPO}/issues/{PR}/comments"), 201),
            (format!("/repos/{REPO}/check-runs"), 201),
        ]
    );
    let status = setup.server.wait_complete(REPO, &sha(2)).await;
    assert_eq!(status["targets"][0]["attempts"], 1, "{status}");
    setup.server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_github_that_keeps_failing_ends_in_a_recorded_failure(pool: sqlx::PgPool) {
    let setup = setup(pool, 2).await;
    setup.github.fail(
        FailureRule::next(1000, InjectedFailure::ServerError).matching(Method::POST, "/check-runs"),
    );
    upload(&setup, &sha(3), None).await;
    // Each job attempt tries twice; the queue gives up after three attempts.
    let status = setup.server.wait_complete(REPO, &sha(3)).await;
    assert_eq!(status["targets"][0]["status"], "failed", "{status}");
    assert_eq!(status["targets"][0]["attempts"], 3, "{status}");
    let error = status["targets"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("posting the check run failed"), "{status}");

    let report = wait_report(&setup, &sha(3), |b| b["report_state"] == "failed").await;
    let reason = report["report_last_error"].as_str().unwrap();
    assert!(reason.contains("posting the check run failed"), "{reason}");
    assert!(reason.contains("gave up after 2 attempts"), "{reason}");
    assert!(reason.contains("500"), "{reason}");
    assert!(
        setup.github.check_runs(OWNER, NAME, &sha(3)).is_empty(),
        "nothing posted"
    );
    let posts = setup
        .github
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/check-runs"))
        .count();
    assert_eq!(posts, 6, "two tries in each of three job attempts");

    // The dashboard says so too.
    let (code, page) = setup
        .server
        .get_text(&format!("/repos/{REPO}/commits/{}", sha(3)))
        .await;
    assert_eq!(code, 200);
    assert!(page.contains("posting failed"), "{page}");
    assert!(page.contains("posting the check run failed"), "{page}");
    setup.server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_permanent_github_refusal_fails_the_job_without_retrying(pool: sqlx::PgPool) {
    let setup = setup(pool, 2).await;
    // The repository is gone: GitHub answers 404 to every check run.
    setup.github.fail(
        FailureRule::next(1000, InjectedFailure::NotFound).matching(Method::POST, "/check-runs"),
    );
    upload(&setup, &sha(4), None).await;
    let status = setup.server.wait_complete(REPO, &sha(4)).await;
    assert_eq!(status["targets"][0]["status"], "failed", "{status}");
    assert_eq!(
        status["targets"][0]["attempts"], 1,
        "a 404 is not retried: {status}"
    );
    let report = wait_report(&setup, &sha(4), |b| b["report_state"] == "failed").await;
    let reason = report["report_last_error"].as_str().unwrap();
    assert!(reason.contains("posting the check run failed"), "{reason}");
    assert!(reason.contains("404"), "{reason}");
    setup.server.stop().await;
}
