-- Resumable uploads: one session per artifact, its bytes stored as chunks
-- in the blob store under `upload-sessions/<id>/` until it is finished,
-- expires or is collected.
CREATE TABLE upload_sessions (
    id             TEXT PRIMARY KEY,
    repository_id  BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    target         TEXT NOT NULL,
    -- The `meta` of the upload as sent; checked again when it finishes.
    meta           JSONB NOT NULL,
    size           BIGINT NOT NULL CHECK (size >= 0),
    -- Bytes stored so far: the offset of the next chunk.
    received       BIGINT NOT NULL DEFAULT 0 CHECK (received >= 0 AND received <= size),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX upload_sessions_repository ON upload_sessions (repository_id);
CREATE INDEX upload_sessions_expires ON upload_sessions (expires_at);
