//! `POST /api/v1/uploads`: a `meta` part (JSON) then one part per artifact,
//! whose filename is the target name. Each artifact is streamed to the blob
//! store with its sha256 computed on the way (memory stays flat whatever
//! its size); the upload is recorded in one transaction once every part is
//! in, so a rejected upload leaves nothing behind.

use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sizegate_analyze::human;
use sizegate_core::{Sha, TargetName};
use sizegate_store::RepoName;
use sizegate_store::blob::{BlobUpload, UploadError, UploadedBlob};
use sizegate_store::uploads::{
    BuildOutcome, CommitMeta, NewArtifact, NewDebugFile, Provenance, RecordedBuild,
};

use crate::auth::AuthMethod;
use crate::{ApiError, AppState, Uploader, provenance};

/// Largest `meta` part.
const MAX_META_BYTES: usize = 1 << 20;
/// Most ancestors kept per commit.
const MAX_ANCESTORS: usize = 1000;
/// Room in a multipart body beyond the artifacts' bytes: the `meta` part
/// and the headers and boundaries of the parts.
const MULTIPART_OVERHEAD: u64 = MAX_META_BYTES as u64 + (256 << 10);

/// Upload routes.
pub fn router() -> Router<AppState> {
    // The body limit is enforced per artifact while streaming, not by axum.
    Router::new().route(
        "/api/v1/uploads",
        post(upload).layer(DefaultBodyLimit::disable()),
    )
}

/// The `meta` part.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct UploadMeta {
    repo: String,
    commit: String,
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    pr: Option<i64>,
    #[serde(default)]
    base_sha: Option<String>,
    #[serde(default)]
    ancestors: Vec<String>,
    #[serde(default)]
    config: Option<String>,
    /// Built for a pull request from a fork (provenance `fork`: never a
    /// baseline).
    #[serde(default)]
    fork: bool,
    /// A release tag naming the commit (the Action sends `GITHUB_REF_NAME`
    /// on tag pushes); see `check_tag`.
    #[serde(default)]
    tag: Option<String>,
}

/// One artifact in the answer.
#[derive(Debug, Serialize)]
pub(crate) struct UploadedTarget {
    #[serde(flatten)]
    build: RecordedBuild,
    status_url: String,
    history_url: String,
}

/// The answer to an upload.
#[derive(Debug, Serialize)]
pub(crate) struct UploadResponse {
    repository: String,
    commit: String,
    status_url: String,
    targets: Vec<UploadedTarget>,
}

/// The request's `Content-Length`, when it declares one.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

fn check_sha(field: &str, value: &str) -> Result<String, ApiError> {
    match Sha::parse(value) {
        Ok(sha) => Ok(sha.into()),
        Err(e) => Err(ApiError::Unprocessable(format!(
            "meta.{field} must be a full commit sha (40 hex digits), got `{}`",
            e.shown
        ))),
    }
}

/// Target names: printable, at most 200 characters, no `..`, no control
/// characters, not starting with `/`.
pub(crate) fn check_target(name: &str) -> Result<(), ApiError> {
    match TargetName::parse(name) {
        Ok(_) => Ok(()),
        Err(e) => Err(ApiError::Unprocessable(format!(
            "target name (the part's filename) `{}` {}",
            e.shown, e.problem
        ))),
    }
}

