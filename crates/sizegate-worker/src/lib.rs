//! `sizegate-worker`: the job loop: claim a job, run the analyzer in a
//! sandboxed child process ([`analyzer`], [`limits`]), check and store the
//! measurement ([`plausible`]), then evaluate the commit with
//! `sizegate-gate` (`gate.rs`) and post the comment and check run to
//! GitHub (`report.rs`).
//!
//! A [`Worker`] runs `concurrency` loops. Each claims a job from the
//! Postgres queue, renews its lease while it works, and sleeps when the
//! queue is empty until a `NOTIFY` arrives or the poll interval passes.
//! Delivery is at least once: storing a measurement is idempotent.
//!
//! After the gate, a measured push to a protected branch is checked for a
//! size step (`steps.rs`); alerts found are sent to the repository's sinks
//! by one more loop (`deliveries.rs`).

pub mod analyzer;
mod deliveries;
mod gate;
mod job;
pub mod limits;
mod metrics;
pub mod plausible;
mod report;
mod steps;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sizegate_github::GitHubClient;
use sizegate_store::{BlobStore, Store};
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use analyzer::{AnalyzerCommand, AnalyzerError, Limiter};
pub use deliveries::alert_text;
pub use limits::ChildLimits;
pub use steps::StepCheck;

/// `PATH` of the analyzer child (its environment holds nothing else unless
/// `SIZEGATE_ANALYZER_PASS_ENV` names more).
pub const ANALYZER_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
pub use metrics::WorkerMetrics;

/// Settings of the workers (flags and env vars of `sizegate serve` and
/// `sizegate worker`, see the README).
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Program run as `<analyzer> analyze --binary-only --format json --top 0 FILE`
    /// (`SIZEGATE_ANALYZER`, default: this executable).
    pub analyzer: PathBuf,
    /// Wall-time limit of one analyzer run (`SIZEGATE_ANALYZER_TIMEOUT_SECS`).
    pub analyzer_timeout: Duration,
    /// Address-space limit of the analyzer in bytes, 0 for none (`SIZEGATE_ANALYZER_MEMORY_MIB`).
    pub analyzer_memory_limit: u64,
    /// CPU-time limit of the analyzer in seconds, 0 for none (`SIZEGATE_ANALYZER_CPU_SECS`).
    pub analyzer_cpu_secs: u64,
    /// Open-file limit of the analyzer, 0 for none (`SIZEGATE_ANALYZER_MAX_FILES`).
    pub analyzer_open_files: u64,
    /// Process-count limit (RLIMIT_NPROC, per user) of the analyzer, 0 for
    /// none (`SIZEGATE_ANALYZER_MAX_PROCESSES`).
    pub analyzer_processes: u64,
    /// The analyzer's whole environment: [`ANALYZER_PATH`] plus the
    /// variables named by `SIZEGATE_ANALYZER_PASS_ENV`, read at start.
    /// Nothing else of the worker's environment (App key, webhook secret,
    /// `DATABASE_URL`, `AWS_*`) reaches it.
    pub analyzer_env: Vec<(OsString, OsString)>,
    /// How that limit is set (the binary uses itself: `sizegate run-limited`).
    pub limiter: Limiter,
    /// Artifacts larger than this are failed without being analyzed, 0 for
    /// no limit (`SIZEGATE_MAX_ARTIFACT_BYTES`, the upload limit too).
    pub max_artifact_bytes: u64,
    /// Job loops in this process (`SIZEGATE_WORKERS`).
    pub concurrency: usize,
    /// Lease of a claimed job; renewed every third of it (`SIZEGATE_JOB_LEASE_SECS`).
    pub lease: Duration,
    /// Idle poll interval, the fallback when no `NOTIFY` arrives (`SIZEGATE_POLL_INTERVAL_MS`).
    pub poll_interval: Duration,
    /// First retry delay; doubles on each attempt (`SIZEGATE_RETRY_BACKOFF_SECS`).
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Symbols kept as rows per measurement (the full list stays in the report blob).
    pub top_symbols: usize,
    /// On shutdown, how long the current job may still run before it is released.
    pub shutdown_grace: Duration,
    /// Where artifacts from a remote blob store are downloaded for analysis.
    pub scratch_dir: PathBuf,
    /// Base URL of the dashboard, for links in comments and checks
    /// (`SIZEGATE_PUBLIC_URL`; empty: no links).
    pub public_url: String,
    /// Web address of the GitHub the repositories live on, for the compare
    /// link in comments (derived from `SIZEGATE_GITHUB_API_URL`).
    pub github_url: String,
}

