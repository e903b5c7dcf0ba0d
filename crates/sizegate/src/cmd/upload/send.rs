//! The HTTP side of `sizegate upload`: one multipart POST, artifacts streamed
//! from disk (files are re-opened on each attempt, so a retry sends the same
//! bytes), retried with exponential backoff on connection errors, 5xx, 408
//! and 429 (after its `Retry-After`). Any other 4xx is final: the server's
//! `error` message is shown as is and nothing is sent again.
//!
//! A request with more than [`EXPECT_THRESHOLD`] bytes says
//! `Expect: 100-continue` and holds the artifacts' bytes back for up to
//! [`EXPECT_WAIT`] (what curl does): a server that refuses the upload from
//! its headers (token, declared length) answers before any of them is sent,
//! and that answer is what the user sees, not a write error.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use futures_util::StreamExt as _;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use sizegate_analyze::human;
use tokio_util::io::ReaderStream;

use super::oidc_token;
use super::plan::Plan;
use super::progress::Progress;

/// How the uploader proves who it is.
pub enum Credentials {
    /// An upload token.
    Token(String),
    /// A GitHub Actions OIDC token, requested at upload time.
    GithubOidc {
        /// `ACTIONS_ID_TOKEN_REQUEST_URL`.
        request_url: String,
        /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
        request_token: String,
        /// The audience to ask for: the server's public URL.
        audience: String,
    },
}

/// How many times to try, and the first pause (doubled after each failure).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, at least 1.
    pub attempts: u32,
    /// Pause after the first failure.
    pub first_delay: Duration,
}

/// When to send artifacts in resumable sessions, and in what chunks.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// An artifact larger than this goes through a session (and then every
    /// artifact of the upload does).
    pub threshold: u64,
    /// Bytes per `PATCH`.
    pub chunk_size: u64,
}

/// One upload to run.
pub struct Upload<'a> {
    /// What to send.
    pub plan: &'a Plan,
    /// Who we are.
    pub credentials: &'a Credentials,
    /// When to try again.
    pub retry: RetryPolicy,
    /// When to use resumable sessions.
    pub sessions: SessionPolicy,
}

/// One artifact in the server's answer.
#[derive(Debug, Deserialize)]
struct TargetAnswer {
    target: Option<String>,
    status: Option<String>,
    status_url: Option<String>,
}

/// The server's answer to an accepted upload.
#[derive(Debug, Deserialize)]
pub struct Answer {
    status_url: Option<String>,
    #[serde(default)]
    targets: Vec<TargetAnswer>,
}

impl Answer {
    /// The answers of several requests (one per session) as one.
    pub(super) fn merge(answers: Vec<Answer>) -> Answer {
        let mut merged = Answer {
            status_url: None,
            targets: Vec::new(),
        };
        for answer in answers {
            merged.status_url = merged.status_url.or(answer.status_url);
            merged.targets.extend(answer.targets);
        }
        merged
    }

    /// What to print on success: the URLs to poll.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(url) = &self.status_url {
            lines.push(format!("status: {url}"));
        }
        for t in &self.targets {
            let name = t.target.as_deref().unwrap_or("?");
            let status = t.status.as_deref().unwrap_or("accepted");
            match &t.status_url {
                Some(url) => lines.push(format!("  {name} ({status}): {url}")),
                None => lines.push(format!("  {name} ({status})")),
            }
        }
        lines
    }
}

/// Why one attempt failed, and whether another may succeed.
pub(super) enum AttemptError {
    /// Worth another try (connection error, 5xx, 408).
    Transient(anyhow::Error),
    /// Worth another try after the pause the server asked for (429, or a
    /// 503 with `Retry-After`).
    RetryAfter(anyhow::Error, Duration),
    /// Final (4xx, a local file problem).
    Final(anyhow::Error),
}

