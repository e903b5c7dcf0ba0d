//! The GitHub App client: configuration, App (JWT) authentication, the
//! installation of each repository and installation tokens, both cached.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::{Method, StatusCode};
use serde::Deserialize;

use crate::app_key::AppKey;
use crate::clock::{Clock, SystemClock, later};
use crate::error::Error;
use crate::key_lock::KeyedLocks;
use crate::repo::Repo;
use crate::retry::{RetryPolicy, WaitHint};
use crate::transport::{Answer, Call, Failure, Transport, is_status};

/// Default connect and read timeout of one request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The public GitHub API.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// The web address of the GitHub that serves `api_url`: github.com for
/// api.github.com, `https://HOST` for an Enterprise Server's
/// `https://HOST/api/v3`, and any other address (a test server) as it is.
/// Comments link to compares and commits there.
pub fn web_url(api_url: &str) -> String {
    let api = api_url.trim_end_matches('/');
    if api == DEFAULT_API_URL {
        return "https://github.com".to_owned();
    }
    api.strip_suffix("/api/v3").unwrap_or(api).to_owned()
}

/// Settings of the GitHub App client, filled by the binary from the
/// environment (see the field docs); nothing here reads the environment.
/// Its `Debug` output leaves the private key out.
#[derive(Clone)]
pub struct GitHubConfig {
    /// API base URL (`SIZEGATE_GITHUB_API_URL`; default
    /// `https://api.github.com`, `https://HOST/api/v3` on Enterprise Server).
    pub api_url: String,
    /// The App id (`SIZEGATE_GITHUB_APP_ID`).
    pub app_id: u64,
    /// The App private key in PEM (`SIZEGATE_GITHUB_PRIVATE_KEY`, or the
    /// contents of `SIZEGATE_GITHUB_PRIVATE_KEY_FILE`).
    pub private_key_pem: String,
    /// Retries of failed calls (`SIZEGATE_GITHUB_MAX_ATTEMPTS`,
    /// `SIZEGATE_GITHUB_RETRY_BACKOFF_MS`,
    /// `SIZEGATE_GITHUB_SECONDARY_LIMIT_WAIT_SECS`, `SIZEGATE_GITHUB_MAX_WAIT_SECS`).
    pub retry: RetryPolicy,
    /// Connect and read timeout of one request (`SIZEGATE_GITHUB_TIMEOUT_SECS`);
    /// a request that times out is retried like a 5xx.
    pub request_timeout: Duration,
    /// An installation token is replaced this long before it expires.
    pub token_refresh_margin: Duration,
}

impl GitHubConfig {
    /// Settings for App `app_id` on api.github.com with default retries.
    pub fn new(app_id: u64, private_key_pem: impl Into<String>) -> Self {
        Self {
            api_url: DEFAULT_API_URL.to_owned(),
            app_id,
            private_key_pem: private_key_pem.into(),
            retry: RetryPolicy::default(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            token_refresh_margin: Duration::from_secs(5 * 60),
        }
    }
}

impl fmt::Debug for GitHubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubConfig")
            .field("api_url", &self.api_url)
            .field("app_id", &self.app_id)
            .field("private_key_pem", &"<redacted>")
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .field("token_refresh_margin", &self.token_refresh_margin)
            .finish()
    }
}

#[derive(Clone)]
struct CachedToken {
    token: String,
    expires_at: DateTime<Utc>,
}

impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A client acting as one GitHub App on the repositories it is installed on.
#[derive(Debug)]
pub struct GitHubClient {
    pub(crate) transport: Transport,
    app_id: u64,
    key: AppKey,
    refresh_margin: Duration,
    /// Repository key → installation id.
    installations: Mutex<HashMap<String, u64>>,
    /// Installation id → its token slot. Each slot is a Tokio mutex held
    /// while a token is fetched, so concurrent callers for one installation
    /// wait for one fetch instead of racing, and other installations are
    /// not held up.
    tokens: Mutex<HashMap<u64, TokenSlot>>,
    /// Serializes the upserts of this process per pull request and per
    /// check run target.
    pub(crate) targets: KeyedLocks,
}

type TokenSlot = Arc<tokio::sync::Mutex<Option<CachedToken>>>;

#[derive(Deserialize)]
struct InstallationAnswer {
    id: u64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: String,
    expires_at: DateTime<Utc>,
}

impl GitHubClient {
    /// A client using the real clock. Must be called inside the Tokio
    /// runtime that will run its calls (octocrab spawns a task there).
    pub fn new(config: GitHubConfig) -> Result<Self, Error> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A client whose time and waits come from `clock` (tests pass a fake).
    pub fn with_clock(config: GitHubConfig, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        let key = AppKey::from_pem(config.private_key_pem.as_bytes())?;
        let transport =
            Transport::new(&config.api_url, clock, config.retry, config.request_timeout)?;
        Ok(Self {
            transport,
            app_id: config.app_id,
            key,
            refresh_margin: config.token_refresh_margin,
            installations: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            targets: KeyedLocks::default(),
        })
    }

    /// The App id this client acts as.
    pub fn app_id(&self) -> u64 {
        self.app_id
    }

    /// The id of the App's installation on `repo`
    /// (`GET /repos/{owner}/{repo}/installation`), cached.
    pub async fn installation_id(&self, repo: &Repo) -> Result<u64, Error> {
        if let Some(id) = self.lock_installations().get(&repo.key()) {
            return Ok(*id);
        }
        let path = format!("/repos/{}/{}/installation", repo.owner(), repo.name());
        let what = format!("GET {path}");
        let answer = self
            .transport
            .retrying(&what, || self.send_as_app(&what, Method::GET, &path))
            .await
            .map_err(|e| {
                if is_status(&e, StatusCode::NOT_FOUND) {
                    Error::NotInstalled {
                        repo: repo.to_string(),
                    }
                } else {
                    e
                }
            })?;
        let id = answer.json::<InstallationAnswer>(&what)?.id;
        self.lock_installations().insert(repo.key(), id);
        Ok(id)
    }

