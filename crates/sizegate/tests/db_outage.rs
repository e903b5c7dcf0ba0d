//! PostgreSQL stopped and started again under load, against a private
//! cluster this test owns (initdb + pg_ctl on a free port; the shared
//! server on 5432 is never touched): while it is down, uploads, the API,
//! the dashboard and `/healthz` answer 503 with `Retry-After` and a clear
//! message — never a 500, never a hang —, the server recovers without a
//! restart, and every upload that got a 2xx is stored and measured.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{create_token, fake_analyzer, start_serve, wait_for};

/// A PostgreSQL cluster in a temporary directory, stopped when dropped.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

/// The directory holding `initdb` and `pg_ctl`: `SIZEGATE_TEST_PG_BIN`, else
/// the newest `/usr/lib/postgresql/*/bin` (Debian's layout).
fn postgres_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("SIZEGATE_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql (or SIZEGATE_TEST_PG_BIN)")
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("no initdb under /usr/lib/postgresql/*/bin")
        .1
}

impl Cluster {
    /// initdb and start. initdb refuses to run as root, so as root the
    /// cluster belongs to the `postgres` OS user.
    fn start() -> Cluster {
        let as_postgres = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout)
            .unwrap()
            .trim()
            == "0";
        let dir = tempfile::Builder::new()
            .prefix("sizegate-pg-")
            .tempdir()
            .unwrap();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown postgres failed");
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Cluster {
            bin: postgres_bin(),
            dir,
            port,
            as_postgres,
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        cluster.pg_ctl_start();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Run a PostgreSQL program, as `postgres` when we are root.
    fn run(&self, program: &str, args: &[&OsStr]) {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let output = command
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}\nserver log:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
        );
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=50",
            self.port,
            self.dir.path().display()
        );
        let data = self.data();
        let log = self.dir.path().join("postgres.log");
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "30".as_ref(),
                "start".as_ref(),
            ],
        );
    }

    fn pg_ctl_stop(&self, mode: &str) {
        let data = self.data();
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                mode.as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "30".as_ref(),
                "stop".as_ref(),
            ],
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let pg_ctl = self.bin.join("pg_ctl");
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            c
        } else {
            Command::new(&pg_ctl)
        };
        let _ = command
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// What one upload got: its commit and the status (0: no answer).
#[derive(Debug, Clone)]
struct Attempt {
    sha: String,
    status: u16,
    retry_after: Option<String>,
    body: String,
}

fn sha_of(i: usize) -> String {
    format!("{:040x}", i + 1)
}

async fn upload(client: &reqwest::Client, url: &str, token: &str, i: usize) -> Attempt {
    let sha = sha_of(i);
    let meta = serde_json::json!({"repo": "acme/app", "commit": sha, "branch": "main"});
    let form = reqwest::multipart::Form::new()
        .text("meta", meta.to_string())
        .part(
            "artifact",
            reqwest::multipart::Part::bytes(format!("artifact {i}\n").into_bytes())
                .file_name("linux/app"),
        );
    match client
        .post(format!("{url}/api/v1/uploads"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
    {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap_or_default().to_owned());
            let body = response.text().await.unwrap_or_default();
            Attempt {
                sha,
                status,
                retry_after,
                body,
            }
        }
        Err(e) => Attempt {
            sha,
            status: 0,
            retry_after: None,
            body: e.to_string(),
        },
    }
}

/// Status, `Retry-After` and body of a GET.
async fn get(client: &reqwest::Client, url: &str) -> (u16, Option<String>, String) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    (
        status,
        retry_after,
        response.text().await.unwrap_or_default(),
    )
}

fn count(attempts: &Mutex<Vec<Attempt>>, status: u16) -> usize {
    attempts
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.status == status)
        .count()
}

