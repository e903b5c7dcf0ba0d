//! The GitHub App private key and the short-lived JWT (RS256) it signs, which
//! authenticates us as the App on the `/app/...` endpoints.
//!
//! The JWT is three base64url parts; signing is the only cryptography, done
//! with `ring` (already in the tree through rustls), so no JWT crate is needed.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;
use serde::Serialize;

use crate::error::Error;

/// How far `iat` is backdated, to tolerate clock drift between us and GitHub.
pub const JWT_BACKDATE_SECS: i64 = 60;
/// Lifetime of the JWT counted from `iat`; GitHub allows at most 10 minutes.
pub const JWT_LIFETIME_SECS: i64 = 600;

/// A GitHub App's RSA private key, parsed once at start.
pub struct AppKey {
    key_pair: RsaKeyPair,
}

impl fmt::Debug for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppKey").finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iat: i64,
    exp: i64,
    iss: &'a str,
}

impl AppKey {
    /// Parse a PEM private key as GitHub hands it out (`BEGIN RSA PRIVATE
    /// KEY`, PKCS#1) or converted to PKCS#8 (`BEGIN PRIVATE KEY`).
    pub fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| Error::InvalidPrivateKey(format!("no private key found in PEM: {e}")))?;
        let key_pair = match &der {
            PrivateKeyDer::Pkcs1(pkcs1) => RsaKeyPair::from_der(pkcs1.secret_pkcs1_der()),
            PrivateKeyDer::Pkcs8(pkcs8) => RsaKeyPair::from_pkcs8(pkcs8.secret_pkcs8_der()),
            PrivateKeyDer::Sec1(_) => {
                return Err(Error::InvalidPrivateKey(
                    "it is an EC key; GitHub Apps use RSA keys".to_owned(),
                ));
            }
            _ => {
                return Err(Error::InvalidPrivateKey(
                    "unsupported private key format".to_owned(),
                ));
            }
        }
        .map_err(|e| Error::InvalidPrivateKey(e.to_string()))?;
        Ok(Self { key_pair })
    }

    /// A JWT for App `app_id`: `iat` is `now` minus 60 s, `exp` is `iat`
    /// plus 10 minutes (so 9 minutes after `now`).
    pub fn jwt(&self, app_id: u64, now: DateTime<Utc>) -> Result<String, Error> {
        let iat = now.timestamp() - JWT_BACKDATE_SECS;
        let app_id = app_id.to_string();
        let claims = Claims {
            iat,
            exp: iat + JWT_LIFETIME_SECS,
            iss: &app_id,
        };
        let claims = serde_json::to_vec(&claims)
            .map_err(|e| Error::InvalidRequest(format!("JWT claims: {e}")))?;
        let mut token = String::with_capacity(600);
        token.push_str(&URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#));
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(claims));
        let mut signature = vec![0; self.key_pair.public().modulus_len()];
        self.key_pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                token.as_bytes(),
                &mut signature,
            )
            .map_err(|_| Error::InvalidPrivateKey("signing the App JWT failed".to_owned()))?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }
}
