//! What will be uploaded, checked locally: the `meta` part and the list of
//! artifacts. The rules mirror the server's, so a bad invocation fails in a
//! second with a message naming the culprit instead of after a long upload.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::Context as _;
use serde::Serialize;
use sizegate_core::{RepoName, Sha};

/// Most first-parent ancestors sent with an upload.
pub const MAX_ANCESTORS: usize = 50;

/// The `meta` part of the upload, as JSON.
#[derive(Debug, Serialize)]
pub struct Meta {
    /// `OWNER/REPO`.
    pub repo: String,
    /// Full sha, lower case.
    pub commit: String,
    /// Branch of a push.
    pub branch: Option<String>,
    /// Pull request number.
    pub pr: Option<u64>,
    /// Base commit of the pull request.
    pub base_sha: Option<String>,
    /// First-parent history of the base (or of the commit for a push).
    pub ancestors: Vec<String>,
    /// Text of `sizegate.toml`.
    pub config: Option<String>,
    /// Release tag naming the commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// One file to upload.
#[derive(Debug)]
pub struct Artifact {
    /// Target name, sent as the part's filename.
    pub target: String,
    /// Where the file is.
    pub path: PathBuf,
    /// Its size when checked; the upload fails if it changes meanwhile.
    pub size: u64,
}

/// Everything `sizegate upload` sends.
#[derive(Debug)]
pub struct Plan {
    /// Server base URL.
    pub server: String,
    /// The `meta` part.
    pub meta: Meta,
    /// The artifact parts, in command-line order.
    pub artifacts: Vec<Artifact>,
    /// Debug files, by the target of their artifact (`--debug-file`).
    pub debug_files: Vec<Artifact>,
}

/// The raw command-line values a [`Plan`] is made from.
#[derive(Debug)]
pub struct PlanInput<'a> {
    pub server: &'a str,
    pub repo: &'a str,
    pub commit: &'a str,
    pub branch: Option<&'a str>,
    pub pr: Option<u64>,
    pub base_sha: Option<&'a str>,
    pub config: Option<String>,
    pub artifacts: &'a [String],
    pub debug_files: &'a [String],
    pub tag: Option<&'a str>,
}

impl Plan {
    /// Check every value and every file.
    pub fn new(input: PlanInput<'_>) -> anyhow::Result<Plan> {
        let server = input.server.trim();
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            anyhow::bail!("--server must be an http:// or https:// URL, got `{server}`");
        }
        let repo = check_repo(input.repo)?;
        let commit = check_sha("--commit", input.commit)?;
        let base_sha = non_empty(input.base_sha)
            .map(|s| check_sha("--base-sha", s))
            .transpose()?;
        if input.pr.is_some() && base_sha.is_none() {
            anyhow::bail!(
                "--pr requires --base-sha (the pull request's base commit; the server judges the PR against it)"
            );
        }
        if input.pr == Some(0) {
            anyhow::bail!("--pr must be a pull request number (1 or more)");
        }
        let branch = non_empty(input.branch).map(str::to_owned);
        if let Some(b) = &branch
            && (b.len() > 255 || b.chars().any(char::is_control))
        {
            anyhow::bail!("--branch must be at most 255 printable characters");
        }
        let tag = non_empty(input.tag).map(str::to_owned);
        if let Some(t) = &tag
            && let Some(problem) = sizegate_store::compare::tag_name_problem(t)
        {
            anyhow::bail!(
                "--tag `{}` {problem}: give a git tag name such as `v1.2.0` (at most 200 bytes)",
                t.escape_default()
            );
        }
        if tag.is_some() && input.pr.is_some() {
            anyhow::bail!(
                "--tag cannot be used with --pr: a pull request build never tags a commit"
            );
        }
        let artifacts = check_artifacts(input.artifacts)?;
        let debug_files = if input.debug_files.is_empty() {
            Vec::new()
        } else {
            check_artifacts(input.debug_files)?
        };
        if let Some(d) = debug_files
            .iter()
            .find(|d| !artifacts.iter().any(|a| a.target == d.target))
        {
            anyhow::bail!(
                "--debug-file {}={}: no artifact with target `{}` in this upload",
                d.target,
                d.path.display(),
                d.target
            );
        }
        Ok(Plan {
            server: server.to_owned(),
            meta: Meta {
                repo,
                commit,
                branch,
                pr: input.pr,
                base_sha,
                ancestors: Vec::new(),
                config: input.config,
                tag,
            },
            artifacts,
            debug_files,
        })
    }

    /// The same plan with these ancestors.
    pub fn with_ancestors(mut self, ancestors: Vec<String>) -> Plan {
        self.meta.ancestors = ancestors;
        self
    }

    /// Total bytes of the artifacts.
    pub fn total_bytes(&self) -> u64 {
        self.artifacts
            .iter()
            .chain(&self.debug_files)
            .map(|a| a.size)
            .sum()
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// `OWNER/REPO` with GitHub's characters.
fn check_repo(repo: &str) -> anyhow::Result<String> {
    let repo = repo.trim();
    match RepoName::parse(repo) {
        Ok(_) => Ok(repo.to_owned()),
        Err(e) => anyhow::bail!(
            "--repo must be OWNER/REPO (letters, digits, `-`, `_`, `.`), got `{}`",
            e.shown
        ),
    }
}

/// A full commit sha, lower-cased.
pub fn check_sha(what: &str, value: &str) -> anyhow::Result<String> {
    match Sha::parse(value.trim()) {
        Ok(sha) => Ok(sha.into()),
        Err(e) => anyhow::bail!(
            "{what} must be a full commit sha (40 hex digits), got `{}`",
            e.shown
        ),
    }
}

/// Why a target name is refused, if it is: the server's rule, plus no `"`
/// (it would have to be escaped in the multipart filename).
fn target_problem(name: &str) -> Option<&'static str> {
    sizegate_core::target_name_problem(name)
        .or_else(|| name.contains('"').then_some("contains `\"`"))
}

