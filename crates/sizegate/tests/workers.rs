//! Worker processes against one Postgres: racing workers do each job once,
//! a worker killed mid-job loses it to another after the lease, SIGTERM
//! finishes or releases the current job.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::time::Duration;

use common::{Proc, database_url, enqueue, fake_analyzer, job_states, wait_for};
use sizegate_store::Store;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

fn worker_args<'a>(db: &'a str, data: &'a str, analyzer: &'a str, lease: &'a str) -> Vec<&'a str> {
    vec![
        "worker",
        "--database-url",
        db,
        "--data-dir",
        data,
        "--analyzer",
        analyzer,
        "--job-lease-secs",
        lease,
        "--poll-interval-ms",
        "200",
        "--retry-backoff-secs",
        "0",
    ]
}

async fn setup(options: PgConnectOptions) -> (Store, String) {
    let name = options.get_database().unwrap().to_owned();
    let pool = PgPoolOptions::new().connect_with(options).await.unwrap();
    (Store::new(pool), database_url(&name))
}

#[sqlx::test(migrations = "../../migrations")]
async fn two_worker_processes_do_each_job_exactly_once(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (store, db) = setup(options).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let contents: Vec<Vec<u8>> = (0..40)
        .map(|i| format!("SLOW 0.1\nartifact {i}\n").into_bytes())
        .collect();
    let jobs = enqueue(&store, &data, &contents).await;
    let analyzer_log = dir.path().join("analyzer.log");
    let analyzer = fake_analyzer();
    let (data_s, analyzer_s) = (data.to_str().unwrap(), analyzer.to_str().unwrap());
    let mut args = worker_args(&db, data_s, analyzer_s, "10");
    args.extend(["--workers", "2"]);
    let envs = [("FAKE_ANALYZER_LOG", analyzer_log.as_os_str())];
    let mut a = Proc::spawn(&args, &envs, dir.path().join("a.log"));
    let mut b = Proc::spawn(&args, &envs, dir.path().join("b.log"));

    wait_for(
        Duration::from_secs(120),
        || async { job_states(&store).await.iter().all(|(_, s, _)| s == "done") },
        || format!("A:\n{}\nB:\n{}", a.log_text(), b.log_text()),
    )
    .await;
    let states = job_states(&store).await;
    assert_eq!(states.len(), jobs.len());
    assert!(
        states
            .iter()
            .all(|(_, s, attempts)| s == "done" && *attempts == 1),
        "{states:?}"
    );
    let measurements: i64 = sqlx::query_scalar("SELECT count(*) FROM measurements")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(measurements, 40);

    // Each artifact was analyzed once, and both processes took part.
    let log = std::fs::read_to_string(&analyzer_log).unwrap();
    let mut files: Vec<&str> = log.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(files.len(), 40, "{log}");
    files.sort_unstable();
    files.dedup();
    assert_eq!(files.len(), 40, "an artifact was analyzed twice:\n{log}");
    let parents: std::collections::BTreeSet<u32> = log
        .lines()
        .map(|l| l.split(' ').nth(2).unwrap().parse().unwrap())
        .collect();
    assert!(
        parents.contains(&a.pid()) && parents.contains(&b.pid()),
        "{parents:?} vs {} {}",
        a.pid(),
        b.pid()
    );

    a.terminate();
    b.terminate();
    assert!(a.wait_timeout(Duration::from_secs(20)).success());
    assert!(b.wait_timeout(Duration::from_secs(20)).success());
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_killed_workers_job_is_completed_by_another_after_the_lease(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (store, db) = setup(options).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    enqueue(&store, &data, &[b"SLOW 2\nslow artifact\n".to_vec()]).await;
    let analyzer = fake_analyzer();
    let args = worker_args(&db, data.to_str().unwrap(), analyzer.to_str().unwrap(), "3");
    let mut first = Proc::spawn(&args, &[], dir.path().join("first.log"));
    wait_for(
        Duration::from_secs(30),
        || async { job_states(&store).await[0].1 == "running" },
        || first.log_text(),
    )
    .await;
    first.child.kill().unwrap(); // SIGKILL: no chance to release the job
    first.wait_timeout(Duration::from_secs(10));
    assert_eq!(job_states(&store).await[0].1, "running");

    let second = Proc::spawn(&args, &[], dir.path().join("second.log"));
    wait_for(
        Duration::from_secs(60),
        || async { job_states(&store).await[0].1 == "done" },
        || second.log_text(),
    )
    .await;
    let (_, state, attempts) = job_states(&store).await.remove(0);
    assert_eq!((state.as_str(), attempts), ("done", 2));
    let measurements: i64 = sqlx::query_scalar("SELECT count(*) FROM measurements")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(measurements, 1);
}

#[sqlx::test(migrations = "../../migrations")]
async fn sigterm_releases_a_job_that_outlives_the_grace_period(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (store, db) = setup(options).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    enqueue(&store, &data, &[b"SLOW 30\n".to_vec()]).await;
    let analyzer = fake_analyzer();
    let mut args = worker_args(
        &db,
        data.to_str().unwrap(),
        analyzer.to_str().unwrap(),
        "30",
    );
    args.extend(["--shutdown-grace-secs", "0"]);
    let mut worker = Proc::spawn(&args, &[], dir.path().join("w.log"));
    wait_for(
        Duration::from_secs(30),
        || async { job_states(&store).await[0].1 == "running" },
        || worker.log_text(),
    )
    .await;
    worker.terminate();
    assert!(
        worker.wait_timeout(Duration::from_secs(10)).success(),
        "{}",
        worker.log_text()
    );
    let (_, state, attempts) = job_states(&store).await.remove(0);
    assert_eq!(
        (state.as_str(), attempts),
        ("queued", 0),
        "{}",
        worker.log_text()
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn sigterm_lets_a_short_job_finish(_: PgPoolOptions, options: PgConnectOptions) {
    let (store, db) = setup(options).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    enqueue(&store, &data, &[b"SLOW 1\n".to_vec()]).await;
    let analyzer = fake_analyzer();
    let mut args = worker_args(
        &db,
        data.to_str().unwrap(),
        analyzer.to_str().unwrap(),
        "30",
    );
    args.extend(["--shutdown-grace-secs", "20"]);
    let mut worker = Proc::spawn(&args, &[], dir.path().join("w.log"));
    wait_for(
        Duration::from_secs(30),
        || async { job_states(&store).await[0].1 == "running" },
        || worker.log_text(),
    )
    .await;
    worker.terminate();
    assert!(
        worker.wait_timeout(Duration::from_secs(20)).success(),
        "{}",
        worker.log_text()
    );
    let (_, state, attempts) = job_states(&store).await.remove(0);
    assert_eq!(
        (state.as_str(), attempts),
        ("done", 1),
        "{}",
        worker.log_text()
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn notify_wakes_an_idle_worker_long_before_its_poll(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (store, db) = setup(options).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let analyzer = fake_analyzer();
    let mut args = worker_args(
        &db,
        data.to_str().unwrap(),
        analyzer.to_str().unwrap(),
        "30",
    );
    // Poll only every 10 minutes.
    let poll = args
        .iter()
        .position(|a| *a == "--poll-interval-ms")
        .unwrap();
    args[poll + 1] = "600000";
    args.extend(["--metrics-listen", "127.0.0.1:0"]);
    let worker = Proc::spawn(&args, &[], dir.path().join("w.log"));
    wait_for(
        Duration::from_secs(30),
        || async { worker.log_text().contains("workers started") },
        || worker.log_text(),
    )
    .await;
    // Let the loops go idle and the listener subscribe.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = std::time::Instant::now();
    enqueue(&store, &data, &[b"quick\n".to_vec()]).await;
    wait_for(
        Duration::from_secs(20),
        || async { job_states(&store).await[0].1 == "done" },
        || worker.log_text(),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(20));

    // The standalone worker's own metrics.
    let log = worker.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("worker metrics on http://"))
        .unwrap();
    let url = line.rsplit(' ').next().unwrap().trim();
    sizegate_store::install_crypto_provider();
    let metrics = reqwest::get(url).await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("sizegate_worker_jobs_total{outcome=\"done\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sizegate_jobs{state=\"done\"} 1\n"),
        "{metrics}"
    );
}
