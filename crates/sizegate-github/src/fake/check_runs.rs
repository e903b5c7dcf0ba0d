//! The fake's check runs: per commit, created, listed by name and updated
//! with GitHub's rule that a conclusion means completed.

use serde_json::{Value, json};

use super::FakeRepo;
use super::state::{FakeState, Reply, query_param};

const CHECK_RUN_EXAMPLE: &str = include_str!("../../fixtures/api/check-run.create.completed.json");

/// A check run held by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCheckRun {
    /// Check run id.
    pub id: u64,
    /// `owner/name`.
    pub repo: String,
    /// Commit sha.
    pub head_sha: String,
    /// Name.
    pub name: String,
    /// `queued`, `in_progress` or `completed`.
    pub status: String,
    /// Conclusion, when completed.
    pub conclusion: Option<String>,
    /// `output.title`.
    pub title: String,
    /// `output.summary`.
    pub summary: String,
    /// `details_url`.
    pub details_url: Option<String>,
    /// `external_id`.
    pub external_id: Option<String>,
}

impl FakeState {
    pub fn check_runs_of(&self, owner: &str, name: &str, sha: &str) -> Vec<FakeCheckRun> {
        let repo = format!("{owner}/{name}");
        self.check_runs
            .iter()
            .filter(|c| c.repo.eq_ignore_ascii_case(&repo) && c.head_sha == sha)
            .cloned()
            .collect()
    }

    pub(super) fn list_check_runs(&self, repo: &FakeRepo, sha: &str, query: &str) -> Reply {
        let name = query_param(query, "check_name");
        let runs: Vec<Value> = self
            .check_runs_of(&repo.owner, &repo.name, sha)
            .iter()
            .rev()
            .filter(|run| name.as_deref().is_none_or(|n| n == run.name))
            .map(|run| self.render_check_run(run))
            .collect();
        Reply::json(
            200,
            json!({ "total_count": runs.len(), "check_runs": runs }),
        )
    }

    pub(super) fn create_check_run(&mut self, repo: &FakeRepo, body: &Value) -> Reply {
        let (Some(name), Some(head_sha)) = (body["name"].as_str(), body["head_sha"].as_str())
        else {
            return Reply::message(422, "Invalid request: name and head_sha are required");
        };
        let id = self.next_id();
        let mut run = FakeCheckRun {
            id,
            repo: format!("{}/{}", repo.owner, repo.name),
            head_sha: head_sha.to_owned(),
            name: name.to_owned(),
            status: "queued".to_owned(),
            conclusion: None,
            title: String::new(),
            summary: String::new(),
            details_url: None,
            external_id: None,
        };
        if let Err(reason) = apply_check_run_fields(&mut run, body) {
            return Reply::message(422, &reason);
        }
        self.check_runs.push(run.clone());
        Reply::json(201, self.render_check_run(&run))
    }

    pub(super) fn update_check_run(&mut self, repo: &FakeRepo, id: &str, body: &Value) -> Reply {
        let full_name = format!("{}/{}", repo.owner, repo.name);
        let id = id.parse::<u64>().unwrap_or(0);
        let Some(run) = self
            .check_runs
            .iter_mut()
            .find(|r| r.id == id && r.repo.eq_ignore_ascii_case(&full_name))
        else {
            return Reply::message(404, "Not Found");
        };
        let mut updated = run.clone();
        if let Err(reason) = apply_check_run_fields(&mut updated, body) {
            return Reply::message(422, &reason);
        }
        *run = updated.clone();
        Reply::json(200, self.render_check_run(&updated))
    }

    pub(super) fn render_check_run(&self, run: &FakeCheckRun) -> Value {
        let mut value: Value = serde_json::from_str(CHECK_RUN_EXAMPLE).unwrap_or_default();
        value["id"] = json!(run.id);
        value["head_sha"] = json!(run.head_sha);
        value["name"] = json!(run.name);
        value["status"] = json!(run.status);
        value["conclusion"] = json!(run.conclusion);
        value["output"]["title"] = json!(run.title);
        value["output"]["summary"] = json!(run.summary);
        value["details_url"] = json!(run.details_url);
        value["external_id"] = json!(run.external_id.clone().unwrap_or_default());
        value["url"] = json!(format!(
            "{}/repos/{}/check-runs/{}",
            self.base_url, run.repo, run.id
        ));
        value["app"]["id"] = json!(self.config.app_id);
        value
    }
}

/// Copy the fields GitHub takes on create and update into `run`, with
/// GitHub's rule that a conclusion means completed.
fn apply_check_run_fields(run: &mut FakeCheckRun, body: &Value) -> Result<(), String> {
    if let Some(name) = body["name"].as_str() {
        run.name = name.to_owned();
    }
    if let Some(status) = body["status"].as_str() {
        if !matches!(status, "queued" | "in_progress" | "completed") {
            return Err(format!("Invalid request: status {status:?}"));
        }
        run.status = status.to_owned();
    }
    if let Some(conclusion) = body["conclusion"].as_str() {
        run.conclusion = Some(conclusion.to_owned());
        run.status = "completed".to_owned();
    }
    if run.status == "completed" && run.conclusion.is_none() {
        return Err("Invalid request: conclusion is required when status is completed".to_owned());
    }
    if let Some(title) = body["output"]["title"].as_str() {
        run.title = title.to_owned();
    }
    if let Some(summary) = body["output"]["summary"].as_str() {
        run.summary = summary.to_owned();
    }
    if let Some(url) = body["details_url"].as_str() {
        run.details_url = Some(url.to_owned());
    }
    if let Some(id) = body["external_id"].as_str() {
        run.external_id = Some(id.to_owned());
    }
    Ok(())
}
