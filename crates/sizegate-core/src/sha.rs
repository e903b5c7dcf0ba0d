//! A full commit sha.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Whether `text` is exactly `len` ASCII hex digits (either case).
pub fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A full git commit id: 40 hex digits, kept lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha(String);

/// Text that is not a full commit sha.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{shown}` is not a full commit sha (40 hex digits)")]
pub struct InvalidSha {
    /// The start of the refused text, escaped.
    pub shown: String,
}

impl Sha {
    /// The number of hex digits of a (SHA-1) commit id.
    pub const LEN: usize = 40;

    /// Parse a full sha (surrounding white space is not accepted; upper-case
    /// digits are lower-cased).
    pub fn parse(text: &str) -> Result<Self, InvalidSha> {
        if is_hex(text, Self::LEN) {
            Ok(Self(text.to_ascii_lowercase()))
        } else {
            Err(InvalidSha {
                shown: crate::shown(text),
            })
        }
    }

    /// The sha as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first seven digits, as git abbreviates.
    pub fn short(&self) -> &str {
        &self.0[..7]
    }
}

impl fmt::Display for Sha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Sha {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Sha {
    type Err = InvalidSha;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl TryFrom<String> for Sha {
    type Error = InvalidSha;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<Sha> for String {
    fn from(sha: Sha) -> String {
        sha.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn only_forty_hex_digits_are_a_sha_and_they_are_lower_cased() {
        let upper = "EC26C3E57CA3A959CA5AAD62DE7213C562F8C821";
        assert_eq!(
            Sha::parse(upper).unwrap().as_str(),
            upper.to_ascii_lowercase()
        );
        assert_eq!(Sha::parse(upper).unwrap().short(), "ec26c3e");
        for bad in [
            "ec26c3e",
            "",
            &"z".repeat(40),
            &"a".repeat(41),
            &format!(" {}", &upper[1..]),
        ] {
            assert!(Sha::parse(bad).is_err(), "{bad:?}");
        }
        let err = Sha::parse("abc\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`abc\\n` is not a full commit sha (40 hex digits)"
        );
    }

    #[test]
    fn serde_checks_too() {
        let sha: Sha = serde_json::from_str(&format!("\"{}\"", "A".repeat(40))).unwrap();
        assert_eq!(
            serde_json::to_string(&sha).unwrap(),
            format!("\"{}\"", "a".repeat(40))
        );
        assert!(serde_json::from_str::<Sha>("\"abc\"").is_err());
    }

    #[test]
    fn hex_of_a_length() {
        assert!(is_hex("00ff", 4));
        assert!(!is_hex("00ff", 5));
        assert!(!is_hex("00fg", 4));
    }
}
