//! The dashboard: server-rendered pages (askama) with SVG charts drawn
//! here, one small stylesheet embedded in the binary, and the login that
//! opens private repositories. No script, no CDN, no external font.
//!
//! Pages: `/` (repositories), `/repos/{owner}/{repo}` (targets),
//! `/repos/{owner}/{repo}/targets/{target}` (trend), `/repos/{owner}/{repo}/
//! commits/{sha}` and `/repos/{owner}/{repo}/pulls/{number}`.

mod alerts;
mod chart;
mod commit;
mod compare;
mod error;
mod image;
mod login;
mod markdown;
mod pages;
mod target;
mod target_detail;
mod treemap;
mod verdict;
mod view;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::AppState;

pub use error::PageError;

/// The stylesheet, embedded.
const STYLE: &str = include_str!("../../assets/style.css");

/// Dashboard routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/static/style.css", get(stylesheet))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", axum::routing::post(login::logout))
        .route("/repos/{owner}/{repo}", get(pages::repository))
        .route("/repos/{owner}/{repo}/alerts", get(alerts::page))
        .route(
            "/repos/{owner}/{repo}/alerts/{id}/state",
            axum::routing::post(alerts::set_state),
        )
        .route("/repos/{owner}/{repo}/targets/{*target}", get(target::page))
        .route(
            "/repos/{owner}/{repo}/commits/{sha}",
            get(commit::commit_page),
        )
        .route(
            "/repos/{owner}/{repo}/pulls/{number}",
            get(commit::pull_page),
        )
        .route("/repos/{owner}/{repo}/compare", get(compare::compare_form))
        .route(
            "/repos/{owner}/{repo}/compare/{range}",
            get(compare::compare_page),
        )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
}
