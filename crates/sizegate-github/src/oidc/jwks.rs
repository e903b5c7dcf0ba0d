//! The issuer's signing keys: the discovery document gives `jwks_uri`, the
//! JWKS gives the RSA keys by `kid`. Keys are cached; an unknown `kid`
//! triggers a refresh (GitHub rotates keys), at most once per
//! `min_refresh_interval`, so a flood of tokens with made-up key ids costs
//! the issuer one request a minute. Concurrent lookups wait for the one
//! refresh in flight instead of starting their own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::{OidcConfig, OidcError};

/// Largest discovery document or JWKS read.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// Most keys kept from one JWKS.
const MAX_KEYS: usize = 100;

/// An RSA public key from the JWKS.
#[derive(Debug)]
pub(super) struct RsaKey {
    /// Modulus, big-endian.
    pub n: Vec<u8>,
    /// Public exponent, big-endian.
    pub e: Vec<u8>,
}

#[derive(Debug, Default)]
struct Cached {
    keys: HashMap<String, Arc<RsaKey>>,
    /// When the last fetch started (verifier clock, Unix seconds).
    last_fetch: Option<u64>,
    /// Why the last fetch failed, if it did.
    last_error: Option<String>,
}

/// The keys of one issuer, fetched on demand.
#[derive(Debug)]
pub(super) struct KeyCache {
    issuer: String,
    min_refresh: u64,
    client: reqwest::Client,
    cached: tokio::sync::Mutex<Cached>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    usage: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

fn shown(kid: &str) -> String {
    kid.chars()
        .take(100)
        .flat_map(char::escape_default)
        .collect()
}

impl KeyCache {
    pub(super) fn new(config: &OidcConfig) -> Result<KeyCache, OidcError> {
        // reqwest is built without a bundled TLS crypto provider; use ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(config.http_timeout)
            .connect_timeout(config.http_timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| OidcError::DiscoveryFailed(format!("building the HTTP client: {e}")))?;
        Ok(KeyCache {
            issuer: config.issuer.trim_end_matches('/').to_owned(),
            min_refresh: config.min_refresh_interval.as_secs(),
            client,
            cached: tokio::sync::Mutex::default(),
        })
    }

    /// The key `kid`, refreshing the JWKS if it is unknown and the last
    /// fetch is old enough.
    pub(super) async fn key(&self, kid: &str, now: u64) -> Result<Arc<RsaKey>, OidcError> {
        let mut cached = self.cached.lock().await;
        if let Some(key) = cached.keys.get(kid) {
            return Ok(Arc::clone(key));
        }
        let may_fetch = cached
            .last_fetch
            .is_none_or(|at| now.saturating_sub(at) >= self.min_refresh || now < at);
        if !may_fetch {
            return Err(match &cached.last_error {
                Some(e) => OidcError::DiscoveryFailed(format!("{e} (retried within a minute)")),
                None => OidcError::UnknownKey(shown(kid)),
            });
        }
        cached.last_fetch = Some(now);
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(issuer = %self.issuer, keys = keys.len(), "fetched OIDC signing keys");
                cached.keys = keys;
                cached.last_error = None;
            }
            Err(e) => {
                tracing::warn!(issuer = %self.issuer, error = %e, "OIDC key discovery failed");
                cached.last_error = Some(e.clone());
                return Err(OidcError::DiscoveryFailed(e));
            }
        }
        cached
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| OidcError::UnknownKey(shown(kid)))
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<RsaKey>>, String> {
        let discovery_url = format!("{}/.well-known/openid-configuration", self.issuer);
        let discovery: Discovery = self.get_json(&discovery_url).await?;
        if discovery.issuer.trim_end_matches('/') != self.issuer {
            return Err(format!(
                "{discovery_url} names issuer `{}`, expected `{}`",
                discovery.issuer, self.issuer
            ));
        }
        let jwks_url = reqwest::Url::parse(&discovery.jwks_uri)
            .map_err(|e| format!("jwks_uri `{}`: {e}", discovery.jwks_uri))?;
        // Keys come over TLS, unless the issuer itself is plain HTTP (tests).
        let issuer_is_https = self.issuer.starts_with("https://");
        if jwks_url.scheme() != "https" && (issuer_is_https || jwks_url.scheme() != "http") {
            return Err(format!("jwks_uri `{jwks_url}` is not an https URL"));
        }
        let jwks: Jwks = self.get_json(jwks_url.as_str()).await?;
        let mut keys = HashMap::new();
        for jwk in jwks.keys {
            let usable = jwk.kty == "RSA"
                && jwk.usage.as_deref().is_none_or(|u| u == "sig")
                && jwk.alg.as_deref().is_none_or(|a| a == "RS256");
            let (true, Some(kid), Some(n), Some(e)) = (usable, jwk.kid, jwk.n, jwk.e) else {
                continue;
            };
            let decode = |v: &str| URL_SAFE_NO_PAD.decode(v.trim_end_matches('='));
            let (Ok(n), Ok(e)) = (decode(&n), decode(&e)) else {
                return Err(format!(
                    "key `{}` in {jwks_url}: n or e is not base64url",
                    shown(&kid)
                ));
            };
            if keys.len() == MAX_KEYS {
                return Err(format!("{jwks_url} holds more than {MAX_KEYS} keys"));
            }
            keys.insert(kid, Arc::new(RsaKey { n, e }));
        }
        if keys.is_empty() {
            return Err(format!("{jwks_url} holds no RS256 signing key"));
        }
        Ok(keys)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let mut response = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {url}: HTTP {status}"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!(
                    "GET {url}: answer larger than {MAX_DOCUMENT_BYTES} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: {e}"))
    }
}
