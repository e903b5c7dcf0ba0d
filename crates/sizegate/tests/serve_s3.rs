//! `sizegate serve` with its blobs in S3-compatible storage, configured the
//! production way (`SIZEGATE_BLOB_STORE=s3://...` and the usual `AWS_*`
//! variables), against moto's server on loopback
//! (`pip install 'moto[server]'`; `moto_server` on PATH or `MOTO_SERVER`).

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::ffi::OsStr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{create_token, database_url, drop_database, fresh_name, start_serve, upload_and_wait};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto(port: u16) -> Moto {
    let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
    let child = Command::new(&program)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "could not start `{program}` ({e}): install it with `pip install 'moto[server]'` or set MOTO_SERVER"
            )
        });
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto(child)
}

async fn http(port: u16, request_line: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!(
        "{request_line} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn serve_keeps_blobs_in_s3() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _moto = start_moto(port);
    assert!(
        http(port, "PUT /e2e-bucket")
            .await
            .starts_with("HTTP/1.1 200")
    );

    let name = fresh_name("s3");
    let db = database_url(&name);
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let envs: Vec<(&str, &OsStr)> = vec![
        (
            "SIZEGATE_BLOB_STORE",
            OsStr::new("s3://e2e-bucket/sizegate"),
        ),
        ("AWS_ENDPOINT", OsStr::new(&endpoint)),
        ("AWS_ALLOW_HTTP", OsStr::new("true")),
        ("AWS_ACCESS_KEY_ID", OsStr::new("testing")),
        ("AWS_SECRET_ACCESS_KEY", OsStr::new("testing")),
        ("AWS_REGION", OsStr::new("us-east-1")),
    ];
    let analyzer = common::fake_analyzer();
    let data = dir.path().join("data");
    let (mut server, url) = start_serve(
        &db,
        &data,
        Some(&analyzer),
        &dir.path().join("serve.log"),
        false,
        &envs,
    );
    let token = create_token(&db, "acme/app");
    let commit = upload_and_wait(&url, &token, "linux/app", vec![3u8; 6000]).await;
    let target = &commit["targets"][0];
    assert_eq!(target["status"], "done", "{commit}\n{}", server.log_text());
    assert_eq!(target["sizes"]["file"], 6000);

    // The artifact and its report are in the bucket; nothing is on local disk
    // but the (emptied) scratch directory.
    let listing = http(port, "GET /e2e-bucket?list-type=2").await;
    let sha = target["sha256"].as_str().unwrap();
    assert!(
        listing.contains(&format!("sizegate/artifacts/{}/{sha}", &sha[..2])),
        "{listing}"
    );
    assert!(
        listing.contains(&format!("sizegate/reports/{}/{sha}.json.zst", &sha[..2])),
        "{listing}"
    );
    assert!(!listing.contains("sizegate/tmp/"), "{listing}");
    let scratch: Vec<_> = std::fs::read_dir(data.join("scratch")).unwrap().collect();
    assert!(scratch.is_empty(), "{scratch:?}");
    assert!(!data.join("artifacts").exists());

    server.terminate();
    assert!(server.wait_timeout(Duration::from_secs(30)).success());
    drop(server);
    drop_database(&name).await;
}
