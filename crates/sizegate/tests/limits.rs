//! The resource limits of analysis, end to end: a real `serve` (port 0,
//! real Postgres) whose analyzer child exhausts its memory or wall-time
//! limit fails that job with a clear error and goes on serving other
//! uploads; a worker refuses an artifact over the size limit without
//! analyzing it.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::ffi::OsStr;
use std::time::Duration;

use common::{
    Proc, create_token, database_url, drop_database, enqueue, fake_analyzer, fresh_name,
    job_states, start_serve, upload_and_wait_commit, wait_for,
};
use serde_json::Value;
use sizegate_store::Store;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

async fn healthy(url: &str) -> bool {
    let health: Value = reqwest::get(format!("{url}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["status"] == "ok"
}

/// A real ELF with 72 MiB appended: more than the 64 MiB address space the
/// analyzer is given here, so reading it fails inside the child, which
/// aborts. The job fails at once (retrying cannot help) with a message
/// naming the limit, and a normal binary uploaded next is measured.
#[tokio::test]
async fn an_artifact_that_exhausts_the_analyzers_memory_fails_and_serve_goes_on() {
    sizegate_store::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let hello = std::fs::read(common::build_hello(dir.path())).unwrap();
    let mut hostile = hello.clone();
    hostile.resize(hello.len() + (72 << 20), 0x5a);

    let name = fresh_name("memlimit");
    let db = database_url(&name);
    let envs: [(&str, &OsStr); 2] = [
        ("SIZEGATE_ANALYZER_MEMORY_MIB", OsStr::new("64")),
        ("SIZEGATE_RETRY_BACKOFF_SECS", OsStr::new("0")),
    ];
    let (mut server, url) = start_serve(
        &db,
        &dir.path().join("data"),
        None,
        &dir.path().join("serve.log"),
        false,
        &envs,
    );
    let token = create_token(&db, "acme/app");

    let commit =
        upload_and_wait_commit(&url, &token, &"1".repeat(40), "linux/hostile", hostile).await;
    let target = &commit["targets"][0];
    assert_eq!(
        target["status"],
        "failed",
        "{commit}\n{}",
        server.log_text()
    );
    assert_eq!(target["attempts"], 1, "not retried: {commit}");
    let error = target["error"].as_str().unwrap();
    assert!(
        error.contains("ran out of memory") && error.contains("SIZEGATE_ANALYZER_MEMORY_MIB"),
        "{error}"
    );

    assert!(healthy(&url).await, "{}", server.log_text());
    let commit =
        upload_and_wait_commit(&url, &token, &"2".repeat(40), "linux/hello", hello.clone()).await;
    let target = &commit["targets"][0];
    assert_eq!(target["status"], "done", "{commit}\n{}", server.log_text());
    assert_eq!(target["sizes"]["file"], hello.len() as u64);

    server.terminate();
    assert!(server.wait_timeout(Duration::from_secs(30)).success());
    drop(server);
    drop_database(&name).await;
}

/// Whether process `pid` is gone (or a zombie waiting to be reaped).
fn is_dead(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// An analysis that never ends (the stand-in analyzer sleeping a minute in
/// a child process) is killed at the 1 s wall-time limit, with what it
/// started, on each of its two attempts; the job ends `failed` with the
/// limit in its message, and an upload made meanwhile is measured.
#[tokio::test]
async fn an_analysis_past_its_time_limit_is_killed_and_serve_goes_on() {
    sizegate_store::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let analyzer_log = dir.path().join("analyzer.log");
    let name = fresh_name("timelimit");
    let db = database_url(&name);
    let envs: [(&str, &OsStr); 5] = [
        ("SIZEGATE_ANALYZER_TIMEOUT_SECS", OsStr::new("1")),
        ("SIZEGATE_JOB_MAX_ATTEMPTS", OsStr::new("2")),
        ("SIZEGATE_RETRY_BACKOFF_SECS", OsStr::new("0")),
        ("SIZEGATE_WORKERS", OsStr::new("2")),
        ("FAKE_ANALYZER_LOG", analyzer_log.as_os_str()),
    ];
    let analyzer = fake_analyzer();
    let (mut server, url) = start_serve(
        &db,
        &dir.path().join("data"),
        Some(&analyzer),
        &dir.path().join("serve.log"),
        false,
        &envs,
    );
    let token = create_token(&db, "acme/app");

    let (slow_sha, quick_sha) = ("3".repeat(40), "4".repeat(40));
    let (slow, quick) = tokio::join!(
        upload_and_wait_commit(&url, &token, &slow_sha, "linux/slow", b"SLOW 60\n".to_vec()),
        upload_and_wait_commit(&url, &token, &quick_sha, "linux/quick", vec![7u8; 999]),
    );
    let target = &slow["targets"][0];
    assert_eq!(target["status"], "failed", "{slow}\n{}", server.log_text());
    assert_eq!(target["attempts"], 2, "{slow}");
    let error = target["error"].as_str().unwrap();
    assert!(
        error.contains("took longer than 1s") && error.contains("SIZEGATE_ANALYZER_TIMEOUT_SECS"),
        "{error}"
    );
    let target = &quick["targets"][0];
    assert_eq!(target["status"], "done", "{quick}");
    assert_eq!(target["sizes"]["file"], 999);
    assert!(healthy(&url).await);

    // Every analyzer process (the log names its pid) is gone: killed with
    // its process group, not left sleeping.
    let log = std::fs::read_to_string(&analyzer_log).unwrap();
    let pids: Vec<&str> = log.lines().filter_map(|l| l.split(' ').nth(1)).collect();
    assert_eq!(pids.len(), 3, "two slow attempts and one quick run:\n{log}");
    wait_for(
        Duration::from_secs(20),
        || async { pids.iter().all(|p| is_dead(p)) },
        || format!("analyzer processes still alive: {pids:?}"),
    )
    .await;

    server.terminate();
    assert!(server.wait_timeout(Duration::from_secs(30)).success());
    drop(server);
    drop_database(&name).await;
}

/// A worker with a lower size limit than what is queued (the limit was
/// lowered, or the upload came through another server) fails the oversized
/// artifact without starting the analyzer, and measures the others.
#[sqlx::test(migrations = "../../migrations")]
async fn a_worker_refuses_an_oversized_artifact_without_analyzing_it(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let name = options.get_database().unwrap().to_owned();
    let pool = PgPoolOptions::new().connect_with(options).await.unwrap();
    let store = Store::new(pool);
    let db = database_url(&name);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let jobs = enqueue(&store, &data, &[vec![1u8; 5000], vec![2u8; 1000]]).await;
    let analyzer_log = dir.path().join("analyzer.log");
    let analyzer = fake_analyzer();
    let args = [
        "worker",
        "--database-url",
        &db,
        "--data-dir",
        data.to_str().unwrap(),
        "--analyzer",
        analyzer.to_str().unwrap(),
        "--poll-interval-ms",
        "200",
        "--max-artifact-bytes",
        "4096",
    ];
    let envs = [("FAKE_ANALYZER_LOG", analyzer_log.as_os_str())];
    let worker = Proc::spawn(&args, &envs, dir.path().join("worker.log"));
    wait_for(
        Duration::from_secs(60),
        || async {
            job_states(&store)
                .await
                .iter()
                .all(|(_, s, _)| s == "done" || s == "failed")
        },
        || worker.log_text(),
    )
    .await;
    let states = job_states(&store).await;
    assert_eq!(states.len(), jobs.len());
    assert_eq!(
        (states[0].1.as_str(), states[0].2),
        ("failed", 1),
        "{states:?}"
    );
    assert_eq!(states[1].1, "done", "{states:?}");
    let error: String = sqlx::query_scalar("SELECT last_error FROM jobs WHERE id = $1")
        .bind(states[0].0)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(
        error,
        "artifact is 5000 bytes, the limit is 4096 bytes (SIZEGATE_MAX_ARTIFACT_BYTES); it was not analyzed"
    );
    // The analyzer ran once: for the artifact within the limit.
    let log = std::fs::read_to_string(&analyzer_log).unwrap();
    assert_eq!(log.lines().count(), 1, "{log}");
}

/// The analyzer child of a real `serve` (started the production way,
/// through `sizegate run-limited`) sees none of the server's secrets and
/// runs under every limit: the stand-in analyzer writes what the kernel
/// says of its environment and limits, and the test reads it.
#[tokio::test]
async fn the_analyzer_child_gets_no_secrets_and_every_limit() {
    sizegate_store::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("env.txt");
    let name = fresh_name("sandbox");
    let db = database_url(&name);
    let secrets = [
        (
            "SIZEGATE_GITHUB_PRIVATE_KEY",
            "-----BEGIN PRIVATE KEY-----sandbox-key",
        ),
        ("SIZEGATE_GITHUB_WEBHOOK_SECRET", "sandbox-webhook-secret"),
        ("AWS_SECRET_ACCESS_KEY", "sandbox-aws-secret"),
        ("AWS_ACCESS_KEY_ID", "sandbox-aws-id"),
        ("DATABASE_URL", db.as_str()),
    ];
    let mut envs: Vec<(&str, &OsStr)> = secrets.iter().map(|(k, v)| (*k, OsStr::new(*v))).collect();
    envs.push(("SIZEGATE_ANALYZER_CPU_SECS", OsStr::new("120")));
    envs.push(("SIZEGATE_ANALYZER_MAX_FILES", OsStr::new("48")));
    envs.push(("SIZEGATE_ANALYZER_MAX_PROCESSES", OsStr::new("300")));
    envs.push(("SIZEGATE_ANALYZER_MEMORY_MIB", OsStr::new("1024")));
    let analyzer = fake_analyzer();
    let (mut server, url) = start_serve(
        &db,
        &dir.path().join("data"),
        Some(&analyzer),
        &dir.path().join("serve.log"),
        false,
        &envs,
    );
    let token = create_token(&db, "acme/app");
    let artifact = format!("ENV {}\n", dump.display()).into_bytes();
    assert!(artifact.len() < 64, "the stand-in reads 64 bytes");
    let commit = upload_and_wait_commit(&url, &token, &"5".repeat(40), "linux/env", artifact).await;
    assert_eq!(
        commit["targets"][0]["status"],
        "done",
        "{commit}\n{}",
        server.log_text()
    );

    let text = std::fs::read_to_string(&dump).unwrap();
    let (env, limits) = text.split_once("--- limits\n").unwrap();
    for (key, value) in secrets {
        assert!(
            !text.contains(value),
            "{key}'s value reached the analyzer:\n{text}"
        );
        assert!(
            !env.contains(&format!("{key}=")),
            "{key} reached the analyzer:\n{text}"
        );
    }
    // PATH, and what /bin/sh exports by itself for the stand-in script.
    let names: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| !["PWD", "OLDPWD", "SHLVL", "_"].contains(k))
        .collect();
    assert_eq!(names, ["PATH"], "{env}");
    let limit = |name: &str| {
        limits
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert_eq!(limit("Max core file size"), "Max core file size 0 0 bytes");
    assert_eq!(limit("Max cpu time"), "Max cpu time 120 121 seconds");
    assert_eq!(limit("Max open files"), "Max open files 48 48 files");
    assert_eq!(limit("Max processes"), "Max processes 300 300 processes");
    assert_eq!(
        limit("Max address space"),
        format!("Max address space {0} {0} bytes", 1024u64 << 20)
    );

    server.terminate();
    assert!(server.wait_timeout(Duration::from_secs(30)).success());
    drop(server);
    drop_database(&name).await;
}
