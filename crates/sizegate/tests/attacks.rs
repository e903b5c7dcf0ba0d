//! The attack suite of issue 14: a real `sizegate serve` (random port, real
//! Postgres, the fake analyzer), a local OIDC issuer with its JWKS, and
//! every way found to rewrite the history that gates other pull requests,
//! tried as an attacker would. Each is refused or isolated; afterwards
//! main's measurement (artifact sha256) and config are unchanged, what the
//! fake GitHub was told about main's commits (their check runs) is what it
//! was told before the attacks, and every legitimate upload made in the
//! same run is measured.
//!
//! The figures it prints (`attacks: tried N, refused R, isolated I;
//! legitimate L, measured M`) are those of docs/security.md.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::ffi::OsStr;
use std::time::{Duration, Instant};

use common::oidc::{
    OWNER_ID, REPOSITORY_ID, SharedIssuer, claims, push_claims, sign, start_issuer,
};
use common::{create_token, database_url, drop_database, fresh_name, start_serve};
use serde_json::{Value, json};
use sizegate_github::fake::{FakeCheckRun, FakeGitHub};

const PUBLIC_URL: &str = "https://sizegate.test";
const MAIN_CONFIG: &str = "[[budget]]\ntarget = \"*\"\nmax_increase = \"1 KiB\"\n";
const LOOSE_CONFIG: &str = "[[budget]]\ntarget = \"*\"\nmax_size = \"1 GiB\"\n";

fn sha(n: u8) -> String {
    format!("{n:02x}").repeat(20)
}

struct Run {
    url: String,
    issuer: SharedIssuer,
    client: reqwest::Client,
    tried: usize,
    refused: usize,
    isolated: usize,
}

impl Run {
    /// A fresh OIDC token with `extra` claims over the issuer's.
    fn oidc(&self, extra: Value) -> String {
        let issuer = self.issuer.lock().unwrap();
        sign(&claims(&issuer, PUBLIC_URL, &extra))
    }

