//! Errors of the dashboard pages: the same causes and the same status as
//! the JSON API ([`ApiError::status`]), answered as an HTML page rendered
//! from `templates/error.html`. A private repository is "not found" to
//! anonymous readers, and the page says where to log in.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};

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
        PageError(ApiError::internal("rendering a page", e))
    }
}

/// The error page (askama escapes every value).
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    logged_in: bool,
    status: u16,
    reason: &'a str,
    message: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let message = self.0.client_message();
        let page = ErrorPage {
            logged_in: false,
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or(""),
            message: &message,
        };
        let mut response = match page.render() {
            Ok(body) => (status, Html(body)).into_response(),
            Err(e) => {
                tracing::error!(error = %crate::error::Chain(&e), "rendering the error page");
                (status, message).into_response()
            }
        };
        crate::error::add_retry_after(&mut response);
        response
    }
}
