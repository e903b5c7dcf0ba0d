//! The one error type at the HTTP boundary: each variant is one status; the
//! body is `{"error": "..."}`. Internal causes are logged with their chain
//! and never sent to the client.

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
    /// 500: a bug or an outage; details go to the log only.
    #[error("internal error: {0}")]
    Internal(String),
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
            tracing::warn!(error = %e, "database unavailable");
            ApiError::Unavailable(DATABASE_DOWN.to_owned())
        } else {
            ApiError::Internal(e.to_string())
        }
    }
}

impl From<sizegate_store::BlobError> for ApiError {
    fn from(e: sizegate_store::BlobError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                "internal error; see the server log".to_owned()
            }
            other => other.to_string(),
        };
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
