//! First-parent history from the local clone, sent as `ancestors` so the
//! server can fall back to an older measured commit for the baseline.

use std::process::Command;

use anyhow::Context as _;

use super::plan::check_sha;

/// Up to `limit` first-parent ancestors of `start` (not `start` itself),
/// nearest first, from `git rev-list` in the current directory.
pub fn first_parent_ancestors(start: &str, limit: usize) -> anyhow::Result<Vec<String>> {
    let output = Command::new("git")
        .arg("rev-list")
        .arg("--first-parent")
        .arg(format!("--max-count={}", limit + 1))
        .arg(start)
        .arg("--")
        .output()
        .context("running `git rev-list` for --ancestors-from-git (is git installed?)")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        anyhow::bail!(
            "`git rev-list --first-parent {start}` failed: {}; --ancestors-from-git needs a \
             clone that has this commit and its history (with actions/checkout, set fetch-depth: 0)",
            stderr.trim()
        );
    }
    let stdout = String::from_utf8(output.stdout).context("`git rev-list` printed non-UTF-8")?;
    let mut ancestors = Vec::new();
    for line in stdout.lines() {
        let sha = check_sha("a `git rev-list` line", line)?;
        if sha != start && ancestors.len() < limit {
            ancestors.push(sha);
        }
    }
    Ok(ancestors)
}
