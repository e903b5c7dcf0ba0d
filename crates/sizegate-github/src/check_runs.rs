//! Check runs on a head commit: one per name and sha, created once and then
//! updated in place.

use http::Method;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::GitHubClient;
use crate::error::Error;
use crate::repo::{Repo, check_sha};
use crate::transport::Failure;

/// GitHub's limit on `output.summary`, in characters.
pub const MAX_SUMMARY_CHARS: usize = 65_535;

/// Where a check run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Waiting to start.
    Queued,
    /// Measuring.
    InProgress,
    /// Done; a conclusion is required.
    Completed,
}

impl From<sizegate_gate::CheckStatus> for CheckStatus {
    fn from(status: sizegate_gate::CheckStatus) -> Self {
        match status {
            sizegate_gate::CheckStatus::InProgress => CheckStatus::InProgress,
            sizegate_gate::CheckStatus::Completed => CheckStatus::Completed,
        }
    }
}

impl From<sizegate_gate::Conclusion> for CheckConclusion {
    fn from(conclusion: sizegate_gate::Conclusion) -> Self {
        match conclusion {
            sizegate_gate::Conclusion::Success => CheckConclusion::Success,
            sizegate_gate::Conclusion::Failure => CheckConclusion::Failure,
            sizegate_gate::Conclusion::Neutral => CheckConclusion::Neutral,
        }
    }
}

/// The result of a completed check run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckConclusion {
    /// Within budget.
    Success,
    /// Over budget.
    Failure,
    /// No verdict (e.g. no baseline).
    Neutral,
    /// Someone must act (e.g. approve with the label).
    ActionRequired,
    /// Stopped.
    Cancelled,
    /// Not run.
    Skipped,
    /// Took too long.
    TimedOut,
}

/// A check run as the reporter wants it to be on `head_sha`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunRequest {
    /// The check's name, e.g. `sizegate`.
    pub name: String,
    /// The full sha of the commit checked.
    pub head_sha: String,
    /// Where the check stands.
    pub status: CheckStatus,
    /// Required when `status` is `Completed`, refused otherwise.
    pub conclusion: Option<CheckConclusion>,
    /// `output.title`: one line.
    pub title: String,
    /// `output.summary`: markdown; cut to GitHub's limit if longer.
    pub summary: String,
    /// Link to the sizegate page of this commit.
    pub details_url: Option<String>,
    /// Our reference, given back in `check_run.rerequested`.
    pub external_id: Option<String>,
}

/// What [`GitHubClient::upsert_check_run`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckRunOutcome {
    /// No check run of that name from this App existed on the sha.
    Created {
        /// The new check run's id.
        id: u64,
    },
    /// The existing check run was updated.
    Updated {
        /// Its id.
        id: u64,
    },
}

#[derive(Debug, Deserialize)]
struct CheckRunList {
    check_runs: Vec<ExistingCheckRun>,
}

#[derive(Debug, Deserialize)]
struct ExistingCheckRun {
    id: u64,
    name: String,
    head_sha: String,
    #[serde(default)]
    app: Option<App>,
}

#[derive(Debug, Deserialize)]
struct App {
    id: u64,
}

impl GitHubClient {
    /// Create the check run `request.name` on `request.head_sha`, or update
    /// the one this App already made there. Each attempt looks for it first,
    /// so retries never make a second one.
    pub async fn upsert_check_run(
        &self,
        repo: &Repo,
        request: &CheckRunRequest,
    ) -> Result<CheckRunOutcome, Error> {
        check_sha(&request.head_sha)?;
        let body = check_run_body(request)?;
        let what = format!(
            "check run {:?} on {repo}@{}",
            request.name, request.head_sha
        );
        let _serialized = self
            .targets
            .lock(format!(
                "{}@{}:{}",
                repo.key(),
                request.head_sha.to_ascii_lowercase(),
                request.name
            ))
            .await;
        self.transport
            .retrying(&what, || self.upsert_check_run_once(repo, request, &body))
            .await
    }

