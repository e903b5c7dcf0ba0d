//! The fake's state behind one mutex, and its routing: App JWT and
//! installation-token checks, injected failures, the record of calls.
//! Comments and check runs are in their own modules.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use http::{HeaderMap, Method, Uri};
use percent_encoding::percent_decode_str;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::check_runs::FakeCheckRun;
use super::comments::FakeComment;
use super::{FailureRule, FakeGitHubConfig, FakeRepo, InjectedFailure, RecordedCall};
use crate::clock::later;

const INSTALLATION_EXAMPLE: &str =
    include_str!("../../fixtures/api/installation.get-repo-installation.json");
const TOKEN_EXAMPLE: &str = include_str!("../../fixtures/api/installation-token.create.json");

/// A reply before it becomes an HTTP response.
#[derive(Debug)]
pub(super) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub(super) fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    pub(super) fn message(status: u16, message: &str) -> Self {
        Self::json(
            status,
            json!({ "message": message, "documentation_url": "https://docs.github.com/rest" }),
        )
    }
}

/// What to do with a call: answer it, or wait first.
#[derive(Debug)]
pub(super) enum Step {
    /// Answer at once.
    Answer(Reply),
    /// Wait, then send `reply`, or route the call then if it has none yet.
    Wait { wait: Wait, reply: Option<Reply> },
}

/// How long a slow or held call waits.
#[derive(Debug)]
pub(super) enum Wait {
    /// A fixed delay.
    For(std::time::Duration),
    /// Until the release generation passes the one given.
    Release(watch::Receiver<u64>, u64),
}

/// Everything the fake knows.
#[derive(Debug)]
pub(crate) struct FakeState {
    pub(super) config: FakeGitHubConfig,
    pub(super) base_url: String,
    pub(super) link_url: String,
    pub calls: Vec<RecordedCall>,
    pub failures: Vec<FailureRule>,
    pub(super) comments: Vec<FakeComment>,
    pub(super) commit_comments: Vec<super::commit_comments::FakeCommitComment>,
    pub(super) check_runs: Vec<FakeCheckRun>,
    /// Token → (installation id, expiry).
    pub tokens: HashMap<String, (u64, DateTime<Utc>)>,
    pub tokens_issued: usize,
    /// Calls that reached a hold so far.
    pub holds: usize,
    /// Bumped by each release of held calls.
    pub release: watch::Sender<u64>,
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
            commit_comments: Vec::new(),
            check_runs: Vec::new(),
            tokens: HashMap::new(),
            tokens_issued: 0,
            holds: 0,
            release: watch::Sender::new(0),
            next_id: 1000,
        }
    }

    /// Record, maybe fail, else route one call. A slow or held call is
    /// routed and recorded now if its rule applies it first, else when its
    /// wait ends ([`Self::route_and_record`]).
    pub fn handle(&mut self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Step {
        let (reply, wait) = match self.take_failure(method, uri.path()) {
            Some((InjectedFailure::Slow(delay), applied)) => {
                let reply = applied.then(|| self.route(method, uri, headers, body));
                (reply, Some(Wait::For(delay)))
            }
            Some((InjectedFailure::Hold, applied)) => {
                self.holds += 1;
                let reply = applied.then(|| self.route(method, uri, headers, body));
                let generation = *self.release.borrow();
                (
                    reply,
                    Some(Wait::Release(self.release.subscribe(), generation)),
                )
            }
            Some((failure, true)) => {
                self.route(method, uri, headers, body);
                (Some(failure_reply(&failure, self.config.clock.now())), None)
            }
            Some((failure, false)) => {
                (Some(failure_reply(&failure, self.config.clock.now())), None)
            }
            None => (Some(self.route(method, uri, headers, body)), None),
        };
        if let Some(reply) = &reply {
            self.record(method, uri, headers, body, reply.status);
        }
        match (wait, reply) {
            (None, Some(reply)) => Step::Answer(reply),
            (Some(wait), reply) => Step::Wait { wait, reply },
            // Every arm above without a wait has a reply.
            (None, None) => Step::Answer(Reply::message(500, "fake GitHub: no reply")),
        }
    }

    /// Route a call whose wait ended, and record it.
    pub fn route_and_record(
        &mut self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Reply {
        let reply = self.route(method, uri, headers, body);
        self.record(method, uri, headers, body, reply.status);
        reply
    }

    fn record(
        &mut self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        status: u16,
    ) {
        let path_and_query = uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
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
            status,
        });
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
                    ("POST", ["commits", sha, "comments"]) => {
                        s.create_commit_comment(&repo, sha, &body)
                    }
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

    pub(super) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn reinstall(&mut self, owner: &str, name: &str, installation_id: u64) {
        for repo in &mut self.config.repos {
            if repo.owner.eq_ignore_ascii_case(owner) && repo.name.eq_ignore_ascii_case(name) {
                repo.installation_id = installation_id;
            }
        }
    }
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
        InjectedFailure::NotFound => Reply::message(404, "Not Found"),
        InjectedFailure::SecondaryRateLimit => Reply::message(403, SECONDARY),
        InjectedFailure::RetryAfter(secs) => {
            let mut reply = Reply::message(403, SECONDARY);
            reply
                .headers
                .push(("retry-after".to_owned(), secs.to_string()));
            reply
        }
        InjectedFailure::TooManyRequests(secs) => {
            let mut reply = Reply::message(429, "Too Many Requests");
            reply
                .headers
                .push(("retry-after".to_owned(), secs.to_string()));
            reply
        }
        // Slow and held calls get their real answer (see `handle`).
        InjectedFailure::Slow(_) | InjectedFailure::Hold => {
            Reply::message(500, "fake GitHub: unexpected wait")
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
pub(super) fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| {
            percent_decode_str(&value.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}