async fn wait_for_count(attempts: &Mutex<Vec<Attempt>>, status: u16, at_least: usize, log: &Path) {
    wait_for(
        Duration::from_secs(30),
        || async { count(attempts, status) >= at_least },
        || {
            format!(
                "{:?}\nserve log:\n{}",
                attempts.lock().unwrap(),
                std::fs::read_to_string(log).unwrap_or_default()
            )
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarts_under_load_lose_no_accepted_upload() {
    let cluster = Cluster::start();
    let db = cluster.url("sizegate");
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("serve.log");
    let analyzer = fake_analyzer();
    let (serve, url) = start_serve(
        &db,
        &work.path().join("data"),
        Some(&analyzer),
        &log,
        false,
        // A job in flight when the database goes away cannot be marked done;
        // it comes back after its lease, kept short here.
        &[
            ("SIZEGATE_DB_ACQUIRE_TIMEOUT_SECS", OsStr::new("2")),
            ("SIZEGATE_JOB_LEASE_SECS", OsStr::new("3")),
        ],
    );
    let token = create_token(&db, "acme/app");
    sizegate_store::install_crypto_provider();
    // A request that hangs fails the test: nothing may take 15 s.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();

    // Upload continuously, one commit after another, at most 2,000.
    let attempts = Arc::new(Mutex::new(Vec::<Attempt>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let uploader = {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        let (attempts, stop) = (Arc::clone(&attempts), Arc::clone(&stop));
        tokio::spawn(async move {
            for i in 0..2000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let attempt = upload(&client, &url, &token, i).await;
                attempts.lock().unwrap().push(attempt);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    for (round, mode) in ["fast", "immediate"].into_iter().enumerate() {
        let accepted = count(&attempts, 202);
        wait_for_count(&attempts, 202, accepted + 5, &log).await;
        cluster.pg_ctl_stop(mode);

        // Down: a clear 503 everywhere, with Retry-After.
        let refused = count(&attempts, 503);
        wait_for_count(&attempts, 503, refused + 2, &log).await;
        let (status, retry_after, body) = get(&client, &format!("{url}/healthz")).await;
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("database unreachable"), "{body}");
        assert!(retry_after.is_some(), "healthz without Retry-After");
        let api = format!("{url}/api/v1/repos/acme/app/commits/{}", sha_of(0));
        let (status, retry_after, body) = get(&client, &api).await;
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("database is unavailable"), "{body}");
        assert_eq!(retry_after.as_deref(), Some("5"));
        let (status, retry_after, body) = get(&client, &format!("{url}/repos/acme/app")).await;
        assert_eq!(status, 503, "{body}");
        assert!(retry_after.is_some());

        // Up again: the same server process recovers by itself.
        cluster.pg_ctl_start();
        let started = Instant::now();
        wait_for(
            Duration::from_secs(30),
            || async { get(&client, &format!("{url}/healthz")).await.0 == 200 },
            || std::fs::read_to_string(&log).unwrap_or_default(),
        )
        .await;
        eprintln!(
            "round {round} ({mode}): healthy again {:?} after the restart",
            started.elapsed()
        );
    }
    let accepted = count(&attempts, 202);
    wait_for_count(&attempts, 202, accepted + 5, &log).await;
    stop.store(true, Ordering::Relaxed);
    uploader.await.unwrap();

    // Every answer was a 202 or a 503 with the message and Retry-After.
    let attempts = attempts.lock().unwrap().clone();
    for attempt in &attempts {
        match attempt.status {
            202 => {}
            503 => {
                assert!(
                    attempt.body.contains("database is unavailable"),
                    "{attempt:?}"
                );
                assert_eq!(attempt.retry_after.as_deref(), Some("5"), "{attempt:?}");
            }
            _ => panic!("an upload got {attempt:?}"),
        }
    }

    // Every accepted upload is stored and measured: the worker inside the
    // server survived both outages.
    let accepted: BTreeSet<String> = attempts
        .iter()
        .filter(|a| a.status == 202)
        .map(|a| a.sha.clone())
        .collect();
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let measured = || async {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT c.sha FROM commits c
             JOIN builds b ON b.commit_id = c.id
             JOIN measurements m ON m.artifact_id = b.artifact_id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        rows.into_iter().collect::<BTreeSet<String>>()
    };
    wait_for(
        Duration::from_secs(40),
        || async { accepted.is_subset(&measured().await) },
        || {
            format!(
                "accepted {} uploads; serve log:\n{}",
                accepted.len(),
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        },
    )
    .await;
    let measured = measured().await;
    let missing: Vec<&String> = accepted.difference(&measured).collect();
    assert!(missing.is_empty(), "{missing:?}");

    // The job notifications came back too, and the process never restarted.
    wait_for(
        Duration::from_secs(20),
        || async {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("job notifications re-established")
        },
        || std::fs::read_to_string(&log).unwrap_or_default(),
    )
    .await;
    let mut serve = serve;
    assert!(serve.child.try_wait().unwrap().is_none(), "serve exited");
    eprintln!(
        "{} uploads accepted, {} refused with 503 over two outages",
        accepted.len(),
        attempts.iter().filter(|a| a.status == 503).count()
    );
    pool.close().await;
    drop(serve);
    drop(cluster);
}
