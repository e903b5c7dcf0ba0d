//! Resumable uploads (`/api/v1/upload-sessions`), used for artifacts above
//! the session threshold: one session per artifact, the file sent in
//! chunks of [`SessionPolicy::chunk_size`]; after a failed chunk the
//! session's offset is read back from the server and the upload goes on
//! from there, so a dropped connection costs at most one chunk. The sha256,
//! computed locally first, is checked by the server before the artifact
//! exists.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::StreamExt as _;
use reqwest::StatusCode;
use serde::Deserialize;
use sha2::Digest as _;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio_util::io::ReaderStream;

use super::plan::Artifact;
use super::progress::Progress;
use super::send::{Answer, AttemptError, Upload, classify, read_limited, retry_after};

/// A session as the server shows it.
#[derive(Debug, Deserialize)]
struct SessionState {
    url: String,
    offset: u64,
}

impl Upload<'_> {
    /// Every artifact through its own session.
    pub(super) async fn send_in_sessions(
        &self,
        client: &reqwest::Client,
    ) -> anyhow::Result<Answer> {
        if !self.plan.debug_files.is_empty() {
            anyhow::bail!(
                "--debug-file is not supported yet for artifacts sent in resumable sessions \
                 (larger than --chunked-threshold); raise --chunked-threshold to send them in one request"
            );
        }
        let mut answers = Vec::new();
        for artifact in &self.plan.artifacts {
            answers.push(self.send_one(client, artifact).await?);
        }
        Ok(Answer::merge(answers))
    }

    fn base(&self) -> &str {
        self.plan.server.trim_end_matches('/')
    }

    /// Run `request` until it succeeds, fails for good, or runs out of
    /// attempts.
    async fn retrying<T, F, Fut>(
        &self,
        client: &reqwest::Client,
        what: &str,
        mut request: F,
    ) -> anyhow::Result<T>
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, AttemptError>>,
    {
        let attempts = self.retry.attempts.max(1);
        let mut delay = self.retry.first_delay;
        let mut attempt = 1;
        loop {
            let token = self.token(client).await?;
            let pause = match request(token).await {
                Ok(value) => return Ok(value),
                Err(AttemptError::Final(e)) => return Err(e),
                Err(AttemptError::Transient(e) | AttemptError::RetryAfter(e, _))
                    if attempt >= attempts =>
                {
                    return Err(e.context(format!("{what} failed after {attempts} attempts")));
                }
                Err(AttemptError::Transient(e)) => {
                    eprintln!(
                        "{what}: attempt {attempt} of {attempts} failed: {e:#}; retrying in {delay:?}"
                    );
                    delay
                }
                Err(AttemptError::RetryAfter(e, pause)) => {
                    let pause = pause.max(delay);
                    eprintln!(
                        "{what}: attempt {attempt} of {attempts} failed: {e:#}; retrying in {pause:?} (as the server asked)"
                    );
                    pause
                }
            };
            tokio::time::sleep(pause).await;
            delay = (delay * 2).min(Duration::from_secs(30));
            attempt += 1;
        }
    }

    async fn send_one(
        &self,
        client: &reqwest::Client,
        artifact: &Artifact,
    ) -> anyhow::Result<Answer> {
        let sha256 = sha256_of(artifact).await?;
        let create = serde_json::json!({
            "meta": &self.plan.meta,
            "target": &artifact.target,
            "size": artifact.size,
        });
        let endpoint = format!("{}/api/v1/upload-sessions", self.base());
        let session: SessionState = self
            .retrying(client, "starting the upload session", |token| {
                json_answer(json_body(
                    client.post(&endpoint).bearer_auth(token),
                    &create,
                ))
            })
            .await?;
        let url = format!("{}{}", self.base(), session.url);
        let progress = Arc::new(Progress::named(&artifact.target, artifact.size));
        let mut offset = session.offset;
        progress.set(offset);
        // Failures in a row: any chunk that goes through starts again at 0.
        let attempts = self.retry.attempts.max(1);
        let mut failures = 0;
        let mut delay = self.retry.first_delay;
        while offset < artifact.size {
            let length = self.sessions.chunk_size.max(1).min(artifact.size - offset);
            let token = self.token(client).await?;
            let result =
                send_chunk(client, &url, &token, artifact, offset, length, &progress).await;
            match result {
                Ok(next) => {
                    offset = next;
                    failures = 0;
                    delay = self.retry.first_delay;
                }
                Err(AttemptError::Final(e)) => {
                    progress.finish();
                    return Err(e);
                }
                Err(AttemptError::Transient(e) | AttemptError::RetryAfter(e, _)) => {
                    failures += 1;
                    if failures >= attempts {
                        progress.finish();
                        return Err(e.context(format!(
                            "uploading `{}` failed {attempts} times in a row at byte {offset}",
                            artifact.target
                        )));
                    }
                    progress.finish();
                    eprintln!(
                        "uploading `{}`: a chunk at byte {offset} failed: {e:#}; resuming in {delay:?}",
                        artifact.target
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                    let state: SessionState = self
                        .retrying(client, "reading the upload session's offset", |token| {
                            json_answer(client.get(&url).bearer_auth(token))
                        })
                        .await?;
                    offset = state.offset;
                    progress.set(offset);
                    eprintln!(
                        "uploading `{}`: the server has {offset} bytes; going on from there",
                        artifact.target
                    );
                }
            }
        }
        progress.finish();
        let finish = serde_json::json!({ "sha256": sha256 });
        self.retrying(client, "finishing the upload session", |token| {
            json_answer(json_body(client.put(&url).bearer_auth(token), &finish))
        })
        .await
    }
}

