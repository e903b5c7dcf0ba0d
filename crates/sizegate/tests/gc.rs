//! `sizegate gc` and the periodic collection of `serve`, as binaries over a
//! real Postgres and a local blob store: a dry run counts, a real run
//! deletes the old non-baseline builds and the old orphaned blob, and
//! `serve --gc-interval` collects an orphan on its own.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::{BIN, database_url, drop_database, enqueue, fresh_name, start_serve, wait_for};
use serde_json::Value;
use sizegate_store::Store;
use sizegate_store::blob::{BlobStore, BlobUpload, LocalBlobStore};

fn gc(db: &str, data: &Path, extra: &[&str]) -> Value {
    let output = Command::new(BIN)
        .args(["gc", "--json", "--database-url", db, "--data-dir"])
        .arg(data)
        .args(extra)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

async fn orphan(data: &Path, content: &[u8], age: Duration) -> String {
    let blobs = LocalBlobStore::open(data).await.unwrap();
    let upload = BlobUpload::start(&blobs, 1 << 20).await.unwrap();
    let key = upload
        .write(content)
        .await
        .unwrap()
        .finish()
        .commit()
        .await
        .unwrap();
    std::fs::File::options()
        .write(true)
        .open(blobs.local_path(&key).unwrap())
        .unwrap()
        .set_modified(SystemTime::now() - age)
        .unwrap();
    key
}

#[tokio::test]
async fn gc_command_and_periodic_collection() {
    let name = fresh_name("gc");
    let db = database_url(&name);
    let status = Command::new(BIN)
        .args(["migrate", "--database-url", &db])
        .env_remove("DATABASE_URL")
        .status()
        .unwrap();
    assert!(status.success());
    let store = Store::new(sqlx::PgPool::connect(&db).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Two builds of no protected branch, 40 days old, measured.
    enqueue(&store, &data, &[b"one".to_vec(), b"two".to_vec()]).await;
    sqlx::query("UPDATE builds SET created_at = now() - interval '40 days'")
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE jobs SET state = 'done'")
        .execute(store.pool())
        .await
        .unwrap();
    let day = Duration::from_secs(86_400);
    // Their blobs were written 40 days ago too.
    let blobs = LocalBlobStore::open(&data).await.unwrap();
    for entry in blobs.list("artifacts/").await.unwrap() {
        std::fs::File::options()
            .write(true)
            .open(blobs.local_path(&entry.key).unwrap())
            .unwrap()
            .set_modified(SystemTime::now() - 40 * day)
            .unwrap();
    }
    let crashed = orphan(&data, b"never recorded", 2 * day).await;

    let dry = gc(&db, &data, &["--dry-run"]);
    assert_eq!(
        (dry["builds"].as_u64(), dry["artifacts"].as_u64()),
        (Some(2), Some(2)),
        "{dry}"
    );
    assert_eq!(blobs.list("artifacts/").await.unwrap().len(), 3);

    // 60 days: nothing is that old.
    let none = gc(&db, &data, &["--older-than", "60d", "--orphan-grace", "3d"]);
    assert_eq!(
        (none["builds"].as_u64(), none["blobs"].as_u64()),
        (Some(0), Some(0)),
        "{none}"
    );

    let real = gc(&db, &data, &["--older-than", "30d"]);
    assert_eq!(
        (
            real["builds"].as_u64(),
            real["artifacts"].as_u64(),
            real["blobs"].as_u64()
        ),
        (Some(2), Some(2), Some(3)),
        "{real}"
    );
    assert!(blobs.list("artifacts/").await.unwrap().is_empty());
    assert!(!blobs.exists(&crashed).await.unwrap());

    // A bad age is refused with a clear message.
    let output = Command::new(BIN)
        .args(["gc", "--older-than", "30", "--database-url", &db])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("has no unit"));

    // serve collects on its own every interval.
    let late = orphan(&data, b"crashed later", 2 * day).await;
    let log = dir.path().join("serve.log");
    let (serve, _url) = start_serve(
        &db,
        &data,
        None,
        &log,
        false,
        &[("SIZEGATE_GC_INTERVAL", OsStr::new("1s"))],
    );
    wait_for(
        Duration::from_secs(30),
        || async { !blobs.exists(&late).await.unwrap() },
        || serve.log_text(),
    )
    .await;
    assert!(serve.log_text().contains("garbage collection done"));
    drop(serve);
    drop_database(&name).await;
}