pub(crate) fn validate_meta(meta: UploadMeta, uploader: &Uploader) -> Result<CommitMeta, ApiError> {
    let repo = RepoName::parse(&meta.repo)
        .map_err(|e| ApiError::Unprocessable(format!("meta.repo: {e}")))?;
    uploader.check_repository(&repo)?;
    let sha = check_sha("commit", &meta.commit)?;
    let base_sha = meta
        .base_sha
        .filter(|s| !s.is_empty())
        .map(|s| check_sha("base_sha", &s))
        .transpose()?;
    if meta.ancestors.len() > MAX_ANCESTORS {
        return Err(ApiError::Unprocessable(format!(
            "meta.ancestors has {} entries; at most {MAX_ANCESTORS} are accepted",
            meta.ancestors.len()
        )));
    }
    let ancestors = meta
        .ancestors
        .iter()
        .map(|a| check_sha("ancestors[]", a))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(pr) = meta.pr
        && pr <= 0
    {
        return Err(ApiError::Unprocessable(format!(
            "meta.pr must be a positive pull request number, got {pr}"
        )));
    }
    let branch = meta.branch.filter(|b| !b.is_empty());
    if let Some(b) = &branch
        && (b.len() > 255 || b.chars().any(char::is_control))
    {
        return Err(ApiError::Unprocessable(
            "meta.branch must be at most 255 printable characters".into(),
        ));
    }
    if meta.config.as_deref().is_some_and(|c| c.contains('\0')) {
        return Err(ApiError::Unprocessable(
            "meta.config must be the text of sizegate.toml (it contains a NUL character)".into(),
        ));
    }
    if let Some(config) = &meta.config {
        check_config(config)?;
    }
    let tag = check_tag(meta.tag, uploader, meta.pr, meta.fork)?;
    let origin = match &uploader.method {
        AuthMethod::UploadToken { .. } => provenance::token_origin(branch, meta.pr, meta.fork),
        AuthMethod::GithubOidc { run, .. } => {
            provenance::oidc_origin(run, &sha, branch, meta.pr, meta.fork)?
        }
    };
    Ok(CommitMeta {
        sha,
        branch: origin.branch,
        pr_number: origin.pr_number,
        base_sha,
        ancestors,
        config: meta.config,
        fork: origin.provenance == Provenance::Fork,
        provenance: origin.provenance,
        tag,
    })
}

/// `meta.tag`: a git ref name of at most 200 bytes, sent by a trusted
/// upload that is not for a pull request (a pull request cannot move a
/// release tag). An OIDC upload may only name the tag its run was pushed
/// for (`ref: refs/tags/NAME`).
fn check_tag(
    tag: Option<String>,
    uploader: &Uploader,
    pr: Option<i64>,
    fork: bool,
) -> Result<Option<String>, ApiError> {
    let Some(tag) = tag.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Some(problem) = sizegate_store::compare::tag_name_problem(&tag) {
        return Err(ApiError::Unprocessable(format!(
            "meta.tag `{}` {problem}: send a git tag name such as `v1.2.0`",
            tag.chars()
                .take(60)
                .flat_map(char::escape_default)
                .collect::<String>()
        )));
    }
    if pr.is_some() || fork {
        return Err(ApiError::Unprocessable(
            "meta.tag: a pull request upload cannot tag a commit; tag only on tag pushes".into(),
        ));
    }
    if let AuthMethod::GithubOidc { run, .. } = &uploader.method {
        let pushed = run
            .git_ref
            .as_deref()
            .and_then(|r| r.strip_prefix("refs/tags/"));
        if run.event_name != "push" || pushed != Some(tag.as_str()) {
            return Err(ApiError::Unprocessable(format!(
                "meta.tag `{tag}` contradicts the OIDC token's ref `{}`: only a tag push run may tag, with its own tag",
                run.git_ref.as_deref().unwrap_or("")
            )));
        }
    }
    Ok(Some(tag))
}

/// A `sizegate.toml` that does not parse is refused at the door, with the
/// errors `sizegate check-config` prints: stored, it could never judge.
fn check_config(text: &str) -> Result<(), ApiError> {
    match sizegate_gate::Config::parse(text, "sizegate.toml") {
        Ok(_) => Ok(()),
        Err(errors) => {
            let lines: Vec<String> = errors.0.iter().map(|e| format!("error: {e}")).collect();
            Err(ApiError::Unprocessable(format!(
                "meta.config is not a valid sizegate.toml (run `sizegate check-config` on it):\n{}",
                lines.join("\n")
            )))
        }
    }
}

