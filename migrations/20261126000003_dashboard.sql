-- The dashboard: private repositories, read tokens and login sessions, and
-- the index behind the pull request page. Append-only: never edit an
-- applied migration.

-- A private repository is visible only to a logged-in reader (pages, JSON API).
ALTER TABLE repositories ADD COLUMN private BOOLEAN NOT NULL DEFAULT false;

-- Read tokens (`sgr_<public id>_<secret>`) open every private repository.
-- As for upload tokens, only the sha256 of the secret is kept.
CREATE TABLE read_tokens (
    id              BIGSERIAL PRIMARY KEY,
    public_id       TEXT NOT NULL UNIQUE,
    secret_sha256   BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at      TIMESTAMPTZ
);

-- A browser session made by entering a read token at /login. The cookie
-- holds the secret; the table only its sha256, so a leaked table opens nothing.
CREATE TABLE sessions (
    id              BIGSERIAL PRIMARY KEY,
    secret_sha256   BYTEA NOT NULL UNIQUE,
    read_token_id   BIGINT NOT NULL REFERENCES read_tokens (id) ON DELETE CASCADE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE INDEX commits_pull_request ON commits (repository_id, pr_number, created_at)
    WHERE pr_number IS NOT NULL;
