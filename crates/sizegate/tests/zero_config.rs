//! `sizegate serve` with no `DATABASE_URL` on a machine where no
//! PostgreSQL server answers but the server programs are installed: it
//! starts a private cluster under its data directory, serves, and on
//! SIGTERM stops the cluster, leaving no process behind. Without the
//! programs it fails with one clear message. The probes are pointed at
//! places where nothing listens with `SIZEGATE_DB_PROBES`.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::ffi::OsStr;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{BIN, start_serve_with};

/// Probes that find nothing: a loopback port nobody listens on, and a
/// socket directory that does not exist.
fn dead_probes(dir: &Path) -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!(
        "postgres://postgres@127.0.0.1:{port}/sizegate,postgres:///sizegate?host={}",
        dir.join("no-server-here").display()
    )
}

/// Whether process `pid` runs (a zombie, exited but not yet reaped by
/// whoever adopted it, does not count).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_starts_and_stops_a_private_cluster() {
    sizegate_store::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    // As root the cluster runs as another OS user, who must reach the folder.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("sizegate-data");
    let probes = dead_probes(dir.path());
    let (mut server, url) = start_serve_with(
        &["--data-dir", data.to_str().unwrap()],
        &[("SIZEGATE_DB_PROBES", OsStr::new(&probes))],
        &dir.path().join("serve.log"),
    );
    let health = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200, "{}", server.log_text());
    let log = server.log_text();
    assert_eq!(
        log.matches("using a private PostgreSQL cluster in").count(),
        1,
        "{log}"
    );
    let pid_file = data.join("postgres/data/postmaster.pid");
    let postmaster: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(postmaster));

    server.terminate();
    let status = server.wait_timeout(Duration::from_secs(60));
    assert!(status.success(), "{status:?}\n{}", server.log_text());
    assert!(
        !alive(postmaster),
        "the postmaster {postmaster} outlived serve"
    );
    assert!(!pid_file.exists(), "postmaster.pid left behind");
    assert!(
        server
            .log_text()
            .contains("private PostgreSQL cluster stopped"),
        "{}",
        server.log_text()
    );

    // Second start: the cluster is reused, not initialised again.
    let (mut again, url) = start_serve_with(
        &["--data-dir", data.to_str().unwrap()],
        &[("SIZEGATE_DB_PROBES", OsStr::new(&probes))],
        &dir.path().join("serve2.log"),
    );
    let health = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    again.terminate();
    assert!(again.wait_timeout(Duration::from_secs(60)).success());
    assert!(!pid_file.exists());
}

#[test]
fn without_any_database_the_error_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_remove("DATABASE_URL")
        .env("SIZEGATE_DB_PROBES", dead_probes(dir.path()))
        .env("SIZEGATE_PG_BIN", dir.path().join("no-postgres-here"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("set DATABASE_URL, e.g."), "{stderr}");
    assert!(stderr.contains("apt install postgresql"), "{stderr}");
    // Each probe's reason once, no repeated chains.
    assert_eq!(stderr.matches("Connection refused").count(), 1, "{stderr}");
    assert_eq!(
        stderr.matches("no PostgreSQL database").count(),
        1,
        "{stderr}"
    );
}
