//! Webhook payloads sizegate acts on, parsed into typed events. Only the
//! fields we use are read; GitHub adds fields freely and we ignore them.

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::repo::Repo;

/// A webhook delivery, by the `X-GitHub-Event` header and the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    /// `pull_request` with an action sizegate cares about.
    PullRequest(Box<PullRequestEvent>),
    /// `check_run` `rerequested`: someone clicked "Re-run" on our check.
    CheckRunRerequested(CheckRunRerequested),
    /// `check_suite` `rerequested`: "Re-run all checks".
    CheckSuiteRerequested(CheckSuiteRerequested),
    /// `installation`: the App was installed, removed, suspended…
    Installation(InstallationChange),
    /// `installation_repositories`: repositories added to or removed from
    /// an installation.
    InstallationRepositories(InstallationRepositoriesChange),
    /// `push`: commits pushed to a branch (their authors' logins are kept
    /// for alerts).
    Push(PushEvent),
    /// Any other event or action; acknowledge it and do nothing.
    Ignored {
        /// The `X-GitHub-Event` value.
        event: String,
        /// The payload's `action`, if it has one.
        action: Option<String>,
    },
}

/// What a payload says of a repository: GitHub's numeric ids, whether it
/// is private, its default branch. Each is `None` when the payload lacks it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryFacts {
    /// `OWNER/REPO`.
    pub full_name: String,
    /// GitHub's repository id.
    pub id: Option<u64>,
    /// GitHub's id of the owner (`owner.id`, or the installation account's).
    pub owner_id: Option<u64>,
    /// Whether it is private.
    pub private: Option<bool>,
    /// Its default branch.
    pub default_branch: Option<String>,
}

/// A `pull_request` delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestEvent {
    /// What happened.
    pub action: PullRequestAction,
    /// The App installation that sent it.
    pub installation_id: Option<u64>,
    /// The base repository.
    pub repo: Repo,
    /// The pull request number.
    pub number: u64,
    /// Head commit sha.
    pub head_sha: String,
    /// Head branch name.
    pub head_ref: String,
    /// Base commit sha.
    pub base_sha: String,
    /// Base branch name.
    pub base_ref: String,
    /// The pull request's labels after the event.
    pub labels: Vec<String>,
    /// The pull request's `updated_at` (RFC 3339), to order deliveries.
    pub updated_at: Option<String>,
    /// The login of the pull request's author (`pull_request.user.login`).
    pub author: Option<String>,
    /// The commit the merge made on the base branch: set only on a
    /// `closed` delivery of a merged pull request.
    pub merge_commit_sha: Option<String>,
    /// What the payload says of the base repository.
    pub facts: RepositoryFacts,
}

/// The `pull_request` actions sizegate parses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullRequestAction {
    /// Opened.
    Opened,
    /// New commits pushed to the head branch.
    Synchronize,
    /// Reopened.
    Reopened,
    /// Edited, and the edit changed the base branch.
    BaseChanged,
    /// A label was added (maybe the approval label).
    Labeled {
        /// The label's name.
        label: String,
    },
    /// A label was removed.
    Unlabeled {
        /// The label's name.
        label: String,
    },
    /// Closed: parsed so callers can see it, but sizegate does nothing.
    Closed {
        /// Whether it was merged.
        merged: bool,
    },
}

impl PullRequestAction {
    /// Whether sizegate should (re)evaluate the pull request; `Closed` is
    /// the one action it ignores.
    pub fn needs_evaluation(&self) -> bool {
        !matches!(self, PullRequestAction::Closed { .. })
    }
}

/// The most commits read from one `push` payload (GitHub lists at most
/// 2048).
pub const MAX_PUSH_COMMITS: usize = 2048;

/// A `push` delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEvent {
    /// The repository.
    pub repo: Repo,
    /// `(sha, login)` of each pushed commit (`commits[]` and `head_commit`)
    /// whose author has a GitHub login (`author.username`), lowercase
    /// shas, each once, at most [`MAX_PUSH_COMMITS`]. Commits without a
    /// login are left out; e-mail addresses are never read.
    pub authors: Vec<(String, String)>,
}

/// A `check_run` `rerequested` delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunRerequested {
    /// The App installation that sent it.
    pub installation_id: Option<u64>,
    /// The repository.
    pub repo: Repo,
    /// The check run's id.
    pub check_run_id: u64,
    /// The check run's name.
    pub name: String,
    /// The id of the App that owns the check run.
    pub app_id: u64,
    /// The commit checked.
    pub head_sha: String,
    /// Our `external_id`, if we set one.
    pub external_id: Option<String>,
    /// Numbers of the pull requests the check run belongs to.
    pub pull_requests: Vec<u64>,
}

