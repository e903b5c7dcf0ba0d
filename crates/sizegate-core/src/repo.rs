//! A GitHub repository name, `owner/name`.

use std::fmt;

use serde::Serialize;

/// A repository, `owner/name`, with the characters GitHub allows: both parts
/// 1 to 100 of `[A-Za-z0-9._-]`, neither `.` nor `..`. Checked so that it can
/// be put in an API path or a URL as it is.
///
/// Build one with [`RepoName::parse`] or [`RepoName::new`]; the fields are
/// public for reading.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RepoName {
    /// Owner (user or organization).
    pub owner: String,
    /// Repository name.
    pub name: String,
}

/// Text that is not a repository name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("repository `{shown}` is not of the form OWNER/REPO (letters, digits, `.`, `_`, `-`)")]
pub struct InvalidRepoName {
    /// The refused text, escaped.
    pub shown: String,
}

impl RepoName {
    /// Parse `owner/name`.
    pub fn parse(full: &str) -> Result<Self, InvalidRepoName> {
        match full.split_once('/') {
            Some((owner, name)) => Self::new(owner, name).map_err(|_| InvalidRepoName {
                shown: crate::shown(full),
            }),
            None => Err(InvalidRepoName {
                shown: crate::shown(full),
            }),
        }
    }

    /// A repository from its owner and name, each checked.
    pub fn new(owner: &str, name: &str) -> Result<Self, InvalidRepoName> {
        if Self::valid_part(owner) && Self::valid_part(name) {
            Ok(Self {
                owner: owner.to_owned(),
                name: name.to_owned(),
            })
        } else {
            Err(InvalidRepoName {
                shown: crate::shown(&format!("{owner}/{name}")),
            })
        }
    }

    /// Whether `part` is a valid owner or repository name.
    pub fn valid_part(part: &str) -> bool {
        (1..=100).contains(&part.len())
            && part != "."
            && part != ".."
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    }

    /// The owner (user or organization).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The repository's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `owner/name` lower-cased: GitHub compares names without case.
    pub fn key(&self) -> String {
        format!("{}/{}", self.owner, self.name).to_ascii_lowercase()
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl std::str::FromStr for RepoName {
    type Err = InvalidRepoName;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_a_path_are_refused() {
        let r = RepoName::parse("rust-lang/rust.vim").unwrap();
        assert_eq!((r.owner(), r.name()), ("rust-lang", "rust.vim"));
        assert_eq!(r.to_string(), "rust-lang/rust.vim");
        assert_eq!(RepoName::new("Octo", "App").unwrap().key(), "octo/app");
        for bad in [
            "norepo", "a/b/c", "/b", "a/", "a/..", "../x", "a b/c", "a/b\n", "a/b?c", "a/b#",
        ] {
            assert!(RepoName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RepoName::new(&"a".repeat(101), "b").is_err());
        assert_eq!(
            RepoName::parse("x").unwrap_err().to_string(),
            "repository `x` is not of the form OWNER/REPO (letters, digits, `.`, `_`, `-`)"
        );
    }
}
