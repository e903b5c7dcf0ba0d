//! Benchmark driver for "upload → check run posted": starts the fake GitHub
//! on loopback (real clock), tells the caller its URL, then for each run
//! uploads one artifact to a running `sizegate serve` with `curl` and waits
//! until the commit's check run is `completed` on the fake.
//!
//! `scripts/bench/service.sh` runs it; by hand:
//!
//! ```text
//! cargo run -p sizegate-github --features fake --example check_run_latency -- \
//!     --public-key app.der --app-id 4242 --url-file fake.url --server-file server.url \
//!     --token-file token --artifact big.elf --runs 5
//! ```
//!
//! It starts the fake first and writes its URL to `--url-file`, so that the
//! script can start the server pointed at it; it then waits for
//! `--server-file` (the server's base URL) and `--token-file` to appear.
//! Each run uploads a copy of the artifact with 16 distinct bytes appended
//! (still a valid file of the same format, but new content, so nothing is
//! deduplicated), for a fresh commit of a pull request, and prints one line:
//! `run=N commit=SHA upload_ms=… first_check_ms=… completed_ms=… conclusion=…`,
//! times counted from just before `curl` starts.

#![allow(clippy::unwrap_used)] // a benchmark driver: failing loudly is the point

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sizegate_github::SystemClock;
use sizegate_github::fake::{FakeGitHub, FakeGitHubConfig};

const OWNER: &str = "bench-org";
const NAME: &str = "app";
const INSTALLATION: u64 = 99;
const TARGET: &str = "x86_64-unknown-linux-gnu/app";
/// Longest wait for one check run before the run is reported as timed out.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

struct Args {
    public_key: PathBuf,
    app_id: u64,
    url_file: PathBuf,
    server_file: PathBuf,
    token_file: PathBuf,
    artifact: PathBuf,
    runs: u32,
    scratch: PathBuf,
}

fn parse_args() -> Args {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str| -> Option<String> {
        argv.iter()
            .position(|a| a == name)
            .and_then(|i| argv.get(i + 1).cloned())
    };
    let need = |name: &str| {
        get(name).unwrap_or_else(|| panic!("missing {name}; see the module docs for the usage"))
    };
    Args {
        public_key: need("--public-key").into(),
        app_id: need("--app-id").parse().unwrap(),
        url_file: need("--url-file").into(),
        server_file: need("--server-file").into(),
        token_file: need("--token-file").into(),
        artifact: need("--artifact").into(),
        runs: get("--runs").map_or(5, |r| r.parse().unwrap()),
        scratch: get("--scratch").map_or_else(std::env::temp_dir, PathBuf::from),
    }
}

async fn wait_for_file(path: &Path) -> String {
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.trim().is_empty()
        {
            return text.trim().to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A copy of the artifact with `run` appended, so each run is new content.
fn distinct_copy(artifact: &Path, scratch: &Path, run: u32) -> PathBuf {
    let mut bytes = std::fs::read(artifact).unwrap();
    let stamp = format!(
        "{:016x}",
        u64::from(run) ^ 0x5a5a_0000_0000_0000 ^ std::process::id() as u64
    );
    bytes.extend_from_slice(stamp.as_bytes());
    let path = scratch.join(format!("check-run-bench-{run}.bin"));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let der = std::fs::read(&args.public_key).unwrap();
    let config = FakeGitHubConfig::new(args.app_id, der, Arc::new(SystemClock)).with_repo(
        OWNER,
        NAME,
        INSTALLATION,
    );
    let fake = FakeGitHub::start(config).await.unwrap();
    std::fs::write(&args.url_file, fake.url()).unwrap();
    let server = wait_for_file(&args.server_file).await;
    let token = wait_for_file(&args.token_file).await;

    let base_sha = "b".repeat(40);
    for run in 1..=args.runs {
        let file = distinct_copy(&args.artifact, &args.scratch, run);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let commit = format!("{:040x}", nanos ^ (u128::from(run) << 100));
        let meta = serde_json::json!({
            "repo": format!("{OWNER}/{NAME}"),
            "commit": commit,
            "branch": "feature",
            "pr": 7,
            "base_sha": base_sha,
            "ancestors": [],
            "config": "[[budget]]\ntarget = \"*\"\nmax_size = \"1 GiB\"\n",
        });
        let started = Instant::now();
        let mut curl = Some(
            tokio::process::Command::new("curl")
                .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
                .arg(format!("Authorization: Bearer {token}"))
                .arg("-F")
                .arg(format!("meta={meta};type=application/json"))
                .arg("-F")
                .arg(format!(
                    "artifact=@{};filename={TARGET};type=application/octet-stream",
                    file.display()
                ))
                .arg(format!("{server}/api/v1/uploads"))
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut upload_ms = None;
        let mut first_check_ms = None;
        let mut status = String::new();
        let outcome = loop {
            if let Some(child) = curl.as_mut()
                && let Some(exit) = child.try_wait().unwrap()
            {
                upload_ms = Some(started.elapsed().as_secs_f64() * 1e3);
                let out = curl.take().unwrap().wait_with_output().await.unwrap();
                status = String::from_utf8_lossy(&out.stdout).into_owned();
                assert!(
                    exit.success() && status.starts_with('2'),
                    "upload failed: {status}"
                );
            }
            let runs = fake.check_runs(OWNER, NAME, &commit);
            if first_check_ms.is_none() && !runs.is_empty() {
                first_check_ms = Some(started.elapsed().as_secs_f64() * 1e3);
            }
            if let Some(done) = runs.iter().find(|r| r.status == "completed") {
                break Some((
                    started.elapsed().as_secs_f64() * 1e3,
                    done.conclusion.clone().unwrap_or_default(),
                ));
            }
            if started.elapsed() > RUN_TIMEOUT {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        let _ = std::fs::remove_file(&file);
        let fmt = |v: Option<f64>| v.map_or_else(|| "NA".to_owned(), |v| format!("{v:.1}"));
        match outcome {
            Some((completed_ms, conclusion)) => println!(
                "run={run} commit={commit} http={status} upload_ms={} first_check_ms={} completed_ms={completed_ms:.1} conclusion={conclusion}",
                fmt(upload_ms),
                fmt(first_check_ms)
            ),
            None => println!(
                "run={run} commit={commit} http={status} upload_ms={} first_check_ms={} completed_ms=NA conclusion=timeout",
                fmt(upload_ms),
                fmt(first_check_ms)
            ),
        }
    }
}
