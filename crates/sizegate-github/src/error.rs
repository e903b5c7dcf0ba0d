//! The error type of the GitHub client: what failed, against which endpoint,
//! and what GitHub answered, so the worker can record it as it is.

use std::time::Duration;

/// Everything that can go wrong while talking to the GitHub API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The App private key could not be read or used.
    #[error(
        "the GitHub App private key is not a usable RSA key in PEM form (PKCS#1 or PKCS#8): {0} \
         (SIZEGATE_GITHUB_PRIVATE_KEY / SIZEGATE_GITHUB_PRIVATE_KEY_FILE)"
    )]
    InvalidPrivateKey(String),

    /// The configured API base URL cannot be used.
    #[error("the GitHub API URL {url:?} is not usable: {reason} (SIZEGATE_GITHUB_API_URL)")]
    InvalidApiUrl {
        /// The URL as configured.
        url: String,
        /// Why it was rejected.
        reason: String,
    },

    /// The HTTPS client could not be built, typically because the system
    /// has no root CA certificates.
    #[error(
        "the HTTPS client for GitHub could not be built: {0} (install the system's CA \
         certificates, e.g. the ca-certificates package, or point SSL_CERT_FILE at a PEM bundle)"
    )]
    HttpClient(String),

    /// The caller asked for something GitHub would reject.
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// The App is not installed on the repository (GitHub answered 404).
    #[error(
        "the sizegate GitHub App is not installed on {repo}: install it on the repository \
         or its organisation"
    )]
    NotInstalled {
        /// `owner/name` of the repository.
        repo: String,
    },

    /// GitHub answered with an error that retrying will not fix.
    #[error("{what}: GitHub answered {status}: {message}")]
    Api {
        /// What we were doing, e.g. `POST /repos/o/r/check-runs`.
        what: String,
        /// The HTTP status.
        status: u16,
        /// GitHub's `message`, or the start of the body.
        message: String,
    },

    /// The answer could not be understood.
    #[error("{what}: GitHub's answer could not be read: {reason}")]
    InvalidResponse {
        /// What we were doing.
        what: String,
        /// What was wrong with the answer.
        reason: String,
    },

    /// A transient failure persisted through every allowed attempt.
    #[error("{what}: gave up after {attempts} attempts; last failure: {last}")]
    GaveUp {
        /// What we were doing.
        what: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure seen.
        last: String,
    },

    /// GitHub asked us to wait longer than the configured maximum.
    #[error(
        "{what}: rate limited by GitHub for {wait:?} more, longer than the {max_wait:?} we wait; \
         last answer: {last}"
    )]
    RateLimited {
        /// What we were doing.
        what: String,
        /// The wait GitHub asked for.
        wait: Duration,
        /// The longest wait the retry policy allows.
        max_wait: Duration,
        /// The failure that asked for the wait.
        last: String,
    },
}

impl Error {
    /// Whether retrying the same call later cannot help: the App is not
    /// installed, the repository is gone (404), GitHub refused the request
    /// as invalid (422 and other 4xx answers that are not rate limits), or
    /// our own configuration is unusable. Timeouts, 5xx answers, rate
    /// limits and unreadable answers are transient.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::InvalidPrivateKey(_)
            | Error::InvalidApiUrl { .. }
            | Error::HttpClient(_)
            | Error::InvalidRequest(_)
            | Error::NotInstalled { .. } => true,
            Error::Api { status, .. } => {
                (400..500).contains(status) && !matches!(status, 408 | 429)
            }
            Error::InvalidResponse { .. } | Error::GaveUp { .. } | Error::RateLimited { .. } => {
                false
            }
        }
    }
}

/// Result alias for this crate's API calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> Error {
        Error::Api {
            what: "POST /repos/o/r/check-runs".into(),
            status,
            message: "m".into(),
        }
    }

    #[test]
    fn permanent_errors_are_the_ones_a_retry_cannot_fix() {
        let not_installed = Error::NotInstalled { repo: "o/r".into() };
        for permanent in [not_installed, api(404), api(422), api(401), api(403)] {
            assert!(permanent.is_permanent(), "{permanent}");
        }
        let gave_up = Error::GaveUp {
            what: "w".into(),
            attempts: 3,
            last: "timed out".into(),
        };
        let limited = Error::RateLimited {
            what: "w".into(),
            wait: Duration::from_secs(3600),
            max_wait: Duration::from_secs(60),
            last: "403".into(),
        };
        let garbled = Error::InvalidResponse {
            what: "w".into(),
            reason: "not JSON".into(),
        };
        for transient in [
            gave_up,
            limited,
            garbled,
            api(500),
            api(502),
            api(429),
            api(408),
        ] {
            assert!(!transient.is_permanent(), "{transient}");
        }
    }
}