    /// A token for installation `installation_id`, fetched with
    /// `POST /app/installations/{id}/access_tokens` and reused until
    /// [`GitHubConfig::token_refresh_margin`] before it expires.
    pub async fn installation_token(&self, installation_id: u64) -> Result<String, Error> {
        let slot = Arc::clone(
            self.lock_tokens()
                .entry(installation_id)
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(None))),
        );
        let mut slot = slot.lock().await;
        let now = self.transport.clock.now();
        if let Some(cached) = slot.as_ref()
            && later(now, self.refresh_margin) < cached.expires_at
        {
            return Ok(cached.token.clone());
        }
        let path = format!("/app/installations/{installation_id}/access_tokens");
        let what = format!("POST {path}");
        let answer = self
            .transport
            .retrying(&what, || self.send_as_app(&what, Method::POST, &path))
            .await
            .inspect_err(|e| {
                if is_status(e, StatusCode::NOT_FOUND) {
                    // Uninstalled since we cached it: look it up again next time.
                    self.lock_installations()
                        .retain(|_, id| *id != installation_id);
                }
            })?;
        let fresh: TokenAnswer = answer.json(&what)?;
        *slot = Some(CachedToken {
            token: fresh.token.clone(),
            expires_at: fresh.expires_at,
        });
        Ok(fresh.token)
    }

    /// Drop what is cached about an installation (call it when the App is
    /// uninstalled or loses repositories).
    pub fn forget_installation(&self, installation_id: u64) {
        self.lock_tokens().remove(&installation_id);
        self.lock_installations()
            .retain(|_, id| *id != installation_id);
    }

    /// Drop the cached installation of one repository.
    pub fn forget_repository(&self, repo: &Repo) {
        self.lock_installations().remove(&repo.key());
    }

    /// One attempt of a call authenticated as the App (JWT).
    async fn send_as_app(&self, what: &str, method: Method, path: &str) -> Result<Answer, Failure> {
        let jwt = self.key.jwt(self.app_id, self.transport.clock.now())?;
        let authorization = format!("Bearer {jwt}");
        self.transport
            .send(
                what,
                Call {
                    method,
                    path_and_query: path,
                    authorization: &authorization,
                    body: None,
                },
            )
            .await
    }

    /// One attempt of a call on `repo` authenticated as its installation.
    /// A 401 means the cached token was revoked: it is dropped and the
    /// attempt counts as transient so the retry fetches a new one.
    pub(crate) async fn send_as_installation(
        &self,
        repo: &Repo,
        what: &str,
        method: Method,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, Failure> {
        let installation_id = self.installation_id(repo).await?;
        let token = match self.installation_token(installation_id).await {
            Ok(token) => token,
            // The App was uninstalled (maybe reinstalled under a new id);
            // the cache entry is gone, so the next attempt looks it up again.
            Err(error) if is_status(&error, StatusCode::NOT_FOUND) => {
                return Err(Failure::Transient {
                    hint: WaitHint::Backoff,
                    reason: format!("installation {installation_id} of {repo} is gone: {error}"),
                });
            }
            Err(error) => return Err(error.into()),
        };
        let authorization = format!("token {token}");
        let result = self
            .transport
            .send(
                what,
                Call {
                    method,
                    path_and_query,
                    authorization: &authorization,
                    body,
                },
            )
            .await;
        match result {
            Err(Failure::Fatal(error)) if is_status(&error, StatusCode::UNAUTHORIZED) => {
                self.lock_tokens().remove(&installation_id);
                Err(Failure::Transient {
                    hint: WaitHint::Backoff,
                    reason: error.to_string(),
                })
            }
            other => other,
        }
    }

    fn lock_tokens(&self) -> std::sync::MutexGuard<'_, HashMap<u64, TokenSlot>> {
        // As above: plain values, usable after a panic elsewhere.
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_installations(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        // The map holds plain values; a panic elsewhere cannot leave it half
        // written, so a poisoned lock is still usable.
        self.installations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn the_web_address_follows_the_api_address() {
        assert_eq!(web_url("https://api.github.com"), "https://github.com");
        assert_eq!(web_url("https://api.github.com/"), "https://github.com");
        assert_eq!(
            web_url("https://ghe.example.com/api/v3"),
            "https://ghe.example.com"
        );
        assert_eq!(
            web_url("https://ghe.example.com/api/v3/"),
            "https://ghe.example.com"
        );
        assert_eq!(web_url("http://127.0.0.1:4000"), "http://127.0.0.1:4000");
    }

    #[test]
    fn creating_a_client_outside_a_runtime_is_an_error_not_a_panic() {
        let error = Transport::new(
            DEFAULT_API_URL,
            Arc::new(SystemClock),
            RetryPolicy::default(),
            DEFAULT_REQUEST_TIMEOUT,
        )
        .unwrap_err();
        assert!(matches!(error, Error::HttpClient(_)), "{error}");
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let config = GitHubConfig::new(1, "-----BEGIN RSA PRIVATE KEY-----\nsecret");
        let text = format!("{config:?}");
        assert!(
            !text.contains("secret") && !text.contains("BEGIN"),
            "{text}"
        );
        let token = CachedToken {
            token: "ghs_secret".to_owned(),
            expires_at: Utc::now(),
        };
        assert!(!format!("{token:?}").contains("ghs_secret"));
    }
}
