//! Retention against a real Postgres and both blob stores (a local
//! directory; S3 through moto_server): `collect_garbage` deletes exactly the
//! collectable builds, their artifacts, reports and blobs, and orphaned
//! blobs past the grace period; it never deletes a blob a row refers to,
//! and loses nothing of uploads that run at the same time.

#![allow(clippy::unwrap_used)] // tests may unwrap

#[path = "support/moto.rs"]
mod moto;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use sizegate_store::Store;
use sizegate_store::blob::{BlobStore, BlobUpload, LocalBlobStore, report_key};
use sizegate_store::gc::{GcPolicy, GcReport};
use sizegate_store::uploads::{CommitMeta, NewArtifact, Provenance};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

const DAY: Duration = Duration::from_secs(86_400);

async fn write_blob(blobs: &dyn BlobStore, content: &[u8]) -> (String, String) {
    let upload = BlobUpload::start(blobs, 1 << 20).await.unwrap();
    let blob = upload.write(content).await.unwrap().finish();
    let sha = blob.sha256.clone();
    (sha, blob.commit().await.unwrap())
}

fn sha(n: u8) -> String {
    format!("{n:02x}").repeat(20)
}

fn meta(commit: u8, branch: &str, pr: Option<i64>) -> CommitMeta {
    CommitMeta {
        sha: sha(commit),
        branch: Some(branch.to_owned()),
        pr_number: pr,
        base_sha: None,
        ancestors: Vec::new(),
        config: None,
        fork: false,
        provenance: Provenance::Token,
        tag: None,
    }
}

/// Write `content` as an artifact of `target` and record it; returns the
/// build id and blob key.
async fn upload(
    store: &Store,
    blobs: &dyn BlobStore,
    repo: i64,
    meta: &CommitMeta,
    target: &str,
    content: &[u8],
) -> (i64, String) {
    let (sha256, key) = write_blob(blobs, content).await;
    let recorded = store
        .record_upload(
            repo,
            meta,
            &[NewArtifact {
                target: target.to_owned(),
                sha256,
                size: content.len() as u64,
                blob_key: key.clone(),
            }],
            5,
        )
        .await
        .unwrap();
    (recorded[0].build_id, key)
}

/// A measurement of the build's artifact whose report is in the blob store.
async fn measure(store: &Store, blobs: &dyn BlobStore, build: i64) -> String {
    let (artifact, sha256): (i64, String) = sqlx::query_as(
        "SELECT a.id, a.sha256 FROM builds b JOIN artifacts a ON a.id = b.artifact_id WHERE b.id = $1",
    )
    .bind(build)
    .fetch_one(store.pool())
    .await
    .unwrap();
    let key = report_key(&sha256);
    blobs
        .put(&key, Bytes::from_static(b"report"))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO measurements (artifact_id, schema_version, format, arch, language, stripped,
             size_file, size_vm, size_shipped, size_gzip, size_zstd, size_debug, size_symbols,
             toolchain, advice, symbol_count, report_key)
         VALUES ($1, 1, 'elf', 'x86_64', 'rust', true, 1, 1, 1, 1, 1, 0, 0, '{}', '[]', 0, $2)
         ON CONFLICT (artifact_id) DO NOTHING",
    )
    .bind(artifact)
    .bind(&key)
    .execute(store.pool())
    .await
    .unwrap();
    key
}

async fn age_build(store: &Store, build: i64, days: i32) {
    sqlx::query("UPDATE builds SET created_at = now() - make_interval(days => $2) WHERE id = $1")
        .bind(build)
        .bind(days)
        .execute(store.pool())
        .await
        .unwrap();
}

async fn set_job(store: &Store, build: i64, state: &str) {
    sqlx::query("UPDATE jobs SET state = $2 WHERE build_id = $1")
        .bind(build)
        .bind(state)
        .execute(store.pool())
        .await
        .unwrap();
}

async fn build_ids(store: &Store) -> Vec<i64> {
    sqlx::query_scalar("SELECT id FROM builds ORDER BY id")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

/// Every blob key a row refers to exists in the store.
async fn assert_no_dangling_reference(store: &Store, blobs: &dyn BlobStore) {
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT blob_key FROM artifacts UNION SELECT report_key FROM measurements",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    for key in keys {
        assert!(
            blobs.exists(&key).await.unwrap(),
            "{key} is referenced but gone"
        );
    }
}

fn policy(grace: Duration, dry_run: bool) -> GcPolicy {
    GcPolicy {
        older_than: 30 * DAY,
        orphan_grace: grace,
        dry_run,
    }
}

