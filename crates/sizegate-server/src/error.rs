//! The one error type at the HTTP boundary: each variant is one status
//! ([`ApiError::status`], shared by the JSON API and the dashboard's pages);
//! the JSON body is `{"error": "..."}`. Internal causes keep their source
//! error, are logged once with the whole chain where the response is made,
//! and are never sent to the client.

use std::fmt;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request cannot be read (malformed multipart, bad query...).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no credentials, or invalid ones.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: valid credentials for something else.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 413: an artifact, or a whole upload, over its size limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 507: the repository's storage quota would be exceeded.
    #[error("{0}")]
    InsufficientStorage(String),
    /// 422: well-formed but invalid content (the message names the field).
    #[error("{0}")]
    Unprocessable(String),
    /// 503: a dependency (the database) is down.
    #[error("{0}")]
    Unavailable(String),
    /// 500: the database refused a statement, or a stored row could not be
    /// read; details go to the log only.
    #[error("store error")]
    Store(#[source] sizegate_store::Error),
    /// 500: the blob store failed; details go to the log only.
    #[error("blob store error")]
    Blob(#[from] sizegate_store::BlobError),
    /// 500: a bug or an outage elsewhere (file system, encoding, rendering);
    /// `context` says what was being done, `source` why it failed (none
    /// when an invariant of ours broke). Details go to the log only.
    #[error("{context}")]
    Internal {
        /// What was being done.
        context: String,
        /// The cause, with its own chain.
        #[source]
        source: Option<BoxError>,
    },
}

/// Any error that can cross threads, kept as the cause of a 500.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a client is told about a 500.
const INTERNAL_MESSAGE: &str = "internal error; see the server log";

/// Displays an error followed by its `source()` chain, `: `-separated; a
/// cause whose text its parent already ends with is not repeated.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            if !shown.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            shown = text;
            next = cause.source();
        }
        Ok(())
    }
}

/// Seconds a client is told to wait (`Retry-After`) when the database is
/// out of reach.
pub const RETRY_AFTER_SECS: u32 = 5;

/// What a client is told while the database is out of reach.
pub const DATABASE_DOWN: &str =
    "the database is unavailable; nothing was stored, retry later (see Retry-After)";

/// Tell the client when to come back if `response` is a 503 (the database
/// is out of reach); the JSON errors and the dashboard's pages share this.
pub(crate) fn add_retry_after(response: &mut Response) {
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
}

impl From<sizegate_store::Error> for ApiError {
    fn from(e: sizegate_store::Error) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %Chain(&e), "database unavailable");
            ApiError::Unavailable(DATABASE_DOWN.to_owned())
        } else {
            ApiError::Store(e)
        }
    }
}

impl ApiError {
    /// A 500 caused by `source` while doing `context`.
    pub fn internal(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        ApiError::Internal {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// A 500 without an underlying error: an invariant of ours broke.
    pub fn bug(context: impl Into<String>) -> Self {
        ApiError::Internal {
            context: context.into(),
            source: None,
        }
    }

    /// Whether this is a 5xx whose details are for the log only.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            ApiError::Store(_) | ApiError::Blob(_) | ApiError::Internal { .. }
        )
    }

    /// What the client is told: the message of a client error, a fixed
    /// sentence for an internal one. An internal error is logged here, once,
    /// with its whole source chain; call this only where the response is
    /// made.
    pub(crate) fn client_message(&self) -> String {
        if self.is_internal() {
            tracing::error!(error = %Chain(self), "internal error");
            INTERNAL_MESSAGE.to_owned()
        } else {
            self.to_string()
        }
    }

    /// The one status of each variant, for the JSON API and the pages alike.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) | ApiError::Blob(_) | ApiError::Internal { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.client_message();
        let mut response = (status, Json(serde_json::json!({ "error": message }))).into_response();
        add_retry_after(&mut response);
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use axum::response::IntoResponse;

    use super::ApiError;

    /// A log sink the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The log lines written while `f` runs.
    fn logged(f: impl FnOnce()) -> String {
        let sink = Captured::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = sink.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[tokio::test]
    async fn internal_error_logs_its_source_chain_once_and_tells_the_client_nothing() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "disk says no");
        let error = ApiError::internal("opening chunk chunks/abc", io);
        assert_eq!(error.status(), 500);
        assert_eq!(
            std::error::Error::source(&error).map(ToString::to_string),
            Some("disk says no".to_owned())
        );
        let mut response = None;
        let log = logged(|| response = Some(error.into_response()));
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 1, "logged once: {log}");
        assert!(
            lines[0].contains("opening chunk chunks/abc: disk says no"),
            "the chain: {log}"
        );
        let response = response.unwrap();
        assert_eq!(response.status(), 500);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(body, r#"{"error":"internal error; see the server log"}"#);
    }

    #[test]
    fn blob_error_keeps_its_chain() {
        let io = std::io::Error::other("no space left");
        let blob = sizegate_store::BlobError::Io {
            action: "writing blob".into(),
            source: io,
        };
        let error = ApiError::from(blob);
        assert_eq!(error.status(), 500);
        let chain = super::Chain(&error).to_string();
        assert!(chain.starts_with("blob store error: "), "{chain}");
        assert!(chain.ends_with("no space left"), "{chain}");
        assert_eq!(chain.matches("no space left").count(), 1, "{chain}");
        let log = logged(|| drop(ApiError::NotFound("gone".into()).into_response()));
        assert!(log.is_empty(), "client errors are not logged: {log}");
    }
}
