//! The fake's HTTP side: one fallback handler hands every request to the
//! shared state, which routes it, so that every call is recorded, even those
//! to unknown routes.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};

use super::state::{FakeState, Step, Wait};

/// The router serving every path through [`FakeState::handle`].
pub(super) fn router(state: Arc<Mutex<FakeState>>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

async fn handle(
    State(state): State<Arc<Mutex<FakeState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lock = || state.lock().unwrap_or_else(PoisonError::into_inner);
    let step = lock().handle(&method, &uri, &headers, &body);
    let reply = match step {
        Step::Answer(reply) => reply,
        Step::Wait { wait, reply } => {
            // Wait outside the lock, so other calls go on meanwhile.
            match wait {
                Wait::For(delay) => tokio::time::sleep(delay).await,
                Wait::Release(mut release, generation) => {
                    // An error means the fake is gone: answer anyway.
                    let _ = release.wait_for(|now| *now > generation).await;
                }
            }
            match reply {
                Some(reply) => reply,
                None => lock().route_and_record(&method, &uri, &headers, &body),
            }
        }
    };
    let mut response_headers = HeaderMap::new();
    response_headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response_headers.insert(name, value);
        }
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, response_headers, reply.body).into_response()
}