    /// POST an upload of one artifact; returns the status and JSON body.
    async fn upload(
        &self,
        bearer: &str,
        meta: Value,
        target: &str,
        bytes: Vec<u8>,
    ) -> (u16, Value) {
        let form = reqwest::multipart::Form::new()
            .text("meta", meta.to_string())
            .part(
                "artifact",
                reqwest::multipart::Part::bytes(bytes).file_name(target.to_owned()),
            );
        let response = self
            .client
            .post(format!("{}/api/v1/uploads", self.url))
            .bearer_auth(bearer)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// An attack that must be refused with `status` and a message holding
    /// `needle`.
    async fn refused(&mut self, what: &str, bearer: &str, meta: Value, status: u16, needle: &str) {
        self.tried += 1;
        let (got, body) = self
            .upload(bearer, meta, "linux/app", b"evil".repeat(64))
            .await;
        assert_eq!(got, status, "{what}: {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{what}: {message}");
        self.refused += 1;
    }

    /// An attack that is accepted but kept apart: its build is recorded
    /// with an untrusted provenance and outranked by main's build.
    async fn isolated(&mut self, what: &str, bearer: &str, meta: Value, provenance: &str) {
        self.tried += 1;
        let (got, body) = self
            .upload(bearer, meta, "linux/app", b"evil".repeat(64))
            .await;
        assert!(got == 202 || got == 200, "{what}: {got} {body}");
        let build = &body["targets"][0];
        assert_eq!(build["provenance"], provenance, "{what}: {body}");
        assert_eq!(build["baseline_eligible"], false, "{what}: {body}");
        assert!(build["outranked_by"].is_i64(), "{what}: {body}");
        self.isolated += 1;
    }

    async fn commit(&self, sha: &str) -> Value {
        self.client
            .get(format!("{}/api/v1/repos/acme/app/commits/{sha}", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Poll until the commit is measured and its gate completed.
    async fn judged(&self, sha: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let commit = self.commit(sha).await;
            if commit["complete"] == true && commit["gate_status"] == "completed" {
                return commit;
            }
            assert!(Instant::now() < deadline, "not judged in time: {commit}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn main_state(pool: &sqlx::PgPool, sha: &str) -> (String, Option<String>, Option<String>) {
    sqlx::query_as(
        "SELECT a.sha256, c.config, c.branch
         FROM commits c JOIN builds b ON b.commit_id = c.id AND b.superseded_at IS NULL
         JOIN artifacts a ON a.id = b.artifact_id
         WHERE c.sha = $1",
    )
    .bind(sha)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Wait until no job is queued or running and every evaluation is reported.
async fn settled(pool: &sqlx::PgPool) {
    common::wait_for(
        Duration::from_secs(120),
        || async {
            let busy: i64 = sqlx::query_scalar(
                "SELECT (SELECT count(*) FROM jobs WHERE state IN ('queued', 'running'))
                      + (SELECT count(*) FROM evaluations WHERE report_state = 'pending')",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            busy == 0
        },
        || "jobs or reports still pending".to_owned(),
    )
    .await;
}

/// The check run GitHub shows on `sha`: there is exactly one.
fn check_run(github: &FakeGitHub, sha: &str) -> FakeCheckRun {
    let runs = github.check_runs("acme", "app", sha);
    assert_eq!(runs.len(), 1, "{sha}: {runs:?}");
    runs.into_iter().next().unwrap()
}

/// Every call GitHub received after the first `from` that touched `run`
/// (updates of its id) carried the text and conclusion GitHub already had:
/// a re-evaluation may repeat what it said, never change it.
fn only_repeated(github: &FakeGitHub, from: usize, run: &FakeCheckRun) -> usize {
    let path = format!("/check-runs/{}", run.id);
    let mut updates = 0;
    for call in github.calls().iter().skip(from) {
        if call.method == "PATCH" && call.path.ends_with(&path) {
            let body: Value = serde_json::from_str(&call.body).unwrap();
            assert_eq!(body["output"]["title"], run.title.as_str(), "{body}");
            assert_eq!(body["output"]["summary"], run.summary.as_str(), "{body}");
            assert_eq!(
                body["conclusion"].as_str(),
                run.conclusion.as_deref(),
                "{body}"
            );
            updates += 1;
        }
        let created_again = call.method == "POST"
            && call.path.ends_with("/check-runs")
            && call
                .body
                .contains(&format!("\"head_sha\":\"{}\"", run.head_sha));
        assert!(!created_again, "a second check run on {}", run.head_sha);
    }
    updates
}

#[tokio::test]
async fn no_upload_rewrites_the_history_that_gates_pull_requests() {
    sizegate_store::install_crypto_provider();
    let issuer = start_issuer().await;
    let issuer_url = issuer.lock().unwrap().url.clone();
    let dir = tempfile::tempdir().unwrap();
    let name = fresh_name("attacks");
    let db = database_url(&name);
    let analyzer = common::fake_analyzer();
    // The server's workers report to the fake GitHub.
    let (github, github_env) = common::github::start(dir.path(), "acme", "app").await;
    let mut envs: Vec<(&str, &OsStr)> = vec![
        ("SIZEGATE_PUBLIC_URL", OsStr::new(PUBLIC_URL)),
        ("SIZEGATE_OIDC_ISSUER", OsStr::new(&issuer_url)),
    ];
    envs.extend(github_env.iter().map(|(k, v)| (k.as_str(), v.as_os_str())));
    let (server, url) = start_serve(
        &db,
        &dir.path().join("data"),
        Some(&analyzer),
        &dir.path().join("serve.log"),
        false,
        &envs,
    );
    let token = create_token(&db, "acme/app");
    create_token(&db, "acme/other");
    common::set_oidc(&db, "acme/app", REPOSITORY_ID, OWNER_ID);
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let mut run = Run {
        url,
        issuer,
        client: reqwest::Client::new(),
        tried: 0,
        refused: 0,
        isolated: 0,
    };
    let mut legitimate: Vec<String> = Vec::new();

    // Legitimate history: main's parent by upload token, main's head by an
    // OIDC push run, both with the budgets later pull requests are judged by.
    let parent = sha(0x10);
    let head = sha(0x11);
    let (status, body) = run
        .upload(
            &token,
            json!({"repo": "acme/app", "commit": parent, "branch": "main", "config": MAIN_CONFIG}),
            "linux/app",
            vec![1u8; 4000],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["targets"][0]["provenance"], "token");
    assert_eq!(body["targets"][0]["baseline_eligible"], true);
    legitimate.push(parent.clone());
    let push = run.oidc(push_claims("main", &head));
    let (status, body) = run
        .upload(
            &push,
            json!({"repo": "acme/app", "commit": head, "ancestors": [parent], "config": MAIN_CONFIG}),
            "linux/app",
            vec![2u8; 4000],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["targets"][0]["provenance"], "oidc-push");
    assert_eq!(body["targets"][0]["baseline_eligible"], true);
    legitimate.push(head.clone());
    run.judged(&parent).await;
    run.judged(&head).await;
    let before = main_state(&pool, &head).await;
    assert_eq!(before.1.as_deref(), Some(MAIN_CONFIG));
    // What GitHub was told about main: one completed check run per commit.
    settled(&pool).await;
    let told = [check_run(&github, &parent), check_run(&github, &head)];
    assert!(told.iter().all(|run| run.status == "completed"), "{told:?}");
    let calls_before = github.calls().len();

    // 1. A pull_request run uploads main's head as `branch: main` with a
    //    loose config: a pull request upload, kept apart.
    let pr_claims = |sha_claim: &str| {
        json!({
            "repository": "acme/app",
            "repository_id": REPOSITORY_ID.to_string(),
            "repository_owner_id": OWNER_ID.to_string(),
            "event_name": "pull_request",
            "ref": "refs/pull/7/merge",
            "head_ref": "feature",
            "sha": sha_claim,
        })
    };
    let evil_main = json!({"repo": "acme/app", "commit": head, "config": LOOSE_CONFIG});
    let token_pr = run.oidc(pr_claims(&sha(0x77)));
    run.isolated(
        "pull_request run uploads main's head",
        &token_pr,
        evil_main.clone(),
        "oidc-pull-request",
    )
    .await;
    // 2. The same from pull_request_target, whose ref and sha are main's.
    let target_claims = json!({
        "repository": "acme/app", "repository_id": REPOSITORY_ID.to_string(),
        "repository_owner_id": OWNER_ID.to_string(), "event_name": "pull_request_target",
        "ref": "refs/heads/main", "sha": head,
    });
    let token_target = run.oidc(target_claims);
    run.isolated(
        "pull_request_target run uploads main's head as main",
        &token_target,
        json!({"repo": "acme/app", "commit": head, "branch": "main", "config": LOOSE_CONFIG}),
        "oidc-pull-request",
    )
    .await;
    // 3. A fork's build (workflow_run with the upload token) for main's sha.
    run.isolated(
        "fork upload of main's head",
        &token,
        json!({"repo": "acme/app", "commit": head, "branch": "main", "fork": true, "config": LOOSE_CONFIG}),
        "fork",
    )
    .await;
    // 4. A push token used for another commit.
    let push_other = run.oidc(push_claims("main", &sha(0x12)));
    run.refused(
        "push token for another commit",
        &push_other,
        evil_main.clone(),
        403,
        "only its own commit",
    )
    .await;
    // 5. A push run of a feature branch claiming `branch: main`.
    let feature_push = run.oidc(push_claims("feature", &head));
    run.refused(
        "feature push claims main",
        &feature_push,
        json!({"repo": "acme/app", "commit": head, "branch": "main"}),
        403,
        "contradicts",
    )
    .await;
    // 6. A deleted and re-created repository of the same name (new id).
    let mut recreated = push_claims("main", &head);
    recreated["repository_id"] = json!("999999");
    let recreated = run.oidc(recreated);
    run.refused(
        "re-created repository",
        &recreated,
        evil_main.clone(),
        403,
        "re-created",
    )
    .await;
    // 7. Same name, another owner id.
    let mut other_owner = push_claims("main", &head);
    other_owner["repository_owner_id"] = json!("123");
    let other_owner = run.oidc(other_owner);
    run.refused(
        "other owner id",
        &other_owner,
        evil_main.clone(),
        403,
        "owner id",
    )
    .await;
    // 8. A token without ids at all.
    let mut no_ids = push_claims("main", &head);
    no_ids.as_object_mut().unwrap().remove("repository_id");
    let no_ids = run.oidc(no_ids);
    run.refused(
        "token without repository_id",
        &no_ids,
        evil_main.clone(),
        403,
        "repository id",
    )
    .await;
    // 9. OIDC to a registered repository that did not turn OIDC on.
    let mut other_repo = push_claims("main", &sha(0x13));
    other_repo["repository"] = json!("acme/other");
    let other_repo = run.oidc(other_repo);
    run.refused(
        "OIDC where it is off",
        &other_repo,
        json!({"repo": "acme/other", "commit": sha(0x13)}),
        403,
        "set-oidc",
    )
    .await;
    // 10. A pull request run claiming another pull request number.
    let token_pr = run.oidc(pr_claims(&sha(0x78)));
    run.refused(
        "pull request run claims PR 8",
        &token_pr,
        json!({"repo": "acme/app", "commit": sha(0x20), "pr": 8}),
        403,
        "contradicts",
    )
    .await;
    // 11. A replayed token (the push token of main's head).
    run.refused(
        "replayed OIDC token",
        &push,
        evil_main.clone(),
        401,
        "already used",
    )
    .await;
    // 12. A config that does not parse, even with a trusted token.
    run.refused(
        "invalid config",
        &token,
        json!({"repo": "acme/app", "commit": sha(0x21), "branch": "main", "config": "[[budget]]\nmax_size = 12\n"}),
        422,
        "check-config",
    )
    .await;

    // Main is untouched: same artifact, same config, same branch.
    assert_eq!(main_state(&pool, &head).await, before);
    let shown = run.commit(&head).await;
    assert_eq!(shown["targets"].as_array().unwrap().len(), 1, "{shown}");
    assert_eq!(shown["targets"][0]["provenance"], "oidc-push", "{shown}");

    // 13. A pull request naming its own sha as base: never its own baseline.
    let own = sha(0x30);
    let (status, body) = run
        .upload(
            &token,
            json!({"repo": "acme/app", "commit": own, "branch": "feature", "pr": 9, "base_sha": own}),
            "linux/app",
            vec![3u8; 4000],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    run.tried += 1;
    let judged = run.judged(&own).await;
    assert!(judged["targets"][0]["baseline"].is_null(), "{judged}");
    run.isolated += 1;
    legitimate.push(own);

    // Legitimate pull request runs in the same run: measured and judged
    // against main's head with main's budgets (1 KiB more at most).
    let pr_head = sha(0x40);
    let token_pr = run.oidc(pr_claims(&sha(0x79)));
    let (status, body) = run
        .upload(
            &token_pr,
            json!({"repo": "acme/app", "commit": pr_head, "pr": 7, "base_sha": head, "config": LOOSE_CONFIG}),
            "linux/app",
            vec![4u8; 8000],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["targets"][0]["provenance"], "oidc-pull-request");
    legitimate.push(pr_head.clone());
    let judged = run.judged(&pr_head).await;
    assert_eq!(
        judged["targets"][0]["baseline"]["sha"],
        head.as_str(),
        "{judged}"
    );
    assert_eq!(
        judged["conclusion"], "failure",
        "main's budgets judge, not the PR's: {judged}"
    );
    let fork_head = sha(0x41);
    let (status, body) = run
        .upload(
            &token,
            json!({"repo": "acme/app", "commit": fork_head, "pr": 8, "base_sha": head, "fork": true}),
            "linux/app",
            vec![5u8; 4100],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    legitimate.push(fork_head.clone());
    let judged = run.judged(&fork_head).await;
    assert_eq!(judged["conclusion"], "success", "{judged}");

    // 14. Main's stored config stops parsing (written by an older
    //     sizegate): the next pull request fails with the reason, instead
    //     of being judged by its own config.
    run.tried += 1;
    sqlx::query("UPDATE commits SET config = $2 WHERE sha = $1")
        .bind(&head)
        .bind("metric = \"nonsense\"\n")
        .execute(&pool)
        .await
        .unwrap();
    let late = sha(0x42);
    let (status, _) = run
        .upload(
            &token,
            json!({"repo": "acme/app", "commit": late, "branch": "feature", "pr": 10, "base_sha": head, "config": LOOSE_CONFIG}),
            "linux/app",
            vec![6u8; 4000],
        )
        .await;
    assert_eq!(status, 202);
    legitimate.push(late.clone());
    let judged = run.judged(&late).await;
    assert_eq!(judged["conclusion"], "failure", "{judged}");
    let report: Value = run
        .client
        .get(format!(
            "{}/api/v1/repos/acme/app/commits/{late}/report",
            run.url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        report.to_string().contains("does not parse"),
        "the check says why: {report}"
    );
    run.refused += 1;
    sqlx::query("UPDATE commits SET config = $2 WHERE sha = $1")
        .bind(&head)
        .bind(MAIN_CONFIG)
        .execute(&pool)
        .await
        .unwrap();

    // Every legitimate upload was measured.
    let mut measured = 0;
    for commit in &legitimate {
        let status = run.commit(commit).await;
        assert!(
            status["targets"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["status"] == "done"),
            "{status}"
        );
        measured += 1;
    }
    assert_eq!(main_state(&pool, &head).await, before);

    // GitHub was told nothing new about main: the same check runs, and any
    // re-evaluation an isolated build caused repeated the same words; no
    // comment was written but on the legitimate pull requests.
    settled(&pool).await;
    let mut repeated = 0;
    for run_before in &told {
        assert_eq!(&check_run(&github, &run_before.head_sha), run_before);
        repeated += only_repeated(&github, calls_before, run_before);
    }
    let commented: std::collections::BTreeSet<u64> = (1..=20)
        .filter(|&n| !github.comments("acme", "app", n).is_empty())
        .collect();
    assert!(
        commented.iter().all(|n| [7, 8, 9, 10].contains(n)),
        "comments only on the legitimate pull requests: {commented:?}"
    );
    println!(
        "attacks: tried {}, refused {}, isolated {}; legitimate uploads {}, measured {}; \
         main's check runs unchanged ({repeated} identical re-posts)",
        run.tried,
        run.refused,
        run.isolated,
        legitimate.len(),
        measured
    );
    assert_eq!(run.tried, run.refused + run.isolated);
    drop(server);
    pool.close().await;
    drop_database(&name).await;
}
