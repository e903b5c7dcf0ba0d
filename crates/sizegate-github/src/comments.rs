//! The sticky pull request comment: one comment per pull request, found by a
//! marker the caller puts in it (e.g. an HTML comment), updated in place.

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::client::GitHubClient;
use crate::error::Error;
use crate::pagination::next_page;
use crate::repo::Repo;
use crate::retry::WaitHint;
use crate::transport::{Failure, is_status};

/// GitHub's limit on a comment body, in characters.
pub const MAX_COMMENT_CHARS: usize = 65_536;
/// Comments per page when listing (GitHub's maximum).
const PER_PAGE: u32 = 100;
/// Pages we read at most (10,000 comments) before giving up.
const MAX_PAGES: u32 = 100;

/// What [`GitHubClient::upsert_sticky_comment`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentOutcome {
    /// No comment with the marker existed; this one was created.
    Created {
        /// The new comment's id.
        id: u64,
    },
    /// Our comment existed and its body was replaced.
    Updated {
        /// The comment's id.
        id: u64,
    },
    /// Our comment already had exactly this body; nothing was sent.
    Unchanged {
        /// The comment's id.
        id: u64,
    },
    /// No comment with the marker existed and none was created
    /// ([`GitHubClient::update_sticky_comment`]).
    Absent,
}

#[derive(Debug, Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<User>,
    /// The App that wrote it; `null` for people and other kinds of bots.
    #[serde(default)]
    performed_via_github_app: Option<App>,
}

#[derive(Debug, Deserialize)]
struct App {
    id: u64,
}

#[derive(Debug, Deserialize)]
struct User {
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct Created {
    id: u64,
}

impl GitHubClient {
    /// Create or update the one comment on pull request (or issue)
    /// `issue_number` that holds `marker` and was written by a bot.
    ///
    /// The marker is appended to `body` if `body` lacks it, and a body over
    /// GitHub's limit is cut (marker kept). Each attempt lists every page of
    /// comments first, so a retried create finds the comment an earlier
    /// attempt made and updates it: one comment per pull request.
    pub async fn upsert_sticky_comment(
        &self,
        repo: &Repo,
        issue_number: u64,
        marker: &str,
        body: &str,
    ) -> Result<CommentOutcome, Error> {
        self.sticky_comment(repo, issue_number, marker, body, true)
            .await
    }

    /// Update the sticky comment of `issue_number` (as
    /// [`GitHubClient::upsert_sticky_comment`]) only if it exists: a pull
    /// request with nothing new to say gets no new comment
    /// ([`CommentOutcome::Absent`]).
    pub async fn update_sticky_comment(
        &self,
        repo: &Repo,
        issue_number: u64,
        marker: &str,
        body: &str,
    ) -> Result<CommentOutcome, Error> {
        self.sticky_comment(repo, issue_number, marker, body, false)
            .await
    }

    /// The one path of both: serialized per pull request, retried, and with
    /// `create` false an absent comment stays absent.
    async fn sticky_comment(
        &self,
        repo: &Repo,
        issue_number: u64,
        marker: &str,
        body: &str,
        create: bool,
    ) -> Result<CommentOutcome, Error> {
        if marker.trim().is_empty() {
            return Err(Error::InvalidRequest(
                "the sticky comment marker is empty".to_owned(),
            ));
        }
        let body = with_marker(body, marker)?;
        let what = if create {
            format!("sticky comment on {repo}#{issue_number}")
        } else {
            format!("sticky comment update on {repo}#{issue_number}")
        };
        let _serialized = self
            .targets
            .lock(format!("{}#{issue_number}", repo.key()))
            .await;
        self.transport
            .retrying(&what, || {
                self.upsert_comment_once(repo, issue_number, marker, &body, create)
            })
            .await
    }

    async fn upsert_comment_once(
        &self,
        repo: &Repo,
        issue_number: u64,
        marker: &str,
        body: &str,
        create: bool,
    ) -> Result<CommentOutcome, Failure> {
        let payload = json!({ "body": body });
        match self.find_comment(repo, issue_number, marker).await? {
            Some(existing) if existing.body.as_deref() == Some(body) => {
                Ok(CommentOutcome::Unchanged { id: existing.id })
            }
            Some(existing) => {
                let path = format!(
                    "/repos/{}/{}/issues/comments/{}",
                    repo.owner(),
                    repo.name(),
                    existing.id
                );
                let what = format!("PATCH {path}");
                match self
                    .send_as_installation(repo, &what, Method::PATCH, &path, Some(&payload))
                    .await
                {
                    Ok(_) => Ok(CommentOutcome::Updated { id: existing.id }),
                    // Deleted between our list and our update: look again.
                    Err(Failure::Fatal(error)) if is_status(&error, StatusCode::NOT_FOUND) => {
                        Err(Failure::Transient {
                            hint: WaitHint::Backoff,
                            reason: error.to_string(),
                        })
                    }
                    Err(other) => Err(other),
                }
            }
            None if !create => Ok(CommentOutcome::Absent),
            None => {
                let path = format!(
                    "/repos/{}/{}/issues/{issue_number}/comments",
                    repo.owner(),
                    repo.name()
                );
                let what = format!("POST {path}");
                let answer = self
                    .send_as_installation(repo, &what, Method::POST, &path, Some(&payload))
                    .await?;
                let created: Created = answer.json(&what)?;
                Ok(CommentOutcome::Created { id: created.id })
            }
        }
    }