    async fn upsert_check_run_once(
        &self,
        repo: &Repo,
        request: &CheckRunRequest,
        body: &serde_json::Value,
    ) -> Result<CheckRunOutcome, Failure> {
        let (owner, name) = (repo.owner(), repo.name());
        let path = format!(
            "/repos/{owner}/{name}/commits/{}/check-runs?check_name={}&filter=all&per_page=100",
            request.head_sha,
            utf8_percent_encode(&request.name, NON_ALPHANUMERIC)
        );
        let what = format!("GET {path}");
        let list: CheckRunList = self
            .send_as_installation(repo, &what, Method::GET, &path, None)
            .await?
            .json(&what)?;
        let existing = list
            .check_runs
            .iter()
            .filter(|run| {
                run.name == request.name
                    && run.head_sha.eq_ignore_ascii_case(&request.head_sha)
                    && run.app.as_ref().is_none_or(|app| app.id == self.app_id())
            })
            .map(|run| run.id)
            .max();
        match existing {
            Some(id) => {
                let path = format!("/repos/{owner}/{name}/check-runs/{id}");
                let what = format!("PATCH {path}");
                self.send_as_installation(repo, &what, Method::PATCH, &path, Some(body))
                    .await?;
                Ok(CheckRunOutcome::Updated { id })
            }
            None => {
                let path = format!("/repos/{owner}/{name}/check-runs");
                let what = format!("POST {path}");
                let mut body = body.clone();
                body["head_sha"] = json!(request.head_sha);
                let answer = self
                    .send_as_installation(repo, &what, Method::POST, &path, Some(&body))
                    .await?;
                let created: ExistingCheckRun = answer.json(&what)?;
                Ok(CheckRunOutcome::Created { id: created.id })
            }
        }
    }
}

/// The JSON GitHub takes for both create and update (create adds `head_sha`).
fn check_run_body(request: &CheckRunRequest) -> Result<serde_json::Value, Error> {
    if request.name.trim().is_empty() {
        return Err(Error::InvalidRequest(
            "the check run name is empty".to_owned(),
        ));
    }
    match (request.status, request.conclusion) {
        (CheckStatus::Completed, None) => {
            return Err(Error::InvalidRequest(
                "a completed check run needs a conclusion".to_owned(),
            ));
        }
        (CheckStatus::Queued | CheckStatus::InProgress, Some(_)) => {
            return Err(Error::InvalidRequest(
                "only a completed check run may have a conclusion".to_owned(),
            ));
        }
        _ => {}
    }
    let summary: String = if request.summary.chars().count() > MAX_SUMMARY_CHARS {
        const CUT_NOTE: &str = "\n\n… (cut to GitHub's size limit)";
        let keep = MAX_SUMMARY_CHARS - CUT_NOTE.chars().count();
        request
            .summary
            .chars()
            .take(keep)
            .chain(CUT_NOTE.chars())
            .collect()
    } else {
        request.summary.clone()
    };
    let mut body = json!({
        "name": request.name,
        "status": request.status,
        "output": { "title": request.title, "summary": summary },
    });
    if let Some(conclusion) = request.conclusion {
        body["conclusion"] = json!(conclusion);
    }
    if let Some(url) = &request.details_url {
        body["details_url"] = json!(url);
    }
    if let Some(id) = &request.external_id {
        body["external_id"] = json!(id);
    }
    Ok(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn request() -> CheckRunRequest {
        CheckRunRequest {
            name: "sizegate".to_owned(),
            head_sha: "ec26c3e57ca3a959ca5aad62de7213c562f8c821".to_owned(),
            status: CheckStatus::Completed,
            conclusion: Some(CheckConclusion::ActionRequired),
            title: "+12 KiB".to_owned(),
            summary: "x".repeat(MAX_SUMMARY_CHARS + 1),
            details_url: None,
            external_id: Some("42".to_owned()),
        }
    }

    #[test]
    fn body_uses_github_names_and_fits_the_limit() {
        let body = check_run_body(&request()).unwrap();
        assert_eq!(body["status"], "completed");
        assert_eq!(body["conclusion"], "action_required");
        assert_eq!(body["external_id"], "42");
        assert!(body.get("details_url").is_none());
        let summary = body["output"]["summary"].as_str().unwrap();
        assert_eq!(summary.chars().count(), MAX_SUMMARY_CHARS);
    }

    #[test]
    fn status_and_conclusion_must_agree() {
        let mut no_conclusion = request();
        no_conclusion.conclusion = None;
        assert!(check_run_body(&no_conclusion).is_err());
        let mut early_conclusion = request();
        early_conclusion.status = CheckStatus::InProgress;
        assert!(check_run_body(&early_conclusion).is_err());
    }
}