/// Requests larger than this announce `Expect: 100-continue`.
pub const EXPECT_THRESHOLD: u64 = 1 << 20;
/// How long the artifacts' bytes wait for an early answer. reqwest does not
/// tell us about the interim `100 Continue`, so this is a fixed pause (as
/// curl's when a server sends no `100`); an answer ends it at once.
pub const EXPECT_WAIT: Duration = Duration::from_secs(1);

/// Holds a body back until [`EXPECT_WAIT`] passes, or ends it once the
/// answer came (the request is over: nothing more should go out).
#[derive(Clone)]
struct ExpectGate {
    answered: tokio_util::sync::CancellationToken,
}

impl ExpectGate {
    async fn wait(self) -> std::io::Result<()> {
        tokio::select! {
            () = tokio::time::sleep(EXPECT_WAIT) => Ok(()),
            () = self.answered.cancelled() => Err(std::io::Error::other(
                "the server answered before the body was sent",
            )),
        }
    }
}

/// Largest answer body read from the server.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

impl Upload<'_> {
    /// Send the upload, retrying as the policy allows: in one request, or
    /// in resumable sessions when an artifact is above the threshold.
    pub async fn send(&self) -> anyhow::Result<Answer> {
        // reqwest is built without a bundled TLS crypto provider; use ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(300))
            .user_agent(concat!("sizegate/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")?;
        if self
            .plan
            .artifacts
            .iter()
            .any(|a| a.size > self.sessions.threshold)
        {
            return self.send_in_sessions(&client).await;
        }
        let endpoint = format!("{}/api/v1/uploads", self.plan.server.trim_end_matches('/'));
        let meta = serde_json::to_string(&self.plan.meta).context("encoding the meta part")?;
        let attempts = self.retry.attempts.max(1);
        let mut delay = self.retry.first_delay;
        let mut attempt = 1;
        loop {
            // An OIDC token is good for one upload (the server remembers its
            // id), so every attempt asks the runner for a fresh one: the
            // retry after a 5xx would otherwise be refused as a replay.
            let token = self.token(&client).await?;
            let progress = Arc::new(Progress::new(self.plan.total_bytes()));
            let result = self
                .attempt(&client, &endpoint, &token, &meta, &progress)
                .await;
            progress.finish();
            match result {
                Ok(answer) => return Ok(answer),
                Err(AttemptError::Final(e)) => return Err(e),
                Err(AttemptError::Transient(e) | AttemptError::RetryAfter(e, _))
                    if attempt >= attempts =>
                {
                    return Err(e.context(format!("upload failed after {attempts} attempts")));
                }
                Err(AttemptError::Transient(e)) => {
                    eprintln!(
                        "upload attempt {attempt} of {attempts} failed: {e:#}; retrying in {delay:?}"
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                    attempt += 1;
                }
                Err(AttemptError::RetryAfter(e, pause)) => {
                    let pause = pause.max(delay);
                    eprintln!(
                        "upload attempt {attempt} of {attempts} failed: {e:#}; retrying in {pause:?} (as the server asked)"
                    );
                    tokio::time::sleep(pause).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                    attempt += 1;
                }
            }
        }
    }

    /// The bearer token for one request: an OIDC token is good for one
    /// request only (the server remembers its id), so a fresh one each time.
    pub(super) async fn token(&self, client: &reqwest::Client) -> anyhow::Result<String> {
        Ok(match self.credentials {
            Credentials::Token(token) => token.clone(),
            Credentials::GithubOidc {
                request_url,
                request_token,
                audience,
            } => oidc_token::request(client, request_url, request_token, audience).await?,
        })
    }

    async fn attempt(
        &self,
        client: &reqwest::Client,
        endpoint: &str,
        token: &str,
        meta: &str,
        progress: &Arc<Progress>,
    ) -> Result<Answer, AttemptError> {
        let file_problem: Arc<Mutex<Option<String>>> = Arc::default();
        let expect = self.plan.total_bytes() > EXPECT_THRESHOLD;
        let answered = tokio_util::sync::CancellationToken::new();
        // Only the first artifact waits: the rest follow it.
        let mut gate = expect.then(|| ExpectGate {
            answered: answered.clone(),
        });
        let mut form = Form::new().part(
            "meta",
            Part::text(meta.to_owned())
                .mime_str("application/json")
                .map_err(|e| AttemptError::Final(e.into()))?,
        );
        let parts = self
            .plan
            .artifacts
            .iter()
            .map(|a| ("artifact", a))
            .chain(self.plan.debug_files.iter().map(|d| ("debug", d)));
        for (part_name, artifact) in parts {
            let file = tokio::fs::File::open(&artifact.path).await.map_err(|e| {
                AttemptError::Final(anyhow::Error::new(e).context(format!(
                    "artifact `{}`: opening {}",
                    artifact.target,
                    artifact.path.display()
                )))
            })?;
            let body = file_body(
                file,
                artifact.path.clone(),
                artifact.size,
                Arc::clone(progress),
                Arc::clone(&file_problem),
                gate.take(),
            );
            let part = Part::stream_with_length(body, artifact.size)
                .file_name(artifact.target.clone())
                .mime_str("application/octet-stream")
                .map_err(|e| AttemptError::Final(e.into()))?;
            form = form.part(part_name, part);
        }
        let mut request = client
            .post(endpoint)
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json");
        if expect {
            request = request.header(reqwest::header::EXPECT, "100-continue");
        }
        let sent = request.multipart(form).send().await;
        // An answer that came early ends the body still held back.
        answered.cancel();
        if let Some(problem) = file_problem.lock().ok().and_then(|p| p.clone()) {
            return Err(AttemptError::Final(anyhow::anyhow!(problem)));
        }
        let response = sent.map_err(|e| {
            AttemptError::Transient(anyhow::Error::new(e).context(format!("POST {endpoint}")))
        })?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = read_limited(response)
            .await
            .map_err(AttemptError::Transient)?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                AttemptError::Final(anyhow::Error::new(e).context(format!(
                    "the server accepted the upload (HTTP {status}) but its answer is not the expected JSON: {}",
                    shorten(&body)
                )))
            });
        }
        Err(classify(status, retry_after, &body))
    }
}