    /// Comment on commit `sha` (GitHub's "create a commit comment"), for
    /// post-merge alerts naming it as a culprit. Sent once, without the
    /// client's retries: the caller's delivery queue retries with backoff,
    /// and a retried POST whose answer was lost would comment twice.
    /// Returns the comment's id.
    pub async fn create_commit_comment(
        &self,
        repo: &Repo,
        sha: &str,
        body: &str,
    ) -> Result<u64, Error> {
        if !sizegate_core::is_hex(sha, sizegate_core::Sha::LEN) {
            return Err(Error::InvalidRequest(format!(
                "`{sha}` is not a 40-digit commit sha"
            )));
        }
        let body: String = body.chars().take(MAX_COMMENT_CHARS).collect();
        let path = format!(
            "/repos/{}/{}/commits/{sha}/comments",
            repo.owner(),
            repo.name()
        );
        let what = format!("POST {path}");
        let payload = json!({ "body": body });
        let answer = self
            .send_as_installation(repo, &what, Method::POST, &path, Some(&payload))
            .await
            .map_err(|f| failure_error(&what, f))?;
        let created: Created = answer.json(&what)?;
        Ok(created.id)
    }

    /// The oldest comment holding `marker` written by our App
    /// (`performed_via_github_app.id` is our App id), reading every page:
    /// another App or a user quoting the marker is never taken for ours.
    async fn find_comment(
        &self,
        repo: &Repo,
        issue_number: u64,
        marker: &str,
    ) -> Result<Option<Comment>, Failure> {
        let mut path = format!(
            "/repos/{}/{}/issues/{issue_number}/comments?per_page={PER_PAGE}",
            repo.owner(),
            repo.name()
        );
        for _ in 0..MAX_PAGES {
            let what = format!("GET {path}");
            let answer = self
                .send_as_installation(repo, &what, Method::GET, &path, None)
                .await?;
            let page: Vec<Comment> = answer.json(&what)?;
            let app_id = self.app_id();
            let ours = page.into_iter().find(|comment| {
                comment.user.as_ref().is_some_and(|u| u.kind == "Bot")
                    && comment
                        .performed_via_github_app
                        .as_ref()
                        .is_some_and(|app| app.id == app_id)
                    && comment.body.as_deref().is_some_and(|b| b.contains(marker))
            });
            if ours.is_some() {
                return Ok(ours);
            }
            match next_page(&answer.headers) {
                Some(next) => path = next,
                None => return Ok(None),
            }
        }
        Err(Failure::Fatal(Error::InvalidResponse {
            what: format!("listing comments of {repo}#{issue_number}"),
            reason: format!("more than {MAX_PAGES} pages of comments"),
        }))
    }
}

/// `body` with `marker` in it and within GitHub's size limit.
fn with_marker(body: &str, marker: &str) -> Result<String, Error> {
    const CUT_NOTE: &str = "\n\n… (cut to GitHub's comment size limit)\n\n";
    let marker_chars = marker.chars().count();
    if marker_chars + CUT_NOTE.chars().count() >= MAX_COMMENT_CHARS {
        return Err(Error::InvalidRequest(
            "the sticky comment marker is longer than a comment may be".to_owned(),
        ));
    }
    let has_marker = body.contains(marker);
    let mut text = body.to_owned();
    if !has_marker {
        text.push_str("\n\n");
        text.push_str(marker);
    }
    if text.chars().count() <= MAX_COMMENT_CHARS {
        return Ok(text);
    }
    let keep = MAX_COMMENT_CHARS - marker_chars - CUT_NOTE.chars().count();
    let mut cut: String = body.chars().take(keep).collect();
    cut.push_str(CUT_NOTE);
    cut.push_str(marker);
    Ok(cut)
}

/// The error of a single attempt (no retry), for callers that retry
/// themselves.
fn failure_error(what: &str, failure: Failure) -> Error {
    match failure {
        Failure::Fatal(error) => error,
        Failure::Transient { reason, .. } => Error::GaveUp {
            what: what.to_owned(),
            attempts: 1,
            last: reason,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn marker_is_added_when_missing_and_kept_when_cut() {
        let marker = "<!-- sizegate -->";
        assert_eq!(
            with_marker("hi", marker).unwrap(),
            "hi\n\n<!-- sizegate -->"
        );
        assert_eq!(
            with_marker("<!-- sizegate -->\nhi", marker).unwrap(),
            "<!-- sizegate -->\nhi"
        );
        let long = "é".repeat(MAX_COMMENT_CHARS + 10);
        let cut = with_marker(&long, marker).unwrap();
        assert_eq!(cut.chars().count(), MAX_COMMENT_CHARS);
        assert!(cut.ends_with(marker));
    }
}