fn multipart_error(e: MultipartError) -> ApiError {
    ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
}

async fn read_meta(mut field: Field<'_>) -> Result<UploadMeta, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > MAX_META_BYTES {
            return Err(ApiError::PayloadTooLarge(format!(
                "the meta part is larger than {}",
                human::size(MAX_META_BYTES as u64)
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::Unprocessable(format!("meta: {e}")))
}

/// What one upload may still store: the limits on one artifact, on the
/// whole request, and the repository's quota, whichever bites first.
struct UploadAllowance<'a> {
    repository: &'a RepoName,
    per_artifact: u64,
    request_limit: u64,
    request_left: u64,
    /// Bytes left under the quota, with the quota and what was stored
    /// before this upload; `None` without a quota.
    quota: Option<(u64, u64, u64)>,
}

impl<'a> UploadAllowance<'a> {
    /// The allowance of an upload to `uploader`'s repository; 507 at once
    /// when its quota is already used up.
    async fn start(state: &AppState, uploader: &'a Uploader) -> Result<Self, ApiError> {
        let config = &state.config;
        let quota = match config.repo_quota_bytes {
            0 => None,
            quota => {
                let used = state
                    .store
                    .repository_artifact_bytes(uploader.repository_id)
                    .await?;
                Some((quota.saturating_sub(used), quota, used))
            }
        };
        let allowance = UploadAllowance {
            repository: &uploader.repository,
            per_artifact: config.max_artifact_bytes,
            request_limit: config.max_upload_bytes,
            request_left: config.max_upload_bytes,
            quota,
        };
        if let Some((0, _, _)) = allowance.quota {
            return Err(allowance.over_quota());
        }
        Ok(allowance)
    }

    /// Refuse, from the headers alone, a body whose declared
    /// `Content-Length` could not fit: the answer goes out before
    /// `100 Continue`, so a client that waits for it sends no byte of a
    /// body that would be refused anyway.
    fn check_declared(&self, declared: Option<u64>) -> Result<(), ApiError> {
        let Some(length) = declared else {
            return Ok(());
        };
        let artifacts = length.saturating_sub(MULTIPART_OVERHEAD);
        if artifacts > self.request_limit {
            return Err(ApiError::PayloadTooLarge(format!(
                "upload rejected: the request body of {} is larger than the limit of {} for one \
                 request (SIZEGATE_MAX_UPLOAD_BYTES); nothing was read or stored",
                human::size(length),
                human::size(self.request_limit)
            )));
        }
        if let Some((left, _, _)) = self.quota
            && artifacts > left
        {
            return Err(self.over_quota());
        }
        Ok(())
    }

    fn limit(&self) -> u64 {
        let limit = self.per_artifact.min(self.request_left);
        self.quota.map_or(limit, |(left, _, _)| limit.min(left))
    }

    fn over_quota(&self) -> ApiError {
        let (_, quota, used) = self.quota.unwrap_or_default();
        ApiError::InsufficientStorage(format!(
            "upload rejected: repository {} keeps {} of artifacts and its storage quota is {} \
             (SIZEGATE_REPO_QUOTA_BYTES); nothing was stored. Ask the operator to raise the \
             quota or to collect old builds (`sizegate gc`)",
            self.repository,
            human::size(used),
            human::size(quota)
        ))
    }

    /// The error for an artifact `target` that went past [`Self::limit`].
    fn exceeded(&self, target: &str) -> ApiError {
        let limit = self.limit();
        if limit == self.per_artifact {
            ApiError::PayloadTooLarge(format!(
                "upload rejected: artifact `{target}` is larger than the limit of {} (SIZEGATE_MAX_ARTIFACT_BYTES)",
                human::size(limit)
            ))
        } else if limit == self.request_left {
            ApiError::PayloadTooLarge(format!(
                "upload rejected: the artifacts of this upload add up to more than the limit of {} \
                 for one request (SIZEGATE_MAX_UPLOAD_BYTES); upload fewer targets per request",
                human::size(self.request_limit)
            ))
        } else {
            self.over_quota()
        }
    }

    fn consume(&mut self, bytes: u64) {
        self.request_left = self.request_left.saturating_sub(bytes);
        if let Some((left, _, _)) = &mut self.quota {
            *left = left.saturating_sub(bytes);
        }
    }
}

async fn receive_artifact(
    state: &AppState,
    allowance: &mut UploadAllowance<'_>,
    target: &str,
    mut field: Field<'_>,
) -> Result<UploadedBlob, ApiError> {
    let mut upload = BlobUpload::start(state.blobs.as_ref(), allowance.limit()).await?;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        state.metrics.bytes_received(chunk.len() as u64);
        upload = match upload.write(&chunk).await {
            Ok(upload) => upload,
            Err(UploadError::TooLarge { .. }) => return Err(allowance.exceeded(target)),
            Err(UploadError::Blob(e)) => return Err(e.into()),
        };
    }
    let blob = upload.finish();
    allowance.consume(blob.size);
    Ok(blob)
}

