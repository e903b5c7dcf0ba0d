//! GitHub Actions OIDC id tokens as upload credentials: a workflow with
//! `permissions: id-token: write` asks GitHub for a token whose audience is
//! the sizegate server, and the server verifies it here instead of needing a
//! stored upload token.
//!
//! Checks, in order: the token's shape and size, `alg` is RS256 (nothing
//! else, so `none` and HMAC key-confusion tokens are refused), the key named
//! by `kid` is in the issuer's JWKS (fetched through the discovery document,
//! cached, refreshed on an unknown `kid` at most once per
//! [`OidcConfig::min_refresh_interval`]), the signature, `iss`, `aud`,
//! `exp`/`nbf`/`iat` with [`OidcConfig::leeway`], the `repository` claim,
//! and last that the `jti` was never seen (a [`ReplayCache`]; the in-memory
//! [`MemoryReplayCache`] is the default, a server with several replicas
//! backs it with Postgres by implementing the trait).
//!
//! The signature is checked with `ring` (already in the tree through rustls)
//! rather than `jsonwebtoken`, whose 11.x releases need a process-wide
//! crypto provider (the aws-lc-rs C build or the RustCrypto RSA/ECDSA/EdDSA
//! stack) and read the system clock for `exp`, which tests must control.

mod claims;
mod jwks;
mod jwt;
mod replay;

use std::sync::Arc;
use std::time::Duration;

pub use claims::GithubClaims;
pub use replay::{MemoryReplayCache, ReplayCache, ReplayCacheError};

use jwks::KeyCache;

use crate::{Clock, SystemClock};

/// The issuer of GitHub.com Actions tokens. GitHub Enterprise Server uses
/// `https://HOSTNAME/_services/token`.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Settings of an [`OidcVerifier`].
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// Token issuer (`iss`), and where the discovery document is:
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// Expected audience (`aud`): the server's public URL
    /// (`SIZEGATE_PUBLIC_URL`). Trailing slashes are ignored on both sides.
    pub audience: String,
    /// Timeout of each discovery and JWKS request.
    pub http_timeout: Duration,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// Least time between two JWKS fetches caused by unknown key ids.
    pub min_refresh_interval: Duration,
}

impl OidcConfig {
    /// Settings for GitHub.com with `audience`, 10 s HTTP timeout, 60 s
    /// leeway, and one JWKS refresh a minute at most.
    pub fn github(audience: impl Into<String>) -> OidcConfig {
        OidcConfig {
            issuer: GITHUB_ACTIONS_ISSUER.to_owned(),
            audience: audience.into(),
            http_timeout: Duration::from_secs(10),
            leeway: Duration::from_secs(60),
            min_refresh_interval: Duration::from_secs(60),
        }
    }
}

/// Why a token was refused. Each variant is one rule; the messages are
/// safe to send back to the uploader.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Not a JWT, or a JWT without the claims GitHub always sets.
    #[error("malformed OIDC token: {0}")]
    Malformed(String),
    /// The header's `alg` is not RS256.
    #[error("OIDC token algorithm `{0}` is not accepted (only RS256)")]
    WrongAlgorithm(String),
    /// No key with this `kid` in the issuer's JWKS, even after a refresh.
    #[error("OIDC token signed with unknown key `{0}`")]
    UnknownKey(String),
    /// The signature does not match the key.
    #[error("OIDC token signature is invalid")]
    BadSignature,
    /// `exp` is past (beyond the leeway).
    #[error("OIDC token expired at {exp} (now {now})")]
    Expired {
        /// The token's `exp`, Unix seconds.
        exp: u64,
        /// The verifier's clock, Unix seconds.
        now: u64,
    },
    /// `nbf` or `iat` is in the future (beyond the leeway).
    #[error("OIDC token is not valid yet (valid from {from}, now {now})")]
    NotYetValid {
        /// The token's `nbf` or `iat`, Unix seconds.
        from: u64,
        /// The verifier's clock, Unix seconds.
        now: u64,
    },
    /// `iss` is not the configured issuer.
    #[error("OIDC token issuer `{0}` is not the expected issuer")]
    WrongIssuer(String),
    /// `aud` does not hold this server's public URL.
    #[error("OIDC token audience {0:?} does not include this server ({1})")]
    WrongAudience(Vec<String>, String),
    /// The `repository` claim is not the repository of the upload.
    #[error("OIDC token is for repository `{token}`, not `{expected}`")]
    WrongRepository {
        /// The token's `repository`.
        token: String,
        /// The repository the upload is for.
        expected: String,
    },
    /// This `jti` was already used.
    #[error("OIDC token was already used (jti `{0}`)")]
    Replayed(String),
    /// The discovery document or JWKS could not be fetched or read.
    #[error("OIDC key discovery failed: {0}")]
    DiscoveryFailed(String),
    /// The replay cache could not answer.
    #[error("OIDC replay cache failed: {0}")]
    ReplayCache(#[from] ReplayCacheError),
}

