//! One HTTP exchange with the GitHub API through octocrab's client, and the
//! retry loop around whole operations.
//!
//! We give octocrab fully formed requests with our own `Authorization`
//! header and read raw answers: its own auth, retry and pagination are not
//! used, because its next-page requests have lost the `Authorization` header
//! on hosts other than api.github.com (octocrab #602, #738, #754) and its
//! retry does not cover secondary rate limits.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::header::{ACCEPT, AUTHORIZATION, HeaderValue, USER_AGENT};
use http::{HeaderMap, Method, StatusCode, Uri};
use http_body_util::{BodyExt as _, Limited};
use octocrab::Octocrab;
use serde::de::DeserializeOwned;

use crate::clock::Clock;
use crate::error::Error;
use crate::retry::{RetryPolicy, Verdict, WaitHint, classify};

/// Largest answer body we read; GitHub's pages of 100 comments stay far below.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// A request: path and query relative to the API base URL, and credentials.
pub(crate) struct Call<'a> {
    pub method: Method,
    pub path_and_query: &'a str,
    /// The whole `Authorization` value, e.g. `Bearer <jwt>`.
    pub authorization: &'a str,
    pub body: Option<&'a serde_json::Value>,
}

/// A successful answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// Decode the body as JSON.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, Error> {
        serde_json::from_str(&self.body).map_err(|e| Error::InvalidResponse {
            what: what.to_owned(),
            reason: e.to_string(),
        })
    }
}

/// Why one attempt failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Worth another attempt after the hinted wait.
    Transient { hint: WaitHint, reason: String },
    /// Final.
    Fatal(Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Fatal(error)
    }
}

/// octocrab's client plus our clock and retry policy.
#[derive(Debug)]
pub(crate) struct Transport {
    octocrab: Octocrab,
    pub clock: Arc<dyn Clock>,
    pub policy: RetryPolicy,
}

impl Transport {
    /// A client for the API at `api_url`. Must run inside a Tokio runtime
    /// (octocrab spawns its request buffer).
    pub fn new(
        api_url: &str,
        clock: Arc<dyn Clock>,
        policy: RetryPolicy,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidApiUrl {
            url: api_url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = api_url
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            return Err(invalid("expected http:// or https:// and a host"));
        }
        if uri.query().is_some() {
            return Err(invalid("a query string is not allowed"));
        }
        // octocrab spawns its request buffer on the current runtime and
        // panics without one; say so instead.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::HttpClient(
                "the GitHub client must be created inside a Tokio runtime".to_owned(),
            ));
        }
        let octocrab = Octocrab::builder()
            .base_uri(uri)
            .map_err(|e| invalid(&e.to_string()))?
            .set_connect_timeout(Some(timeout))
            .set_read_timeout(Some(timeout))
            .build()
            .map_err(|e| Error::HttpClient(error_chain(&e)))?;
        Ok(Self {
            octocrab,
            clock,
            policy,
        })
    }

    /// One attempt: send `call`, read the whole answer, classify it.
    pub async fn send(&self, what: &str, call: Call<'_>) -> Result<Answer, Failure> {
        let mut authorization = HeaderValue::from_str(call.authorization).map_err(|_| {
            Error::InvalidRequest(format!("{what}: credentials are not a valid header value"))
        })?;
        authorization.set_sensitive(true);
        let builder = http::Request::builder()
            .method(call.method)
            .uri(call.path_and_query)
            .header(AUTHORIZATION, authorization)
            .header(ACCEPT, "application/vnd.github+json")
            .header(USER_AGENT, concat!("sizegate/", env!("CARGO_PKG_VERSION")));
        let request = self
            .octocrab
            .build_request(builder, call.body)
            .map_err(|e| Error::InvalidRequest(format!("{what}: {e}")))?;
        let response = match self.octocrab.execute(request).await {
            Ok(response) => response,
            Err(e) => {
                return Err(Failure::Transient {
                    hint: WaitHint::Backoff,
                    reason: format!("{what}: no answer from GitHub: {}", error_chain(&e)),
                });
            }
        };
        let (parts, body) = response.into_parts();
        let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                return Err(Failure::Transient {
                    hint: WaitHint::Backoff,
                    reason: format!("{what}: reading GitHub's answer failed: {e}"),
                });
            }
        };
        let body = String::from_utf8_lossy(&body).into_owned();
        match classify(parts.status, &parts.headers, &body, self.clock.now()) {
            Verdict::Success => Ok(Answer {
                headers: parts.headers,
                body,
            }),
            Verdict::Retry(hint) => Err(Failure::Transient {
                hint,
                reason: format!(
                    "{what}: GitHub answered {}: {}",
                    parts.status,
                    github_message(&body)
                ),
            }),
            Verdict::Fail => Err(Failure::Fatal(Error::Api {
                what: what.to_owned(),
                status: parts.status.as_u16(),
                message: github_message(&body),
            })),
        }
    }

    /// Run `operation` until it succeeds, fails for good, or the policy's
    /// attempts are spent. Each attempt runs the whole operation again, so an
    /// operation that finds before it creates stays idempotent when a create
    /// succeeded on GitHub's side but its answer was lost.
    pub async fn retrying<T, F, Fut>(&self, what: &str, mut operation: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let attempts = self.policy.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let (hint, reason) = match operation().await {
                Ok(value) => return Ok(value),
                Err(Failure::Fatal(error)) => return Err(error),
                Err(Failure::Transient { hint, reason }) => (hint, reason),
            };
            if attempt >= attempts {
                return Err(Error::GaveUp {
                    what: what.to_owned(),
                    attempts: attempt,
                    last: reason,
                });
            }
            let wait = self.policy.wait(attempt, hint);
            if wait > self.policy.max_wait {
                return Err(Error::RateLimited {
                    what: what.to_owned(),
                    wait,
                    max_wait: self.policy.max_wait,
                    last: reason,
                });
            }
            tracing::warn!(what, attempt, ?wait, %reason, "GitHub call failed; retrying");
            self.clock.sleep(wait).await;
            attempt += 1;
        }
    }
}

/// GitHub's `message` field, or the start of the body when it has none.
fn github_message(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Message {
        message: String,
    }
    match serde_json::from_str::<Message>(body) {
        Ok(m) => m.message,
        Err(_) => body.chars().take(200).collect(),
    }
}

/// An error and its causes on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether a transient failure is an expired or revoked credential (401).
pub(crate) fn is_status(error: &Error, status: StatusCode) -> bool {
    matches!(error, Error::Api { status: s, .. } if *s == status.as_u16())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn transport(url: &str) -> Result<Transport, Error> {
        Transport::new(
            url,
            Arc::new(SystemClock),
            RetryPolicy::default(),
            crate::client::DEFAULT_REQUEST_TIMEOUT,
        )
    }

    #[tokio::test]
    async fn api_urls_are_checked() {
        assert!(transport("https://api.github.com").is_ok());
        assert!(transport("https://ghe.example.com/api/v3/").is_ok());
        for bad in [
            "api.github.com",
            "ftp://x",
            "https://x/api?y=1",
            "not a url",
        ] {
            assert!(
                matches!(transport(bad), Err(Error::InvalidApiUrl { .. })),
                "{bad} was accepted"
            );
        }
    }
}
