//! The claims of a GitHub Actions id token and the checks on them.

use serde::{Deserialize, Deserializer, Serialize};

use super::OidcError;

/// The claims sizegate reads from a GitHub Actions OIDC token. GitHub sets
/// every one; the optional ones are kept for logs and audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubClaims {
    /// Issuer.
    pub iss: String,
    /// Audiences (a JSON string or an array of strings).
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Not before, Unix seconds.
    #[serde(default)]
    pub nbf: Option<u64>,
    /// Unique token id (replay protection).
    pub jti: String,
    /// Subject, e.g. `repo:acme/app:ref:refs/heads/main`.
    #[serde(default)]
    pub sub: Option<String>,
    /// `OWNER/REPO` the workflow runs in.
    pub repository: String,
    /// Numeric repository id, as a string.
    #[serde(default)]
    pub repository_id: Option<String>,
    /// Repository owner.
    #[serde(default)]
    pub repository_owner: Option<String>,
    /// Numeric id of the repository owner, as a string.
    #[serde(default)]
    pub repository_owner_id: Option<String>,
    /// Head branch of a pull request run (`pull_request*` events only).
    #[serde(default)]
    pub head_ref: Option<String>,
    /// Git ref of the run, e.g. `refs/pull/7/merge`.
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    /// Commit of the run.
    #[serde(default)]
    pub sha: Option<String>,
    /// Event that started the run.
    #[serde(default)]
    pub event_name: Option<String>,
    /// Who started the run.
    #[serde(default)]
    pub actor: Option<String>,
    /// Workflow name.
    #[serde(default)]
    pub workflow: Option<String>,
    /// Workflow file and ref, e.g. `acme/app/.github/workflows/ci.yml@refs/heads/main`.
    #[serde(default)]
    pub job_workflow_ref: Option<String>,
    /// Run id.
    #[serde(default)]
    pub run_id: Option<String>,
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

fn without_trailing_slash(url: &str) -> &str {
    url.trim_end_matches('/')
}

impl GithubClaims {
    /// `exp`, `nbf` and `iat` against `now`, each with `leeway` seconds.
    pub(super) fn check_time(&self, now: u64, leeway: u64) -> Result<(), OidcError> {
        if now > self.exp.saturating_add(leeway) {
            return Err(OidcError::Expired { exp: self.exp, now });
        }
        for from in [self.nbf, Some(self.iat)].into_iter().flatten() {
            if from > now.saturating_add(leeway) {
                return Err(OidcError::NotYetValid { from, now });
            }
        }
        Ok(())
    }

    /// `iss` is exactly `issuer`.
    pub(super) fn check_issuer(&self, issuer: &str) -> Result<(), OidcError> {
        if self.iss == issuer {
            Ok(())
        } else {
            Err(OidcError::WrongIssuer(self.iss.clone()))
        }
    }

    /// `aud` includes `audience`.
    pub(super) fn check_audience(&self, audience: &str) -> Result<(), OidcError> {
        let wanted = without_trailing_slash(audience);
        if self.aud.iter().any(|a| without_trailing_slash(a) == wanted) {
            Ok(())
        } else {
            Err(OidcError::WrongAudience(
                self.aud.clone(),
                audience.to_owned(),
            ))
        }
    }

    /// `repository` is `expected`, ignoring ASCII case.
    pub(super) fn check_repository(&self, expected: &str) -> Result<(), OidcError> {
        if self.repository.eq_ignore_ascii_case(expected) {
            Ok(())
        } else {
            Err(OidcError::WrongRepository {
                token: self.repository.clone(),
                expected: expected.to_owned(),
            })
        }
    }
}
