//! Resumable uploads, for artifacts too large to send in one request over
//! a real network (in the style of the OCI distribution spec's chunked blob
//! uploads):
//!
//! - `POST /api/v1/upload-sessions` with a JSON [`CreateSession`]: the
//!   token, the `meta`, the target name, the size against the limits and
//!   the quota are checked once; the answer is a [`SessionState`] (201).
//! - `PATCH /api/v1/upload-sessions/{id}` with
//!   `Content-Range: bytes START-END/SIZE` and the chunk as body: START
//!   must be the session's offset (else 416 with the offset); the chunk is
//!   stored as it streams (memory stays flat) and the offset moves only
//!   once it is all in.
//! - `GET /api/v1/upload-sessions/{id}`: the session's offset, to resume
//!   from after a failure.
//! - `PUT /api/v1/upload-sessions/{id}` with a JSON [`FinishSession`]: the
//!   chunks are joined into one blob whose sha256 must be the one given;
//!   only then does the artifact exist and the build get recorded (the
//!   answer is the one of `POST /api/v1/uploads`). A wrong sha256 deletes
//!   the session and its bytes.
//! - `DELETE /api/v1/upload-sessions/{id}`: give up.
//!
//! A session lives `SIZEGATE_UPLOAD_SESSION_TTL_SECS`; `sizegate gc`
//! deletes it and its chunks after. Its announced size counts against the
//! repository's quota from the start.

use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use sizegate_analyze::human;
use sizegate_store::blob::{BlobUpload, UploadError, UploadedBlob};
use sizegate_store::upload_sessions::{UploadSession, chunk_key, delete_chunks, session_prefix};
use sizegate_store::uploads::NewArtifact;

use crate::uploads::{
    UploadMeta, check_target, declared_length, record_and_answer, request_host, validate_meta,
};
use crate::{ApiError, AppState, Uploader};

/// Largest JSON body of the create and finish requests.
const MAX_JSON_BYTES: usize = 2 << 20;

/// Session routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/upload-sessions",
            post(create).layer(DefaultBodyLimit::max(MAX_JSON_BYTES)),
        )
        .route(
            "/api/v1/upload-sessions/{id}",
            axum::routing::get(show)
                .patch(append)
                .put(finish)
                .delete(abandon)
                // PATCH bodies are bounded by the session's size.
                .layer(DefaultBodyLimit::disable()),
        )
}

/// `POST /api/v1/upload-sessions`: what to upload.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateSession {
    /// The same `meta` as the `meta` part of `POST /api/v1/uploads`.
    #[schema(value_type = Object)]
    meta: UploadMeta,
    /// The target name of the artifact.
    target: String,
    /// Its size in bytes.
    size: u64,
}

/// A session as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionState {
    /// The session's id.
    id: String,
    /// Where to send chunks, read the offset and finish.
    url: String,
    /// The artifact's target name.
    target: String,
    /// Announced size.
    size: u64,
    /// Bytes stored: the start of the next chunk.
    offset: u64,
    /// RFC 3339 time after which the session is collected.
    expires_at: String,
}

/// `PUT /api/v1/upload-sessions/{id}`: finish.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FinishSession {
    /// sha256 of the whole artifact, 64 hex digits.
    sha256: String,
}

fn state_of(session: &UploadSession) -> SessionState {
    SessionState {
        url: format!("/api/v1/upload-sessions/{}", session.id),
        id: session.id.clone(),
        target: session.target.clone(),
        size: u64::try_from(session.size).unwrap_or(0),
        offset: u64::try_from(session.received).unwrap_or(0),
        expires_at: session.expires_at.to_rfc3339(),
    }
}

/// The answer carrying a session's state, with `Range` (the bytes stored,
/// as in the OCI spec) when any are.
fn session_answer(status: StatusCode, session: &SessionState) -> Response {
    let mut response = (status, Json(session)).into_response();
    if session.offset > 0
        && let Ok(value) = HeaderValue::from_str(&format!("bytes=0-{}", session.offset - 1))
    {
        response.headers_mut().insert(header::RANGE, value);
    }
    response
}

fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, ApiError> {
    body.map(|Json(v)| v)
        .map_err(|e| ApiError::Unprocessable(format!("invalid JSON body: {}", e.body_text())))
}

async fn create(
    State(state): State<AppState>,
    uploader: Uploader,
    body: Result<Json<CreateSession>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let request = json_body(body)?;
    validate_meta(request.meta.clone(), &uploader)?;
    check_target(&request.target)?;
    let config = &state.config;
    if request.size > config.max_artifact_bytes {
        return Err(ApiError::PayloadTooLarge(format!(
            "upload rejected: artifact `{}` of {} is larger than the limit of {} (SIZEGATE_MAX_ARTIFACT_BYTES)",
            request.target,
            human::size(request.size),
            human::size(config.max_artifact_bytes)
        )));
    }
    if config.repo_quota_bytes > 0 {
        let stored = state
            .store
            .repository_artifact_bytes(uploader.repository_id)
            .await?;
        let pending = state
            .store
            .repository_session_bytes(uploader.repository_id)
            .await?;
        let total = stored.saturating_add(pending).saturating_add(request.size);
        if total > config.repo_quota_bytes {
            return Err(ApiError::InsufficientStorage(format!(
                "upload rejected: repository {} keeps {} of artifacts, has {} in open upload sessions, \
                 and its storage quota is {} (SIZEGATE_REPO_QUOTA_BYTES); {} more do not fit. \
                 Ask the operator to raise the quota or to collect old builds (`sizegate gc`)",
                uploader.repository,
                human::size(stored),
                human::size(pending),
                human::size(config.repo_quota_bytes),
                human::size(request.size)
            )));
        }
    }
    let meta =
        serde_json::to_value(&request.meta).map_err(|e| ApiError::internal("encoding meta", e))?;
    let session = state
        .store
        .create_upload_session(
            uploader.repository_id,
            &request.target,
            &meta,
            request.size,
            config.upload_session_ttl,
        )
        .await?;
    tracing::info!(
        repository = %uploader.repository,
        target = %session.target,
        size = request.size,
        "upload session opened"
    );
    let answer = state_of(&session);
    let mut response = session_answer(StatusCode::CREATED, &answer);
    if let Ok(location) = HeaderValue::from_str(&answer.url) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn session_of(
    state: &AppState,
    uploader: &Uploader,
    id: &str,
) -> Result<UploadSession, ApiError> {
    let valid = sizegate_core::is_hex(id, 64);
    let session = if valid {
        state
            .store
            .upload_session(uploader.repository_id, id)
            .await?
    } else {
        None
    };
    session.ok_or_else(|| {
        ApiError::NotFound(format!(
            "no open upload session `{}` for {}: it expired, was finished, or never existed; start a new one",
            id.chars().take(80).collect::<String>(),
            uploader.repository
        ))
    })
}

async fn show(
    State(state): State<AppState>,
    uploader: Uploader,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let session = session_of(&state, &uploader, &id).await?;
    Ok(session_answer(StatusCode::OK, &state_of(&session)))
}

/// `bytes START-END/SIZE` (END inclusive).
fn content_range(headers: &HeaderMap) -> Result<(u64, u64, u64), ApiError> {
    let bad = || {
        ApiError::BadRequest(
            "a chunk needs `Content-Range: bytes START-END/SIZE` (END inclusive, SIZE the session's size)"
                .into(),
        )
    };
    let value = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(bad)?;
    let rest = value.trim().strip_prefix("bytes ").ok_or_else(bad)?;
    let (range, size) = rest.split_once('/').ok_or_else(bad)?;
    let (start, end) = range.split_once('-').ok_or_else(bad)?;
    let parse = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    let (start, end, size) = (parse(start)?, parse(end)?, parse(size)?);
    if end < start {
        return Err(bad());
    }
    Ok((start, end, size))
}

fn offset_mismatch(session: &SessionState, start: u64) -> Response {
    let mut response = session_answer(StatusCode::RANGE_NOT_SATISFIABLE, session);
    let body = serde_json::json!({
        "error": format!(
            "this chunk starts at byte {start} but the session has {} bytes: send from there (GET the session to learn its offset)",
            session.offset
        ),
        "offset": session.offset,
    });
    *response.body_mut() = axum::body::Body::from(body.to_string());
    response
}

async fn append(
    State(state): State<AppState>,
    uploader: Uploader,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let session = session_of(&state, &uploader, &id).await?;
    let (start, end, size) = content_range(request.headers())?;
    let offset = u64::try_from(session.received).unwrap_or(0);
    let session_size = u64::try_from(session.size).unwrap_or(0);
    if size != session_size || end >= session_size {
        return Err(ApiError::BadRequest(format!(
            "Content-Range bytes {start}-{end}/{size} does not fit a session of {session_size} bytes"
        )));
    }
    if start != offset {
        return Ok(offset_mismatch(&state_of(&session), start));
    }
    let length = end - start + 1;
    if let Some(declared) = declared_length(request.headers())
        && declared != length
    {
        return Err(ApiError::BadRequest(format!(
            "Content-Length {declared} does not match Content-Range bytes {start}-{end} ({length} bytes)"
        )));
    }
    // A chunk left at this offset by an earlier attempt is replaced.
    let key = chunk_key(&session.id, start);
    state.blobs.delete(&key).await?;
    let mut staged = state.blobs.stage().await?;
    let mut body = request.into_body().into_data_stream();
    let mut got: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the chunk: {e}")))?;
        got += chunk.len() as u64;
        if got > length {
            return Err(ApiError::BadRequest(format!(
                "the chunk is longer than its Content-Range ({length} bytes)"
            )));
        }
        state.metrics.bytes_received(chunk.len() as u64);
        staged.write(&chunk).await?;
    }
    if got != length {
        return Err(ApiError::BadRequest(format!(
            "the chunk has {got} bytes; its Content-Range says {length}"
        )));
    }
    staged.commit(&key).await?;
    if !state
        .store
        .advance_upload_session(&session.id, start, end + 1)
        .await?
    {
        // Another request stored this range first: ours is not needed.
        let current = session_of(&state, &uploader, &id).await?;
        if u64::try_from(current.received).unwrap_or(0) != end + 1 {
            state.blobs.delete(&key).await?;
        }
        return Ok(offset_mismatch(&state_of(&current), start));
    }
    let mut answer = state_of(&session);
    answer.offset = end + 1;
    Ok(session_answer(StatusCode::ACCEPTED, &answer))
}

