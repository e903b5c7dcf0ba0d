-- Uploads made for pull requests from forks (the `workflow_run` pattern).
-- A fork's build ran code nobody reviewed yet: a commit any fork upload
-- touched never serves as a baseline. The flag is sticky (see uploads.rs).
ALTER TABLE commits ADD COLUMN fork boolean NOT NULL DEFAULT false;

-- GitHub OIDC token ids (`jti`) already used, shared by every server process
-- so that a token cannot be replayed once per replica. A row is needed only
-- until the token expires (`expires_at`, Unix seconds); older rows are purged.
CREATE TABLE oidc_token_ids (
    jti         TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX oidc_token_ids_expires_at ON oidc_token_ids (expires_at);
