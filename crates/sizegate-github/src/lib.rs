//! `sizegate-github`: the GitHub App client of sizegate — App (JWT) and
//! installation-token auth, the sticky pull request comment and check runs,
//! each call idempotent and retried — plus webhook signature checks and
//! event parsing. With the `fake` feature, a fake GitHub API server for tests.

mod app_key;
mod check_runs;
mod client;
mod clock;
mod comments;
mod error;
mod key_lock;
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
pub use client::{DEFAULT_API_URL, GitHubClient, GitHubConfig};
#[cfg(feature = "fake")]
pub use clock::FakeClock;
pub use clock::{Clock, SleepFuture, SystemClock};
pub use comments::{CommentOutcome, MAX_COMMENT_CHARS};
pub use error::{Error, Result};
pub use repo::Repo;
pub use retry::{RetryPolicy, Verdict, WaitHint, classify};
