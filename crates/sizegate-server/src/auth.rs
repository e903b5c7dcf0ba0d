//! Who is uploading: `Authorization: Bearer` with an upload token (see
//! `sizegate token create`) or a GitHub Actions OIDC id token (a JWT; see
//! `sizegate_github::oidc`), whose `repository` claim must name a
//! registered repository. Handlers receive an [`Uploader`] either way.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use sizegate_github::oidc::OidcError;
use sizegate_store::RepoName;
use sizegate_store::repo_settings::RepoSettings;

use crate::{ApiError, AppState};

/// How an uploader proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// An upload token, by row id.
    UploadToken {
        /// Token row id.
        token_id: i64,
    },
    /// A GitHub Actions OIDC token.
    GithubOidc {
        /// The token's unique id (`jti`), now used up.
        jti: String,
        /// The workflow run that asked for it.
        run_id: Option<String>,
        /// What the token's claims say of the run; the upload's event,
        /// branch and commit come from here, never from the body.
        run: OidcRun,
    },
}

/// The workflow run an OIDC token was issued to, from its claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcRun {
    /// `event_name`: `push`, `pull_request`, `pull_request_target`, ...
    pub event_name: String,
    /// `ref`: `refs/heads/main`, `refs/pull/7/merge`, ...
    pub git_ref: Option<String>,
    /// `sha`: the commit the run was started for.
    pub sha: Option<String>,
    /// `head_ref`: the head branch of a pull request run.
    pub head_ref: Option<String>,
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

/// The token of an `Authorization: Bearer <token>` header (the scheme in
/// any case), if the request has one that is not empty.
pub(crate) fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    bearer_token(&parts.headers).ok_or_else(|| {
        ApiError::Unauthorized(
            "missing `Authorization: Bearer <upload token>` header (create a token with `sizegate token create OWNER/REPO`)"
                .into(),
        )
    })
}

impl FromRequestParts<AppState> for Uploader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        if looks_like_jwt(token) {
            return oidc_uploader(state, token).await;
        }
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

/// Upload tokens are `sgu_...`; a JWT is three base64url parts whose first
/// is a JSON object (`{"` encodes as `eyJ`).
fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.bytes().filter(|&b| b == b'.').count() == 2
}

async fn oidc_uploader(state: &AppState, token: &str) -> Result<Uploader, ApiError> {
    let verifier = state.oidc.as_ref().ok_or_else(|| {
        ApiError::Unauthorized(
            "this server does not accept GitHub OIDC tokens: it needs SIZEGATE_PUBLIC_URL (the token audience); or use an upload token"
                .into(),
        )
    })?;
    let claims = verifier
        .verify_any_repository(token)
        .await
        .map_err(|e| match e {
            OidcError::DiscoveryFailed(_) | OidcError::ReplayCache(_) => {
                tracing::warn!(error = %e, "cannot verify a GitHub OIDC token");
                ApiError::Unavailable(format!("cannot verify GitHub OIDC tokens right now: {e}"))
            }
            refused => ApiError::Unauthorized(refused.to_string()),
        })?;
    let repository = RepoName::parse(&claims.repository)
        .map_err(|e| ApiError::Unauthorized(format!("OIDC token: {e}")))?;
    let registered = state
        .store
        .repository_settings(&repository)
        .await?
        .ok_or_else(|| {
            ApiError::Forbidden(format!(
                "repository {repository} is not registered on this server; register it with `sizegate token create {repository}`"
            ))
        })?;
    check_repository_claims(&registered, &claims)?;
    let event_name = claims.event_name.clone().ok_or_else(|| {
        ApiError::Unauthorized("malformed OIDC token: no `event_name` claim".into())
    })?;
    tracing::info!(%repository, event = %event_name, run_id = claims.run_id.as_deref().unwrap_or(""), "GitHub OIDC upload");
    Ok(Uploader {
        repository_id: registered.id,
        repository,
        method: AuthMethod::GithubOidc {
            jti: claims.jti,
            run_id: claims.run_id,
            run: OidcRun {
                event_name,
                git_ref: claims.git_ref,
                sha: claims.sha,
                head_ref: claims.head_ref,
            },
        },
    })
}

/// OIDC must be enabled for the repository, and the token's numeric
/// repository and owner ids must be the ones recorded for it: a deleted and
/// re-created repository of the same name (new ids) is refused.
fn check_repository_claims(
    registered: &RepoSettings,
    claims: &sizegate_github::oidc::GithubClaims,
) -> Result<(), ApiError> {
    let repo = format!("{}/{}", registered.owner, registered.name);
    if !registered.oidc_enabled {
        return Err(ApiError::Forbidden(format!(
            "GitHub OIDC uploads are off for {repo}; an admin enables them with `sizegate repo set-oidc {repo} on` (or use an upload token)"
        )));
    }
    let (Some(id), Some(owner_id)) = (registered.github_id, registered.github_owner_id) else {
        return Err(ApiError::Forbidden(format!(
            "GitHub's numeric ids of {repo} are not known, so its OIDC tokens cannot be checked; install the GitHub App on it or run `sizegate repo set-oidc {repo} on --github-id ID --github-owner-id ID`"
        )));
    };
    let claimed = |claim: &Option<String>| claim.as_deref().and_then(|v| v.parse::<i64>().ok());
    if claimed(&claims.repository_id) != Some(id)
        || claimed(&claims.repository_owner_id) != Some(owner_id)
    {
        return Err(ApiError::Forbidden(format!(
            "OIDC token is for repository id {} (owner id {}), but {repo} is registered with id {id} (owner id {owner_id}): a deleted and re-created repository is a different repository",
            claims.repository_id.as_deref().unwrap_or("none"),
            claims.repository_owner_id.as_deref().unwrap_or("none"),
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::looks_like_jwt;

    #[test]
    fn jwts_are_told_from_upload_tokens() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJ9.c2ln"));
        assert!(!looks_like_jwt("sgu_0123456789abcdef_secret"));
        assert!(!looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJ9"));
        assert!(!looks_like_jwt("a.b.c"));
    }
}