impl WorkerConfig {
    /// What comments and checks of commit `sha` of `owner/name` link to:
    /// the dashboard and the GitHub the App talks to.
    pub fn render_context(
        &self,
        owner: &str,
        name: &str,
        sha: &str,
    ) -> sizegate_gate::RenderContext {
        let mut ctx = sizegate_gate::RenderContext::new(&self.public_url, owner, name);
        ctx.head_sha = Some(sha.to_owned());
        ctx.github_url = self.github_url.clone();
        ctx
    }

    /// Defaults for production, with `analyzer` as the analyzer program.
    pub fn new(analyzer: PathBuf) -> Self {
        WorkerConfig {
            analyzer,
            analyzer_timeout: Duration::from_secs(300),
            analyzer_memory_limit: 4096 << 20,
            analyzer_cpu_secs: 600,
            analyzer_open_files: 64,
            analyzer_processes: 4096,
            analyzer_env: vec![("PATH".into(), ANALYZER_PATH.into())],
            limiter: Limiter::Shell,
            max_artifact_bytes: 512 << 20,
            concurrency: 2,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(3600),
            top_symbols: 200,
            shutdown_grace: Duration::from_secs(20),
            scratch_dir: std::env::temp_dir(),
            public_url: String::new(),
            github_url: "https://github.com".to_owned(),
        }
    }

    /// Short timings for tests.
    pub fn for_tests(analyzer: PathBuf) -> Self {
        WorkerConfig {
            analyzer_timeout: Duration::from_secs(60),
            analyzer_memory_limit: 2048 << 20,
            concurrency: 1,
            lease: Duration::from_secs(3),
            poll_interval: Duration::from_millis(200),
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(2),
            ..WorkerConfig::new(analyzer)
        }
    }

    fn analyzer_command(&self) -> AnalyzerCommand {
        AnalyzerCommand {
            program: self.analyzer.clone(),
            limiter: self.limiter.clone(),
            timeout: self.analyzer_timeout,
            limits: ChildLimits {
                memory_bytes: self.analyzer_memory_limit,
                cpu_secs: self.analyzer_cpu_secs,
                open_files: self.analyzer_open_files,
                processes: self.analyzer_processes,
            },
            env: self.analyzer_env.clone(),
            max_output: sizegate_store::measurements::MAX_REPORT_JSON_BYTES,
            max_artifact_bytes: self.max_artifact_bytes,
        }
    }
}

/// Why a job step failed outside the analyzer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Database or blob store.
    #[error(transparent)]
    Store(#[from] sizegate_store::Error),
    /// Blob store.
    #[error(transparent)]
    Blob(#[from] sizegate_store::BlobError),
    /// The gate could not be evaluated.
    #[error("gate: {0}")]
    Gate(String),
    /// Posting to GitHub failed (after the client's own retries); a later
    /// attempt may succeed.
    #[error("reporting to GitHub: {0}")]
    Report(String),
    /// GitHub refused the report for good (the App is not installed, the
    /// repository is gone, the request is invalid): retrying cannot help.
    #[error("reporting to GitHub: {0}")]
    ReportRefused(String),
}

impl Error {
    /// Whether retrying the job cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Error::ReportRefused(_))
    }
}

/// The workers of one process.
#[derive(Debug, Clone)]
pub struct Worker {
    store: Store,
    blobs: Arc<dyn BlobStore>,
    config: Arc<WorkerConfig>,
    metrics: Arc<WorkerMetrics>,
    /// The GitHub App client; `None`: the reporter is off and evaluations
    /// are only stored.
    github: Option<Arc<GitHubClient>>,
}

impl Worker {
    /// Workers over `store` and `blobs`, counting into `metrics`.
    pub fn new(
        store: Store,
        blobs: Arc<dyn BlobStore>,
        config: WorkerConfig,
        metrics: Arc<WorkerMetrics>,
    ) -> Self {
        Worker {
            store,
            blobs,
            config: Arc::new(config),
            metrics,
            github: None,
        }
    }

    /// Post evaluations to GitHub through `client` (the reporter is off
    /// without it).
    pub fn with_github(mut self, client: Arc<GitHubClient>) -> Self {
        self.github = Some(client);
        self
    }