/// A `check_suite` `rerequested` delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSuiteRerequested {
    /// The App installation that sent it.
    pub installation_id: Option<u64>,
    /// The repository.
    pub repo: Repo,
    /// The commit of the suite.
    pub head_sha: String,
    /// Its branch, if any.
    pub head_branch: Option<String>,
    /// Numbers of the pull requests of the suite.
    pub pull_requests: Vec<u64>,
}

/// What happened to an installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallationAction {
    /// Installed.
    Created,
    /// Uninstalled: forget its tokens.
    Deleted,
    /// Suspended.
    Suspend,
    /// Unsuspended.
    Unsuspend,
    /// Another action, e.g. `new_permissions_accepted`.
    Other(String),
}

/// An `installation` delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallationChange {
    /// What happened.
    pub action: InstallationAction,
    /// The installation.
    pub installation_id: u64,
    /// The account (user or organisation) it belongs to.
    pub account: String,
    /// Repositories listed in the payload (those selected at install).
    pub repositories: Vec<Repo>,
    /// What the payload says of each of them.
    pub facts: Vec<RepositoryFacts>,
}

/// An `installation_repositories` delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallationRepositoriesChange {
    /// `added` or `removed`.
    pub action: String,
    /// The installation.
    pub installation_id: u64,
    /// Repositories the App gained.
    pub added: Vec<Repo>,
    /// Repositories the App lost.
    pub removed: Vec<Repo>,
    /// What the payload says of the repositories it gained.
    pub facts: Vec<RepositoryFacts>,
}

/// A payload that is not what its event name promises.
#[derive(Debug, thiserror::Error)]
#[error("the {event} webhook payload could not be read: {reason}")]
pub struct EventError {
    /// The `X-GitHub-Event` value.
    pub event: String,
    /// What was wrong.
    pub reason: String,
}

/// Parse a delivery given its `X-GitHub-Event` header and raw body.
pub fn parse_event(event: &str, body: &[u8]) -> Result<WebhookEvent, EventError> {
    let parsed = match event {
        "pull_request" => pull_request(event, body)?,
        "check_run" => check_run(event, body)?,
        "check_suite" => check_suite(event, body)?,
        "installation" => installation(event, body)?,
        "installation_repositories" => installation_repositories(event, body)?,
        "push" => Some(push(event, body)?),
        _ => None,
    };
    match parsed {
        Some(parsed) => Ok(parsed),
        None => {
            #[derive(Deserialize)]
            struct ActionOnly {
                action: Option<String>,
            }
            let action = serde_json::from_slice::<ActionOnly>(body)
                .ok()
                .and_then(|a| a.action);
            Ok(WebhookEvent::Ignored {
                event: event.to_owned(),
                action,
            })
        }
    }
}

#[derive(Deserialize)]
struct RawRepo {
    full_name: String,
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    private: Option<bool>,
    #[serde(default)]
    default_branch: Option<String>,
    #[serde(default)]
    owner: Option<RawOwner>,
}

#[derive(Deserialize)]
struct RawOwner {
    #[serde(default)]
    id: Option<u64>,
}

impl RawRepo {
    fn facts(&self, account_id: Option<u64>) -> RepositoryFacts {
        RepositoryFacts {
            full_name: self.full_name.clone(),
            id: self.id,
            owner_id: self.owner.as_ref().and_then(|o| o.id).or(account_id),
            private: self.private,
            default_branch: self.default_branch.clone(),
        }
    }
}

#[derive(Deserialize)]
struct RawInstallation {
    id: u64,
    #[serde(default)]
    account: Option<RawOwner>,
}

#[derive(Deserialize)]
struct RawLabel {
    name: String,
}

#[derive(Deserialize)]
struct RawRef {
    sha: String,
    #[serde(rename = "ref")]
    name: String,
}

#[derive(Deserialize)]
struct RawNumber {
    number: u64,
}

fn decode<T: DeserializeOwned>(event: &str, body: &[u8]) -> Result<T, EventError> {
    serde_json::from_slice(body).map_err(|e| EventError {
        event: event.to_owned(),
        reason: e.to_string(),
    })
}

fn repo(event: &str, raw: &RawRepo) -> Result<Repo, EventError> {
    Repo::parse(&raw.full_name).map_err(|e| EventError {
        event: event.to_owned(),
        reason: e.to_string(),
    })
}

