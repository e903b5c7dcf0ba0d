//! Crash recovery with GitHub in the loop: `sizegate worker` processes
//! killed with SIGKILL during the analysis and during the reporting (the
//! fake GitHub holds the answer to a create it has already carried out, the
//! worst moment), then another worker redoes the job after its lease.
//! GitHub must end with exactly one sticky comment and one check run.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use common::github::{APP_ID, app_key};
use common::{Proc, database_url, fake_analyzer, job_states, wait_for};
use sizegate_github::SystemClock;
use sizegate_github::fake::{FailureRule, FakeGitHub, FakeGitHubConfig, InjectedFailure};
use sizegate_store::Store;
use sizegate_store::blob::{BlobUpload, LocalBlobStore};
use sizegate_store::uploads::{CommitMeta, NewArtifact};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

const OWNER: &str = "octo-org";
const NAME: &str = "app";
const PR: u64 = 9;
const MARKER: &str = sizegate_gate::COMMENT_MARKER;

struct Setup {
    store: Store,
    db: String,
    dir: tempfile::TempDir,
    github: FakeGitHub,
    pem: String,
    sha: String,
}

async fn setup(options: PgConnectOptions, artifact: &[u8]) -> Setup {
    let name = options.get_database().unwrap().to_owned();
    let pool = PgPoolOptions::new().connect_with(options).await.unwrap();
    let store = Store::new(pool);
    let dir = tempfile::tempdir().unwrap();
    let (pem, der) = app_key(dir.path());
    let github = FakeGitHub::start(
        FakeGitHubConfig::new(APP_ID, der, Arc::new(SystemClock)).with_repo(OWNER, NAME, 31),
    )
    .await
    .unwrap();

    // One artifact of a pull request's head commit, as an upload records it.
    let blobs = LocalBlobStore::open(&dir.path().join("data"))
        .await
        .unwrap();
    let upload = BlobUpload::start(&blobs, 1 << 30).await.unwrap();
    let blob = upload.write(artifact).await.unwrap().finish();
    let (sha256, size) = (blob.sha256.clone(), blob.size);
    let blob_key = blob.commit().await.unwrap();
    let repository = store
        .ensure_repository(&sizegate_store::RepoName::parse(&format!("{OWNER}/{NAME}")).unwrap())
        .await
        .unwrap();
    let sha = "c".repeat(40);
    let meta = CommitMeta {
        sha: sha.clone(),
        branch: Some("feature".to_owned()),
        pr_number: Some(i64::try_from(PR).unwrap()),
        ..Default::default()
    };
    let artifact = NewArtifact {
        target: "x86_64-unknown-linux-gnu/app".to_owned(),
        sha256,
        size,
        blob_key,
    };
    store
        .record_upload(repository, &meta, &[artifact], 5)
        .await
        .unwrap();
    Setup {
        store,
        db: database_url(&name),
        dir,
        github,
        pem,
        sha,
    }
}

impl Setup {
    /// A `sizegate worker` reporting to the fake GitHub, with a 3 s lease.
    fn worker(&self, name: &str) -> Proc {
        self.worker_with(name, &[])
    }

    /// Like [`Setup::worker`], with more environment.
    fn worker_with(&self, name: &str, more: &[(&str, &OsStr)]) -> Proc {
        let data = self.dir.path().join("data");
        let analyzer = fake_analyzer();
        let analyzer_log = self.dir.path().join("analyzer.log");
        let url = self.github.url();
        let app_id = APP_ID.to_string();
        let args = [
            "worker",
            "--database-url",
            &self.db,
            "--data-dir",
            data.to_str().unwrap(),
            "--analyzer",
            analyzer.to_str().unwrap(),
            "--job-lease-secs",
            "3",
            "--poll-interval-ms",
            "200",
            "--retry-backoff-secs",
            "0",
        ];
        let envs: [(&str, &OsStr); 5] = [
            ("FAKE_ANALYZER_LOG", analyzer_log.as_os_str()),
            ("SIZEGATE_GITHUB_APP_ID", app_id.as_ref()),
            ("SIZEGATE_GITHUB_PRIVATE_KEY", self.pem.as_ref()),
            ("SIZEGATE_GITHUB_API_URL", url.as_ref()),
            ("SIZEGATE_GITHUB_RETRY_BACKOFF_MS", "100".as_ref()),
        ];
        let envs: Vec<(&str, &OsStr)> = envs.iter().chain(more).copied().collect();
        Proc::spawn(&args, &envs, self.dir.path().join(format!("{name}.log")))
    }

