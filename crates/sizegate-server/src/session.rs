//! Readers: who may see private repositories. A browser logs in once at
//! `/login` with a read token and gets a session cookie (secure, HttpOnly,
//! SameSite=Lax); scripts send the read token as `Authorization: Bearer`.
//! Anyone else is anonymous and sees public repositories only.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use sizegate_store::history::Repository;

use crate::{ApiError, AppState};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "sizegate_session";

/// Who is reading: anonymous, or a holder of a valid read token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reader {
    /// Whether private repositories are visible.
    pub can_read_private: bool,
}

impl Reader {
    /// Whether this reader may see `repository`.
    pub fn may_read(&self, repository: &Repository) -> bool {
        self.can_read_private || !repository.private
    }
}

/// The value of cookie `name` in the request, if any.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(secret) = cookie(&parts.headers, SESSION_COOKIE)
            && state.store.session_is_valid(secret).await?
        {
            return Ok(Reader {
                can_read_private: true,
            });
        }
        if let Some(token) = crate::auth::bearer_token(&parts.headers)
            && state.store.authenticate_read_token(token).await?.is_some()
        {
            return Ok(Reader {
                can_read_private: true,
            });
        }
        Ok(Reader {
            can_read_private: false,
        })
    }
}
