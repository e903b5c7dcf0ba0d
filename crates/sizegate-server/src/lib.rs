//! `sizegate-server`: the axum application: uploads, the JSON API,
//! GitHub webhooks, the dashboard pages, `/healthz` and `/metrics`. One
//! module per area, each with `pub fn router()`; [`app`] merges them.

mod alerts;
mod api;
mod auth;
pub mod compare;
pub mod dashboard;
mod error;
pub mod gate;
mod health;
pub mod listener;
mod metrics;
pub mod openapi;
mod provenance;
pub mod replay;
pub mod security;
pub mod session;
mod upload_sessions;
mod uploads;
mod webhooks;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use sizegate_github::GitHubClient;
use sizegate_store::{BlobStore, Store};
use sizegate_worker::WorkerMetrics;
use tokio_util::sync::CancellationToken;

pub use auth::Uploader;
pub use error::{ApiError, BoxError};
pub use listener::ListenerLimits;
pub use metrics::ServerMetrics;
pub use webhooks::MAX_WEBHOOK_BYTES;

/// Settings of the HTTP side (flags and env vars of `sizegate serve`).
/// Its `Debug` output leaves the webhook secret out.
#[derive(Clone)]
pub struct ServerConfig {
    /// Largest artifact accepted, in bytes (`SIZEGATE_MAX_ARTIFACT_BYTES`).
    pub max_artifact_bytes: u64,
    /// Most artifacts in one upload.
    pub max_targets_per_upload: usize,
    /// Most bytes of artifacts in one upload, all parts together
    /// (`SIZEGATE_MAX_UPLOAD_BYTES`).
    pub max_upload_bytes: u64,
    /// Most bytes of artifacts one repository may keep, 0 for no quota
    /// (`SIZEGATE_REPO_QUOTA_BYTES`).
    pub repo_quota_bytes: u64,
    /// Attempts a job gets before it fails for good (`SIZEGATE_JOB_MAX_ATTEMPTS`).
    pub max_attempts: i32,
    /// Public base URL (`SIZEGATE_PUBLIC_URL`): status URLs in upload
    /// answers are absolute when it is set.
    pub public_url: Option<String>,
    /// Secret of the GitHub App's webhooks (`SIZEGATE_GITHUB_WEBHOOK_SECRET`);
    /// without it `POST /webhooks/github` answers 503.
    pub webhook_secret: Option<String>,
    /// The GitHub App client, to forget cached installations that webhooks
    /// say were removed; `None` without an App.
    pub github: Option<Arc<GitHubClient>>,
    /// Timeouts and the connection limit of the listener.
    pub listener: ListenerLimits,
    /// How long a resumable upload session lives unfinished
    /// (`SIZEGATE_UPLOAD_SESSION_TTL_SECS`); then `gc` collects its bytes.
    pub upload_session_ttl: std::time::Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_artifact_bytes: 512 << 20,
            max_targets_per_upload: 64,
            max_upload_bytes: 1 << 30,
            repo_quota_bytes: 0,
            max_attempts: 5,
            public_url: None,
            webhook_secret: None,
            github: None,
            listener: ListenerLimits::default(),
            upload_session_ttl: std::time::Duration::from_secs(24 * 3600),
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("max_artifact_bytes", &self.max_artifact_bytes)
            .field("max_targets_per_upload", &self.max_targets_per_upload)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("repo_quota_bytes", &self.repo_quota_bytes)
            .field("max_attempts", &self.max_attempts)
            .field("public_url", &self.public_url)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("github", &self.github)
            .field("listener", &self.listener)
            .field("upload_session_ttl", &self.upload_session_ttl)
            .finish()
    }
}

impl ServerConfig {
    /// Settings for tests: a small artifact limit so that oversize tests are cheap.
    pub fn for_tests() -> Self {
        ServerConfig {
            max_artifact_bytes: 4 << 20,
            max_attempts: 3,
            ..ServerConfig::default()
        }
    }
}

/// What every handler can reach. Built once at start.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The blob store.
    pub blobs: Arc<dyn BlobStore>,
    /// Settings.
    pub config: Arc<ServerConfig>,
    /// Upload counters.
    pub metrics: Arc<ServerMetrics>,
    /// Counters of the in-process workers (zero with `--no-worker`).
    pub worker_metrics: Arc<WorkerMetrics>,
    /// Verifier of GitHub Actions OIDC upload tokens; `None` when the server
    /// has no public URL (the audience such tokens must carry).
    pub oidc: Option<Arc<sizegate_github::oidc::OidcVerifier>>,
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    Router::new()
        // These two bound their bodies themselves: uploads per artifact
        // while streaming, webhooks at MAX_WEBHOOK_BYTES.
        .merge(uploads::router())
        .merge(upload_sessions::router())
        .merge(webhooks::router())
        .merge(security::limit_bodies(
            Router::new()
                .merge(api::router())
                .merge(compare::router())
                .merge(alerts::router())
                .merge(gate::router())
                .merge(openapi::router())
                .merge(dashboard::router())
                .merge(health::router()),
        ))
        .layer(axum::middleware::from_fn(security::headers))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// Only `/healthz` and `/metrics`: what `sizegate worker --metrics-listen`
/// serves, so that standalone workers can be scraped too.
pub fn operations_app(state: AppState) -> Router {
    security::limit_bodies(health::router())
        .layer(axum::middleware::from_fn(security::headers))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// Serve `router` on `listener` (with the default [`ListenerLimits`])
/// until `shutdown` is cancelled.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    listener::serve_with_limits(listener, router, ListenerLimits::default(), shutdown).await
}

/// Serve `app(state)` on `listener`, within the configured
/// [`ListenerLimits`], until `shutdown` is cancelled, then finish the
/// requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let limits = state.config.listener;
    listener::serve_with_limits(listener, app(state), limits, shutdown).await
}

async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        path,
        route,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}