    fn analyzer_runs(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("analyzer.log"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    async fn report_state(&self) -> Option<String> {
        sqlx::query_scalar("SELECT report_state FROM evaluations")
            .fetch_optional(self.store.pool())
            .await
            .unwrap()
    }

    /// Kill `worker` with SIGKILL: no chance to release its job.
    fn kill(&self, mut worker: Proc) -> String {
        worker.child.kill().unwrap();
        worker.wait_timeout(Duration::from_secs(10));
        worker.log_text()
    }

    /// Exactly one sticky comment and one check run, both final.
    fn assert_reported_once(&self) {
        let comments = self.github.comments(OWNER, NAME, PR);
        assert_eq!(comments.len(), 1, "{comments:?}");
        assert!(comments[0].body.contains(MARKER), "{}", comments[0].body);
        let checks = self.github.check_runs(OWNER, NAME, &self.sha);
        assert_eq!(checks.len(), 1, "{checks:?}");
        assert_eq!(checks[0].status, "completed", "{checks:?}");
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_worker_killed_during_the_analysis_is_replaced_after_its_lease(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let s = setup(options, b"SLOW 3\nslow artifact\n").await;
    let first = s.worker("first");
    wait_for(
        Duration::from_secs(30),
        || async { s.analyzer_runs() == 1 },
        || first.log_text(),
    )
    .await;
    let log = s.kill(first);
    assert_eq!(job_states(&s.store).await[0].1, "running", "{log}");
    assert!(s.github.comments(OWNER, NAME, PR).is_empty());
    assert!(s.github.check_runs(OWNER, NAME, &s.sha).is_empty());

    let second = s.worker("second");
    wait_for(
        Duration::from_secs(45),
        || async {
            job_states(&s.store).await[0].1 == "done"
                && s.report_state().await.as_deref() == Some("posted")
        },
        || second.log_text(),
    )
    .await;
    assert_eq!(job_states(&s.store).await[0].2, 2, "one attempt each");
    assert_eq!(s.analyzer_runs(), 2, "the analysis was redone");
    s.assert_reported_once();
}

#[sqlx::test(migrations = "../../migrations")]
async fn workers_killed_while_reporting_never_post_twice(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let s = setup(options, b"quick artifact\n").await;

    // GitHub creates the comment, but the answer never reaches the first
    // worker: it dies not knowing the comment exists.
    s.github.fail(
        FailureRule::next(1, InjectedFailure::Hold)
            .matching(Method::POST, "/issues/")
            .after_applying(),
    );
    let first = s.worker("first");
    wait_for(
        Duration::from_secs(30),
        || async { s.github.holds() == 1 },
        || first.log_text(),
    )
    .await;
    assert_eq!(s.github.comments(OWNER, NAME, PR).len(), 1);
    let log = s.kill(first);
    assert_eq!(s.report_state().await.as_deref(), Some("pending"), "{log}");

    // The second worker takes the job after the lease; GitHub creates its
    // check run and it dies the same way.
    s.github.fail(
        FailureRule::next(1, InjectedFailure::Hold)
            .matching(Method::POST, "/check-runs")
            .after_applying(),
    );
    let second = s.worker("second");
    wait_for(
        Duration::from_secs(30),
        || async { s.github.holds() == 2 },
        || second.log_text(),
    )
    .await;
    assert_eq!(s.github.check_runs(OWNER, NAME, &s.sha).len(), 1);
    s.kill(second);

    // The third finds both by their marker and name, and updates them.
    let third = s.worker("third");
    wait_for(
        Duration::from_secs(30),
        || async {
            job_states(&s.store).await[0].1 == "done"
                && s.report_state().await.as_deref() == Some("posted")
        },
        || third.log_text(),
    )
    .await;
    s.github.release_held();
    let (_, state, attempts) = job_states(&s.store).await.remove(0);
    assert_eq!((state.as_str(), attempts), ("done", 3));
    assert_eq!(s.analyzer_runs(), 1, "the measurement was stored once");
    s.assert_reported_once();
    let creates = s
        .github
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && !c.path.contains("access_tokens"))
        .count();
    assert_eq!(creates, 2, "one create each, the rest were updates");
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_github_retry_settings_come_from_the_environment(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let s = setup(options, b"quick artifact\n").await;
    // A bare secondary rate limit would cost the default minute; the
    // setting makes it one second. Then a 429 asking for one second.
    s.github.fail(
        FailureRule::next(1, InjectedFailure::SecondaryRateLimit)
            .matching(Method::POST, "/issues/"),
    );
    s.github.fail(
        FailureRule::next(1, InjectedFailure::TooManyRequests(1))
            .matching(Method::POST, "/check-runs"),
    );
    let worker = s.worker_with(
        "worker",
        &[("SIZEGATE_GITHUB_SECONDARY_LIMIT_WAIT_SECS", OsStr::new("1"))],
    );
    wait_for(
        Duration::from_secs(30),
        || async { s.report_state().await.as_deref() == Some("posted") },
        || worker.log_text(),
    )
    .await;
    s.assert_reported_once();
    let log = worker.log_text();
    let retries: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("GitHub call failed; retrying"))
        .collect();
    assert_eq!(retries.len(), 2, "{log}");
    assert!(
        retries.iter().all(|l| l.contains("wait=1s")),
        "{retries:#?}"
    );
    assert!(retries[0].contains("secondary rate limit"), "{retries:#?}");
    assert!(retries[1].contains("429"), "{retries:#?}");
}
