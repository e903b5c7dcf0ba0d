//! End to end: a real server and worker over a fresh database, the fake
//! analyzer (sizes follow the artifact's length: shipped is half of it),
//! and the fake GitHub. A baseline on main, a pull request over budget, a
//! second push, the approval label by webhook, redelivery, a forged
//! signature, and GitHub failing past the client's retries.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{TestServer, github_app_key, sha};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use sizegate_github::fake::{FailureRule, FakeGitHub, FakeGitHubConfig, InjectedFailure};
use sizegate_github::{FakeClock, GitHubClient, GitHubConfig};
use sizegate_server::ServerConfig;

const REPO: &str = "octo-org/app";
const OWNER: &str = "octo-org";
const NAME: &str = "app";
const APP_ID: u64 = 4242;
const INSTALLATION: u64 = 77;
const SECRET: &str = "webhook-secret";
const PR: u64 = 5;
const TARGET: &str = "x86_64-unknown-linux-gnu/app";
const CONFIG: &str =
    "approve_label = \"size-approved\"\n\n[[budget]]\ntarget = \"*\"\nmax_increase = \"100 B\"\n";

struct Setup {
    server: TestServer,
    github: FakeGitHub,
    token: String,
}

async fn setup(pool: sqlx::PgPool) -> Setup {
    let (pem, der) = github_app_key();
    let clock = Arc::new(FakeClock::new());
    let github = FakeGitHub::start(FakeGitHubConfig::new(APP_ID, der, clock.clone()).with_repo(
        OWNER,
        NAME,
        INSTALLATION,
    ))
    .await
    .unwrap();
    let mut config = GitHubConfig::new(APP_ID, pem);
    config.api_url = github.url();
    let client = Arc::new(GitHubClient::with_clock(config, clock).unwrap());
    let server_config = ServerConfig {
        webhook_secret: Some(SECRET.to_owned()),
        github: Some(client.clone()),
        ..ServerConfig::for_tests()
    };
    let server = TestServer::start_reporting(pool, server_config, true, Some(client)).await;
    let token = server.token(REPO).await;
    Setup {
        server,
        github,
        token,
    }
}

fn meta(commit: &str, pr: Option<u64>) -> Value {
    let mut meta = json!({
        "repo": REPO,
        "commit": commit,
        "ancestors": [sha(1)],
        "config": CONFIG,
    });
    match pr {
        Some(number) => {
            meta["pr"] = json!(number);
            meta["base_sha"] = json!(sha(1));
            meta["branch"] = json!("feature");
        }
        None => {
            meta["branch"] = json!("main");
            meta["ancestors"] = json!([]);
        }
    }
    meta
}

/// Upload one artifact of `len` bytes (distinct content per commit).
async fn upload(setup: &Setup, commit: &str, pr: Option<u64>, len: usize) {
    let mut bytes = vec![b'x'; len];
    bytes[..commit.len().min(len)].copy_from_slice(&commit.as_bytes()[..commit.len().min(len)]);
    let (status, body) = setup
        .server
        .upload(Some(&setup.token), &meta(commit, pr), &[(TARGET, bytes)])
        .await;
    assert_eq!(status, 202, "{body}");
}

fn posted(body: &Value) -> bool {
    body["report_state"] == "posted" && body["status"] == "completed"
}

