//! Byte sizes as users write them in `sizegate.toml`: `"8 MiB"`, `"64 KiB"`,
//! `"1.5 MB"`, `"1500000"` or a bare integer. Decimal (`KB`, `MB`, ...) and
//! binary (`KiB`, `MiB`, ...) units; negative, fractional and overflowing
//! sizes are rejected with a message that shows the accepted syntax.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};

/// The examples every size error ends with.
const EXAMPLES: &str = "examples: \"8 MiB\", \"64 KiB\", 1500000";

/// Longest digit run accepted; keeps the arithmetic in `u128` exact.
const MAX_DIGITS: usize = 30;

/// A number of bytes read from a size such as `"8 MiB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The number of bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&sizegate_analyze::human::size(self.0))
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

/// Why a string is not a size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Not of the form `NUMBER [UNIT]`.
    #[error("`{0}` is not a size ({EXAMPLES})")]
    Syntax(String),
    /// A minus sign.
    #[error("`{0}` is negative; sizes are zero or more bytes ({EXAMPLES})")]
    Negative(String),
    /// Does not come to a whole number of bytes.
    #[error("`{0}` is not a whole number of bytes ({EXAMPLES})")]
    Fractional(String),
    /// More than `u64::MAX` bytes.
    #[error("`{0}` is too large (the limit is 16 EiB)")]
    Overflow(String),
}

/// Parse a size written as `NUMBER [UNIT]`, e.g. `8 MiB`, `1.5MB`, `1500000`,
/// `512 B`. Units are case-insensitive: `B`, `KB`/`MB`/`GB`/`TB` (powers of
/// 1000) and `KiB`/`MiB`/`GiB`/`TiB` (powers of 1024).
pub fn parse_size(text: &str) -> Result<ByteSize, SizeError> {
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(SizeError::Negative(text.to_string()));
    }
    let number_end = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(number_end);
    let multiplier =
        unit_multiplier(unit.trim_start()).ok_or_else(|| SizeError::Syntax(text.to_string()))?;
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (number, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return Err(SizeError::Syntax(text.to_string()));
    }
    if number.ends_with('.') {
        return Err(SizeError::Syntax(text.to_string()));
    }
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    if whole.len() + fraction.len() > MAX_DIGITS {
        return Err(SizeError::Overflow(text.to_string()));
    }
    // mantissa / 10^scale * multiplier, computed exactly.
    let mantissa: u128 = format!("0{whole}{fraction}")
        .parse()
        .map_err(|_| SizeError::Syntax(text.to_string()))?;
    let scale = 10u128.pow(fraction.len() as u32);
    let scaled = mantissa
        .checked_mul(u128::from(multiplier))
        .ok_or_else(|| SizeError::Overflow(text.to_string()))?;
    if scaled % scale != 0 {
        return Err(SizeError::Fractional(text.to_string()));
    }
    u64::try_from(scaled / scale)
        .map(ByteSize)
        .map_err(|_| SizeError::Overflow(text.to_string()))
}

fn unit_multiplier(unit: &str) -> Option<u64> {
    let multiplier = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return None,
    };
    Some(multiplier)
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ByteSizeVisitor)
    }
}

pub(crate) struct ByteSizeVisitor;

impl Visitor<'_> for ByteSizeVisitor {
    type Value = ByteSize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a size ({EXAMPLES})")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
        Ok(ByteSize(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
        u64::try_from(v)
            .map(ByteSize)
            .map_err(|_| E::custom(SizeError::Negative(v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<ByteSize, E> {
        if v < 0.0 {
            return Err(E::custom(SizeError::Negative(v.to_string())));
        }
        Err(E::custom(format_args!(
            "`{v}` is not a whole number of bytes; write a unit in a string, such as \"1.5 MiB\" ({EXAMPLES})"
        )))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
        parse_size(v).map_err(E::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn ok(text: &str) -> u64 {
        parse_size(text).unwrap().bytes()
    }

    #[test]
    fn accepts_binary_and_decimal_units() {
        assert_eq!(ok("8 MiB"), 8 * 1024 * 1024);
        assert_eq!(ok("64 KiB"), 65_536);
        assert_eq!(ok("64KiB"), 65_536);
        assert_eq!(ok("1500000"), 1_500_000);
        assert_eq!(ok("1.5 MB"), 1_500_000);
        assert_eq!(ok("1.5 MiB"), 1_572_864);
        assert_eq!(ok("2 kb"), 2_000);
        assert_eq!(ok("512 B"), 512);
        assert_eq!(ok(" 3 GiB "), 3 << 30);
        assert_eq!(ok("1 TB"), 1_000_000_000_000);
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("000123"), 123);
        assert_eq!(ok("18446744073709551615"), u64::MAX);
    }

    #[test]
    fn rejects_what_is_not_a_size() {
        for text in [
            "8 MB/s", "", "MiB", "8 M", "1.", ".5 KiB", "1e6", "8 MiB x", "1..2",
        ] {
            assert!(
                matches!(parse_size(text), Err(SizeError::Syntax(_))),
                "{text:?} should be a syntax error"
            );
        }
        assert_eq!(
            parse_size("8 MB/s").unwrap_err().to_string(),
            "`8 MB/s` is not a size (examples: \"8 MiB\", \"64 KiB\", 1500000)"
        );
    }

    #[test]
    fn rejects_negative_fractional_and_overflowing_sizes() {
        assert!(matches!(parse_size("-5 KiB"), Err(SizeError::Negative(_))));
        assert!(matches!(parse_size("0.5"), Err(SizeError::Fractional(_))));
        assert!(matches!(
            parse_size("1.0001 KiB"),
            Err(SizeError::Fractional(_))
        ));
        assert!(matches!(
            parse_size("18446744073709551616"),
            Err(SizeError::Overflow(_))
        ));
        assert!(matches!(
            parse_size("17000000 TiB"),
            Err(SizeError::Overflow(_))
        ));
        assert!(matches!(
            parse_size(&"9".repeat(400)),
            Err(SizeError::Overflow(_))
        ));
    }
}