/// `request` with `value` as its JSON body.
fn json_body(
    request: reqwest::RequestBuilder,
    value: &serde_json::Value,
) -> reqwest::RequestBuilder {
    request
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(value.to_string())
}

/// Send a request and read its JSON answer.
async fn json_answer<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
) -> Result<T, AttemptError> {
    let response = request
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| AttemptError::Transient(e.into()))?;
    let status = response.status();
    let pause = retry_after(response.headers());
    let body = read_limited(response)
        .await
        .map_err(AttemptError::Transient)?;
    if !status.is_success() {
        return Err(classify(status, pause, &body));
    }
    serde_json::from_slice(&body).map_err(|e| {
        AttemptError::Final(anyhow::Error::new(e).context(format!(
            "the server's answer (HTTP {status}) is not the expected JSON"
        )))
    })
}

/// `PATCH` bytes `offset..offset+length` of the artifact; the new offset.
async fn send_chunk(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    artifact: &Artifact,
    offset: u64,
    length: u64,
    progress: &Arc<Progress>,
) -> Result<u64, AttemptError> {
    let open = |e: std::io::Error| {
        AttemptError::Final(anyhow::Error::new(e).context(format!(
            "artifact `{}`: reading {}",
            artifact.target,
            artifact.path.display()
        )))
    };
    let mut file = tokio::fs::File::open(&artifact.path).await.map_err(open)?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(open)?;
    let counted = Arc::clone(progress);
    let stream = ReaderStream::with_capacity(file.take(length), 64 * 1024).map(move |chunk| {
        if let Ok(bytes) = &chunk {
            counted.advance(bytes.len() as u64);
        }
        chunk
    });
    let sent = client
        .patch(url)
        .bearer_auth(token)
        .header(reqwest::header::ACCEPT, "application/json")
        .header(
            reqwest::header::CONTENT_RANGE,
            format!("bytes {offset}-{}/{}", offset + length - 1, artifact.size),
        )
        .header(reqwest::header::CONTENT_LENGTH, length)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    let response = sent.map_err(|e| AttemptError::Transient(anyhow::Error::new(e)))?;
    let status = response.status();
    let pause = retry_after(response.headers());
    let body = read_limited(response)
        .await
        .map_err(AttemptError::Transient)?;
    if status == StatusCode::RANGE_NOT_SATISFIABLE {
        // Another offset than ours: read it back and go on from there.
        return Err(AttemptError::Transient(anyhow::anyhow!(
            "the server expected another offset"
        )));
    }
    if !status.is_success() {
        return Err(classify(status, pause, &body));
    }
    let state: SessionState = serde_json::from_slice(&body).map_err(|e| {
        AttemptError::Transient(anyhow::Error::new(e).context("reading the chunk's answer"))
    })?;
    Ok(state.offset)
}

/// sha256 of the artifact's file, read once (memory stays flat).
async fn sha256_of(artifact: &Artifact) -> anyhow::Result<String> {
    let mut file = tokio::fs::File::open(&artifact.path)
        .await
        .with_context(|| format!("opening {}", artifact.path.display()))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .await
            .with_context(|| format!("reading {}", artifact.path.display()))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    if total != artifact.size {
        anyhow::bail!(
            "{} changed size during the upload (it had {} bytes); upload finished builds only",
            artifact.path.display(),
            artifact.size
        );
    }
    Ok(hex::encode(hasher.finalize()))
}
