//! Settings and start-up shared by the service subcommands (`serve`,
//! `worker`, `migrate`, `token`): each setting has a flag and an env var,
//! parsed once here into the typed configs of the library crates.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sizegate_github::GitHubClient;
use sizegate_store::{BlobStore, DatabaseSettings, Store};
use sizegate_worker::{Limiter, Worker, WorkerConfig, WorkerMetrics};
use tokio_util::sync::CancellationToken;

use super::github_app::GitHubArgs;

/// Where the database is. Its `Debug` output hides the URL's password.
#[derive(Clone, clap::Args)]
pub struct DatabaseArgs {
    /// Postgres URL; the database is created if missing. Without it,
    /// `serve` finds a local server or starts a private one (see the
    /// operations docs); the other commands use `postgres:///sizegate`: the
    /// local server over its Unix socket as the current OS user.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Largest number of database connections of this process.
    #[arg(long, env = "SIZEGATE_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
    /// Seconds a request waits for a database connection; while the
    /// database is down, requests answer 503 after this long.
    #[arg(long, env = "SIZEGATE_DB_ACQUIRE_TIMEOUT_SECS", default_value_t = 5)]
    pub db_acquire_timeout_secs: u64,
}

impl std::fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseArgs")
            .field(
                "database_url",
                &sizegate_store::redact_database_url(&self.url()),
            )
            .field("db_max_connections", &self.db_max_connections)
            .finish()
    }
}

/// The database of the service commands when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "postgres:///sizegate";

impl DatabaseArgs {
    /// The URL given, or [`DEFAULT_DATABASE_URL`].
    pub fn url(&self) -> String {
        self.database_url
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
    }

    /// Connect, creating the database first when `create` and missing.
    pub async fn connect(&self, create: bool) -> anyhow::Result<Store> {
        let url = self.url();
        let pool = sizegate_store::connect(&DatabaseSettings {
            url: url.clone(),
            create_if_missing: create,
            max_connections: self.db_max_connections,
            acquire_timeout: Duration::from_secs(self.db_acquire_timeout_secs.max(1)),
        })
        .await
        .with_context(|| {
            format!(
                "connecting to the database at {}",
                sizegate_store::redact_database_url(&url)
            )
        })?;
        Ok(Store::new(pool))
    }
}

/// Where blobs go.
#[derive(Debug, Clone, clap::Args)]
pub struct StorageArgs {
    /// Local directory for blobs (artifacts and reports) and scratch files.
    #[arg(long, env = "SIZEGATE_DATA_DIR", default_value = "./sizegate-data")]
    pub data_dir: PathBuf,
    /// Keep blobs in S3-compatible storage instead: `s3://bucket/prefix`.
    /// Credentials, region and endpoint come from the usual AWS_* variables
    /// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT,
    /// AWS_ALLOW_HTTP).
    #[arg(long, env = "SIZEGATE_BLOB_STORE")]
    pub blob_store: Option<String>,
}

impl StorageArgs {
    /// Open the blob store.
    pub async fn open(&self) -> anyhow::Result<Arc<dyn BlobStore>> {
        let location = match &self.blob_store {
            Some(url) => url.clone(),
            None => self.data_dir.display().to_string(),
        };
        let blobs = sizegate_store::open_blob_store(&location, &[])
            .await
            .with_context(|| format!("opening the blob store {location}"))?;
        tracing::info!(blobs = %blobs.describe(), "blob store ready");
        Ok(blobs)
    }
}

