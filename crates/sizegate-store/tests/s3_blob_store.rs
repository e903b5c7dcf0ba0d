//! The S3 blob store against a real S3-compatible server: moto's server,
//! started on loopback for the test (`pip install 'moto[server]'`; the
//! `moto_server` command must be on PATH, or named by `MOTO_SERVER`).

#![allow(clippy::unwrap_used)] // tests may unwrap

#[path = "support/moto.rs"]
mod moto;

use bytes::Bytes;
use moto::{create_bucket, s3_store, start_moto};
use sizegate_store::blob::{BlobStore, BlobUpload, UploadError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn s3_round_trip_dedup_and_limit() {
    let moto = start_moto();
    create_bucket(moto.port, "sizegate-test").await;
    let store = s3_store(moto.port, "s3://sizegate-test/some/prefix");
    assert_eq!(store.describe(), "s3://sizegate-test/some/prefix");

    // 12 MiB: more than two 5 MiB multipart parts.
    let content: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut upload = BlobUpload::start(&store, 64 << 20).await.unwrap();
    for chunk in content.chunks(64 * 1024) {
        upload = upload.write(chunk).await.unwrap();
    }
    let blob = upload.finish();
    let sha = blob.sha256.clone();
    let key = blob.commit().await.unwrap();
    assert!(key.ends_with(&sha));
    assert!(store.exists(&key).await.unwrap());
    assert_eq!(store.get(&key).await.unwrap().len(), content.len());

    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("artifact");
    store.download(&key, &dest).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), content);

    // The same content again is stored once, and no temporary object stays.
    let mut upload = BlobUpload::start(&store, 64 << 20).await.unwrap();
    upload = upload.write(&content).await.unwrap();
    assert_eq!(upload.finish().commit().await.unwrap(), key);

    // Over the limit: refused, nothing left.
    let upload = BlobUpload::start(&store, 10).await.unwrap();
    let err = upload.write(&[0u8; 11]).await.unwrap_err();
    assert!(matches!(err, UploadError::TooLarge { limit: 10 }));

    // Small blobs.
    store
        .put("reports/ab/r.json.zst", Bytes::from_static(b"report"))
        .await
        .unwrap();
    assert_eq!(
        &store.get("reports/ab/r.json.zst").await.unwrap()[..],
        b"report"
    );
    assert!(!store.exists("reports/ab/missing").await.unwrap());
    assert!(matches!(
        store.get("reports/ab/missing").await,
        Err(sizegate_store::BlobError::NotFound(_))
    ));

    // Everything went under the prefix; the temporary objects are gone.
    let unprefixed = s3_store(moto.port, "s3://sizegate-test");
    assert!(
        unprefixed
            .exists(&format!("some/prefix/{key}"))
            .await
            .unwrap()
    );
    let listing = list_keys(moto.port, "sizegate-test").await;
    assert!(
        !listing.contains("/tmp/"),
        "temporary objects left: {listing}"
    );
}

/// The raw ListObjects XML of a bucket.
async fn list_keys(port: u16, bucket: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!(
        "GET /{bucket}?list-type=2 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(
        response.contains("<Key>some/prefix/artifacts/"),
        "{response}"
    );
    response
}
