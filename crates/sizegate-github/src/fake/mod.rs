//! A fake GitHub API on loopback for tests, this crate's and others'.
//!
//! It answers with the shapes of GitHub's published examples
//! (`fixtures/api/`), keeps comments per issue and check runs per commit so
//! lists and updates agree, checks the App JWT on `/app/...` and the
//! installation token elsewhere, paginates comment lists with `Link`
//! headers, plays scripted faults per endpoint ([`FakeGitHub::fail`]: 5xx,
//! rate limits with and without headers, 429, answers slower than a client's
//! timeout, and calls held until the test releases them, each optionally
//! carried out before the answer is lost), and records every call.
//!
//! Other crates enable the `fake` feature in their dev-dependencies, start
//! it with [`FakeGitHub::start`] and a [`FakeGitHubConfig`] built from a
//! test key (`openssl genrsa -traditional 2048`, public half from
//! `openssl rsa -RSAPublicKey_out -outform DER`) and
//! [`FakeGitHubConfig::with_repo`], point [`crate::GitHubConfig::api_url`]
//! at [`FakeGitHub::url`], then assert on [`FakeGitHub::comments`],
//! [`FakeGitHub::check_runs`] and [`FakeGitHub::calls`]. This crate's
//! `tests/support/mod.rs` does exactly that.

mod check_runs;
mod comments;
mod commit_comments;
mod routes;
mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http::Method;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::clock::Clock;

pub use check_runs::FakeCheckRun;
pub use comments::FakeComment;
pub use commit_comments::FakeCommitComment;
use state::FakeState as State;

/// Who the fake trusts and which repositories it serves.
#[derive(Debug, Clone)]
pub struct FakeGitHubConfig {
    /// The App id expected as the JWT's `iss`.
    pub app_id: u64,
    /// The App's RSA public key, DER `RSAPublicKey` (PKCS#1), e.g. from
    /// `openssl rsa -RSAPublicKey_out -outform DER`.
    pub public_key_der: Vec<u8>,
    /// Lifetime of the installation tokens handed out.
    pub token_lifetime: Duration,
    /// A path prefix before every route, e.g. `/api/v3` as on GitHub
    /// Enterprise Server; empty for api.github.com's layout.
    pub path_prefix: String,
    /// The base URL written in `Link` headers instead of the fake's own, to
    /// check that a client keeps its credentials and its configured host
    /// when GitHub names another host (octocrab #602, #738, #754).
    pub link_base_url: Option<String>,
    /// The fake's time (JWT checks, token expiry).
    pub clock: Arc<dyn Clock>,
    repos: Vec<FakeRepo>,
}

#[derive(Debug, Clone)]
struct FakeRepo {
    owner: String,
    name: String,
    id: u64,
    installation_id: u64,
}

impl FakeGitHubConfig {
    /// A fake trusting App `app_id` with `public_key_der`, tokens valid for
    /// an hour, no prefix, and no repositories yet.
    pub fn new(app_id: u64, public_key_der: Vec<u8>, clock: Arc<dyn Clock>) -> Self {
        Self {
            app_id,
            public_key_der,
            token_lifetime: Duration::from_secs(3600),
            path_prefix: String::new(),
            link_base_url: None,
            clock,
            repos: Vec::new(),
        }
    }

    /// Serve `owner/name`, with the App installed as `installation_id`.
    pub fn with_repo(mut self, owner: &str, name: &str, installation_id: u64) -> Self {
        let id = 1_296_269 + self.repos.len() as u64;
        self.repos.push(FakeRepo {
            owner: owner.to_owned(),
            name: name.to_owned(),
            id,
            installation_id,
        });
        self
    }
}

/// An answer the fake gives instead of the real one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InjectedFailure {
    /// 500 Internal Server Error.
    ServerError,
    /// 404 Not Found, as for an object deleted meanwhile.
    NotFound,
    /// 403 "secondary rate limit" with no header saying when to retry.
    SecondaryRateLimit,
    /// 403 secondary rate limit with `retry-after: SECS`.
    RetryAfter(u64),
    /// 403 with `x-ratelimit-remaining: 0` and a reset `SECS` from now.
    PrimaryRateLimit(u64),
    /// 429 Too Many Requests with `retry-after: SECS`.
    TooManyRequests(u64),
    /// A slow GitHub: the real answer, sent only after this long. With
    /// [`FailureRule::after_applying`] the call is carried out at once and
    /// only the answer waits (a client that times out meanwhile never learns
    /// that it succeeded); otherwise it is carried out when the wait ends.
    Slow(Duration),
    /// Hold the call until [`FakeGitHub::release_held`]: then the real
    /// answer is sent. With [`FailureRule::after_applying`] the call is
    /// carried out at once and only the answer is held (the state of a
    /// client killed after GitHub acted but before it heard back);
    /// otherwise it is carried out on release. [`FakeGitHub::holds`] counts
    /// the calls that reached a hold, so a test knows when to act.
    Hold,
}

