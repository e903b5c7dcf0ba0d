//! The multi-instance run of issue 14: two `sizegate serve --no-worker`
//! processes and two `sizegate worker` processes on one Postgres, blobs in
//! S3 (moto's server on loopback), reporting to the fake GitHub. A few
//! hundred uploads of real binaries (a C program built now, each copy made
//! distinct by trailing bytes) arrive at once on both servers: pushes to
//! main and two pushes each of several pull requests, one artifact per
//! upload as a build matrix sends them. The real analyzer measures them;
//! one worker is killed with SIGKILL while it runs a job.
//!
//! Afterwards: every upload is measured exactly once (one measurement per
//! artifact, analyzed again only for the job the dead worker held), every
//! commit has exactly one check run and every pull request one sticky
//! comment (created once, then updated), and main's builds are the ones
//! uploaded, baseline-eligible. The figures it prints are those of
//! docs/security.md.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

#[allow(dead_code)]
#[path = "../../sizegate-store/tests/support/moto.rs"]
mod moto;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{BIN, Proc, build_hello, create_token, database_url, drop_database, fresh_name};
use serde_json::{Value, json};
use tokio::task::JoinSet;

const OWNER: &str = "octo-org";
const NAME: &str = "app";
const REPO: &str = "octo-org/app";
const TARGETS: usize = 4;
const MAIN_PUSHES: usize = 19;
const PULL_REQUESTS: u64 = 20;
/// Main's budgets, which judge the pull requests; a comment every time so
/// that each pull request has one to count.
const CONFIG: &str = "metric = \"file\"\ncomment = \"always\"\n\
                      [[budget]]\ntarget = \"*\"\nmax_increase = \"1 KiB\"\n";

fn sha(kind: u8, n: usize) -> String {
    format!("{kind:02x}{n:02x}").repeat(10)
}

/// One commit and what its uploads say.
#[derive(Clone)]
struct Commit {
    sha: String,
    meta: Value,
    /// Bytes appended to the program, so every artifact is distinct.
    padding: usize,
}

/// The real analyzer behind a wrapper that logs "<sha256> <worker pid>"
/// for each run and takes a little time, so that a worker is caught in
/// the middle of a job.
fn write_analyzer(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let log = dir.join("analyzer.log");
    let script = dir.join("analyzer.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             echo \"$(sha256sum \"$7\" | cut -d ' ' -f 1) $PPID\" >> '{}'\n\
             sleep 0.05\n\
             exec '{}' \"$@\"\n",
            log.display(),
            BIN
        ),
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&script, permissions).unwrap();
    (script, log)
}

fn artifact(program: &[u8], commit: &Commit, target: usize) -> Vec<u8> {
    let mut bytes = program.to_vec();
    bytes.extend(format!("\n{} {target}\n", commit.sha).as_bytes());
    bytes.resize(bytes.len() + commit.padding + target * 16, 0x5a);
    bytes
}

