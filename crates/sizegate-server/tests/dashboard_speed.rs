//! The speed target of the target page: 10,000 history points render in
//! at most 100 ms of server time. Ignored by default (it is a benchmark,
//! not a unit test); run it with
//! `cargo nextest run -p sizegate-server --test dashboard_speed --run-ignored all`.
//! It prints the figures and writes them to `target/bench/dashboard.txt`
//! (the target is 100 ms; it reports rather than asserts, as timings on a
//! shared machine are not a pass/fail signal).
//!
//! The 10,000 builds are inserted in bulk with SQL (one statement per
//! table) because recording them one upload at a time through the store
//! would take minutes; the page reads them through the normal store code.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::time::Instant;

use common::TestServer;
use sizegate_server::ServerConfig;

const POINTS: i64 = 10_000;

#[sqlx::test(migrations = "../../migrations")]
#[ignore = "benchmark: run with --run-ignored all"]
async fn target_page_with_10000_points(pool: sqlx::PgPool) {
    let server = TestServer::start_with(pool, ServerConfig::for_tests(), false).await;
    let db = server.store.pool();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO repositories (owner, name) VALUES ('acme', 'big');
         INSERT INTO targets (repository_id, name) SELECT id, 'x86_64-unknown-linux-gnu/app' FROM repositories;
         INSERT INTO commits (repository_id, sha, branch, created_at)
             SELECT 1, lpad(to_hex(g), 40, '0'), 'main', now() - make_interval(mins => {POINTS} - g)
             FROM generate_series(1, {POINTS}) g;
         INSERT INTO artifacts (sha256, size, blob_key)
             SELECT lpad(to_hex(g), 64, '0'), 1000000 + g, 'k' FROM generate_series(1, {POINTS}) g;
         INSERT INTO builds (commit_id, target_id, artifact_id, created_at)
             SELECT g, 1, g, now() - make_interval(mins => {POINTS} - g) FROM generate_series(1, {POINTS}) g;
         INSERT INTO measurements (artifact_id, schema_version, format, arch, language, stripped,
                 size_file, size_vm, size_shipped, size_gzip, size_zstd, size_debug, size_symbols,
                 toolchain, advice, symbol_count, report_key)
             SELECT g, 1, 'elf', 'x86_64', 'rust', false,
                 2000000 + (g % 97) * 300 + (g / 1000) * 65536, 2000000, 1000000 + (g % 89) * 200 + (g / 1000) * 65536,
                 500000, 400000, 0, 0, '{{}}', '[]', 0, 'r'
             FROM generate_series(1, {POINTS}) g;
         ANALYZE;"
    )))
    .execute(db)
    .await
    .unwrap();

    let path = format!(
        "/repos/acme/big/targets/x86_64-unknown-linux-gnu/app?count={POINTS}&threshold=32KiB"
    );
    // Warm up (connections, plan cache), then time 20 renders.
    let (status, body) = server.get_text(&path).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("{POINTS} commits on main")));
    let circles = body.matches("<circle").count();
    assert!(circles <= 520, "{circles} points drawn");
    let mut times = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let (status, _) = server.get_text(&path).await;
        times.push(started.elapsed());
        assert_eq!(status, 200);
    }
    times.sort();
    // The share of the store query (SQL and row decoding) in it.
    let mut query_times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let points = server
            .store
            .target_metric_series(
                1,
                Some("main"),
                None,
                POINTS,
                sizegate_analyze::Metric::Shipped,
            )
            .await
            .unwrap();
        query_times.push(started.elapsed());
        assert_eq!(points.len() as i64, POINTS);
    }
    query_times.sort();
    let query = query_times[2];
    let median = times[times.len() / 2];
    let max = times[times.len() - 1];
    let report = format!(
        "target page, {POINTS} points (count={POINTS}), {} bytes of HTML, {circles} points drawn: \
         median {:.1} ms, max {:.1} ms over 20 requests (loopback round trip, an upper bound of server time); \
         of which the history query: median {:.1} ms\n",
        body.len(),
        median.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        query.as_secs_f64() * 1e3
    );
    println!("{report}");
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("dashboard.txt"), &report).unwrap();
    server.stop().await;
}
