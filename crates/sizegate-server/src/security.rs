//! What every answer and every request goes through, whatever the route:
//! the browser security headers (a strict Content-Security-Policy fits,
//! since the dashboard has no script, one same-origin stylesheet and
//! inline SVG without style attributes), `Cache-Control: no-store` unless
//! a handler chose otherwise, and a small limit on request bodies for every
//! route that does not bound its body itself (uploads stream with their
//! own per-artifact limit; webhooks have theirs).

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sizegate_analyze::human;

use crate::{ApiError, AppState};

/// Largest request body of the routes without a limit of their own (the
/// login form, and routes that take no body at all).
pub const MAX_REQUEST_BYTES: usize = 64 << 10;

/// The policy of every answer: nothing but same-origin stylesheets and
/// images, forms posted to this server only, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers added to every answer that does not set them itself.
const HEADERS: [(HeaderName, &str); 5] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    // Private repository names are in our paths: never send them elsewhere.
    (header::REFERRER_POLICY, "same-origin"),
    (header::X_FRAME_OPTIONS, "DENY"),
    // Pages and answers depend on the reader's session or token; only the
    // stylesheet says it may be cached.
    (header::CACHE_CONTROL, "no-store"),
];

/// Add the security headers to an answer (middleware for the whole app).
pub(crate) async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

/// `router` with request bodies limited to [`MAX_REQUEST_BYTES`]: a
/// declared `Content-Length` over it is refused before the handler runs
/// (even on routes that read no body), and extractors stop reading a
/// chunked body there.
pub(crate) fn limit_bodies(router: Router<AppState>) -> Router<AppState> {
    router
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(axum::middleware::from_fn(refuse_large_content_length))
}

async fn refuse_large_content_length(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > MAX_REQUEST_BYTES as u64 => ApiError::PayloadTooLarge(format!(
            "request body of {} is larger than the limit of {} for this route",
            human::size(length),
            human::size(MAX_REQUEST_BYTES as u64)
        ))
        .into_response(),
        _ => next.run(request).await,
    }
}