/// How the workers run jobs.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    /// Job loops in this process.
    #[arg(long, env = "SIZEGATE_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// Analyzer program, run as `PROGRAM analyze --format json --top 0 FILE`.
    /// Default: this sizegate executable.
    #[arg(long, env = "SIZEGATE_ANALYZER")]
    pub analyzer: Option<PathBuf>,
    /// Wall-time limit of one analysis, in seconds.
    #[arg(long, env = "SIZEGATE_ANALYZER_TIMEOUT_SECS", default_value_t = 300)]
    pub analyzer_timeout_secs: u64,
    /// Address-space limit of the analyzer, in MiB (0: none).
    #[arg(long, env = "SIZEGATE_ANALYZER_MEMORY_MIB", default_value_t = 4096)]
    pub analyzer_memory_mib: u64,
    /// CPU-time limit of the analyzer, in seconds (0: none). Past it the
    /// analyzer gets SIGXCPU and the job fails for good.
    #[arg(long, env = "SIZEGATE_ANALYZER_CPU_SECS", default_value_t = 600)]
    pub analyzer_cpu_secs: u64,
    /// Most files the analyzer may hold open (0: as inherited).
    #[arg(long, env = "SIZEGATE_ANALYZER_MAX_FILES", default_value_t = 64)]
    pub analyzer_max_files: u64,
    /// Most processes and threads of the worker's user while the analyzer
    /// runs (RLIMIT_NPROC; the kernel counts all of the user's, and exempts
    /// root). 0: as inherited.
    #[arg(long, env = "SIZEGATE_ANALYZER_MAX_PROCESSES", default_value_t = 4096)]
    pub analyzer_max_processes: u64,
    /// Environment variables passed on to the analyzer, comma-separated
    /// names (its environment is otherwise cleared, PATH aside).
    #[arg(long, env = "SIZEGATE_ANALYZER_PASS_ENV", value_delimiter = ',')]
    pub analyzer_pass_env: Vec<String>,
    /// Largest artifact accepted, in bytes: uploads over it are refused, and
    /// workers fail a larger one without analyzing it.
    #[arg(long, env = "SIZEGATE_MAX_ARTIFACT_BYTES", default_value_t = 512 << 20)]
    pub max_artifact_bytes: u64,
    /// Lease of a claimed job, in seconds; a dead worker's job comes back after it.
    #[arg(long, env = "SIZEGATE_JOB_LEASE_SECS", default_value_t = 60)]
    pub job_lease_secs: u64,
    /// Idle poll interval in milliseconds (LISTEN/NOTIFY wakes workers sooner).
    #[arg(long, env = "SIZEGATE_POLL_INTERVAL_MS", default_value_t = 5000)]
    pub poll_interval_ms: u64,
    /// First retry delay in seconds; doubles with each attempt, at most an hour.
    #[arg(long, env = "SIZEGATE_RETRY_BACKOFF_SECS", default_value_t = 10)]
    pub retry_backoff_secs: u64,
    /// On SIGTERM, seconds a running job may take to finish before it is released.
    #[arg(long, env = "SIZEGATE_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    pub shutdown_grace_secs: u64,
}

impl WorkerArgs {
    /// The worker configuration; scratch files go under `data_dir`.
    pub fn config(&self, data_dir: &std::path::Path) -> anyhow::Result<WorkerConfig> {
        let sizegate = std::env::current_exe().context("locating the sizegate executable")?;
        let analyzer = self.analyzer.clone().unwrap_or_else(|| sizegate.clone());
        let scratch_dir = data_dir.join("scratch");
        std::fs::create_dir_all(&scratch_dir)
            .with_context(|| format!("creating {}", scratch_dir.display()))?;
        if self.job_lease_secs < 3 {
            anyhow::bail!("--job-lease-secs must be at least 3 (it is renewed every third of it)");
        }
        Ok(WorkerConfig {
            analyzer,
            analyzer_timeout: Duration::from_secs(self.analyzer_timeout_secs.max(1)),
            analyzer_memory_limit: self.analyzer_memory_mib << 20,
            analyzer_cpu_secs: self.analyzer_cpu_secs,
            analyzer_open_files: self.analyzer_max_files,
            analyzer_processes: self.analyzer_max_processes,
            analyzer_env: self.analyzer_env(),
            // This binary sets the limit itself (`run-limited`): no shell needed.
            limiter: Limiter::Exec(sizegate),
            max_artifact_bytes: self.max_artifact_bytes,
            concurrency: self.workers.max(1),
            lease: Duration::from_secs(self.job_lease_secs),
            poll_interval: Duration::from_millis(self.poll_interval_ms.max(10)),
            backoff_base: Duration::from_secs(self.retry_backoff_secs),
            backoff_max: Duration::from_secs(3600),
            top_symbols: 200,
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            scratch_dir,
            public_url: String::new(),
            github_url: "https://github.com".to_owned(),
        })
    }
}

impl WorkerArgs {
    /// The analyzer's environment: PATH, and the variables named by
    /// `--analyzer-pass-env` that are set, as they are now.
    fn analyzer_env(&self) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> =
            vec![("PATH".into(), sizegate_worker::ANALYZER_PATH.into())];
        for name in self.analyzer_pass_env.iter().map(|n| n.trim()) {
            if let Some(value) = std::env::var_os(name).filter(|_| !name.is_empty()) {
                env.retain(|(k, _)| k.as_os_str() != name);
                env.push((name.into(), value));
            }
        }
        env
    }
}

/// Log output.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// `text` for people, `json` for log collectors.
    #[arg(long, env = "SIZEGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter, e.g. `info` or `sizegate_worker=debug,info`.
    #[arg(long, env = "SIZEGATE_LOG", default_value = "info")]
    pub log: String,
}

/// Log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl LogArgs {
    /// Install the global subscriber (to stderr).
    pub fn init(&self) -> anyhow::Result<()> {
        let filter = tracing_subscriber::EnvFilter::try_new(&self.log)
            .with_context(|| format!("invalid log filter `{}`", self.log))?;
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr);
        let result = match self.log_format {
            LogFormat::Text => builder.try_init(),
            LogFormat::Json => builder.json().try_init(),
        };
        result.map_err(|e| anyhow::anyhow!("installing the logger: {e}"))
    }
}

