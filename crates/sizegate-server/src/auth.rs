//! Who is uploading. Today: `Authorization: Bearer <upload token>` (see
//! `sizegate token create`). A later issue adds GitHub Actions OIDC tokens:
//! they slot in as a second [`AuthMethod`] in [`Uploader::from_request_parts`],
//! and handlers keep receiving an [`Uploader`].

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use sizegate_store::RepoName;

use crate::{ApiError, AppState};

/// How an uploader proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// An upload token, by row id.
    UploadToken {
        /// Token row id.
        token_id: i64,
    },
}

/// An authenticated uploader: the one repository it may upload to.
#[derive(Debug, Clone)]
pub struct Uploader {
    /// Repository id.
    pub repository_id: i64,
    /// Repository name.
    pub repository: RepoName,
    /// How it authenticated.
    pub method: AuthMethod,
}

impl Uploader {
    /// 403 unless this uploader may upload to `repository`.
    pub fn check_repository(&self, repository: &RepoName) -> Result<(), ApiError> {
        if self.repository == *repository {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this token uploads to {}, not to {repository}",
                self.repository
            )))
        }
    }
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let missing = || {
        ApiError::Unauthorized(
            "missing `Authorization: Bearer <upload token>` header (create a token with `sizegate token create OWNER/REPO`)"
                .into(),
        )
    };
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| missing())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    Ok(token.trim())
}

impl FromRequestParts<AppState> for Uploader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        match state.store.authenticate_upload_token(token).await? {
            Some(owner) => Ok(Uploader {
                repository_id: owner.repository_id,
                repository: owner.repository,
                method: AuthMethod::UploadToken {
                    token_id: owner.token_id,
                },
            }),
            None => Err(ApiError::Unauthorized(
                "invalid or revoked upload token".into(),
            )),
        }
    }
}