fn repos(event: &str, raw: &[RawRepo]) -> Result<Vec<Repo>, EventError> {
    raw.iter().map(|r| repo(event, r)).collect()
}

/// A `pull_request` delivery, as much of it as is read.
#[derive(Deserialize)]
struct PullRequestPayload {
    action: String,
    number: u64,
    pull_request: RawPullRequest,
    repository: RawRepo,
    installation: Option<RawInstallation>,
    label: Option<RawLabel>,
    changes: Option<PullRequestChanges>,
}

#[derive(Deserialize)]
struct RawPullRequest {
    head: RawRef,
    base: RawRef,
    #[serde(default)]
    labels: Vec<RawLabel>,
    #[serde(default)]
    merged: Option<bool>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    #[serde(default)]
    user: Option<RawUser>,
    #[serde(default)]
    updated_at: Option<String>,
}

#[derive(Deserialize)]
struct RawUser {
    login: String,
}

#[derive(Deserialize)]
struct PullRequestChanges {
    base: Option<IgnoredAny>,
}

/// The action of a delivery, `None` for the actions sizegate ignores. An
/// edit counts only when it changed the base.
fn pull_request_action(payload: &PullRequestPayload) -> Option<PullRequestAction> {
    let label = || {
        payload
            .label
            .as_ref()
            .map(|l| l.name.clone())
            .unwrap_or_default()
    };
    Some(match payload.action.as_str() {
        "opened" => PullRequestAction::Opened,
        "synchronize" => PullRequestAction::Synchronize,
        "reopened" => PullRequestAction::Reopened,
        "edited" if payload.changes.as_ref().is_some_and(|c| c.base.is_some()) => {
            PullRequestAction::BaseChanged
        }
        "labeled" => PullRequestAction::Labeled { label: label() },
        "unlabeled" => PullRequestAction::Unlabeled { label: label() },
        "closed" => PullRequestAction::Closed {
            merged: payload.pull_request.merged.unwrap_or(false),
        },
        _ => return None,
    })
}

fn pull_request(event: &str, body: &[u8]) -> Result<Option<WebhookEvent>, EventError> {
    let payload: PullRequestPayload = decode(event, body)?;
    let Some(action) = pull_request_action(&payload) else {
        return Ok(None);
    };
    let pr = payload.pull_request;
    // GitHub fills `merge_commit_sha` with a test merge on open pull
    // requests too: only a merged one names the commit on the base branch.
    let merge_commit_sha = match action {
        PullRequestAction::Closed { merged: true } => pr.merge_commit_sha,
        _ => None,
    };
    Ok(Some(WebhookEvent::PullRequest(Box::new(
        PullRequestEvent {
            action,
            installation_id: payload.installation.map(|i| i.id),
            repo: repo(event, &payload.repository)?,
            number: payload.number,
            head_sha: pr.head.sha,
            head_ref: pr.head.name,
            base_sha: pr.base.sha,
            base_ref: pr.base.name,
            labels: pr.labels.into_iter().map(|l| l.name).collect(),
            updated_at: pr.updated_at,
            author: pr.user.map(|u| u.login),
            merge_commit_sha,
            facts: payload.repository.facts(None),
        },
    ))))
}

fn check_run(event: &str, body: &[u8]) -> Result<Option<WebhookEvent>, EventError> {
    #[derive(Deserialize)]
    struct Payload {
        action: String,
        check_run: RawCheckRun,
        repository: RawRepo,
        installation: Option<RawInstallation>,
    }
    #[derive(Deserialize)]
    struct RawCheckRun {
        id: u64,
        name: String,
        head_sha: String,
        external_id: Option<String>,
        app: RawInstallation,
        #[serde(default)]
        pull_requests: Vec<RawNumber>,
    }
    let payload: Payload = decode(event, body)?;
    if payload.action != "rerequested" {
        return Ok(None);
    }
    let run = payload.check_run;
    Ok(Some(WebhookEvent::CheckRunRerequested(
        CheckRunRerequested {
            installation_id: payload.installation.map(|i| i.id),
            repo: repo(event, &payload.repository)?,
            check_run_id: run.id,
            name: run.name,
            app_id: run.app.id,
            head_sha: run.head_sha,
            external_id: run.external_id.filter(|id| !id.is_empty()),
            pull_requests: run.pull_requests.into_iter().map(|p| p.number).collect(),
        },
    )))
}