/// A multi-threaded runtime for the service commands.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    sizegate_store::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// A token cancelled on SIGTERM or ctrl-c.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = ctrl_c => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = ctrl_c.await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        tracing::info!("shutdown requested");
        cancel.cancel();
    });
    token
}

/// Parse an age or interval: a whole number and a unit, `s`, `m`, `h`, `d`
/// or `w` (`30d`, `12h`, `90s`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit: write e.g. 30d, 12h, 15m or 90s"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a whole number"))?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "unknown unit `{unit}` in `{text}`: use s, m, h, d or w"
            ));
        }
    };
    number
        .checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is too long"))
}

/// How often to collect garbage; `None` when disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval(pub Option<Duration>);

/// Parse the garbage collection interval: a duration, or `off` (or `0s`).
fn parse_interval(text: &str) -> Result<Interval, String> {
    if text.trim() == "off" {
        return Ok(Interval(None));
    }
    parse_duration(text).map(|d| Interval((!d.is_zero()).then_some(d)))
}

/// The periodic garbage collection of `serve` and `worker`.
#[derive(Debug, Clone, clap::Args)]
pub struct GcArgs {
    /// How often this process collects garbage (`off` disables it). Every
    /// replica may run it: one collection runs at a time across all of them.
    #[arg(long, env = "SIZEGATE_GC_INTERVAL", default_value = "6h", value_parser = parse_interval)]
    pub gc_interval: Interval,
    /// Age past which superseded and non-baseline builds are collected.
    #[arg(long, env = "SIZEGATE_GC_OLDER_THAN", default_value = "30d", value_parser = parse_duration)]
    pub gc_older_than: Duration,
    /// Blobs no row refers to are deleted once unmodified for this long.
    #[arg(long, env = "SIZEGATE_GC_ORPHAN_GRACE", default_value = "1d", value_parser = parse_duration)]
    pub gc_orphan_grace: Duration,
}

impl GcArgs {
    /// Run the collection every interval until `shutdown`, if enabled. The
    /// first run comes one interval after start.
    pub fn spawn(
        &self,
        store: Store,
        blobs: Arc<dyn BlobStore>,
        shutdown: CancellationToken,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let interval = self.gc_interval.0?;
        let policy = sizegate_store::gc::GcPolicy {
            older_than: self.gc_older_than,
            orphan_grace: self.gc_orphan_grace,
            dry_run: false,
        };
        tracing::info!(
            interval_secs = interval.as_secs(),
            older_than_secs = policy.older_than.as_secs(),
            "periodic garbage collection on"
        );
        Some(tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(interval) => {}
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    result = store.collect_garbage(blobs.as_ref(), &policy) => {
                        if let Err(e) = result {
                            tracing::warn!(error = %e, "garbage collection failed; next try in one interval");
                        }
                    }
                }
            }
        }))
    }
}

/// The job loops' configuration, GitHub client and metrics, set up the same
/// way by `serve` (in-process workers) and `worker`.
pub struct WorkerSetup {
    /// The job loops' configuration, with the public and GitHub web URLs.
    pub config: WorkerConfig,
    /// The GitHub App client, when one is configured (the reporter is off
    /// without it).
    pub github: Option<Arc<GitHubClient>>,
    /// The job loops' metrics.
    pub metrics: Arc<WorkerMetrics>,
}

impl WorkerSetup {
    /// Parse the worker settings; scratch files go under `data_dir`.
    pub fn new(
        worker: &WorkerArgs,
        data_dir: &std::path::Path,
        public_url: Option<&str>,
        github: &GitHubArgs,
    ) -> anyhow::Result<Self> {
        let mut config = worker.config(data_dir)?;
        config.public_url = public_url.unwrap_or_default().to_owned();
        config.github_url = sizegate_github::web_url(&github.github_api_url);
        Ok(WorkerSetup {
            config,
            github: github.client()?,
            metrics: Arc::new(WorkerMetrics::default()),
        })
    }

    /// The job loops, reporting to GitHub when a client is configured.
    pub fn into_worker(self, store: Store, blobs: Arc<dyn BlobStore>) -> Worker {
        let worker = Worker::new(store, blobs, self.config, self.metrics);
        match self.github {
            Some(github) => worker.with_github(github),
            None => worker,
        }
    }
}

#[cfg(test)]
mod duration_tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
        for bad in ["30", "d", "-1d", "1.5d", "3y", "", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_interval("off"), Ok(Interval(None)));
        assert_eq!(parse_interval("0s"), Ok(Interval(None)));
        assert_eq!(
            parse_interval("1h"),
            Ok(Interval(Some(Duration::from_secs(3600))))
        );
    }
}