/// The error for a non-2xx answer: worth retrying or final.
pub(super) fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> AttemptError {
    {
        let message = server_message(body);
        if status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some())
        {
            AttemptError::RetryAfter(
                anyhow::anyhow!("server busy (HTTP {status}): {message}"),
                retry_after.unwrap_or(Duration::from_secs(1)),
            )
        } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
            AttemptError::Transient(anyhow::anyhow!("server error (HTTP {status}): {message}"))
        } else {
            let hint = match status {
                StatusCode::UNAUTHORIZED => {
                    " (check --token / SIZEGATE_TOKEN, or the OIDC audience)"
                }
                _ => "",
            };
            AttemptError::Final(anyhow::anyhow!(
                "upload rejected (HTTP {status}): {message}{hint}"
            ))
        }
    }
}

/// The pause a `Retry-After` header asks for (seconds only; an HTTP date
/// counts as one second), at most five minutes.
pub(super) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds = value.trim().parse::<u64>().unwrap_or(1);
    Some(Duration::from_secs(seconds.min(300)))
}

/// A file's bytes as a request body: counted for the progress line, and
/// checked against the size announced in the part (a file that grows or
/// shrinks mid-upload fails the attempt instead of sending a torn body).
/// With a gate, nothing is read before it opens.
fn file_body(
    file: tokio::fs::File,
    path: PathBuf,
    expected: u64,
    progress: Arc<Progress>,
    problem: Arc<Mutex<Option<String>>>,
    gate: Option<ExpectGate>,
) -> reqwest::Body {
    let chunks = checked_chunks(file, path, expected, progress, problem);
    match gate {
        None => reqwest::Body::wrap_stream(chunks),
        Some(gate) => {
            let opened = futures_util::stream::once(gate.wait()).filter_map(|r| {
                std::future::ready(match r {
                    Ok(()) => None,
                    Err(e) => Some(Err(e)),
                })
            });
            reqwest::Body::wrap_stream(opened.chain(chunks))
        }
    }
}

