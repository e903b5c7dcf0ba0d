//! `sizegate-core`: the small rules every sizegate crate shares, each in one
//! place — what a commit sha, a repository name and a target name may be
//! ([`Sha`], [`RepoName`], [`TargetName`], parsed once where they enter),
//! what a GitHub login is ([`is_github_login`]),
//! and how text is put into a URL path or HTML ([`url_path`],
//! [`escape_html`]). No I/O and no heavy dependencies.

mod escape;
mod login;
mod repo;
mod sha;
mod target;

pub use escape::{escape_html, html_entity, url_path};
pub use login::{BOT_SUFFIX, MAX_LOGIN_CHARS, is_github_login};
pub use repo::{InvalidRepoName, RepoName};
pub use sha::{InvalidSha, Sha, is_hex};
pub use target::{InvalidTargetName, MAX_TARGET_NAME_CHARS, TargetName, target_name_problem};

/// Up to 60 characters of untrusted `text`, escaped, for an error message.
pub fn shown(text: &str) -> String {
    text.chars()
        .take(60)
        .flat_map(char::escape_default)
        .collect()
}