async fn upload(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    meta: &Value,
    target: usize,
    bytes: Vec<u8>,
) -> Value {
    let form = reqwest::multipart::Form::new()
        .text("meta", meta.to_string())
        .part(
            "artifact",
            reqwest::multipart::Part::bytes(bytes).file_name(format!("linux/app-{target}")),
        );
    let response = client
        .post(format!("{url}/api/v1/uploads"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 202, "{body}");
    body
}

async fn scalar(pool: &sqlx::PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_and_two_workers_measure_every_upload_once() {
    sizegate_store::install_crypto_provider();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let moto = moto::start_moto();
    moto::create_bucket(moto.port, "multi").await;
    let (github, github_env) = common::github::start(dir.path(), OWNER, NAME).await;
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let s3_env: Vec<(String, OsString)> = [
        ("SIZEGATE_BLOB_STORE", "s3://multi/sizegate"),
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into()))
    .collect();
    let env_refs = |extra: &[(String, OsString)]| -> Vec<(String, OsString)> {
        s3_env.iter().chain(extra).cloned().collect()
    };

    // Two servers without workers, on one database.
    let name = fresh_name("multi");
    let db = database_url(&name);
    let serve_env = env_refs(&[("SIZEGATE_NO_WORKER".to_owned(), "true".into())]);
    let serve_env: Vec<(&str, &OsStr)> = serve_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_os_str()))
        .collect();
    let mut servers = Vec::new();
    for n in 0..2 {
        servers.push(common::start_serve(
            &db,
            &dir.path().join(format!("serve-{n}")),
            None,
            &dir.path().join(format!("serve-{n}.log")),
            false,
            &serve_env,
        ));
    }
    let urls: Vec<String> = servers.iter().map(|(_, url)| url.clone()).collect();
    let token = create_token(&db, REPO);
    let pool = sqlx::PgPool::connect(&db).await.unwrap();

    // Two worker processes, three job loops each, reporting to the fake.
    let (analyzer, analyzer_log) = write_analyzer(dir.path());
    let worker_env = env_refs(&github_env);
    let worker_env: Vec<(&str, &OsStr)> = worker_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_os_str()))
        .collect();
    let worker = |n: usize| {
        let data = dir.path().join(format!("worker-{n}"));
        let args = [
            "worker",
            "--database-url",
            &db,
            "--data-dir",
            data.to_str().unwrap(),
            "--analyzer",
            analyzer.to_str().unwrap(),
            "--workers",
            "3",
            "--job-lease-secs",
            "5",
            "--poll-interval-ms",
            "200",
            "--retry-backoff-secs",
            "0",
        ];
        Proc::spawn(
            &args,
            &worker_env,
            dir.path().join(format!("worker-{n}.log")),
        )
    };
    let mut doomed = worker(0);
    let survivor = worker(1);
    let doomed_pid = doomed.pid();

    // The commits: main's root, then pushes to main and two pushes of each
    // pull request, all based on the root.
    let program = std::fs::read(build_hello(dir.path())).unwrap();
    let root = Commit {
        sha: sha(0xa0, 0),
        meta: json!({"repo": REPO, "commit": sha(0xa0, 0), "branch": "main", "config": CONFIG}),
        padding: 0,
    };
    let mut commits = Vec::new();
    let mut main_shas = vec![root.sha.clone()];
    for n in 1..=MAIN_PUSHES {
        let sha = sha(0xa0, n);
        commits.push(Commit {
            meta: json!({"repo": REPO, "commit": sha, "branch": "main",
                         "ancestors": [main_shas[n - 1]], "config": CONFIG}),
            sha: sha.clone(),
            padding: n * 8,
        });
        main_shas.push(sha);
    }
    let mut pr_heads: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for pr in 1..=PULL_REQUESTS {
        for push in 0..2usize {
            let sha = sha(0xb0 + push as u8, pr as usize);
            commits.push(Commit {
                meta: json!({"repo": REPO, "commit": sha, "branch": format!("feature-{pr}"),
                             "pr": pr, "base_sha": root.sha, "ancestors": [root.sha]}),
                sha: sha.clone(),
                // Every other pull request grows past main's budget.
                padding: 100 + (pr as usize % 2) * 2048 + push * 8,
            });
            pr_heads.entry(pr).or_default().push(sha);
        }
    }

    let client = reqwest::Client::new();
    let mut expected: HashMap<String, Vec<String>> = HashMap::new();
    let sha256 = |bytes: &[u8]| -> String {
        ring::digest::digest(&ring::digest::SHA256, bytes)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let mut uploads = 0usize;
    let mut per_server = [0usize; 2];

    // The root first, measured, so that the pull requests have a baseline.
    let mut tasks = JoinSet::new();
    for target in 0..TARGETS {
        let bytes = artifact(&program, &root, target);
        expected
            .entry(root.sha.clone())
            .or_default()
            .push(sha256(&bytes));
        let (client, url, token, meta) = (
            client.clone(),
            urls[target % 2].clone(),
            token.clone(),
            root.meta.clone(),
        );
        per_server[target % 2] += 1;
        uploads += 1;
        tasks.spawn(async move { upload(&client, &url, &token, &meta, target, bytes).await });
    }
    tasks.join_all().await;
    common::wait_for_commit(&urls[0], REPO, &root.sha).await;

    // Then everything else at once, spread over both servers.
    let mut tasks = JoinSet::new();
    for (index, commit) in commits.iter().enumerate() {
        for target in 0..TARGETS {
            let bytes = artifact(&program, commit, target);
            expected
                .entry(commit.sha.clone())
                .or_default()
                .push(sha256(&bytes));
            let server = (index + target) % 2;
            let (client, url, token, meta) = (
                client.clone(),
                urls[server].clone(),
                token.clone(),
                commit.meta.clone(),
            );
            per_server[server] += 1;
            uploads += 1;
            tasks.spawn(async move { upload(&client, &url, &token, &meta, target, bytes).await });
        }
    }

    // Kill one worker while it holds a job.
    let holding = format!("{doomed_pid}-%");
    let running = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT id FROM jobs WHERE state = 'running' AND locked_by LIKE $1",
        )
        .bind(&holding)
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    common::wait_for(
        Duration::from_secs(120),
        || async { !running().await.is_empty() },
        || doomed.log_text(),
    )
    .await;
    doomed.child.kill().unwrap();
    doomed.wait_timeout(Duration::from_secs(10));
    // The jobs it held when it died (it cannot release them now).
    let held = running().await;
    assert!(!held.is_empty(), "the worker was killed between jobs");
    tasks.join_all().await;
    let uploaded_in = started.elapsed();

    // Every job done and every commit's evaluation posted.
    let all_commits = 1 + commits.len();
    common::wait_for(
        Duration::from_secs(120),
        || async {
            scalar(&pool, "SELECT count(*) FROM jobs WHERE state <> 'done'").await == 0
                && scalar(
                    &pool,
                    "SELECT count(*) FROM evaluations WHERE report_state = 'posted'",
                )
                .await
                    == i64::try_from(all_commits).unwrap()
        },
        || survivor.log_text(),
    )
    .await;
    let elapsed = started.elapsed();

    // Exactly once: one job and one measurement per upload; the analyzer ran
    // again only for the jobs the dead worker held.
    assert_eq!(uploads, all_commits * TARGETS);
    let jobs = scalar(&pool, "SELECT count(*) FROM jobs").await;
    assert_eq!(jobs, i64::try_from(uploads).unwrap());
    let measured = scalar(&pool, "SELECT count(*) FROM measurements").await;
    assert_eq!(measured, jobs, "one measurement per artifact");
    let unmeasured = scalar(
        &pool,
        "SELECT count(*) FROM builds b LEFT JOIN measurements m USING (artifact_id)
         WHERE m.id IS NULL",
    )
    .await;
    assert_eq!(unmeasured, 0);
    let retried: Vec<(i64, i32)> =
        sqlx::query_as("SELECT id, attempts FROM jobs WHERE attempts <> 1 ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let retried_ids: BTreeSet<i64> = retried.iter().map(|(id, _)| *id).collect();
    assert!(
        held.iter().all(|id| retried_ids.contains(id)),
        "the dead worker's jobs {held:?} were redone: {retried:?}"
    );
    let runs = std::fs::read_to_string(&analyzer_log).unwrap();
    let mut analyzed: HashMap<&str, usize> = HashMap::new();
    let mut parents = BTreeSet::new();
    for line in runs.lines() {
        let (sha, parent) = line.split_once(' ').unwrap();
        *analyzed.entry(sha).or_default() += 1;
        parents.insert(parent.parse::<u32>().unwrap());
    }
    let uploaded: BTreeSet<&str> = expected.values().flatten().map(String::as_str).collect();
    assert_eq!(uploaded.len(), uploads, "every artifact is distinct");
    assert_eq!(analyzed.keys().copied().collect::<BTreeSet<_>>(), uploaded);
    let reanalyzed: usize = analyzed.values().map(|n| n - 1).sum();
    assert!(
        reanalyzed <= retried.len(),
        "{reanalyzed} artifacts analyzed twice, {} jobs retried",
        retried.len()
    );
    assert!(parents.contains(&doomed_pid) && parents.contains(&survivor.pid()));

    // GitHub: one check run per commit, one comment per pull request, each
    // created once and then only updated.
    let mut check_updates = 0;
    for sha in expected.keys() {
        let checks = github.check_runs(OWNER, NAME, sha);
        assert_eq!(checks.len(), 1, "{sha}: {checks:?}");
        assert_eq!(checks[0].status, "completed", "{sha}: {checks:?}");
        assert_eq!(common::github::check_run_creates(&github, sha), 1, "{sha}");
    }
    for call in github.calls() {
        if call.method == "PATCH" && call.path.contains("/check-runs/") {
            check_updates += 1;
        }
    }
    let mut comment_updates = 0;
    for (&pr, heads) in &pr_heads {
        let comments = github.comments(OWNER, NAME, pr);
        assert_eq!(comments.len(), 1, "PR {pr}: {comments:?}");
        assert!(comments[0].body.contains(sizegate_gate::COMMENT_MARKER));
        assert_eq!(common::github::comment_creates(&github, pr), 1, "PR {pr}");
        // Judged against main's root with main's budgets.
        for head in heads {
            let commit: Value = client
                .get(format!("{}/api/v1/repos/{REPO}/commits/{head}", urls[1]))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let expected_conclusion = if pr % 2 == 1 { "failure" } else { "success" };
            assert_eq!(commit["conclusion"], expected_conclusion, "{commit}");
            for target in commit["targets"].as_array().unwrap() {
                assert_eq!(target["baseline"]["sha"], root.sha.as_str(), "{commit}");
            }
        }
    }
    for call in github.calls() {
        if call.method == "PATCH" && call.path.contains("/issues/comments/") {
            comment_updates += 1;
        }
    }

    // Main's builds are intact: the uploaded bytes, trusted, eligible.
    for sha in &main_shas {
        let commit: Value = client
            .get(format!("{}/api/v1/repos/{REPO}/commits/{sha}", urls[0]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let targets = commit["targets"].as_array().unwrap();
        assert_eq!(targets.len(), TARGETS, "{commit}");
        let shown: BTreeSet<&str> = targets
            .iter()
            .map(|t| t["sha256"].as_str().unwrap())
            .collect();
        let uploaded: BTreeSet<&str> = expected[sha].iter().map(String::as_str).collect();
        assert_eq!(shown, uploaded, "{commit}");
        for target in targets {
            assert_eq!(target["status"], "done", "{commit}");
            assert_eq!(target["provenance"], "token", "{commit}");
            assert_eq!(target["baseline_eligible"], true, "{commit}");
        }
    }

    println!(
        "multi-instance: uploads {uploads} (server A {}, server B {}), refused 0, measured {measured}, \
         jobs redone after the kill {}, analyses repeated {reanalyzed}; \
         check runs {} (created once each, {check_updates} updates), \
         comments {} (created once each, {comment_updates} updates); \
         uploaded in {:.1} s, all reported in {:.1} s",
        per_server[0],
        per_server[1],
        retried.len(),
        expected.len(),
        pr_heads.len(),
        uploaded_in.as_secs_f64(),
        elapsed.as_secs_f64()
    );

    drop(survivor);
    drop(servers);
    pool.close().await;
    drop_database(&name).await;
}