/// The `Host` the client used, for status URLs without SIZEGATE_PUBLIC_URL.
pub(crate) fn request_host(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()))
}

async fn upload(
    State(state): State<AppState>,
    uploader: Uploader,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<UploadResponse>), ApiError> {
    let host = request_host(&headers);
    let declared = declared_length(&headers);
    let result = receive_and_record(&state, &uploader, host, declared, multipart).await;
    match &result {
        Ok(_) => state.metrics.upload_accepted(),
        Err(e) => {
            state.metrics.upload_rejected();
            tracing::info!(repository = %uploader.repository, error = %e, "upload rejected");
        }
    }
    result
}

async fn receive_and_record(
    state: &AppState,
    uploader: &Uploader,
    host: Option<&str>,
    declared: Option<u64>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<UploadResponse>), ApiError> {
    // Everything the headers decide comes before the first read of the
    // body (which is what makes hyper send `100 Continue`).
    let mut allowance = UploadAllowance::start(state, uploader).await?;
    allowance.check_declared(declared)?;
    let multipart = multipart.map_err(|e| {
        ApiError::BadRequest(format!(
            "expected a multipart/form-data body: {}",
            e.body_text()
        ))
    })?;
    let parts = receive_parts(state, uploader, &mut allowance, multipart).await?;
    let (meta, artifacts, debug_files) = parts.commit().await?;
    record_and_answer(state, uploader, host, meta, &artifacts, &debug_files).await
}

/// The parts of an upload received so far. Staged blobs are discarded
/// when dropped: any early return leaves no temporary file or object
/// behind.
#[derive(Default)]
struct Parts {
    meta: Option<CommitMeta>,
    /// Artifacts, by target.
    artifacts: Vec<(String, UploadedBlob)>,
    /// Debug files, by target: stored with the build, handed to the
    /// analyzer, never counted in the target's sizes.
    debug: Vec<(String, UploadedBlob)>,
}

/// Read the multipart body: `meta` first, then the artifacts (and debug
/// files), each checked before its bytes are read.
async fn receive_parts(
    state: &AppState,
    uploader: &Uploader,
    allowance: &mut UploadAllowance<'_>,
    mut multipart: Multipart,
) -> Result<Parts, ApiError> {
    let mut parts = Parts::default();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        // `meta` may come with a filename (`curl -F meta=@meta.json`).
        let file_name = if name == "meta" {
            None
        } else {
            field.file_name().map(str::to_owned)
        };
        match file_name {
            None if name == "meta" => {
                if parts.meta.is_some() {
                    return Err(ApiError::BadRequest("more than one `meta` part".into()));
                }
                parts.meta = Some(validate_meta(read_meta(field).await?, uploader)?);
            }
            None => {
                return Err(ApiError::BadRequest(format!(
                    "unexpected part `{name}`: send a `meta` part, then one part per artifact with the target name as its filename"
                )));
            }
            Some(target) if name == "debug" => {
                parts.check_debug(&target)?;
                let blob = receive_artifact(state, allowance, &target, field).await?;
                parts.debug.push((target, blob));
            }
            Some(target) => {
                parts.check_artifact(&target, state.config.max_targets_per_upload)?;
                let blob = receive_artifact(state, allowance, &target, field).await?;
                parts.artifacts.push((target, blob));
            }
        }
    }
    Ok(parts)
}

