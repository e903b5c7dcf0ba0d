//! The GitHub App settings of `serve` and `worker`: without an App id the
//! reporter is off, evaluations are only stored, and the API shows what
//! would have been posted.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sizegate_github::{DEFAULT_API_URL, GitHubClient, GitHubConfig, RetryPolicy};

/// GitHub App flags and env vars.
#[derive(Debug, Clone, clap::Args)]
pub struct GitHubArgs {
    /// The GitHub App id; the reporter is off without it.
    #[arg(long, env = "SIZEGATE_GITHUB_APP_ID")]
    pub github_app_id: Option<u64>,
    /// The App's private key (PEM).
    #[arg(long, env = "SIZEGATE_GITHUB_PRIVATE_KEY", hide_env_values = true)]
    pub github_private_key: Option<String>,
    /// A file holding the App's private key (PEM).
    #[arg(long, env = "SIZEGATE_GITHUB_PRIVATE_KEY_FILE")]
    pub github_private_key_file: Option<PathBuf>,
    /// The secret GitHub signs webhooks with; `POST /webhooks/github` answers
    /// 503 without it.
    #[arg(long, env = "SIZEGATE_GITHUB_WEBHOOK_SECRET", hide_env_values = true)]
    pub github_webhook_secret: Option<String>,
    /// GitHub API base URL (`https://HOST/api/v3` on GitHub Enterprise Server).
    #[arg(long, env = "SIZEGATE_GITHUB_API_URL", default_value = DEFAULT_API_URL)]
    pub github_api_url: String,
    /// Attempts of one GitHub operation (the first included) before the
    /// report is recorded as failed and the job retried later.
    #[arg(long, env = "SIZEGATE_GITHUB_MAX_ATTEMPTS", default_value_t = 5)]
    pub github_max_attempts: u32,
    /// First wait after a 5xx, a timeout or a refused connection, in
    /// milliseconds; doubled each attempt, at most 30 s.
    #[arg(long, env = "SIZEGATE_GITHUB_RETRY_BACKOFF_MS", default_value_t = 1000)]
    pub github_retry_backoff_ms: u64,
    /// Least wait after a rate limit answer that says nothing of when to
    /// come back (GitHub asks for at least a minute).
    #[arg(
        long,
        env = "SIZEGATE_GITHUB_SECONDARY_LIMIT_WAIT_SECS",
        default_value_t = 60
    )]
    pub github_secondary_limit_wait_secs: u64,
    /// Longest single wait GitHub may ask for; a longer one fails the report
    /// at once (the job is retried later) instead of holding a worker.
    #[arg(long, env = "SIZEGATE_GITHUB_MAX_WAIT_SECS", default_value_t = 900)]
    pub github_max_wait_secs: u64,
    /// Connect and read timeout of one GitHub request, in seconds; a request
    /// that times out is retried like a 5xx.
    #[arg(long, env = "SIZEGATE_GITHUB_TIMEOUT_SECS", default_value_t = 30)]
    pub github_timeout_secs: u64,
}

impl GitHubArgs {
    /// The App client, or `None` without an App id.
    pub fn client(&self) -> anyhow::Result<Option<Arc<GitHubClient>>> {
        let Some(app_id) = self.github_app_id else {
            tracing::info!("no GitHub App id (SIZEGATE_GITHUB_APP_ID): the reporter is off");
            return Ok(None);
        };
        let pem = match (&self.github_private_key, &self.github_private_key_file) {
            (Some(pem), _) => pem.clone(),
            (None, Some(path)) => std::fs::read_to_string(path).with_context(|| {
                format!(
                    "reading the GitHub App private key {} (SIZEGATE_GITHUB_PRIVATE_KEY_FILE)",
                    path.display()
                )
            })?,
            (None, None) => anyhow::bail!(
                "SIZEGATE_GITHUB_APP_ID is set but no private key is: set \
                 SIZEGATE_GITHUB_PRIVATE_KEY or SIZEGATE_GITHUB_PRIVATE_KEY_FILE"
            ),
        };
        let mut config = GitHubConfig::new(app_id, pem);
        config.api_url = self.github_api_url.clone();
        config.retry = RetryPolicy {
            max_attempts: self.github_max_attempts.max(1),
            base_backoff: Duration::from_millis(self.github_retry_backoff_ms),
            max_backoff: Duration::from_secs(30),
            secondary_limit_wait: Duration::from_secs(self.github_secondary_limit_wait_secs),
            max_wait: Duration::from_secs(self.github_max_wait_secs),
        };
        config.request_timeout = Duration::from_secs(self.github_timeout_secs.max(1));
        let config_retry = config.retry.clone();
        let client = GitHubClient::new(config).context("setting up the GitHub App client")?;
        tracing::info!(app_id, api = %self.github_api_url, retry = ?config_retry, "GitHub reporter on");
        Ok(Some(Arc::new(client)))
    }
}
