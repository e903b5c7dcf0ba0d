//! `/login` and `/logout`: a read token entered once opens a session kept
//! in a secure, HttpOnly, SameSite=Lax cookie; the database keeps only the
//! session's hash.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::PageError;
use crate::AppState;
use crate::session::{Reader, SESSION_COOKIE};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    logged_in: bool,
    error: Option<String>,
}

/// The login form.
pub(super) async fn form(reader: Reader) -> Result<Html<String>, PageError> {
    Ok(Html(
        LoginPage {
            logged_in: reader.can_read_private,
            error: None,
        }
        .render()?,
    ))
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    token: String,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Check the token; on success set the session cookie and go home.
pub(super) async fn submit(
    State(state): State<AppState>,
    Form(login): Form<LoginForm>,
) -> Result<Response, PageError> {
    let Some(token_id) = state.store.authenticate_read_token(&login.token).await? else {
        let page = LoginPage {
            logged_in: false,
            error: Some(
                "invalid or revoked read token (create one with `sizegate token create --read`)"
                    .into(),
            ),
        };
        return Ok((axum::http::StatusCode::UNAUTHORIZED, Html(page.render()?)).into_response());
    };
    let (secret, expires_at) = state.store.create_session(token_id).await?;
    let max_age = (expires_at - chrono::Utc::now()).num_seconds().max(0);
    let cookie = format!(
        "{SESSION_COOKIE}={secret}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax"
    );
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response())
}

/// End the session and clear the cookie.
pub(super) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if let Some(secret) = crate::session::cookie(&headers, SESSION_COOKIE) {
        state.store.delete_session(secret).await?;
    }
    let cookie = format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response())
}