    /// Run until `shutdown` is cancelled: then stop claiming, let the jobs
    /// in progress finish within the grace period or release them, and return.
    pub async fn run(self, shutdown: CancellationToken) {
        let wake = Arc::new(Notify::new());
        let listener = tokio::spawn(listen_for_jobs(
            self.store.clone(),
            Arc::clone(&wake),
            shutdown.clone(),
        ));
        let prefix = format!("{}-{}", std::process::id(), random_suffix());
        let mut loops = Vec::new();
        for index in 0..self.config.concurrency.max(1) {
            let worker = self.clone();
            let id = format!("{prefix}-{index}");
            let wake = Arc::clone(&wake);
            let shutdown = shutdown.clone();
            loops.push(tokio::spawn(async move {
                worker.job_loop(&id, &wake, &shutdown).await;
            }));
        }
        {
            let worker = self.clone();
            let shutdown = shutdown.clone();
            loops.push(tokio::spawn(async move {
                worker.delivery_loop(&shutdown).await;
            }));
        }
        tracing::info!(
            workers = self.config.concurrency.max(1),
            analyzer = %self.config.analyzer.display(),
            "workers started"
        );
        for handle in loops {
            let _ = handle.await;
        }
        listener.abort();
        tracing::info!("workers stopped");
    }

    async fn job_loop(&self, worker_id: &str, wake: &Notify, shutdown: &CancellationToken) {
        // Consecutive failed claims: the database is down or restarting.
        // The loop waits longer after each (never a busy loop, never an exit)
        // and picks up again by itself once the database answers.
        let mut failed_claims: u32 = 0;
        while !shutdown.is_cancelled() {
            match self
                .store
                .claim_next_job(worker_id, self.config.lease)
                .await
            {
                Ok(claimed) => {
                    if failed_claims > 0 {
                        tracing::info!(failed_claims, "database reachable again; claiming jobs");
                        failed_claims = 0;
                    }
                    if let Some(job) = claimed {
                        self.run_job(worker_id, job, shutdown).await;
                        continue;
                    }
                }
                Err(e) => {
                    failed_claims = failed_claims.saturating_add(1);
                    let pause = outage_backoff(self.config.poll_interval, failed_claims);
                    if failed_claims == 1 {
                        tracing::error!(error = %e, retry_in = ?pause, "could not claim a job; retrying with backoff");
                    } else {
                        tracing::warn!(error = %e, failed_claims, retry_in = ?pause, "still cannot claim a job");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = shutdown.cancelled() => {}
                    }
                    continue;
                }
            }
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(self.config.poll_interval) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }
}

/// Longest pause between attempts to reach a database that is down.
const OUTAGE_BACKOFF_MAX: Duration = Duration::from_secs(10);

/// The pause after the `failures`-th consecutive database failure: the poll
/// interval (at least 100 ms), doubled each time, at most
/// [`OUTAGE_BACKOFF_MAX`].
fn outage_backoff(poll_interval: Duration, failures: u32) -> Duration {
    poll_interval
        .max(Duration::from_millis(100))
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16)))
        .min(OUTAGE_BACKOFF_MAX)
}

/// Wake idle job loops on `NOTIFY sizegate_jobs`. Reconnects with backoff
/// when the connection is lost (e.g. Postgres restarted); the poll interval
/// covers the gap, and the loops are woken once reconnected since
/// notifications sent meanwhile are lost.
async fn listen_for_jobs(store: Store, wake: Arc<Notify>, shutdown: CancellationToken) {
    let mut failures: u32 = 0;
    while !shutdown.is_cancelled() {
        let listener = async {
            let mut listener = PgListener::connect_with(store.pool()).await?;
            listener.listen(sizegate_store::queue::JOBS_CHANNEL).await?;
            if failures > 0 {
                tracing::info!("job notifications re-established");
                wake.notify_waiters();
            }
            failures = 0;
            loop {
                listener.recv().await?;
                wake.notify_waiters();
            }
        };
        let result: Result<(), sqlx::Error> = tokio::select! {
            r = listener => r,
            () = shutdown.cancelled() => return,
        };
        failures = failures.saturating_add(1);
        let pause = outage_backoff(Duration::from_millis(500), failures);
        if let Err(e) = result {
            tracing::warn!(error = %e, retry_in = ?pause, "job notifications interrupted; polling until reconnected");
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

fn random_suffix() -> String {
    let mut buf = [0u8; 4];
    let _ = getrandom::fill(&mut buf);
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outage_backoff_grows_from_the_poll_interval_to_a_cap() {
        let waits: Vec<u128> = (1..=8)
            .map(|n| outage_backoff(Duration::from_millis(200), n).as_millis())
            .collect();
        assert_eq!(waits, [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
        assert_eq!(
            outage_backoff(Duration::ZERO, 1),
            Duration::from_millis(100)
        );
        assert_eq!(
            outage_backoff(Duration::from_secs(5), u32::MAX),
            OUTAGE_BACKOFF_MAX
        );
    }
}
