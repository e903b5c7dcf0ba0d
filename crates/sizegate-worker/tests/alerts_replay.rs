//! The proof of post-merge step alerts (issue 18): a replayed history of
//! 1,000 commits on `main` for 3 targets (reports of real binaries built
//! here with gcc, their sizes moved by Gaussian noise of about ±0.05%,
//! 5 injected steps of 0.6–5% and 3 slow drifts of 0.01% per commit), fed
//! through the store and the worker's own `check_steps` after each push.
//! Every step is found at its commit, at most one false alarm, and the
//! running worker's delivery loop sends each alert exactly once to a local
//! webhook receiver that answers 500 twice first.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use sizegate_analyze::{Options, Report};
use sizegate_store::blob::LocalBlobStore;
use sizegate_store::blob::report_key;
use sizegate_store::measurements::encode_report;
use sizegate_store::uploads::{CommitMeta, NewArtifact, Provenance};
use sizegate_store::{BlobStore, RepoName, Store};
use sizegate_worker::{StepCheck, Worker, WorkerConfig, WorkerMetrics};
use tokio_util::sync::CancellationToken;

const COMMITS: usize = 1_000;
const TARGETS: [&str; 3] = ["linux/small", "linux/medium", "linux/large"];
/// (commit index, target, relative step).
const STEPS: [(usize, usize, f64); 5] = [
    (120, 0, 0.006),
    (300, 1, 0.05),
    (480, 2, 0.012),
    (650, 0, -0.02),
    (850, 1, 0.03),
];
/// (first commit, last commit, target): 0.01% growth per commit.
const DRIFTS: [(usize, usize, usize); 3] = [(50, 250, 2), (400, 700, 1), (700, 990, 0)];
const CONFIG: &str = "[alerts]\nmin_step = \"0.4%\"\nwindow = 10\n";

/// A deterministic Gaussian source (xorshift + Box-Muller).
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Relative noise: sigma 0.02%, cut at ±0.05%.
    fn relative(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        let gauss = (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos();
        (gauss * 0.0002).clamp(-0.0005, 0.0005)
    }
}

/// Three real programs of different sizes, built with gcc, analyzed once.
fn real_reports(dir: &Path) -> Vec<Report> {
    [0usize, 2_000, 20_000]
        .iter()
        .enumerate()
        .map(|(i, table)| {
            let source = dir.join(format!("p{i}.c"));
            let binary = dir.join(format!("p{i}"));
            let data = if *table == 0 {
                String::new()
            } else {
                format!("static const int table[{table}] = {{1}};\nint pick(int i) {{ return table[i % {table}]; }}\n")
            };
            std::fs::write(
                &source,
                format!("#include <stdio.h>\n{data}int main(int argc, char **argv) {{ printf(\"%d\\n\", argc); return 0; }}\n"),
            )
            .unwrap();
            let status = std::process::Command::new("gcc")
                .args(["-O1", "-o"])
                .arg(&binary)
                .arg(&source)
                .status()
                .expect("gcc is needed for this test");
            assert!(status.success());
            let bytes = std::fs::read(&binary).unwrap();
            sizegate_analyze::analyze(&format!("p{i}"), &bytes, &Options::default())
                .unwrap()
                .remove(0)
        })
        .collect()
}

/// The report of `base` moved to `shipped` bytes: the difference goes to
/// its first unit, so the diff of two points names it.
fn report_at(base: &Report, shipped: u64) -> Report {
    let mut report = base.clone();
    let delta = shipped as i64 - base.sizes.shipped as i64;
    report.sizes.shipped = shipped;
    report.sizes.file = (base.sizes.file as i64 + delta).max(0) as u64;
    if let Some(unit) = report.units.first_mut() {
        unit.size = (unit.size as i64 + delta).max(0) as u64;
    }
    report
}

#[derive(Default)]
struct Receiver {
    /// Requests answered so far.
    requests: usize,
    /// Alert ids accepted (answered 200), with how often.
    accepted: HashMap<String, usize>,
    texts: Vec<String>,
}

