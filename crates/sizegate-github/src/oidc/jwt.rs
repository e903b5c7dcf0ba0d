//! The compact JWT form: three base64url parts, the header's `alg` and
//! `kid`, and the RS256 signature over `header.payload`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::OidcError;
use super::jwks::RsaKey;

/// Longest token accepted; GitHub's are about 1.5 KiB.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

/// A token split and decoded, signature not yet checked. It is a bearer
/// credential: its `Debug` output shows the key id only.
pub(super) struct ParsedToken<'a> {
    /// Key id from the header.
    pub kid: String,
    signed: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl std::fmt::Debug for ParsedToken<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedToken")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn decode(part: &str, what: &str) -> Result<Vec<u8>, OidcError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| OidcError::Malformed(format!("{what} is not base64url: {e}")))
}

/// Split `token` and read its header; refuse anything but RS256 here,
/// before any key lookup.
pub(super) fn parse(token: &str) -> Result<ParsedToken<'_>, OidcError> {
    let token = token.trim();
    if token.len() > MAX_TOKEN_BYTES {
        return Err(OidcError::Malformed(format!(
            "token is {} bytes, more than {MAX_TOKEN_BYTES}",
            token.len()
        )));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(OidcError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    };
    let header_bytes = decode(header, "header")?;
    let header: Header = serde_json::from_slice(&header_bytes)
        .map_err(|e| OidcError::Malformed(format!("header: {e}")))?;
    if header.alg != "RS256" {
        return Err(OidcError::WrongAlgorithm(header.alg));
    }
    let kid = header
        .kid
        .filter(|k| !k.is_empty())
        .ok_or_else(|| OidcError::Malformed("header has no `kid`".into()))?;
    let signed_len = token.len() - signature.len() - 1;
    Ok(ParsedToken {
        kid,
        signed: &token[..signed_len],
        payload: decode(payload, "payload")?,
        signature: decode(signature, "signature")?,
    })
}

impl ParsedToken<'_> {
    /// Check the RS256 signature with `key`.
    pub(super) fn verify_signature(&self, key: &RsaKey) -> Result<(), OidcError> {
        let components = ring::signature::RsaPublicKeyComponents {
            n: key.n.as_slice(),
            e: key.e.as_slice(),
        };
        components
            .verify(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                self.signed.as_bytes(),
                &self.signature,
            )
            .map_err(|_| OidcError::BadSignature)
    }

    /// The payload as `T` (call after the signature check).
    pub(super) fn claims<T: DeserializeOwned>(&self) -> Result<T, OidcError> {
        serde_json::from_slice(&self.payload)
            .map_err(|e| OidcError::Malformed(format!("claims: {e}")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn debug_output_shows_the_key_id_only() {
        let part = |json: &str| URL_SAFE_NO_PAD.encode(json);
        let token = format!(
            "{}.{}.{}",
            part(r#"{"alg":"RS256","kid":"k1"}"#),
            part(r#"{"repository":"acme/app"}"#),
            URL_SAFE_NO_PAD.encode(b"signature-bytes")
        );
        let parsed = parse(&token).unwrap();
        let shown = format!("{parsed:?}");
        assert!(shown.contains("k1"), "{shown}");
        for secret_part in token.split('.') {
            assert!(!shown.contains(secret_part), "{shown}");
        }
        assert!(!shown.contains("115"), "signature bytes shown: {shown}");
    }
}