/// The chunks of `file`, ending in an error (also put in `problem`) if the
/// file does not hold exactly `expected` bytes.
fn checked_chunks(
    file: tokio::fs::File,
    path: PathBuf,
    expected: u64,
    progress: Arc<Progress>,
    problem: Arc<Mutex<Option<String>>>,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    let mut seen: u64 = 0;
    let mut finished = false;
    ReaderStream::with_capacity(file, 64 * 1024)
        .map(Some)
        .chain(futures_util::stream::iter([None]))
        .filter_map(move |item| {
            let result = match item {
                _ if finished => None,
                Some(Ok(chunk)) => {
                    seen += chunk.len() as u64;
                    if seen > expected {
                        finished = true;
                        Some(Err(changed(&path, expected, &problem)))
                    } else {
                        progress.advance(chunk.len() as u64);
                        Some(Ok(chunk))
                    }
                }
                Some(Err(e)) => {
                    finished = true;
                    let message = format!("reading {}: {e}", path.display());
                    if let Ok(mut slot) = problem.lock() {
                        *slot = Some(message.clone());
                    }
                    Some(Err(std::io::Error::other(message)))
                }
                None if seen != expected => {
                    finished = true;
                    Some(Err(changed(&path, expected, &problem)))
                }
                None => None,
            };
            std::future::ready(result)
        })
}

fn changed(
    path: &std::path::Path,
    expected: u64,
    problem: &Mutex<Option<String>>,
) -> std::io::Error {
    let message = format!(
        "{} changed size during the upload (it had {expected} bytes); upload finished builds only",
        path.display()
    );
    if let Ok(mut slot) = problem.lock() {
        *slot = Some(message.clone());
    }
    std::io::Error::other(message)
}

pub(super) async fn read_limited(mut response: reqwest::Response) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .context("reading the server's answer")?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            anyhow::bail!(
                "the server's answer is larger than {}",
                human::size(MAX_ANSWER_BYTES as u64)
            );
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The `error` of a `{"error": "..."}` body, else the body itself, shortened.
fn server_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => e.error,
        Err(_) if body.is_empty() => "(empty answer)".to_owned(),
        Err(_) => shorten(body),
    }
}

fn shorten(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(500)]);
    text.trim().to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn read_all(path: &std::path::Path, expected: u64) -> (Vec<u8>, Option<String>) {
        let file = tokio::fs::File::open(path).await.unwrap();
        let problem: Arc<Mutex<Option<String>>> = Arc::default();
        let progress = Arc::new(Progress::new(expected));
        let mut stream = std::pin::pin!(checked_chunks(
            file,
            path.to_path_buf(),
            expected,
            progress,
            Arc::clone(&problem),
        ));
        let mut bytes = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(_) => break,
            }
        }
        let problem = problem.lock().unwrap().clone();
        (bytes, problem)
    }

    #[tokio::test]
    async fn a_file_of_another_size_than_announced_ends_in_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app");
        let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();

        let (bytes, problem) = read_all(&path, content.len() as u64).await;
        assert!(bytes == content);
        assert_eq!(problem, None);

        // Grew after the check: never more than announced goes out.
        let (bytes, problem) = read_all(&path, 100_000).await;
        assert!(bytes.len() <= 100_000);
        assert!(problem.unwrap().contains("changed size during the upload"));

        // Shrank after the check.
        let (bytes, problem) = read_all(&path, 300_000).await;
        assert_eq!(bytes.len(), content.len());
        assert!(problem.unwrap().contains("changed size during the upload"));
    }
}