/// The chunk keys of a session in offset order, with their start offsets.
async fn chunks(state: &AppState, id: &str) -> Result<Vec<(u64, String)>, ApiError> {
    let prefix = session_prefix(id);
    let mut chunks: Vec<(u64, String)> = state
        .blobs
        .list(&prefix)
        .await?
        .into_iter()
        .filter_map(|entry| {
            let start = entry.key.strip_prefix(&prefix)?.parse::<u64>().ok()?;
            Some((start, entry.key))
        })
        .collect();
    chunks.sort();
    Ok(chunks)
}

async fn finish(
    State(state): State<AppState>,
    uploader: Uploader,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<FinishSession>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let request = json_body(body)?;
    let session = session_of(&state, &uploader, &id).await?;
    let expected = request.sha256.trim().to_ascii_lowercase();
    if !sizegate_core::is_hex(&expected, 64) {
        return Err(ApiError::Unprocessable(
            "sha256 must be 64 hex digits (the sha256 of the whole artifact)".into(),
        ));
    }
    let size = u64::try_from(session.size).unwrap_or(0);
    let received = u64::try_from(session.received).unwrap_or(0);
    if received != size {
        return Err(ApiError::Unprocessable(format!(
            "the session has {received} of {size} bytes: send the rest before finishing"
        )));
    }
    let meta: UploadMeta = serde_json::from_value(session.meta.clone())
        .map_err(|e| ApiError::internal("reading stored session meta", e))?;
    let meta = validate_meta(meta, &uploader)?;

    let blob = join_chunks(&state, &session.id, size).await?;
    if blob.size != size || blob.sha256 != expected {
        let actual = blob.sha256.clone();
        blob.abort().await?;
        state
            .store
            .delete_upload_session(state.blobs.as_ref(), &session.id)
            .await?;
        return Err(ApiError::Unprocessable(format!(
            "upload rejected: the bytes received for `{}` have sha256 {actual}, not {expected}; \
             the session and its bytes were deleted, nothing was stored. Upload again",
            session.target
        )));
    }
    let sha256 = blob.sha256.clone();
    let blob_key = blob.commit().await?;
    let artifacts = [NewArtifact {
        target: session.target.clone(),
        sha256,
        size,
        blob_key,
    }];
    let answer = record_and_answer(
        &state,
        &uploader,
        request_host(&headers),
        meta,
        &artifacts,
        &[],
    )
    .await?;
    state
        .store
        .delete_upload_session(state.blobs.as_ref(), &session.id)
        .await?;
    state.metrics.upload_accepted();
    Ok(answer.into_response())
}