impl Parts {
    /// Whether a debug file for `target` may come next.
    fn check_debug(&self, target: &str) -> Result<(), ApiError> {
        check_target(target)?;
        if self.debug.iter().any(|(t, _)| t == target) {
            return Err(ApiError::Unprocessable(format!(
                "two debug files for target `{target}`"
            )));
        }
        Ok(())
    }

    /// Whether an artifact for `target` may come next.
    fn check_artifact(&self, target: &str, max_targets: usize) -> Result<(), ApiError> {
        if self.meta.is_none() {
            return Err(ApiError::BadRequest(
                "the `meta` part must come before the artifacts".into(),
            ));
        }
        check_target(target)?;
        if self.artifacts.iter().any(|(t, _)| t == target) {
            return Err(ApiError::Unprocessable(format!(
                "target `{target}` appears twice in this upload"
            )));
        }
        if self.artifacts.len() >= max_targets {
            return Err(ApiError::Unprocessable(format!(
                "more than {max_targets} artifacts in one upload"
            )));
        }
        Ok(())
    }

    /// Check the upload is whole (a `meta`, an artifact, no stray debug
    /// file), then commit its blobs.
    async fn commit(self) -> Result<(CommitMeta, Vec<NewArtifact>, Vec<NewDebugFile>), ApiError> {
        let meta = self
            .meta
            .ok_or_else(|| ApiError::Unprocessable("the `meta` part is missing".into()))?;
        if self.artifacts.is_empty() {
            return Err(ApiError::Unprocessable(
                "no artifact parts: add one part per artifact, with the target name as its filename"
                    .into(),
            ));
        }
        if let Some((target, _)) = self
            .debug
            .iter()
            .find(|(t, _)| !self.artifacts.iter().any(|(a, _)| a == t))
        {
            return Err(ApiError::Unprocessable(format!(
                "a debug file for target `{target}`, but no artifact for it in this upload"
            )));
        }
        let mut debug_files = Vec::with_capacity(self.debug.len());
        for (target, blob) in self.debug {
            let key = sizegate_store::blob::debug_key(&blob.sha256);
            let size = blob.size;
            blob.commit_as(&key).await?;
            debug_files.push(NewDebugFile {
                target,
                blob_key: key,
                size,
            });
        }
        let mut artifacts = Vec::with_capacity(self.artifacts.len());
        for (target, blob) in self.artifacts {
            let (sha256, size) = (blob.sha256.clone(), blob.size);
            let blob_key = blob.commit().await?;
            artifacts.push(NewArtifact {
                target,
                sha256,
                size,
                blob_key,
            });
        }
        Ok((meta, artifacts, debug_files))
    }
}