fn check_artifacts(specs: &[String]) -> anyhow::Result<Vec<Artifact>> {
    if specs.is_empty() {
        anyhow::bail!("no artifacts: give at least one TARGET=PATH");
    }
    let mut seen = HashSet::new();
    let mut artifacts = Vec::with_capacity(specs.len());
    for spec in specs {
        let Some((target, path)) = spec.split_once('=') else {
            anyhow::bail!(
                "artifact `{spec}` must be TARGET=PATH, e.g. x86_64-unknown-linux-gnu/app=target/release/app"
            );
        };
        if let Some(problem) = target_problem(target) {
            anyhow::bail!("target name `{}` {problem}", sizegate_core::shown(target));
        }
        if !seen.insert(target) {
            anyhow::bail!("target `{target}` is given twice");
        }
        if path.is_empty() {
            anyhow::bail!("artifact `{target}` has an empty path");
        }
        let path = PathBuf::from(path);
        let meta = std::fs::metadata(&path)
            .with_context(|| format!("artifact `{target}`: cannot read {}", path.display()))?;
        if !meta.is_file() {
            anyhow::bail!(
                "artifact `{target}`: {} is not a regular file",
                path.display()
            );
        }
        artifacts.push(Artifact {
            target: target.to_owned(),
            path,
            size: meta.len(),
        });
    }
    Ok(artifacts)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn target_names() {
        assert_eq!(target_problem("x86_64-unknown-linux-gnu/app"), None);
        assert_eq!(target_problem("wasm32/app.wasm"), None);
        assert_eq!(target_problem(""), Some("is empty"));
        assert_eq!(target_problem("a/../b"), Some("contains `..`"));
        assert_eq!(
            target_problem("/abs"),
            Some("must be a relative name with `/` separators")
        );
        assert_eq!(target_problem("a\tb"), Some("contains control characters"));
        assert_eq!(target_problem(&"x".repeat(200)), None);
        assert_eq!(
            target_problem(&"x".repeat(201)),
            Some("is longer than 200 characters")
        );
    }

    #[test]
    fn shas_and_repos() {
        let sha = "ABCDEF0123456789abcdef0123456789abcdef01";
        assert_eq!(
            check_sha("--commit", sha).unwrap(),
            sha.to_ascii_lowercase()
        );
        assert!(check_sha("--commit", &sha[..39]).is_err());
        assert!(check_sha("--commit", &format!("{}g", &sha[..39])).is_err());
        assert_eq!(check_repo("acme/app").unwrap(), "acme/app");
        for bad in ["acme", "acme/", "/app", "acme/app/x", "ac me/app", "../app"] {
            assert!(check_repo(bad).is_err(), "{bad}");
        }
    }
}