async fn receive(
    State(receiver): State<Arc<Mutex<Receiver>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut r = receiver.lock().unwrap();
    r.requests += 1;
    if r.requests <= 2 {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let id = headers
        .get("x-sizegate-alert")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_owned();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    r.texts.push(json["text"].as_str().unwrap().to_owned());
    *r.accepted.entry(id).or_default() += 1;
    StatusCode::OK
}

#[sqlx::test(migrations = "../../migrations")]
async fn replayed_history_finds_every_step_and_delivers_each_alert_once(pool: sqlx::PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let reports = real_reports(dir.path());
    let store = Store::new(pool);
    let blobs: Arc<dyn BlobStore> = Arc::new(
        LocalBlobStore::open(dir.path().join("blobs"))
            .await
            .unwrap(),
    );
    let repo_id = store
        .ensure_repository(&RepoName::parse("acme/app").unwrap())
        .await
        .unwrap();

    // The webhook receiver, and the repository's webhook sink.
    let receiver = Arc::new(Mutex::new(Receiver::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(Arc::clone(&receiver));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    store.set_alert_webhook(repo_id, Some(&hook)).await.unwrap();

    let config = WorkerConfig::for_tests("/nonexistent/analyzer".into());
    let worker = Worker::new(
        store.clone(),
        Arc::clone(&blobs),
        config,
        Arc::new(WorkerMetrics::default()),
    );

    let mut noise = Noise(0x2545_f491_4f6c_dd1d);
    let mut levels: Vec<f64> = reports.iter().map(|r| r.sizes.shipped as f64).collect();
    let shas: Vec<String> = (0..COMMITS).map(|i| format!("{:040x}", i + 1)).collect();
    let mut alerts: Vec<(usize, usize)> = Vec::new();
    for (i, sha) in shas.iter().enumerate() {
        for (t, level) in levels.iter_mut().enumerate() {
            if let Some((_, _, step)) = STEPS
                .iter()
                .find(|(at, target, _)| *at == i && *target == t)
            {
                *level *= 1.0 + step;
            }
            if DRIFTS
                .iter()
                .any(|(from, to, target)| *target == t && (*from..*to).contains(&i))
            {
                *level *= 1.0001;
            }
        }
        let mut artifacts = Vec::new();
        let mut measured = Vec::new();
        for (t, name) in TARGETS.iter().enumerate() {
            let shipped = (levels[t] * (1.0 + noise.relative())) as u64;
            let report = report_at(&reports[t], shipped);
            let sha256 = format!("{:016x}{:048x}", t + 1, i + 1);
            artifacts.push(NewArtifact {
                target: (*name).to_owned(),
                sha256: sha256.clone(),
                size: report.sizes.file,
                blob_key: format!("artifacts/{sha256}"),
            });
            measured.push((sha256, report));
        }
        let meta = CommitMeta {
            sha: sha.clone(),
            branch: Some("main".into()),
            pr_number: None,
            base_sha: None,
            ancestors: shas[..i].iter().rev().take(50).cloned().collect(),
            config: Some(CONFIG.into()),
            fork: false,
            provenance: Provenance::Token,
            tag: None,
        };
        let builds = store
            .record_upload(repo_id, &meta, &artifacts, 5)
            .await
            .unwrap();
        for (build, (sha256, report)) in builds.iter().zip(&measured) {
            let key = report_key(sha256);
            blobs
                .put(&key, encode_report(report).unwrap().into())
                .await
                .unwrap();
            store
                .store_measurement(build.artifact_id, report, &key, 20)
                .await
                .unwrap();
            match worker.check_steps(build.build_id).await.unwrap() {
                StepCheck::Alert(_) => {
                    let t = TARGETS.iter().position(|n| *n == build.target).unwrap();
                    alerts.push((i, t));
                }
                StepCheck::NoStep => {}
                other => panic!("unexpected {other:?} at commit {i}"),
            }
        }
    }
    // No job runs the analyzer here: the measurements are stored already.
    sqlx::query("UPDATE jobs SET state = 'done', finished_at = now()")
        .execute(store.pool())
        .await
        .unwrap();

    for (at, target, _) in STEPS {
        assert!(
            alerts.contains(&(at, target)),
            "step at commit {at} of {} missed; alerts: {alerts:?}",
            TARGETS[target]
        );
    }
    let false_alarms = alerts.len() - STEPS.len();
    assert!(false_alarms <= 1, "false alarms: {alerts:?}");

    // Every commit measured: each alert names one commit, and the unit moved.
    let listed = store.list_alerts(repo_id, 100).await.unwrap();
    assert_eq!(listed.len(), alerts.len());
    for alert in &listed {
        assert!(alert.range_start.is_none(), "{alert:?}");
        assert!(
            !alert.changes["units"].as_array().unwrap().is_empty(),
            "{alert:?}"
        );
    }
    let first = listed.last().unwrap();
    assert_eq!(first.commit, shas[STEPS[0].0]);
    assert!(
        first.delta > 0 && (first.percent - 0.6).abs() < 0.15,
        "{first:?}"
    );

    // A re-run (a job delivered twice) stores nothing new.
    let newest = store.step_build(1).await.unwrap();
    assert!(newest.is_some());

    // Deliveries: the worker's loop, against a receiver failing twice.
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(worker.clone().run(shutdown.clone()));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let accepted = receiver.lock().unwrap().accepted.len();
        if accepted == listed.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {accepted} of {} alerts delivered",
            listed.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a double send the chance to show, then stop.
    tokio::time::sleep(Duration::from_millis(600)).await;
    shutdown.cancel();
    running.await.unwrap();
    {
        let r = receiver.lock().unwrap();
        assert!(r.accepted.values().all(|&n| n == 1), "{:?}", r.accepted);
        assert_eq!(r.requests, listed.len() + 2);
        assert!(
            r.texts.iter().all(|t| t.starts_with("acme/app: linux/")),
            "{:?}",
            r.texts
        );
    }
    let delivered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM alert_deliveries WHERE delivered_at IS NOT NULL")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(delivered, listed.len() as i64);
    let failed_attempts: i64 = sqlx::query_scalar("SELECT sum(attempts - 1) FROM alert_deliveries")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(failed_attempts, 2);
}

/// Record commit `i` (sha `{i:040x}`, first-parent history `ancestors`) of
/// one target at `shipped` bytes, measured, and run detection on it.
struct OneTarget {
    store: Store,
    blobs: Arc<dyn BlobStore>,
    worker: Worker,
    repo_id: i64,
    base: Report,
}

async fn push(h: &OneTarget, i: usize, ancestors: &[usize], shipped: u64) -> StepCheck {
    let (store, blobs, worker, repo_id) = (&h.store, &h.blobs, &h.worker, h.repo_id);
    let report = report_at(&h.base, shipped);
    let sha256 = format!("{:064x}", i + 1_000);
    let meta = CommitMeta {
        sha: format!("{i:040x}"),
        branch: Some("main".into()),
        pr_number: None,
        base_sha: None,
        ancestors: ancestors.iter().map(|a| format!("{a:040x}")).collect(),
        config: None,
        fork: false,
        provenance: Provenance::Token,
        tag: None,
    };
    let artifact = NewArtifact {
        target: "linux/app".into(),
        sha256: sha256.clone(),
        size: report.sizes.file,
        blob_key: format!("artifacts/{sha256}"),
    };
    let build = store
        .record_upload(repo_id, &meta, &[artifact], 5)
        .await
        .unwrap()
        .remove(0);
    let key = report_key(&sha256);
    blobs
        .put(&key, encode_report(&report).unwrap().into())
        .await
        .unwrap();
    store
        .store_measurement(build.artifact_id, &report, &key, 20)
        .await
        .unwrap();
    worker.check_steps(build.build_id).await.unwrap()
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_range_is_narrowed_by_late_measurements_down_to_one_commit(pool: sqlx::PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let base = real_reports(dir.path()).remove(1);
    let store = Store::new(pool);
    let blobs: Arc<dyn BlobStore> = Arc::new(
        LocalBlobStore::open(dir.path().join("blobs"))
            .await
            .unwrap(),
    );
    let repo_id = store
        .ensure_repository(&RepoName::parse("acme/app").unwrap())
        .await
        .unwrap();
    let worker = Worker::new(
        store.clone(),
        Arc::clone(&blobs),
        WorkerConfig::for_tests("/nonexistent/analyzer".into()),
        Arc::new(WorkerMetrics::default()),
    );
    let h = OneTarget {
        store: store.clone(),
        blobs,
        worker,
        repo_id,
        base,
    };
    let old = 100_000;
    let new = 110_000;
    let history = |i: usize| (1..i).rev().collect::<Vec<_>>();
    // Commits 1..=12 measured; 13..=19 built but not measured; 20 jumps.
    for i in 1..=12 {
        let check = push(&h, i, &history(i), old).await;
        assert_eq!(check, StepCheck::NoStep, "commit {i}");
    }
    let check = push(&h, 20, &history(20), new).await;
    assert!(matches!(check, StepCheck::Alert(_)), "{check:?}");
    let alert = &store.list_alerts(repo_id, 10).await.unwrap()[0];
    assert_eq!(alert.commit, format!("{:040x}", 20));
    assert_eq!(alert.range_start, Some(format!("{:040x}", 12)));
    // The pushes' authors are known (GitHub's `push` webhooks): a range
    // names nobody.
    let authors: Vec<(String, String)> = (13..=20)
        .map(|i| (format!("{i:040x}"), format!("dev-{i}")))
        .collect();
    store
        .record_commit_authors(repo_id, &authors)
        .await
        .unwrap();
    assert_eq!(
        store
            .alert(repo_id, alert.id)
            .await
            .unwrap()
            .unwrap()
            .author,
        None
    );
    assert_eq!(
        (alert.before, alert.after, alert.delta),
        (100_000, 110_000, 10_000)
    );

    // Pull request 7 by `octo-cat` was merged as commit 15.
    store
        .record_pull_request_merge(repo_id, 7, &format!("{:040x}", 15), Some("octo-cat"))
        .await
        .unwrap();
    // Late measurements: 16 at the new level, 14 at the old, 15 at the new.
    for (i, level) in [(16, new), (14, old), (15, new)] {
        let check = push(&h, i, &history(i), level).await;
        assert!(
            matches!(check, StepCheck::Narrowed(ref ids) if ids == &[alert.id]),
            "{i}: {check:?}"
        );
    }
    let narrowed = store.alert(repo_id, alert.id).await.unwrap().unwrap();
    assert_eq!(narrowed.commit, format!("{:040x}", 15));
    assert_eq!(
        narrowed.range_start, None,
        "15's parent 14 is at the old level"
    );
    assert_eq!(
        (narrowed.pr_number, narrowed.author.as_deref()),
        (Some(7), Some("dev-15")),
        "one commit: the merged pull request that made it, and its author from the push"
    );
    assert_eq!(store.list_alerts(repo_id, 10).await.unwrap().len(), 1);
}