/// Record committed artifacts as the builds of `meta`'s commit, and the
/// answer to give: 202 when a job was queued, 200 when all were known.
pub(crate) async fn record_and_answer(
    state: &AppState,
    uploader: &Uploader,
    host: Option<&str>,
    meta: CommitMeta,
    artifacts: &[NewArtifact],
    debug_files: &[NewDebugFile],
) -> Result<(StatusCode, Json<UploadResponse>), ApiError> {
    let recorded = state
        .store
        .record_upload_with_debug_files(
            uploader.repository_id,
            &meta,
            artifacts,
            debug_files,
            state.config.max_attempts,
        )
        .await?;
    let base = match &state.config.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => host.map(|h| format!("http://{h}")).unwrap_or_default(),
    };
    let repo = &uploader.repository;
    let status_url = format!("{base}/api/v1/repos/{repo}/commits/{}", meta.sha);
    let queued = recorded
        .iter()
        .any(|b| b.outcome != BuildOutcome::Duplicate);
    for build in &recorded {
        tracing::info!(
            repository = %repo,
            commit = %meta.sha,
            target = %build.target,
            sha256 = %build.sha256,
            size = build.size,
            outcome = ?build.outcome,
            provenance = %build.provenance,
            baseline_eligible = build.baseline_eligible,
            job = build.job_id,
            "artifact recorded"
        );
    }
    let targets = recorded
        .into_iter()
        .map(|build| UploadedTarget {
            history_url: format!(
                "{base}/api/v1/repos/{repo}/targets/{}/history",
                sizegate_core::url_path(&build.target)
            ),
            status_url: status_url.clone(),
            build,
        })
        .collect();
    let status = if queued {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(UploadResponse {
            repository: repo.to_string(),
            commit: meta.sha,
            status_url,
            targets,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_need_a_trusted_push_and_an_oidc_run_its_own_tag() {
        let uploader = |method| Uploader {
            repository_id: 1,
            repository: RepoName::parse("acme/app").unwrap(),
            method,
        };
        let token = uploader(AuthMethod::UploadToken { token_id: 1 });
        let tag = |t: &str| Some(t.to_owned());
        assert_eq!(
            check_tag(tag("v1.0"), &token, None, false).unwrap(),
            tag("v1.0")
        );
        assert_eq!(check_tag(tag(""), &token, None, false).unwrap(), None);
        assert!(check_tag(tag("v1..0"), &token, None, false).is_err());
        assert!(check_tag(tag("v1.0"), &token, Some(3), false).is_err());
        assert!(check_tag(tag("v1.0"), &token, None, true).is_err());
        let oidc = |event: &str, git_ref: &str| {
            uploader(AuthMethod::GithubOidc {
                jti: "j".into(),
                run_id: None,
                run: crate::auth::OidcRun {
                    event_name: event.into(),
                    git_ref: Some(git_ref.into()),
                    sha: None,
                    head_ref: None,
                },
            })
        };
        let pushed = oidc("push", "refs/tags/v1.0");
        assert_eq!(
            check_tag(tag("v1.0"), &pushed, None, false).unwrap(),
            tag("v1.0")
        );
        let err = check_tag(tag("v2.0"), &pushed, None, false).unwrap_err();
        assert!(err.to_string().contains("refs/tags/v1.0"), "{err}");
        assert!(check_tag(tag("main"), &oidc("push", "refs/heads/main"), None, false).is_err());
        let dispatch = oidc("workflow_dispatch", "refs/tags/v1.0");
        assert!(check_tag(tag("v1.0"), &dispatch, None, false).is_err());
    }

    #[test]
    fn target_names() {
        assert!(check_target("x86_64-unknown-linux-gnu/app").is_ok());
        assert!(check_target("wasm32 app (release)").is_ok());
        for bad in ["", "a/../b", "..", "/abs", "a\nb", "a\u{7f}b", "a\\b"] {
            assert!(check_target(bad).is_err(), "{bad:?}");
        }
        assert!(check_target(&"x".repeat(200)).is_ok());
        let err = check_target(&"x".repeat(201)).unwrap_err();
        assert!(err.to_string().contains("200 characters"), "{err}");
    }

    #[test]
    fn shas() {
        assert_eq!(
            check_sha("commit", &"A".repeat(40)).unwrap(),
            "a".repeat(40)
        );
        let err = check_sha("commit", "abc").unwrap_err();
        assert!(err.to_string().starts_with("meta.commit"), "{err}");
    }
}
