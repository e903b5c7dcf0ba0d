//! The fake's state and routing: comments, check runs, tokens, failure rules
//! and the record of calls, behind one mutex.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use http::{HeaderMap, Method, Uri};
use percent_encoding::percent_decode_str;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use serde_json::{Value, json};

use super::{FailureRule, FakeGitHubConfig, FakeRepo, InjectedFailure, RecordedCall};
use crate::clock::later;

const COMMENT_EXAMPLE: &str = include_str!("../../fixtures/api/issue-comment.create.json");
const CHECK_RUN_EXAMPLE: &str = include_str!("../../fixtures/api/check-run.create.completed.json");
const INSTALLATION_EXAMPLE: &str =
    include_str!("../../fixtures/api/installation.get-repo-installation.json");
const TOKEN_EXAMPLE: &str = include_str!("../../fixtures/api/installation-token.create.json");

/// A comment held by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeComment {
    /// Comment id.
    pub id: u64,
    /// `owner/name`.
    pub repo: String,
    /// Issue or pull request number.
    pub issue: u64,
    /// Author login.
    pub login: String,
    /// Whether the author is a bot (an App).
    pub bot: bool,
    /// Body.
    pub body: String,
}

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

/// A reply before it becomes an HTTP response.
#[derive(Debug)]
pub(super) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    fn message(status: u16, message: &str) -> Self {
        Self::json(
            status,
            json!({ "message": message, "documentation_url": "https://docs.github.com/rest" }),
        )
    }
}

/// Everything the fake knows.
#[derive(Debug)]
pub(crate) struct FakeState {
    config: FakeGitHubConfig,
    base_url: String,
    link_url: String,
    pub calls: Vec<RecordedCall>,
    pub failures: Vec<FailureRule>,
    comments: Vec<FakeComment>,
    check_runs: Vec<FakeCheckRun>,
    /// Token → (installation id, expiry).
    pub tokens: HashMap<String, (u64, DateTime<Utc>)>,
    pub tokens_issued: usize,
    next_id: u64,
}

impl FakeState {
    pub fn new(config: FakeGitHubConfig, base_url: String, link_url: String) -> Self {
        Self {
            config,
            base_url,
            link_url,
            calls: Vec::new(),
            failures: Vec::new(),
            comments: Vec::new(),
            check_runs: Vec::new(),
            tokens: HashMap::new(),
            tokens_issued: 0,
            next_id: 1000,
        }
    }