/// The chunks of session `id` joined into one staged blob of `size`
/// bytes, hashed on the way.
async fn join_chunks(state: &AppState, id: &str, size: u64) -> Result<UploadedBlob, ApiError> {
    let mut upload = BlobUpload::start(state.blobs.as_ref(), size).await?;
    let mut next = 0u64;
    for (start, key) in chunks(state, id).await? {
        if start != next {
            return Err(ApiError::bug(format!(
                "upload session {id} misses bytes {next}..{start}"
            )));
        }
        let (file, temporary) = open_chunk(state, &key).await?;
        let mut reader = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
        while let Some(bytes) = reader.next().await {
            let bytes = bytes.map_err(|e| ApiError::internal(format!("reading chunk {key}"), e))?;
            next += bytes.len() as u64;
            upload = match upload.write(&bytes).await {
                Ok(upload) => upload,
                Err(UploadError::TooLarge { .. }) => {
                    return Err(ApiError::bug(format!(
                        "upload session {id} holds more bytes than announced"
                    )));
                }
                Err(UploadError::Blob(e)) => return Err(e.into()),
            };
        }
        if let Some(path) = temporary {
            let _ = tokio::fs::remove_file(path).await;
        }
    }
    Ok(upload.finish())
}

/// A chunk as a file to read: the blob itself in a local store, else a
/// temporary copy (returned too, to delete after).
async fn open_chunk(
    state: &AppState,
    key: &str,
) -> Result<(tokio::fs::File, Option<std::path::PathBuf>), ApiError> {
    let (path, temporary) = match state.blobs.local_path(key) {
        Some(path) => (path, false),
        None => {
            let path = std::env::temp_dir().join(format!(
                "sizegate-chunk-{}",
                sizegate_store::upload_sessions::new_session_id()
            ));
            state.blobs.download(key, &path).await?;
            (path, true)
        }
    };
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::internal(format!("opening chunk {key}"), e))?;
    Ok((file, temporary.then_some(path)))
}

async fn abandon(
    State(state): State<AppState>,
    uploader: Uploader,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let session = session_of(&state, &uploader, &id).await?;
    state
        .store
        .delete_upload_session(state.blobs.as_ref(), &session.id)
        .await?;
    delete_chunks(state.blobs.as_ref(), &session.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