/// Which calls to fail, how, and how many times.
#[derive(Debug, Clone)]
pub struct FailureRule {
    /// Only calls with this method (any if `None`).
    pub method: Option<Method>,
    /// Only calls whose path contains this (any if `None`).
    pub path_contains: Option<String>,
    /// How many matching calls to fail.
    pub times: u32,
    /// The answer to give.
    pub failure: InjectedFailure,
    /// Carry the call out before answering with the failure, as when GitHub
    /// did the work but the answer was lost.
    pub apply_first: bool,
}

impl FailureRule {
    /// Fail the next `times` calls, whatever they are, without doing them.
    pub fn next(times: u32, failure: InjectedFailure) -> Self {
        Self {
            method: None,
            path_contains: None,
            times,
            failure,
            apply_first: false,
        }
    }

    /// Restrict the rule to calls with `method` whose path contains `part`.
    pub fn matching(mut self, method: Method, part: &str) -> Self {
        self.method = Some(method);
        self.path_contains = Some(part.to_owned());
        self
    }

    /// Carry out matching calls before failing them.
    pub fn after_applying(mut self) -> Self {
        self.apply_first = true;
        self
    }
}

/// One call the fake received.
#[derive(Debug, Clone)]
pub struct RecordedCall {
    /// HTTP method.
    pub method: String,
    /// Path and query as received.
    pub path: String,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// Body as text.
    pub body: String,
    /// The status answered.
    pub status: u16,
}

impl RecordedCall {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A running fake GitHub API; stops when dropped.
#[derive(Debug)]
pub struct FakeGitHub {
    addr: SocketAddr,
    path_prefix: String,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

impl FakeGitHub {
    /// Listen on 127.0.0.1 on a free port and serve in the background.
    pub async fn start(config: FakeGitHubConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let path_prefix = config.path_prefix.trim_end_matches('/').to_owned();
        let own_url = format!("http://{addr}{path_prefix}");
        let link_url = config
            .link_base_url
            .clone()
            .unwrap_or_else(|| own_url.clone());
        let state = Arc::new(Mutex::new(State::new(config, own_url, link_url)));
        let router = routes::router(Arc::clone(&state));
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "fake GitHub server stopped");
            }
        });
        Ok(Self {
            addr,
            path_prefix,
            state,
            server,
        })
    }

    /// The API base URL to configure the client with.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.path_prefix)
    }

    /// Every call received so far, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }

    /// Forget the calls recorded so far.
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// Add a failure rule; rules apply in the order added, so several rules
    /// on one endpoint make a script of faults played one call at a time.
    pub fn fail(&self, rule: FailureRule) {
        self.lock().failures.push(rule);
    }

    /// How many calls reached an [`InjectedFailure::Hold`] so far.
    pub fn holds(&self) -> usize {
        self.lock().holds
    }

    /// Let every call held so far go on (and answer); later holds wait for
    /// the next release.
    pub fn release_held(&self) {
        self.lock()
            .release
            .send_modify(|generation| *generation += 1);
    }

    /// The comments of issue `number` of `owner/name`, oldest first.
    pub fn comments(&self, owner: &str, name: &str, number: u64) -> Vec<FakeComment> {
        self.lock().comments_of(owner, name, number)
    }

    /// Add a comment as if written by `login` (`Bot` if `bot`, else `User`).
    pub fn add_comment(
        &self,
        owner: &str,
        name: &str,
        number: u64,
        login: &str,
        bot: bool,
        body: &str,
    ) -> u64 {
        self.lock()
            .add_comment(owner, name, number, login, bot, body)
    }

    /// Add a bot comment written by App `app_id` (another App than the one
    /// under test, say), as GitHub shows it in `performed_via_github_app`.
    pub fn add_comment_by_app(
        &self,
        owner: &str,
        name: &str,
        number: u64,
        login: &str,
        app_id: u64,
        body: &str,
    ) -> u64 {
        self.lock()
            .add_comment_by_app(owner, name, number, login, Some(app_id), body)
    }

    /// The commit comments on `sha` in `owner/name`, oldest first.
    pub fn commit_comments(&self, owner: &str, name: &str, sha: &str) -> Vec<FakeCommitComment> {
        self.lock().commit_comments_of(owner, name, sha)
    }

    /// The check runs on `sha` in `owner/name`, oldest first.
    pub fn check_runs(&self, owner: &str, name: &str, sha: &str) -> Vec<FakeCheckRun> {
        self.lock().check_runs_of(owner, name, sha)
    }

    /// Move `owner/name` to installation `installation_id`, as when the App
    /// is uninstalled and installed again; its old installation is gone if
    /// no other repository uses it.
    pub fn reinstall(&self, owner: &str, name: &str, installation_id: u64) {
        self.lock().reinstall(owner, name, installation_id);
    }

    /// Delete comment `id`, as a person might.
    pub fn delete_comment(&self, id: u64) {
        self.lock().comments.retain(|c| c.id != id);
    }

    /// How many installation tokens were handed out.
    pub fn tokens_issued(&self) -> usize {
        self.lock().tokens_issued
    }

    /// Revoke every installation token handed out so far.
    pub fn revoke_tokens(&self) {
        self.lock().tokens.clear();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.server.abort();
    }
}
