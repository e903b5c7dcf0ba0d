//! When to retry a GitHub call and how long to wait first.
//!
//! 5xx answers and connection errors back off exponentially. Rate limits
//! (403/429) wait what GitHub says: `retry-after`, else `x-ratelimit-reset`
//! when `x-ratelimit-remaining` is 0, else at least a minute, because
//! secondary limits may come without any header (GitHub's guidance).

use std::time::Duration;

use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode};

/// How many times to try and how long to wait between tries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts of one operation, the first included.
    pub max_attempts: u32,
    /// First back-off after a 5xx or connection error; doubled each attempt.
    pub base_backoff: Duration,
    /// Cap on the exponential back-off.
    pub max_backoff: Duration,
    /// Minimum wait after a rate limit answer that says nothing of when to
    /// come back (GitHub: "wait at least one minute").
    pub secondary_limit_wait: Duration,
    /// Longest single wait we accept; if GitHub asks for more we give up and
    /// report it rather than hold a worker.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            secondary_limit_wait: Duration::from_secs(60),
            max_wait: Duration::from_secs(15 * 60),
        }
    }
}

/// What an answer (or the lack of one) means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitHint {
    /// A 5xx or a connection error: exponential back-off.
    Backoff,
    /// GitHub said when to come back.
    Exactly(Duration),
    /// A rate limit without a time: wait at least the secondary-limit minimum.
    SecondaryLimit,
}

/// What to do with an HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx (or 304).
    Success,
    /// A failure worth retrying after a wait.
    Retry(WaitHint),
    /// A failure that retrying will not fix.
    Fail,
}

/// Classify an answer: `body` is needed to tell a secondary rate limit (a 403
/// whose message mentions a rate limit) from a permission error.
pub fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    now: DateTime<Utc>,
) -> Verdict {
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        return Verdict::Success;
    }
    if status.is_server_error() {
        return Verdict::Retry(WaitHint::Backoff);
    }
    let rate_limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && (header_u64(headers, "retry-after").is_some()
                || header_u64(headers, "x-ratelimit-remaining") == Some(0)
                || body.to_ascii_lowercase().contains("rate limit")));
    if !rate_limited {
        return Verdict::Fail;
    }
    if let Some(secs) = header_u64(headers, "retry-after") {
        return Verdict::Retry(WaitHint::Exactly(Duration::from_secs(secs)));
    }
    if header_u64(headers, "x-ratelimit-remaining") == Some(0)
        && let Some(reset) = header_u64(headers, "x-ratelimit-reset")
    {
        let reset = i64::try_from(reset).unwrap_or(i64::MAX);
        let secs = reset.saturating_sub(now.timestamp()).max(1);
        return Verdict::Retry(WaitHint::Exactly(Duration::from_secs(
            u64::try_from(secs).unwrap_or(1),
        )));
    }
    Verdict::Retry(WaitHint::SecondaryLimit)
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`, after attempt `attempt`
    /// (counted from 1) failed with `hint`.
    pub fn wait(&self, attempt: u32, hint: WaitHint) -> Duration {
        let backoff = self
            .base_backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max_backoff);
        match hint {
            WaitHint::Backoff => backoff,
            WaitHint::Exactly(wait) => wait,
            WaitHint::SecondaryLimit => backoff.max(self.secondary_limit_wait),
        }
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn server_errors_back_off_exponentially_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let verdict = classify(StatusCode::BAD_GATEWAY, &HeaderMap::new(), "", Utc::now());
        assert_eq!(verdict, Verdict::Retry(WaitHint::Backoff));
        let waits: Vec<u64> = (1..=7)
            .map(|n| policy.wait(n, WaitHint::Backoff).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn retry_after_is_honoured_on_403_and_429() {
        for status in [StatusCode::FORBIDDEN, StatusCode::TOO_MANY_REQUESTS] {
            let verdict = classify(status, &headers(&[("retry-after", "2")]), "", Utc::now());
            assert_eq!(
                verdict,
                Verdict::Retry(WaitHint::Exactly(Duration::from_secs(2)))
            );
        }
    }

    #[test]
    fn exhausted_primary_limit_waits_until_reset() {
        let now = Utc::now();
        let reset = (now.timestamp() + 42).to_string();
        let verdict = classify(
            StatusCode::FORBIDDEN,
            &headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset),
            ]),
            r#"{"message":"API rate limit exceeded"}"#,
            now,
        );
        assert_eq!(
            verdict,
            Verdict::Retry(WaitHint::Exactly(Duration::from_secs(42)))
        );
    }

    #[test]
    fn secondary_limit_without_headers_waits_at_least_a_minute() {
        let policy = RetryPolicy::default();
        let verdict = classify(
            StatusCode::FORBIDDEN,
            &HeaderMap::new(),
            r#"{"message":"You have exceeded a secondary rate limit."}"#,
            Utc::now(),
        );
        assert_eq!(verdict, Verdict::Retry(WaitHint::SecondaryLimit));
        assert!(policy.wait(1, WaitHint::SecondaryLimit) >= Duration::from_secs(60));
    }

    #[test]
    fn permission_errors_and_client_errors_are_not_retried() {
        let body = r#"{"message":"Resource not accessible by integration"}"#;
        for status in [
            StatusCode::FORBIDDEN,
            StatusCode::NOT_FOUND,
            StatusCode::UNPROCESSABLE_ENTITY,
        ] {
            assert_eq!(
                classify(status, &HeaderMap::new(), body, Utc::now()),
                Verdict::Fail
            );
        }
    }
}
