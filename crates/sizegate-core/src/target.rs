//! A target name, e.g. `x86_64-unknown-linux-gnu/app`.

use std::fmt;

use serde::Serialize;

/// The longest target name accepted, in characters.
pub const MAX_TARGET_NAME_CHARS: usize = 200;

/// The name of an uploaded target (one artifact of a commit), checked by
/// [`target_name_problem`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct TargetName(String);

/// A refused target name and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("target name `{shown}` {problem}")]
pub struct InvalidTargetName {
    /// The start of the refused name, escaped.
    pub shown: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl TargetName {
    /// Check a target name.
    pub fn parse(name: &str) -> Result<Self, InvalidTargetName> {
        match target_name_problem(name) {
            None => Ok(Self(name.to_owned())),
            Some(problem) => Err(InvalidTargetName {
                shown: crate::shown(name),
                problem,
            }),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TargetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TargetName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<TargetName> for String {
    fn from(name: TargetName) -> String {
        name.0
    }
}

/// Why a target name (e.g. `x86_64-unknown-linux-gnu/app`) is refused, if it
/// is: the rule of the upload contract, applied by the server and checked
/// early by `sizegate upload`. Printable, at most 200 characters, no `..`,
/// relative with `/` separators, no empty or `.` segment, and none of that
/// hidden behind percent-encoding (`%2e%2e`). A target name is a label,
/// never a file path (blobs are stored by sha256), but it is shown in URLs
/// and may meet tools that decode them.
pub fn target_name_problem(name: &str) -> Option<&'static str> {
    if let Some(problem) = plain_target_name_problem(name) {
        return Some(problem);
    }
    // Decode repeatedly, so that `%252e%252e` is caught too.
    let mut current = name.to_owned();
    for _ in 0..4 {
        let decoded = percent_encoding::percent_decode_str(&current)
            .decode_utf8_lossy()
            .into_owned();
        if decoded == current {
            return None;
        }
        if plain_target_name_problem(&decoded).is_some() {
            return Some(
                "hides `..`, `\\`, control characters or an empty segment in percent-encoding",
            );
        }
        current = decoded;
    }
    Some("is percent-encoded too many times")
}

fn plain_target_name_problem(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("is empty")
    } else if name.chars().count() > MAX_TARGET_NAME_CHARS {
        Some("is longer than 200 characters")
    } else if name.chars().any(char::is_control) {
        Some("contains control characters")
    } else if name.contains("..") {
        Some("contains `..`")
    } else if name.starts_with('/') || name.contains('\\') {
        Some("must be a relative name with `/` separators")
    } else if name
        .split('/')
        .any(|segment| segment.is_empty() || segment == ".")
    {
        Some("has an empty or `.` segment between its `/` separators")
    } else {
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn target_names_cannot_name_a_way_out() {
        for good in [
            "x86_64-unknown-linux-gnu/app",
            "wasm32/app.wasm",
            "app (release)",
            "100% app",
            "a%2Fb",
            ".hidden/app",
        ] {
            assert_eq!(target_name_problem(good), None, "{good:?}");
        }
        for bad in [
            "..",
            "../etc/passwd",
            "a/../../b",
            "/etc/passwd",
            "a\\b",
            "..\\..\\windows",
            "C:\\app",
            "a\0b",
            "a\nb",
            "./a",
            "a/./b",
            "a//b",
            "a/",
            "%2e%2e/etc/passwd",
            "%2E%2E%2Fetc",
            "a/%2e%2e/b",
            "%252e%252e/etc",
            "%2Fetc/passwd",
            "a%5Cb",
            "a%00b",
            "a%2F%2Fb",
        ] {
            assert!(target_name_problem(bad).is_some(), "{bad:?} accepted");
        }
        assert_eq!(target_name_problem("a/../b"), Some("contains `..`"));
    }

    #[test]
    fn parsed_names_say_what_is_wrong() {
        assert_eq!(
            TargetName::parse("linux/app").unwrap().as_str(),
            "linux/app"
        );
        assert_eq!(
            TargetName::parse("a/../b").unwrap_err().to_string(),
            "target name `a/../b` contains `..`"
        );
    }
}