    /// Record, maybe fail, else route one call.
    pub fn handle(
        &mut self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Reply {
        let path_and_query = uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        let reply = match self.take_failure(method, uri.path()) {
            Some((failure, true)) => {
                self.route(method, uri, headers, body);
                failure_reply(&failure, self.config.clock.now())
            }
            Some((failure, false)) => failure_reply(&failure, self.config.clock.now()),
            None => self.route(method, uri, headers, body),
        };
        self.calls.push(RecordedCall {
            method: method.to_string(),
            path: path_and_query,
            headers: headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
            status: reply.status,
        });
        reply
    }

    fn take_failure(&mut self, method: &Method, path: &str) -> Option<(InjectedFailure, bool)> {
        let rule = self.failures.iter_mut().find(|rule| {
            rule.times > 0
                && rule.method.as_ref().is_none_or(|m| m == method)
                && rule
                    .path_contains
                    .as_deref()
                    .is_none_or(|part| path.contains(part))
        })?;
        rule.times -= 1;
        Some((rule.failure.clone(), rule.apply_first))
    }

    fn route(&mut self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Reply {
        let Some(path) = uri
            .path()
            .strip_prefix(self.config.path_prefix.trim_end_matches('/'))
        else {
            return Reply::message(404, "Not Found");
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let query = uri.query().unwrap_or("");
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let authorization = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["app", "installations", id, "access_tokens"]) => {
                if let Err(reason) = self.verify_jwt(authorization) {
                    return Reply::message(401, &reason);
                }
                self.create_token(id)
            }
            ("GET", ["repos", owner, name, "installation"]) => {
                if let Err(reason) = self.verify_jwt(authorization) {
                    return Reply::message(401, &reason);
                }
                match self.repo(owner, name) {
                    Some(repo) => installation_reply(repo.installation_id, self.config.app_id),
                    None => Reply::message(404, "Not Found"),
                }
            }
            ("GET", ["repositories", id, "issues", number, "comments"]) => {
                let repo = id
                    .parse::<u64>()
                    .ok()
                    .and_then(|id| self.config.repos.iter().find(|r| r.id == id).cloned());
                match repo {
                    Some(repo) => self.with_token(authorization, &repo, |s| {
                        s.list_comments(&repo, number, query)
                    }),
                    None => Reply::message(404, "Not Found"),
                }
            }
            ("GET" | "POST" | "PATCH", ["repos", owner, name, rest @ ..]) => {
                let Some(repo) = self.repo(owner, name) else {
                    return Reply::message(404, "Not Found");
                };
                self.with_token(authorization, &repo, |s| match (method.as_str(), rest) {
                    ("GET", ["issues", number, "comments"]) => {
                        s.list_comments(&repo, number, query)
                    }
                    ("POST", ["issues", number, "comments"]) => {
                        s.create_comment(&repo, number, &body)
                    }
                    ("PATCH", ["issues", "comments", id]) => s.update_comment(&repo, id, &body),
                    ("GET", ["commits", sha, "check-runs"]) => s.list_check_runs(&repo, sha, query),
                    ("POST", ["check-runs"]) => s.create_check_run(&repo, &body),
                    ("PATCH", ["check-runs", id]) => s.update_check_run(&repo, id, &body),
                    _ => Reply::message(404, "Not Found"),
                })
            }
            _ => Reply::message(404, "Not Found"),
        }
    }

    fn repo(&self, owner: &str, name: &str) -> Option<FakeRepo> {
        self.config
            .repos
            .iter()
            .find(|r| r.owner.eq_ignore_ascii_case(owner) && r.name.eq_ignore_ascii_case(name))
            .cloned()
    }

    /// Run `route` if `authorization` holds a live token of the installation
    /// on `repo`, else answer 401.
    fn with_token(
        &mut self,
        authorization: &str,
        repo: &FakeRepo,
        route: impl FnOnce(&mut Self) -> Reply,
    ) -> Reply {
        let token = authorization
            .strip_prefix("token ")
            .or_else(|| authorization.strip_prefix("Bearer "))
            .unwrap_or("");
        let now = self.config.clock.now();
        match self.tokens.get(token) {
            Some((installation, expires_at))
                if *installation == repo.installation_id && *expires_at > now =>
            {
                route(self)
            }
            _ => Reply::message(401, "Bad credentials"),
        }
    }

    /// Check an App JWT: RS256 signature by the configured key, `iss` the
    /// App id, `iat` not in the future, `exp` after now and at most 10
    /// minutes ahead.
    fn verify_jwt(&self, authorization: &str) -> Result<(), String> {
        let jwt = authorization
            .strip_prefix("Bearer ")
            .ok_or("A JSON web token could not be decoded: no Bearer credentials")?;
        let mut parts = jwt.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("A JSON web token could not be decoded: not three parts".to_owned());
        };
        let decode = |part: &str| -> Result<Vec<u8>, String> {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|e| format!("A JSON web token could not be decoded: {e}"))
        };
        let header: Value = serde_json::from_slice(&decode(header)?).map_err(|e| e.to_string())?;
        if header["alg"] != "RS256" {
            return Err(format!("JWT alg must be RS256, got {}", header["alg"]));
        }
        let signed = &jwt[..jwt.len() - signature.len() - 1];
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.config.public_key_der)
            .verify(signed.as_bytes(), &decode(signature)?)
            .map_err(|_| "JWT signature does not verify with the App's public key".to_owned())?;
        let claims: Value = serde_json::from_slice(&decode(claims)?).map_err(|e| e.to_string())?;
        let iss = match &claims["iss"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => return Err(format!("JWT iss is {other}")),
        };
        if iss != self.config.app_id.to_string() {
            return Err(format!("JWT iss {iss} is not App {}", self.config.app_id));
        }
        let now = self.config.clock.now().timestamp();
        let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
            return Err("JWT lacks numeric iat/exp".to_owned());
        };
        if iat > now {
            return Err(
                "'Issued at' claim ('iat') must be an Integer representing a time in the past"
                    .to_owned(),
            );
        }
        if exp <= now {
            return Err("'Expiration time' claim ('exp') is too far in the past".to_owned());
        }
        if exp > now + 600 {
            return Err("'Expiration time' claim ('exp') is too far in the future".to_owned());
        }
        Ok(())
    }

    fn create_token(&mut self, installation_id: &str) -> Reply {
        let Some(installation_id) = installation_id
            .parse::<u64>()
            .ok()
            .filter(|id| self.config.repos.iter().any(|r| r.installation_id == *id))
        else {
            return Reply::message(404, "Not Found");
        };
        self.tokens_issued += 1;
        let token = format!("ghs_fake{installation_id}x{}", self.tokens_issued);
        let expires_at = later(self.config.clock.now(), self.config.token_lifetime);
        self.tokens
            .insert(token.clone(), (installation_id, expires_at));
        let mut reply: Value = serde_json::from_str(TOKEN_EXAMPLE).unwrap_or_default();
        reply["token"] = json!(token);
        reply["expires_at"] = json!(expires_at.to_rfc3339_opts(SecondsFormat::Secs, true));
        Reply::json(201, reply)
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn comments_of(&self, owner: &str, name: &str, number: u64) -> Vec<FakeComment> {
        let repo = format!("{owner}/{name}");
        self.comments
            .iter()
            .filter(|c| c.repo.eq_ignore_ascii_case(&repo) && c.issue == number)
            .cloned()
            .collect()
    }

    pub fn add_comment(
        &mut self,
        owner: &str,
        name: &str,
        number: u64,
        login: &str,
        bot: bool,
        body: &str,
    ) -> u64 {
        let id = self.next_id();
        self.comments.push(FakeComment {
            id,
            repo: format!("{owner}/{name}"),
            issue: number,
            login: login.to_owned(),
            bot,
            body: body.to_owned(),
        });
        id
    }

    pub fn reinstall(&mut self, owner: &str, name: &str, installation_id: u64) {
        for repo in &mut self.config.repos {
            if repo.owner.eq_ignore_ascii_case(owner) && repo.name.eq_ignore_ascii_case(name) {
                repo.installation_id = installation_id;
            }
        }
    }

    pub fn check_runs_of(&self, owner: &str, name: &str, sha: &str) -> Vec<FakeCheckRun> {
        let repo = format!("{owner}/{name}");
        self.check_runs
            .iter()
            .filter(|c| c.repo.eq_ignore_ascii_case(&repo) && c.head_sha == sha)
            .cloned()
            .collect()
    }

    fn list_comments(&self, repo: &FakeRepo, number: &str, query: &str) -> Reply {
        let Ok(number) = number.parse::<u64>() else {
            return Reply::message(404, "Not Found");
        };
        let per_page = query_param(query, "per_page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let page = query_param(query, "page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let all = self.comments_of(&repo.owner, &repo.name, number);
        let last = all.len().div_ceil(per_page).max(1);
        let items: Vec<Value> = all
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|c| self.render_comment(c))
            .collect();
        let link = |p: usize, rel: &str| {
            format!(
                "<{}/repositories/{}/issues/{number}/comments?per_page={per_page}&page={p}>; rel=\"{rel}\"",
                self.link_url, repo.id
            )
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(link(page - 1, "prev"));
            links.push(link(1, "first"));
        }
        if page < last {
            links.push(link(page + 1, "next"));
            links.push(link(last, "last"));
        }
        let mut reply = Reply::json(200, Value::Array(items));
        if !links.is_empty() {
            reply.headers.push(("link".to_owned(), links.join(", ")));
        }
        reply
    }

    fn create_comment(&mut self, repo: &FakeRepo, number: &str, body: &Value) -> Reply {
        let (Ok(number), Some(text)) = (number.parse::<u64>(), body["body"].as_str()) else {
            return Reply::message(422, "Invalid request: body is required");
        };
        let id = self.add_comment(&repo.owner, &repo.name, number, "sizegate[bot]", true, text);
        let comment = self.comments.iter().find(|c| c.id == id).cloned();
        match comment {
            Some(comment) => Reply::json(201, self.render_comment(&comment)),
            None => Reply::message(500, "comment vanished"),
        }
    }

    fn update_comment(&mut self, repo: &FakeRepo, id: &str, body: &Value) -> Reply {
        let Some(text) = body["body"].as_str() else {
            return Reply::message(422, "Invalid request: body is required");
        };
        let full_name = format!("{}/{}", repo.owner, repo.name);
        let id = id.parse::<u64>().unwrap_or(0);
        let Some(comment) = self
            .comments
            .iter_mut()
            .find(|c| c.id == id && c.repo.eq_ignore_ascii_case(&full_name))
        else {
            return Reply::message(404, "Not Found");
        };
        comment.body = text.to_owned();
        let comment = comment.clone();
        Reply::json(200, self.render_comment(&comment))
    }

    fn render_comment(&self, comment: &FakeComment) -> Value {
        let mut value: Value = serde_json::from_str(COMMENT_EXAMPLE).unwrap_or_default();
        let api = format!("{}/repos/{}", self.base_url, comment.repo);
        value["id"] = json!(comment.id);
        value["body"] = json!(comment.body);
        value["url"] = json!(format!("{api}/issues/comments/{}", comment.id));
        value["issue_url"] = json!(format!("{api}/issues/{}", comment.issue));
        value["html_url"] = json!(format!(
            "https://github.com/{}/pull/{}#issuecomment-{}",
            comment.repo, comment.issue, comment.id
        ));
        value["user"]["login"] = json!(comment.login);
        value["user"]["type"] = json!(if comment.bot { "Bot" } else { "User" });
        value
    }

    fn list_check_runs(&self, repo: &FakeRepo, sha: &str, query: &str) -> Reply {
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

    fn create_check_run(&mut self, repo: &FakeRepo, body: &Value) -> Reply {
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

    fn update_check_run(&mut self, repo: &FakeRepo, id: &str, body: &Value) -> Reply {
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

    fn render_check_run(&self, run: &FakeCheckRun) -> Value {
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

fn installation_reply(installation_id: u64, app_id: u64) -> Reply {
    let mut value: Value = serde_json::from_str(INSTALLATION_EXAMPLE).unwrap_or_default();
    value["id"] = json!(installation_id);
    value["app_id"] = json!(app_id);
    Reply::json(200, value)
}

fn failure_reply(failure: &InjectedFailure, now: DateTime<Utc>) -> Reply {
    const SECONDARY: &str =
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.";
    match failure {
        InjectedFailure::ServerError => Reply::message(500, "Server Error"),
        InjectedFailure::SecondaryRateLimit => Reply::message(403, SECONDARY),
        InjectedFailure::RetryAfter(secs) => {
            let mut reply = Reply::message(403, SECONDARY);
            reply
                .headers
                .push(("retry-after".to_owned(), secs.to_string()));
            reply
        }
        InjectedFailure::PrimaryRateLimit(secs) => {
            let mut reply = Reply::message(403, "API rate limit exceeded for installation.");
            let reset = now.timestamp() + i64::try_from(*secs).unwrap_or(0);
            reply
                .headers
                .push(("x-ratelimit-remaining".to_owned(), "0".to_owned()));
            reply
                .headers
                .push(("x-ratelimit-reset".to_owned(), reset.to_string()));
            reply
        }
    }
}

/// The decoded value of `name` in a query string.
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| {
            percent_decode_str(&value.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}
