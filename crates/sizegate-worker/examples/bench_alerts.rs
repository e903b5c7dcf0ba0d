//! Times step detection for one push (`Worker::check_steps`, what the
//! worker runs after each measured build) with 100,000 measurements in the
//! table: 10 targets x 10,000 commits on `main`, seeded with SQL. Prints
//! one line per run and the median, in milliseconds.
//!
//! `DATABASE_URL=postgres://… cargo run -p sizegate-worker --example bench_alerts`
//! (scripts/bench/alerts.sh runs it against a fresh database and writes
//! benchmarks/alerts.md).

use std::sync::Arc;
use std::time::Instant;

use sizegate_store::blob::LocalBlobStore;
use sizegate_store::uploads::{CommitMeta, NewArtifact, Provenance};
use sizegate_store::{BlobStore, RepoName, Store};
use sizegate_worker::{Worker, WorkerConfig, WorkerMetrics};

const TARGETS: i64 = 10;
const COMMITS: i64 = 10_000;
const RUNS: usize = 21;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow_free::Result {
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL")?;
    let pool = sqlx::PgPool::connect(&url).await?;
    let store = Store::new(pool);
    store.migrate().await?;
    let repo = store
        .ensure_repository(&RepoName::parse("bench/alerts")?)
        .await?;
    seed(&store, repo).await?;

    // The new push: one more commit of target-1, at the same level.
    let sha = format!("{:040x}", COMMITS + 1);
    let meta = CommitMeta {
        sha: sha.clone(),
        branch: Some("main".into()),
        pr_number: None,
        base_sha: None,
        ancestors: vec![format!("{COMMITS:040x}")],
        config: None,
        fork: false,
        provenance: Provenance::Token,
        tag: None,
    };
    let artifact = NewArtifact {
        target: "target-1".into(),
        sha256: "ee".repeat(32),
        size: 1_000_000,
        blob_key: "artifacts/bench".into(),
    };
    let build = store
        .record_upload(repo, &meta, &[artifact], 5)
        .await?
        .remove(0);
    sqlx::query(
        "INSERT INTO measurements (artifact_id, schema_version, format, arch, language, stripped,
             size_file, size_vm, size_shipped, size_gzip, size_zstd, size_debug, size_symbols,
             toolchain, advice, symbol_count, report_key)
         VALUES ($1, 1, 'elf', 'x86_64', 'c', true, 1000000, 1000000, 1000000, 0, 0, 0, 0,
             '{}', '[]', 0, 'reports/bench')",
    )
    .bind(build.artifact_id)
    .execute(store.pool())
    .await?;
    sqlx::query("ANALYZE").execute(store.pool()).await?;

    let dir = std::env::temp_dir().join(format!("sizegate-bench-alerts-{}", std::process::id()));
    let blobs: Arc<dyn BlobStore> = Arc::new(LocalBlobStore::open(&dir).await?);
    let worker = Worker::new(
        store.clone(),
        blobs,
        WorkerConfig::for_tests("/nonexistent".into()),
        Arc::new(WorkerMetrics::default()),
    );
    let measurements: i64 = sqlx::query_scalar("SELECT count(*) FROM measurements")
        .fetch_one(store.pool())
        .await?;
    let mut times = Vec::new();
    for run in 0..RUNS {
        let started = Instant::now();
        let outcome = worker.check_steps(build.build_id).await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        println!("run {run}: {ms:.2} ms ({outcome:?})");
        times.push(ms);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "measurements={measurements} median_ms={:.2} max_ms={:.2}",
        times[times.len() / 2],
        times[times.len() - 1]
    );
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// 10 targets x 10,000 commits, every build measured and baseline-eligible.
async fn seed(store: &Store, repo: i64) -> Result<(), sqlx::Error> {
    let pool = store.pool();
    sqlx::query(
        "INSERT INTO targets (repository_id, name)
         SELECT $1, 'target-' || t FROM generate_series(1, $2) t",
    )
    .bind(repo)
    .bind(TARGETS)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO commits (repository_id, sha, branch, ancestors)
         SELECT $1, lpad(to_hex(i), 40, '0'), 'main',
                CASE WHEN i > 1 THEN ARRAY[lpad(to_hex(i - 1), 40, '0')] ELSE '{}' END
         FROM generate_series(1, $2) i",
    )
    .bind(repo)
    .bind(COMMITS)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO artifacts (sha256, size, blob_key)
         SELECT lpad(to_hex(i), 64, '0'), 1000000, 'artifacts/' || i
         FROM generate_series(1, $1::bigint * $2::bigint) i",
    )
    .bind(TARGETS)
    .bind(COMMITS)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO builds (commit_id, target_id, artifact_id, branch, baseline_eligible, trust_rank)
         SELECT c.id, t.id, a.id, 'main', true, 3
         FROM generate_series(1, $2::bigint * $3::bigint) i
         JOIN artifacts a ON a.sha256 = lpad(to_hex(i), 64, '0')
         JOIN commits c ON c.repository_id = $1 AND c.sha = lpad(to_hex((i - 1) / $2 + 1), 40, '0')
         JOIN targets t ON t.repository_id = $1 AND t.name = 'target-' || ((i - 1) % $2 + 1)",
    )
    .bind(repo)
    .bind(TARGETS)
    .bind(COMMITS)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO measurements (artifact_id, schema_version, format, arch, language, stripped,
             size_file, size_vm, size_shipped, size_gzip, size_zstd, size_debug, size_symbols,
             toolchain, advice, symbol_count, report_key)
         SELECT id, 1, 'elf', 'x86_64', 'c', true, 1000000 + (id % 300), 1000000,
                1000000 + (id % 300), 0, 0, 0, 0, '{}', '[]', 0, 'reports/' || id
         FROM artifacts",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// A boxed error, so the example needs no error crate.
mod anyhow_free {
    pub type Result = std::result::Result<(), Box<dyn std::error::Error>>;
}
