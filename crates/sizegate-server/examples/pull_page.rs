//! The pull request page with 50 targets × 20 pushes (issue 17, item 6):
//! seeds a fresh database `sizegate_bench_pull` next to `DATABASE_URL`
//! (one main commit as baseline, then 20 pushes of a pull request, each
//! with 50 measured targets and their full reports), serves the dashboard
//! on loopback and times `GET /repos/acme/app/pulls/1`. Prints the median
//! and the number of statements the page ran (from `pg_stat_database`).
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5443/postgres \
//!   cargo run --release -p sizegate-server --example pull_page -- [RUNS]
//! ```
//!
//! Written for scripts/bench/pullpage.sh; BENCHMARKS.md has the figures.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark driver, not a service

#[allow(dead_code)]
#[path = "../tests/common/seed.rs"]
mod seed;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sizegate_server::{AppState, ServerConfig, ServerMetrics};
use sizegate_store::Store;
use sizegate_store::blob::LocalBlobStore;
use sizegate_store::uploads::CommitMeta;
use tokio_util::sync::CancellationToken;

const TARGETS: u64 = 50;
const PUSHES: u64 = 20;
const DB: &str = "sizegate_bench_pull";

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args().nth(1).map_or(20, |r| r.parse().unwrap());
    let admin_url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    sizegate_store::install_crypto_provider();
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    sqlx::query("DROP DATABASE IF EXISTS sizegate_bench_pull WITH (FORCE)")
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("CREATE DATABASE sizegate_bench_pull")
        .execute(&admin)
        .await
        .unwrap();
    let url = match admin_url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{DB}"),
        None => panic!("DATABASE_URL has no database name"),
    };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let store = Store::new(pool);
    store.migrate().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let blobs = Arc::new(LocalBlobStore::open(data.path()).await.unwrap());

    let targets: Vec<String> = (0..TARGETS).map(|t| format!("linux/app-{t:02}")).collect();
    let upload = |commit: u64, meta: CommitMeta, grow: u64| {
        let reports: Vec<(&str, sizegate_analyze::Report)> = targets
            .iter()
            .enumerate()
            .map(|(t, name)| {
                let t = t as u64;
                let salt = commit * 1_000 + t;
                (
                    name.as_str(),
                    seed::report(name, 1_000_000 + t * 1_000 + grow, 100_000 + grow, salt),
                )
            })
            .collect();
        let (store, blobs) = (store.clone(), blobs.clone());
        async move { seed::upload(&store, blobs.as_ref(), "acme/app", meta, &reports).await }
    };
    let base = seed::sha(1);
    upload(
        1,
        CommitMeta {
            sha: base.clone(),
            branch: Some("main".into()),
            ..CommitMeta::default()
        },
        0,
    )
    .await;
    for push in 0..PUSHES {
        let meta = CommitMeta {
            sha: seed::sha(100 + push),
            branch: Some("feature".into()),
            pr_number: Some(1),
            base_sha: Some(base.clone()),
            ..CommitMeta::default()
        };
        upload(100 + push, meta, push * 512).await;
    }

    let state = AppState {
        store: store.clone(),
        blobs,
        config: Arc::new(ServerConfig::for_tests()),
        metrics: Arc::new(ServerMetrics::default()),
        worker_metrics: Arc::default(),
        oidc: None,
    };
    let shutdown = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page = format!(
        "http://{}/repos/acme/app/pulls/1",
        listener.local_addr().unwrap()
    );
    let server = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { sizegate_server::serve(listener, state, shutdown).await }
    });
    let client = reqwest::Client::new();
    let fetch = || async {
        let response = client.get(&page).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap().len()
    };
    let bytes = fetch().await; // warm-up
    let statements_before = statements(&admin).await;
    fetch().await;
    let statements_after = statements(&admin).await;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        fetch().await;
        times.push(start.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    println!(
        "pull page, {TARGETS} targets x {PUSHES} pushes: median {:.1} ms, min {:.1} ms, max {:.1} ms over {runs} runs; {} statements per page; {bytes} bytes",
        ms(times[runs / 2]),
        ms(times[0]),
        ms(times[runs - 1]),
        statements_after - statements_before,
    );
    shutdown.cancel();
    server.await.unwrap().unwrap();
    store.pool().close().await;
    sqlx::query("DROP DATABASE IF EXISTS sizegate_bench_pull WITH (FORCE)")
        .execute(&admin)
        .await
        .unwrap();
}

/// Transactions committed in the bench database so far (each statement of
/// the page runs in its own), once the statistics are flushed.
async fn statements(admin: &sqlx::PgPool) -> i64 {
    // An idle backend flushes its counters within 10 s.
    tokio::time::sleep(Duration::from_secs(11)).await;
    sqlx::query_scalar::<_, i64>("SELECT xact_commit FROM pg_stat_database WHERE datname = $1")
        .bind(DB)
        .fetch_one(admin)
        .await
        .unwrap()
}
