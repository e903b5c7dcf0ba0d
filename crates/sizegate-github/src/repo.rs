//! A repository name (`owner/name`) checked so that it can be put in an API
//! path as it is, and a commit sha checked likewise.

use std::fmt;

use crate::error::Error;

/// A GitHub repository, `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repo {
    owner: String,
    name: String,
}

impl Repo {
    /// A repository from its owner and name; both may hold only ASCII
    /// letters, digits, `-`, `_` and `.` (what GitHub allows).
    pub fn new(owner: &str, name: &str) -> Result<Self, Error> {
        for part in [owner, name] {
            let valid = !part.is_empty()
                && part.len() <= 100
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !valid {
                return Err(Error::InvalidRequest(format!(
                    "{owner}/{name} is not a GitHub repository name"
                )));
            }
        }
        Ok(Self {
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Parse `owner/name`.
    pub fn parse(full_name: &str) -> Result<Self, Error> {
        match full_name.split_once('/') {
            Some((owner, name)) => Self::new(owner, name),
            None => Err(Error::InvalidRequest(format!(
                "{full_name:?} is not of the form OWNER/REPO"
            ))),
        }
    }

    /// The owner (user or organisation).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The repository's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cache key: GitHub names are case-insensitive.
    pub(crate) fn key(&self) -> String {
        format!("{}/{}", self.owner, self.name).to_ascii_lowercase()
    }
}

impl fmt::Display for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// Check that `sha` is a full hexadecimal commit id (40 or 64 digits).
pub(crate) fn check_sha(sha: &str) -> Result<(), Error> {
    if matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::InvalidRequest(format!(
            "{sha:?} is not a full commit sha"
        )))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_the_api_path_are_rejected() {
        assert!(Repo::parse("octo-org/hello.world_2").is_ok());
        for bad in [
            "octo", "a/b/c", "../x", "a/..", "a/b?c", "a/b#", "/b", "a/", "a/b c",
        ] {
            assert!(Repo::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn shas_must_be_full_hex() {
        assert!(check_sha("ec26c3e57ca3a959ca5aad62de7213c562f8c821").is_ok());
        assert!(check_sha("ec26c3e").is_err());
        assert!(check_sha("zc26c3e57ca3a959ca5aad62de7213c562f8c821").is_err());
    }
}