fn signature(body: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn webhook(
    setup: &Setup,
    delivery: &str,
    event: &str,
    body: &Value,
    secret: &str,
) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let response = setup
        .server
        .client
        .post(format!("{}/webhooks/github", setup.server.url))
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", signature(&bytes, secret))
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn labeled(head: &str, labels: &[&str]) -> Value {
    json!({
        "action": "labeled",
        "number": PR,
        "label": { "name": labels.last().copied().unwrap_or("") },
        "pull_request": {
            "number": PR,
            "head": { "sha": head, "ref": "feature" },
            "base": { "sha": sha(1), "ref": "main" },
            "labels": labels.iter().map(|l| json!({ "name": l })).collect::<Vec<_>>(),
        },
        "repository": { "full_name": REPO },
        "installation": { "id": INSTALLATION },
    })
}

async fn count(setup: &Setup, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(setup.server.store.pool())
        .await
        .unwrap()
}

/// Poll the report of `commit` until `done` holds (one minute at most).
async fn wait_report(setup: &Setup, commit: &str, done: impl Fn(&Value) -> bool) -> Value {
    setup
        .server
        .wait_for_report(REPO, commit, Duration::from_secs(60), done, String::new)
        .await
}

#[sqlx::test(migrations = "../../migrations")]
async fn pull_request_gate_reported_to_github(pool: sqlx::PgPool) {
    let setup = setup(pool).await;

    // Baseline on main: shipped 1000 B; a push gets a check, no comment.
    upload(&setup, &sha(1), None, 2000).await;
    let base = wait_report(&setup, &sha(1), posted).await;
    assert_eq!(base["conclusion"], "neutral", "{base}");
    assert_eq!(setup.github.check_runs(OWNER, NAME, &sha(1)).len(), 1);

    // The pull request grows by 500 B shipped, over its 100 B budget.
    upload(&setup, &sha(2), Some(PR), 3000).await;
    let report = wait_report(&setup, &sha(2), posted).await;
    assert_eq!(report["conclusion"], "failure", "{report}");
    let comments = setup.github.comments(OWNER, NAME, PR);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(
        comments[0].body,
        report["comment_markdown"].as_str().unwrap()
    );
    let checks = setup.github.check_runs(OWNER, NAME, &sha(2));
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].conclusion.as_deref(), Some("failure"));
    let status = setup.server.wait_complete(REPO, &sha(2)).await;
    assert_eq!(status["conclusion"], "failure", "{status}");
    assert_eq!(status["targets"][0]["verdict"], "fail", "{status}");
    assert_eq!(status["targets"][0]["baseline"]["sha"], sha(1), "{status}");

    // A second push: the same comment, updated; a new check on the new head.
    upload(&setup, &sha(3), Some(PR), 3100).await;
    let report = wait_report(&setup, &sha(3), posted).await;
    let comments = setup.github.comments(OWNER, NAME, PR);
    assert_eq!(comments.len(), 1);
    assert_eq!(
        comments[0].body,
        report["comment_markdown"].as_str().unwrap()
    );
    assert_ne!(
        comments[0].body,
        setup
            .server
            .get(&format!("/api/v1/repos/{REPO}/commits/{}/report", sha(2)))
            .await
            .1["comment_markdown"]
    );
    assert_eq!(setup.github.check_runs(OWNER, NAME, &sha(3)).len(), 1);
    assert_eq!(setup.github.check_runs(OWNER, NAME, &sha(2)).len(), 1);

    // A forged signature: 401 and nothing written.
    let deliveries = count(&setup, "webhook_deliveries").await;
    let (status, _) = webhook(
        &setup,
        "forged",
        "pull_request",
        &labeled(&sha(3), &["size-approved"]),
        "wrong-secret",
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(count(&setup, "webhook_deliveries").await, deliveries);
    assert_eq!(count(&setup, "pull_requests").await, 0);

    // The approval label: the check passes, still one comment.
    let revision = report["revision"].as_i64().unwrap();
    let (status, body) = webhook(
        &setup,
        "delivery-1",
        "pull_request",
        &labeled(&sha(3), &["size-approved"]),
        SECRET,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["evaluations_requested"], 1, "{body}");
    let approved = wait_report(&setup, &sha(3), |b| {
        posted(b) && b["revision"].as_i64().unwrap() > revision
    })
    .await;
    assert_eq!(approved["conclusion"], "success", "{approved}");
    let checks = setup.github.check_runs(OWNER, NAME, &sha(3));
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].conclusion.as_deref(), Some("success"));
    assert_eq!(setup.github.comments(OWNER, NAME, PR).len(), 1);

    // The same delivery again: a no-op.
    let (status, body) = webhook(
        &setup,
        "delivery-1",
        "pull_request",
        &labeled(&sha(3), &["size-approved"]),
        SECRET,
    )
    .await;
    assert_eq!((status, &body["duplicate"]), (200, &json!(true)), "{body}");
    assert_eq!(count(&setup, "webhook_deliveries").await, 1);

    // GitHub fails past the client's own retries (5 attempts, all 500):
    // the job attempt fails, the queue retries it after its backoff, and
    // the retry posts; still one comment.
    // The push of sha(4) to the pull request (GitHub's `synchronize`,
    // labels kept): labels count only for the pull request's current head.
    let mut synchronize = labeled(&sha(4), &["size-approved"]);
    synchronize["action"] = json!("synchronize");
    let (status, body) = webhook(&setup, "delivery-2", "pull_request", &synchronize, SECRET).await;
    assert_eq!(status, 200, "{body}");
    setup
        .github
        .fail(FailureRule::next(5, InjectedFailure::ServerError));
    upload(&setup, &sha(4), Some(PR), 3200).await;
    let report = wait_report(&setup, &sha(4), posted).await;
    assert_eq!(
        report["conclusion"], "success",
        "labels still approve: {report}"
    );
    assert_eq!(setup.github.comments(OWNER, NAME, PR).len(), 1);
    assert_eq!(setup.github.check_runs(OWNER, NAME, &sha(4)).len(), 1);
    let status = setup.server.wait_complete(REPO, &sha(4)).await;
    assert_eq!(status["targets"][0]["attempts"], 2, "{status}");
    assert_eq!(status["targets"][0]["status"], "done", "{status}");

    setup.server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_matrix_of_targets_gets_one_comment_and_one_check(pool: sqlx::PgPool) {
    let setup = setup(pool).await;
    let targets = ["linux/a", "linux/b", "mac/a", "mac/b", "win/a", "win/b"];
    // Two job loops evaluate and report concurrently as the targets finish.
    let artifacts: Vec<(&str, Vec<u8>)> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| (*t, vec![b'a' + i as u8; 1000 + i]))
        .collect();
    let (status, body) = setup
        .server
        .upload(Some(&setup.token), &meta(&sha(7), Some(PR)), &artifacts)
        .await;
    assert_eq!(status, 202, "{body}");
    setup.server.wait_complete(REPO, &sha(7)).await;
    let report = wait_report(&setup, &sha(7), posted).await;
    let evaluated = report["evaluation"]["targets"].as_array().unwrap();
    assert_eq!(evaluated.len(), targets.len(), "{report}");
    let comments = setup.github.comments(OWNER, NAME, PR);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(
        comments[0].body,
        report["comment_markdown"].as_str().unwrap()
    );
    let checks = setup.github.check_runs(OWNER, NAME, &sha(7));
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(checks[0].status, "completed");
    assert_eq!(checks[0].title, report["check_title"].as_str().unwrap());
    setup.server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_pull_request_without_news_gets_a_check_and_no_new_comment(pool: sqlx::PgPool) {
    let setup = setup(pool).await;
    upload(&setup, &sha(1), None, 2000).await;
    wait_report(&setup, &sha(1), posted).await;

    // Same size as the baseline: a check, no comment.
    upload(&setup, &sha(2), Some(PR), 2000).await;
    let quiet = wait_report(&setup, &sha(2), posted).await;
    assert_eq!(quiet["conclusion"], "success", "{quiet}");
    assert_eq!(setup.github.check_runs(OWNER, NAME, &sha(2)).len(), 1);
    assert!(setup.github.comments(OWNER, NAME, PR).is_empty());
    // The dashboard still has the full report.
    assert!(
        quiet["comment_markdown"]
            .as_str()
            .unwrap()
            .contains("within budget")
    );

    // Over budget: the comment is created.
    upload(&setup, &sha(3), Some(PR), 3000).await;
    wait_report(&setup, &sha(3), posted).await;
    let comments = setup.github.comments(OWNER, NAME, PR);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].body.contains("max_increase"),
        "{}",
        comments[0].body
    );

    // Back to the baseline's size: the same comment says so in one line.
    upload(&setup, &sha(4), Some(PR), 2000).await;
    wait_report(&setup, &sha(4), posted).await;
    let comments = setup.github.comments(OWNER, NAME, PR);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].body.contains("no size change") && comments[0].body.lines().count() == 2,
        "{}",
        comments[0].body
    );
    assert_eq!(setup.github.check_runs(OWNER, NAME, &sha(4)).len(), 1);
    setup.server.stop().await;
}