/// Verifies GitHub Actions OIDC tokens; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct OidcVerifier {
    config: OidcConfig,
    keys: KeyCache,
    clock: Arc<dyn Clock>,
    replay: Arc<dyn ReplayCache>,
}

impl OidcVerifier {
    /// A verifier with the system clock and an in-memory replay cache. No
    /// request is made until the first token arrives.
    pub fn new(config: OidcConfig) -> Result<OidcVerifier, OidcError> {
        let keys = KeyCache::new(&config)?;
        Ok(OidcVerifier {
            config,
            keys,
            clock: Arc::new(SystemClock),
            replay: Arc::new(MemoryReplayCache::default()),
        })
    }

    /// Use `clock` instead of the system clock (the crate's [`Clock`], e.g.
    /// `FakeClock` in tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> OidcVerifier {
        self.clock = clock;
        self
    }

    /// Use `cache` to remember used token ids (e.g. one backed by Postgres,
    /// shared by every server replica).
    pub fn with_replay_cache(mut self, cache: Arc<dyn ReplayCache>) -> OidcVerifier {
        self.replay = cache;
        self
    }

    /// The settings in use.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Verify `token` for an upload to `expected_repository` (`OWNER/REPO`,
    /// compared without regard to ASCII case, as GitHub does). On success
    /// the token's `jti` is remembered, so the same token is refused next
    /// time.
    pub async fn verify(
        &self,
        token: &str,
        expected_repository: &str,
    ) -> Result<GithubClaims, OidcError> {
        self.check(token, Some(expected_repository)).await
    }

    /// Verify `token` without a repository to compare: the caller must
    /// check [`GithubClaims::repository`] itself (e.g. the server, which
    /// learns the upload's repository only from the body). The `jti` is
    /// remembered as with [`OidcVerifier::verify`].
    pub async fn verify_any_repository(&self, token: &str) -> Result<GithubClaims, OidcError> {
        self.check(token, None).await
    }

    async fn check(
        &self,
        token: &str,
        expected_repository: Option<&str>,
    ) -> Result<GithubClaims, OidcError> {
        let parsed = jwt::parse(token)?;
        let now = u64::try_from(self.clock.now().timestamp()).unwrap_or(0);
        let key = self.keys.key(&parsed.kid, now).await?;
        parsed.verify_signature(&key)?;
        let claims: GithubClaims = parsed.claims()?;
        claims.check_time(now, self.config.leeway.as_secs())?;
        claims.check_issuer(&self.config.issuer)?;
        claims.check_audience(&self.config.audience)?;
        if let Some(expected) = expected_repository {
            claims.check_repository(expected)?;
        }
        // Last, so a token refused for another reason does not use up its id.
        let remember_until = claims.exp.saturating_add(self.config.leeway.as_secs());
        if !self
            .replay
            .remember(&claims.jti, remember_until, now)
            .await?
        {
            return Err(OidcError::Replayed(claims.jti));
        }
        Ok(claims)
    }
}