/// The scenario shared by both stores. `make_old` makes a blob older than
/// the grace period given (local: its time is set back; S3: the test waits
/// out a short grace).
async fn scenario(
    store: &Store,
    blobs: &dyn BlobStore,
    grace: Duration,
    make_old: impl AsyncFn(&str),
) {
    let repo: i64 = sqlx::query_scalar(
        "INSERT INTO repositories (owner, name) VALUES ('acme', 'app') RETURNING id",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    // Main (baseline-eligible): replaced once, both old.
    let (main_old, main_old_key) = upload(
        store,
        blobs,
        repo,
        &meta(1, "main", None),
        "app",
        b"main v0",
    )
    .await;
    let (main_now, main_key) = upload(
        store,
        blobs,
        repo,
        &meta(1, "main", None),
        "app",
        b"main v1",
    )
    .await;
    // An old pull request build: collected with its blob and report.
    let (pr_old, pr_old_key) = upload(
        store,
        blobs,
        repo,
        &meta(2, "feature", Some(7)),
        "app",
        b"pr old",
    )
    .await;
    // An old pull request build with the same bytes as main: collected,
    // its artifact kept (main refers to it).
    let (pr_shared, _) = upload(
        store,
        blobs,
        repo,
        &meta(3, "feature", Some(8)),
        "app",
        b"main v1",
    )
    .await;
    // A recent pull request build: kept.
    let (pr_recent, pr_recent_key) = upload(
        store,
        blobs,
        repo,
        &meta(4, "feature", Some(9)),
        "app",
        b"pr recent",
    )
    .await;
    // An old pull request build whose job is still queued: kept.
    let (pr_queued, pr_queued_key) = upload(
        store,
        blobs,
        repo,
        &meta(5, "feature", Some(10)),
        "app",
        b"pr queued",
    )
    .await;
    for build in [main_old, main_now, pr_old, pr_shared, pr_recent] {
        set_job(store, build, "done").await;
    }
    for build in [main_old, main_now, pr_old, pr_shared, pr_queued] {
        age_build(store, build, 40).await;
    }
    let pr_old_report = measure(store, blobs, pr_old).await;
    let main_report = measure(store, blobs, main_now).await;
    // A crash between blob write and row commit: the blob is written, the
    // row never is.
    let (_, crashed_key) = write_blob(blobs, b"uploaded, never recorded").await;
    sqlx::query(
        "WITH t AS (INSERT INTO read_tokens (public_id, secret_sha256) VALUES ('r', '\\x00') RETURNING id)
         INSERT INTO sessions (secret_sha256, read_token_id, expires_at)
         SELECT s, t.id, e FROM t, (VALUES ('\\x01'::bytea, now() - interval '1 day'),
                                           ('\\x02'::bytea, now() + interval '1 day')) v(s, e)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    for key in [
        &main_old_key,
        &main_key,
        &pr_old_key,
        &pr_recent_key,
        &pr_queued_key,
        &crashed_key,
        &pr_old_report,
        &main_report,
    ] {
        make_old(key).await;
    }
    // The orphan made by the crash is written after the others and is
    // still young: for S3, whose times cannot be set back, wait out the
    // grace for the others only.
    let (_, young_orphan) = write_blob(blobs, b"in flight: row not committed yet").await;

    let dry = store
        .collect_garbage(blobs, &policy(grace, true))
        .await
        .unwrap();
    assert_eq!(
        (dry.builds, dry.artifacts, dry.blobs),
        (3, 2, 1),
        "dry run: {dry:?}"
    );
    assert_eq!(
        build_ids(store).await.len(),
        6,
        "the dry run deleted builds"
    );
    assert!(blobs.exists(&crashed_key).await.unwrap());

    let report = store
        .collect_garbage(blobs, &policy(grace, false))
        .await
        .unwrap();
    assert_eq!(
        report,
        GcReport {
            skipped: false,
            builds: 3,
            artifacts: 2,
            // main v0, pr old, its report, the crashed upload.
            blobs: 4,
            blob_bytes: report.blob_bytes,
            recent_orphans_kept: 1,
            sessions: 1,
            oidc_token_ids: 0,
            upload_sessions: 0,
            upload_session_bytes: 0,
        }
    );
    assert_eq!(build_ids(store).await, [main_now, pr_recent, pr_queued]);
    for gone in [&main_old_key, &pr_old_key, &pr_old_report, &crashed_key] {
        assert!(!blobs.exists(gone).await.unwrap(), "{gone} survived");
    }
    for kept in [
        &main_key,
        &main_report,
        &pr_recent_key,
        &pr_queued_key,
        &young_orphan,
    ] {
        assert!(blobs.exists(kept).await.unwrap(), "{kept} was deleted");
    }
    assert_no_dangling_reference(store, blobs).await;

    // The young orphan goes once past the grace period.
    make_old(&young_orphan).await;
    let later = store
        .collect_garbage(blobs, &policy(grace, false))
        .await
        .unwrap();
    assert_eq!(
        (later.builds, later.blobs, later.recent_orphans_kept),
        (0, 1, 0),
        "{later:?}"
    );
    assert!(!blobs.exists(&young_orphan).await.unwrap());
    assert_no_dangling_reference(store, blobs).await;
}

async fn connect(connect: PgConnectOptions) -> Store {
    Store::new(
        PgPoolOptions::new()
            .max_connections(20)
            .connect_with(connect)
            .await
            .unwrap(),
    )
}

fn set_back(root: &std::path::Path, key: &str) {
    let old = SystemTime::now() - 2 * DAY;
    std::fs::File::options()
        .write(true)
        .open(root.join(key))
        .unwrap()
        .set_modified(old)
        .unwrap();
}

#[sqlx::test(migrations = "../../migrations")]
async fn gc_deletes_exactly_the_collectable_local(_opts: PgPoolOptions, options: PgConnectOptions) {
    let store = connect(options).await;
    let dir = tempfile::tempdir().unwrap();
    let blobs = LocalBlobStore::open(dir.path()).await.unwrap();
    let root = dir.path().canonicalize().unwrap();
    scenario(&store, &blobs, DAY, async |key: &str| set_back(&root, key)).await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn gc_deletes_exactly_the_collectable_s3(_opts: PgPoolOptions, options: PgConnectOptions) {
    let store = connect(options).await;
    let moto = moto::start_moto();
    moto::create_bucket(moto.port, "gc-test").await;
    let blobs = moto::s3_store(moto.port, "s3://gc-test/pre");
    // S3 times cannot be set back: a grace of 2 s, waited out until the
    // blob is past it.
    let grace = Duration::from_secs(2);
    scenario(&store, &blobs, grace, async |key: &str| {
        let listed = blobs.list("").await.unwrap();
        let entry = listed.iter().find(|e| e.key == key).unwrap();
        let past = entry.modified + grace + Duration::from_millis(1100);
        if let Ok(wait) = past.duration_since(SystemTime::now()) {
            tokio::time::sleep(wait).await;
        }
    })
    .await;
}

/// Uploads run while gc runs in a loop: one of the contents is an old
/// orphan (a crash left it) that the uploads take up again; the grace
/// period and the time refreshed on re-commit keep every blob a row refers
/// to.
#[sqlx::test(migrations = "../../migrations")]
async fn gc_concurrent_with_uploads_loses_nothing(_opts: PgPoolOptions, options: PgConnectOptions) {
    let store = connect(options).await;
    let dir = tempfile::tempdir().unwrap();
    let blobs: Arc<LocalBlobStore> = Arc::new(LocalBlobStore::open(dir.path()).await.unwrap());
    let root = dir.path().canonicalize().unwrap();
    let repo: i64 = sqlx::query_scalar(
        "INSERT INTO repositories (owner, name) VALUES ('acme', 'app') RETURNING id",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    // Orphans from crashed uploads, old: collectable until taken up again.
    for n in 0..20u8 {
        let (_, key) = write_blob(blobs.as_ref(), &[n; 64]).await;
        set_back(&root, &key);
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let (store, blobs, done) = (store.clone(), Arc::clone(&blobs), Arc::clone(&done));
        tokio::spawn(async move {
            let mut runs = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                store
                    .collect_garbage(blobs.as_ref(), &policy(DAY, false))
                    .await
                    .unwrap();
                runs += 1;
            }
            runs
        })
    };
    let mut uploads = Vec::new();
    for n in 0..40u8 {
        let (store, blobs) = (store.clone(), Arc::clone(&blobs));
        uploads.push(tokio::spawn(async move {
            // Half take up an old orphan's content, half are new.
            let content = if n % 2 == 0 {
                vec![n / 2; 64]
            } else {
                vec![n; 100]
            };
            let branch = if n % 3 == 0 { "main" } else { "feature" };
            let pr = (n % 3 != 0).then_some(i64::from(n));
            upload(
                &store,
                blobs.as_ref(),
                repo,
                &meta(100 + n, branch, pr),
                "app",
                &content,
            )
            .await
        }));
    }
    for upload in uploads {
        upload.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let runs = collector.await.unwrap();
    assert!(runs > 0);
    assert_eq!(build_ids(&store).await.len(), 40);
    assert_no_dangling_reference(&store, blobs.as_ref()).await;
    // Every orphan was taken up again: all 40 blobs stay.
    let report = store
        .collect_garbage(blobs.as_ref(), &policy(DAY, false))
        .await
        .unwrap();
    assert_eq!(report.builds, 0);
    assert_no_dangling_reference(&store, blobs.as_ref()).await;
    let artifacts = blobs.list("artifacts/").await.unwrap();
    assert_eq!(artifacts.len(), 40, "{artifacts:?}");
}

/// Two collections never run at once: the second finds the lock taken.
#[sqlx::test(migrations = "../../migrations")]
async fn one_collection_at_a_time(_opts: PgPoolOptions, options: PgConnectOptions) {
    let store = connect(options).await;
    let dir = tempfile::tempdir().unwrap();
    let blobs = LocalBlobStore::open(dir.path()).await.unwrap();
    let mut holder = store.pool().acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(91574512207683)")
        .execute(&mut *holder)
        .await
        .unwrap();
    let report = store
        .collect_garbage(&blobs, &policy(DAY, false))
        .await
        .unwrap();
    assert!(report.skipped);
    sqlx::query("SELECT pg_advisory_unlock_all()")
        .execute(&mut *holder)
        .await
        .unwrap();
    let report = store
        .collect_garbage(&blobs, &policy(DAY, false))
        .await
        .unwrap();
    assert!(!report.skipped);
}
