//! `sizegate-github`: the GitHub App client of sizegate — App (JWT) and
//! installation-token auth, the sticky pull request comment and check runs,
//! each call idempotent and retried — plus webhook signature checks and
//! event parsing. With the `fake` feature, a fake GitHub API server for tests.
//!
//! ```no_run
//! # async fn report(pem: String) -> Result<(), sizegate_github::Error> {
//! use sizegate_github::{CheckConclusion, CheckRunRequest, CheckStatus, GitHubClient, GitHubConfig, Repo};
//!
//! let client = GitHubClient::new(GitHubConfig::new(12345, pem))?;
//! let repo = Repo::parse("octo-org/app")?;
//! client
//!     .upsert_sticky_comment(&repo, 42, "<!-- sizegate -->", "## Size report\n…")
//!     .await?;
//! client
//!     .upsert_check_run(
//!         &repo,
//!         &CheckRunRequest {
//!             name: "sizegate".to_owned(),
//!             head_sha: "ec26c3e57ca3a959ca5aad62de7213c562f8c821".to_owned(),
//!             status: CheckStatus::Completed,
//!             conclusion: Some(CheckConclusion::Success),
//!             title: "+1.2 KiB, within budget".to_owned(),
//!             summary: "…".to_owned(),
//!             details_url: None,
//!             external_id: None,
//!         },
//!     )
//!     .await?;
//! # Ok(())
//! # }
//! ```

mod app_key;
mod check_runs;
mod client;
mod clock;
mod comments;
mod error;
mod key_lock;
pub mod oidc;
mod pagination;
mod repo;
mod retry;
mod transport;
pub mod webhook;

#[cfg(feature = "fake")]
pub mod fake;

pub use app_key::{AppKey, JWT_BACKDATE_SECS, JWT_LIFETIME_SECS};
pub use check_runs::{
    CheckConclusion, CheckRunOutcome, CheckRunRequest, CheckStatus, MAX_SUMMARY_CHARS,
};
pub use client::{DEFAULT_API_URL, DEFAULT_REQUEST_TIMEOUT, GitHubClient, GitHubConfig, web_url};
#[cfg(feature = "fake")]
pub use clock::FakeClock;
pub use clock::{Clock, SleepFuture, SystemClock};
pub use comments::{CommentOutcome, MAX_COMMENT_CHARS};
pub use error::{Error, Result};
pub use repo::Repo;
pub use retry::{RetryPolicy, Verdict, WaitHint, classify};
