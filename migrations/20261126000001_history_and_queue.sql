-- sizegate schema: repositories and their upload tokens, commits, targets,
-- content-addressed artifacts, builds (one artifact uploaded for one target
-- of one commit), measurements (with their sections, units and top symbols
-- as rows) and the job queue. Append-only: never edit an applied migration.

CREATE TABLE repositories (
    id          BIGSERIAL PRIMARY KEY,
    owner       TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (owner, name)
);

-- Only a sha256 of the secret is kept; `public_id` is the non-secret prefix
-- of the token used to find the row before a constant-time comparison.
CREATE TABLE upload_tokens (
    id              BIGSERIAL PRIMARY KEY,
    public_id       TEXT NOT NULL UNIQUE,
    repository_id   BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    secret_sha256   BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at    TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ
);

CREATE TABLE commits (
    id              BIGSERIAL PRIMARY KEY,
    repository_id   BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    sha             TEXT NOT NULL CHECK (sha ~ '^[0-9a-f]{40}$'),
    branch          TEXT,
    pr_number       BIGINT,
    base_sha        TEXT CHECK (base_sha ~ '^[0-9a-f]{40}$'),
    -- First-parent history sent by the uploader, nearest first.
    ancestors       TEXT[] NOT NULL DEFAULT '{}',
    -- The sizegate.toml sent with the upload, verbatim.
    config          TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (repository_id, sha)
);
CREATE INDEX commits_branch ON commits (repository_id, branch);

CREATE TABLE targets (
    id              BIGSERIAL PRIMARY KEY,
    repository_id   BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (repository_id, name)
);

-- One row per distinct content; the blob lives in the blob store at `blob_key`.
CREATE TABLE artifacts (
    id          BIGSERIAL PRIMARY KEY,
    sha256      TEXT NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size        BIGINT NOT NULL CHECK (size >= 0),
    blob_key    TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- An artifact uploaded for (commit, target). Uploading different content
-- for the same pair supersedes the previous build instead of deleting it,
-- so the replacement stays on record.
CREATE TABLE builds (
    id              BIGSERIAL PRIMARY KEY,
    commit_id       BIGINT NOT NULL REFERENCES commits (id) ON DELETE CASCADE,
    target_id       BIGINT NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    artifact_id     BIGINT NOT NULL REFERENCES artifacts (id),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    superseded_at   TIMESTAMPTZ,
    superseded_by   BIGINT REFERENCES builds (id)
);
CREATE UNIQUE INDEX builds_current ON builds (commit_id, target_id) WHERE superseded_at IS NULL;
CREATE INDEX builds_target ON builds (target_id, id DESC) WHERE superseded_at IS NULL;

-- What the analyzer found in one artifact. Keyed by artifact: the same bytes
-- measure the same, so storing is idempotent under at-least-once delivery.
CREATE TABLE measurements (
    id              BIGSERIAL PRIMARY KEY,
    artifact_id     BIGINT NOT NULL UNIQUE REFERENCES artifacts (id),
    schema_version  INTEGER NOT NULL,
    format          TEXT NOT NULL,
    arch            TEXT NOT NULL,
    language        TEXT NOT NULL,
    stripped        BOOLEAN NOT NULL,
    size_file       BIGINT NOT NULL,
    size_vm         BIGINT NOT NULL,
    size_shipped    BIGINT NOT NULL,
    size_gzip       BIGINT NOT NULL,
    size_zstd       BIGINT NOT NULL,
    size_debug      BIGINT NOT NULL,
    size_symbols    BIGINT NOT NULL,
    toolchain       JSONB NOT NULL,
    advice          JSONB NOT NULL,
    symbol_count    BIGINT NOT NULL,
    -- The full report, zstd-compressed JSON, in the blob store.
    report_key      TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE measurement_sections (
    measurement_id  BIGINT NOT NULL REFERENCES measurements (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    file_size       BIGINT NOT NULL,
    vm_size         BIGINT NOT NULL,
    PRIMARY KEY (measurement_id, position)
);

CREATE TABLE measurement_units (
    measurement_id  BIGINT NOT NULL REFERENCES measurements (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    size            BIGINT NOT NULL,
    symbols         BIGINT NOT NULL,
    PRIMARY KEY (measurement_id, position)
);
CREATE INDEX measurement_units_name ON measurement_units (name);

-- The largest symbols only (the full list is in the compressed report).
CREATE TABLE measurement_symbols (
    measurement_id  BIGINT NOT NULL REFERENCES measurements (id) ON DELETE CASCADE,
    rank            INTEGER NOT NULL,
    name            TEXT NOT NULL,
    unit            TEXT NOT NULL,
    section         TEXT NOT NULL,
    size            BIGINT NOT NULL,
    PRIMARY KEY (measurement_id, rank)
);

-- The job queue. Workers claim with FOR UPDATE SKIP LOCKED so that many
-- workers never block on one another; a claimed job carries a lease
-- (`locked_until`) that the worker renews while it runs, so the job of a
-- worker that died comes back once the lease lapses. Failures are retried
-- with exponential backoff (`run_at`) up to `max_attempts`, then the job
-- stays `failed` with its last error for the API to show.
CREATE TABLE jobs (
    id              BIGSERIAL PRIMARY KEY,
    build_id        BIGINT NOT NULL UNIQUE REFERENCES builds (id) ON DELETE CASCADE,
    state           TEXT NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL DEFAULT 5,
    run_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    locked_by       TEXT,
    locked_until    TIMESTAMPTZ,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX jobs_claimable ON jobs (run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs (locked_until) WHERE state = 'running';

-- Wake idle workers (LISTEN sizegate_jobs) whenever a job becomes claimable.
CREATE FUNCTION sizegate_notify_job() RETURNS trigger AS $$
BEGIN
    IF NEW.state = 'queued' THEN
        PERFORM pg_notify('sizegate_jobs', NEW.id::text);
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER jobs_notify
    AFTER INSERT OR UPDATE OF state ON jobs
    FOR EACH ROW EXECUTE FUNCTION sizegate_notify_job();