fn check_suite(event: &str, body: &[u8]) -> Result<Option<WebhookEvent>, EventError> {
    #[derive(Deserialize)]
    struct Payload {
        action: String,
        check_suite: RawCheckSuite,
        repository: RawRepo,
        installation: Option<RawInstallation>,
    }
    #[derive(Deserialize)]
    struct RawCheckSuite {
        head_sha: String,
        head_branch: Option<String>,
        #[serde(default)]
        pull_requests: Vec<RawNumber>,
    }
    let payload: Payload = decode(event, body)?;
    if payload.action != "rerequested" {
        return Ok(None);
    }
    let suite = payload.check_suite;
    Ok(Some(WebhookEvent::CheckSuiteRerequested(
        CheckSuiteRerequested {
            installation_id: payload.installation.map(|i| i.id),
            repo: repo(event, &payload.repository)?,
            head_sha: suite.head_sha,
            head_branch: suite.head_branch,
            pull_requests: suite.pull_requests.into_iter().map(|p| p.number).collect(),
        },
    )))
}

fn installation(event: &str, body: &[u8]) -> Result<Option<WebhookEvent>, EventError> {
    #[derive(Deserialize)]
    struct Payload {
        action: String,
        installation: RawAccountInstallation,
        #[serde(default)]
        repositories: Vec<RawRepo>,
    }
    #[derive(Deserialize)]
    struct RawAccountInstallation {
        id: u64,
        account: RawAccount,
    }
    #[derive(Deserialize)]
    struct RawAccount {
        login: String,
        #[serde(default)]
        id: Option<u64>,
    }
    let payload: Payload = decode(event, body)?;
    let action = match payload.action.as_str() {
        "created" => InstallationAction::Created,
        "deleted" => InstallationAction::Deleted,
        "suspend" => InstallationAction::Suspend,
        "unsuspend" => InstallationAction::Unsuspend,
        other => InstallationAction::Other(other.to_owned()),
    };
    Ok(Some(WebhookEvent::Installation(InstallationChange {
        action,
        installation_id: payload.installation.id,
        facts: payload
            .repositories
            .iter()
            .map(|r| r.facts(payload.installation.account.id))
            .collect(),
        account: payload.installation.account.login,
        repositories: repos(event, &payload.repositories)?,
    })))
}

fn installation_repositories(event: &str, body: &[u8]) -> Result<Option<WebhookEvent>, EventError> {
    #[derive(Deserialize)]
    struct Payload {
        action: String,
        installation: RawInstallation,
        #[serde(default)]
        repositories_added: Vec<RawRepo>,
        #[serde(default)]
        repositories_removed: Vec<RawRepo>,
    }
    let payload: Payload = decode(event, body)?;
    Ok(Some(WebhookEvent::InstallationRepositories(
        InstallationRepositoriesChange {
            action: payload.action,
            installation_id: payload.installation.id,
            facts: payload
                .repositories_added
                .iter()
                .map(|r| r.facts(payload.installation.account.as_ref().and_then(|a| a.id)))
                .collect(),
            added: repos(event, &payload.repositories_added)?,
            removed: repos(event, &payload.repositories_removed)?,
        },
    )))
}

fn push(event: &str, body: &[u8]) -> Result<WebhookEvent, EventError> {
    #[derive(Deserialize)]
    struct Payload {
        repository: RawRepo,
        #[serde(default)]
        commits: Vec<RawCommit>,
        #[serde(default)]
        head_commit: Option<RawCommit>,
    }
    #[derive(Deserialize)]
    struct RawCommit {
        id: String,
        #[serde(default)]
        author: Option<RawAuthor>,
    }
    #[derive(Deserialize)]
    struct RawAuthor {
        #[serde(default)]
        username: Option<String>,
    }
    let payload: Payload = decode(event, body)?;
    let repo = repo(event, &payload.repository)?;
    let mut authors: Vec<(String, String)> = Vec::new();
    let commits = payload
        .commits
        .iter()
        .take(MAX_PUSH_COMMITS)
        .chain(payload.head_commit.as_ref());
    for commit in commits {
        let sha = commit.id.to_ascii_lowercase();
        let valid_sha = sizegate_core::is_hex(&sha, sizegate_core::Sha::LEN);
        let login = commit.author.as_ref().and_then(|a| a.username.as_deref());
        // Anything that is not a GitHub login (`sizegate_core`'s one rule,
        // App bots included) is dropped.
        let valid_login = login.filter(|l| sizegate_core::is_github_login(l));
        if let (true, Some(login)) = (valid_sha, valid_login)
            && !authors.iter().any(|(s, _)| *s == sha)
            && authors.len() < MAX_PUSH_COMMITS
        {
            authors.push((sha, login.to_owned()));
        }
    }
    Ok(WebhookEvent::Push(PushEvent { repo, authors }))
}
