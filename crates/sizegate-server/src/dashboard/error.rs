//! Errors of the dashboard pages: the same causes as the JSON API, answered
//! as a small HTML page. A private repository is "not found" to anonymous
//! readers, and the page says where to log in.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::chart::escape;
use crate::ApiError;

/// An error answered as an HTML page.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<sizegate_store::Error> for PageError {
    fn from(e: sizegate_store::Error) -> Self {
        PageError(e.into())
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        PageError(ApiError::Internal(format!("rendering a page: {e}")))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match &self.0 {
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m.clone()),
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; see the server log".to_owned(),
                )
            }
            other => (StatusCode::BAD_REQUEST, other.to_string()),
        };
        let hint = if status == StatusCode::NOT_FOUND {
            r#"<p>If this repository is private, <a href="/login">log in</a> with a read token.</p>"#
        } else {
            ""
        };
        let body = format!(
            r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{code} · sizegate</title><link rel="stylesheet" href="/static/style.css"></head><body><header><a class="brand" href="/">sizegate</a></header><main><h1>{code}</h1><p class="error">{}</p>{hint}</main></body></html>"#,
            escape(&message),
            code = status.as_u16(),
        );
        let mut response = (status, Html(body)).into_response();
        crate::error::add_retry_after(&mut response);
        response
    }
}
