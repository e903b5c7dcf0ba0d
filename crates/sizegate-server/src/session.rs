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

/// Label of the dashboard's form tokens (CSRF), hashed with the session
/// secret.
const FORM_TOKEN_LABEL: &[u8] = b"sizegate dashboard form token v1";

/// The form token of a session: sha256 of a fixed label and the session's
/// secret (which only the browser holding the cookie knows), hex. A form
/// that POSTs to the dashboard carries it in a hidden field.
pub(crate) fn form_token(session_secret: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(FORM_TOKEN_LABEL);
    hash.update(session_secret.as_bytes());
    hex::encode(hash.finalize())
}

/// Whether `given` is the form token of the session, compared in constant
/// time.
pub(crate) fn form_token_matches(session_secret: &str, given: &str) -> bool {
    let expected = form_token(session_secret);
    if expected.len() != given.len() {
        return false;
    }
    expected
        .bytes()
        .zip(given.bytes())
        .fold(0u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}
