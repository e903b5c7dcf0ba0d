//! `X-Hub-Signature-256`: `sha256=` and the hex HMAC-SHA256 of the raw body
//! under the webhook secret, compared in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header.
    #[error(
        "the X-Hub-Signature-256 header is missing; is a webhook secret set on the GitHub App?"
    )]
    Missing,
    /// The header does not start with `sha256=`.
    #[error("the X-Hub-Signature-256 header does not start with \"sha256=\"")]
    WrongPrefix,
    /// What follows `sha256=` is not 64 hex digits.
    #[error("the X-Hub-Signature-256 header does not hold a hex SHA-256 HMAC")]
    Malformed,
    /// The HMAC does not match: another secret, or a forged delivery.
    #[error(
        "the webhook signature does not match; check that SIZEGATE_GITHUB_WEBHOOK_SECRET is the \
         App's webhook secret"
    )]
    Mismatch,
}

/// A signature check fed while the body streams in: the header is parsed
/// first ([`SignatureCheck::start`]), so that a delivery without a
/// well-formed signature is refused before any of its body is read; the
/// HMAC is then computed chunk by chunk, without holding the body for it.
pub struct SignatureCheck {
    mac: Hmac<Sha256>,
    expected: Vec<u8>,
}

impl std::fmt::Debug for SignatureCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignatureCheck { .. }")
    }
}

impl SignatureCheck {
    /// Parse `header_value` (the `X-Hub-Signature-256` header, `None` if
    /// absent) and start the HMAC-SHA256 under `secret`.
    pub fn start(secret: &[u8], header_value: Option<&str>) -> Result<Self, SignatureError> {
        let header_value = header_value.ok_or(SignatureError::Missing)?;
        let hex_digest = header_value
            .trim()
            .strip_prefix("sha256=")
            .ok_or(SignatureError::WrongPrefix)?;
        if hex_digest.len() != 64 {
            return Err(SignatureError::Malformed);
        }
        let expected = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
        // HMAC accepts keys of any length, so this cannot fail; map it anyway.
        let mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
        Ok(SignatureCheck { mac, expected })
    }

    /// Feed the next bytes of the body.
    pub fn update(&mut self, chunk: &[u8]) {
        self.mac.update(chunk);
    }

    /// Compare, in constant time, the HMAC of everything fed with the header's.
    pub fn finish(self) -> Result<(), SignatureError> {
        self.mac
            .verify_slice(&self.expected)
            .map_err(|_| SignatureError::Mismatch)
    }
}

/// Check `header_value` (the `X-Hub-Signature-256` header, `None` if absent)
/// against the HMAC-SHA256 of `body` under `secret`.
pub fn verify_signature(
    secret: &[u8],
    body: &[u8],
    header_value: Option<&str>,
) -> Result<(), SignatureError> {
    let mut check = SignatureCheck::start(secret, header_value)?;
    check.update(body);
    check.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn githubs_published_test_vector_passes() {
        assert_eq!(verify_signature(SECRET, BODY, Some(SIGNATURE)), Ok(()));
    }

    #[test]
    fn a_streamed_body_checks_like_a_whole_one() {
        let mut check = SignatureCheck::start(SECRET, Some(SIGNATURE)).unwrap();
        for chunk in BODY.chunks(3) {
            check.update(chunk);
        }
        assert_eq!(check.finish(), Ok(()));
        let mut short = SignatureCheck::start(SECRET, Some(SIGNATURE)).unwrap();
        short.update(&BODY[..5]);
        assert_eq!(short.finish(), Err(SignatureError::Mismatch));
        // The header is judged before any byte of the body.
        assert_eq!(
            SignatureCheck::start(SECRET, Some("sha256=zz")).map(|_| ()),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            SignatureCheck::start(SECRET, None).map(|_| ()),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn wrong_signature_secret_or_body_is_a_mismatch() {
        let flipped = SIGNATURE.replace("e17", "e18");
        assert_eq!(
            verify_signature(SECRET, BODY, Some(&flipped)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"another secret", BODY, Some(SIGNATURE)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(SECRET, b"Hello, World?", Some(SIGNATURE)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_header_is_refused() {
        assert_eq!(
            verify_signature(SECRET, BODY, None),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn wrong_prefix_is_refused() {
        let sha1 = SIGNATURE.replace("sha256=", "sha1=");
        let bare = SIGNATURE.trim_start_matches("sha256=");
        for value in [sha1.as_str(), bare, ""] {
            assert_eq!(
                verify_signature(SECRET, BODY, Some(value)),
                Err(SignatureError::WrongPrefix)
            );
        }
    }

    #[test]
    fn malformed_digest_is_refused() {
        for value in ["sha256=", "sha256=zz", "sha256=757107ea"] {
            assert_eq!(
                verify_signature(SECRET, BODY, Some(value)),
                Err(SignatureError::Malformed)
            );
        }
    }
}
