//! The fake's commit comments (GitHub's "create a commit comment",
//! `POST /repos/{owner}/{repo}/commits/{sha}/comments`), answered with the
//! fields GitHub documents for it: `id`, `node_id`, `url`, `html_url`,
//! `body`, `path`, `position`, `line`, `commit_id`, `user`,
//! `author_association`, `created_at` and `updated_at`.

use serde_json::{Value, json};

use super::FakeRepo;
use super::state::{FakeState, Reply};

/// A commit comment held by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCommitComment {
    /// Comment id.
    pub id: u64,
    /// `owner/name`.
    pub repo: String,
    /// The commented commit.
    pub commit_id: String,
    /// Body.
    pub body: String,
}

impl FakeState {
    pub fn commit_comments_of(&self, owner: &str, name: &str, sha: &str) -> Vec<FakeCommitComment> {
        let repo = format!("{owner}/{name}");
        self.commit_comments
            .iter()
            .filter(|c| c.repo.eq_ignore_ascii_case(&repo) && c.commit_id == sha)
            .cloned()
            .collect()
    }

    pub(super) fn create_commit_comment(
        &mut self,
        repo: &FakeRepo,
        sha: &str,
        body: &Value,
    ) -> Reply {
        let Some(text) = body["body"].as_str() else {
            return Reply::message(422, "Invalid request: body is required");
        };
        if !sizegate_core::is_hex(sha, sizegate_core::Sha::LEN) {
            return Reply::message(422, "No commit found for SHA");
        }
        let id = self.next_id();
        let comment = FakeCommitComment {
            id,
            repo: format!("{}/{}", repo.owner, repo.name),
            commit_id: sha.to_owned(),
            body: text.to_owned(),
        };
        self.commit_comments.push(comment.clone());
        let full = &comment.repo;
        Reply::json(
            201,
            json!({
                "id": id,
                "node_id": format!("CC_fake{id}"),
                "url": format!("{}/repos/{full}/comments/{id}", self.base_url),
                "html_url": format!("https://github.com/{full}/commit/{sha}#commitcomment-{id}"),
                "body": comment.body,
                "path": null,
                "position": null,
                "line": null,
                "commit_id": sha,
                "user": {"login": "sizegate[bot]", "id": 1, "type": "Bot", "site_admin": false},
                "author_association": "NONE",
                "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z"
            }),
        )
    }
}
