//! A repository name (`owner/name`) and a commit sha, both checked so that
//! they can be put in an API path as they are. The rules live in
//! `sizegate-core`; this module adapts their errors.

use crate::error::Error;

/// A GitHub repository, `owner/name` (the one repository-name type of
/// sizegate, [`sizegate_core::RepoName`]).
pub use sizegate_core::RepoName as Repo;

impl From<sizegate_core::InvalidRepoName> for Error {
    fn from(e: sizegate_core::InvalidRepoName) -> Self {
        Error::InvalidRequest(e.to_string())
    }
}

/// Check that `sha` is a full hexadecimal commit id (40 digits, or 64 for
/// a SHA-256 repository).
pub(crate) fn check_sha(sha: &str) -> Result<(), Error> {
    if sizegate_core::is_hex(sha, 40) || sizegate_core::is_hex(sha, 64) {
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
        assert!(check_sha(&"a".repeat(64)).is_ok());
        assert!(check_sha("ec26c3e").is_err());
        assert!(check_sha("zc26c3e57ca3a959ca5aad62de7213c562f8c821").is_err());
    }
}
