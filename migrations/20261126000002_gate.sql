-- The gate and the GitHub reporter: the evaluation of each commit (what was
-- or would be posted, and whether posting worked), GitHub webhook
-- deliveries (for idempotence), the latest known labels of each pull
-- request, and the App's installations. Append-only: never edit an applied
-- migration.

-- One row per commit: the latest evaluation. Re-evaluating (a new target
-- measured, a label added) replaces it; `revision` counts replacements.
CREATE TABLE evaluations (
    commit_id           BIGINT PRIMARY KEY REFERENCES commits (id) ON DELETE CASCADE,
    revision            INTEGER NOT NULL DEFAULT 1,
    pr_number           BIGINT,
    -- `in_progress` until every uploaded target is measured, then `completed`.
    status              TEXT NOT NULL CHECK (status IN ('in_progress', 'completed')),
    -- GitHub's check-run conclusion once completed (success, failure, neutral...).
    conclusion          TEXT,
    -- Where the budgets came from: baseline, head or none.
    config_source       TEXT NOT NULL,
    -- The whole `sizegate_gate::Evaluation` (verdict, baseline sha and
    -- commits behind per target), as JSON.
    evaluation          JSONB NOT NULL,
    comment_markdown    TEXT NOT NULL,
    check_title         TEXT NOT NULL,
    check_summary       TEXT NOT NULL,
    -- Reporting to GitHub: `pending` until posted, `posted`, `failed` (with
    -- the last error; retried through the job queue), or `disabled` when no
    -- GitHub App is configured.
    report_state        TEXT NOT NULL DEFAULT 'pending'
                        CHECK (report_state IN ('pending', 'posted', 'failed', 'disabled')),
    report_attempts     INTEGER NOT NULL DEFAULT 0,
    report_last_error   TEXT,
    reported_at         TIMESTAMPTZ,
    evaluated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- `X-GitHub-Delivery` ids already handled: a redelivery is a no-op.
CREATE TABLE webhook_deliveries (
    delivery_id     TEXT PRIMARY KEY,
    event           TEXT NOT NULL,
    action          TEXT,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The latest known state of each pull request, from webhooks.
CREATE TABLE pull_requests (
    repository_id   BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    number          BIGINT NOT NULL,
    head_sha        TEXT,
    base_sha        TEXT,
    labels          TEXT[] NOT NULL DEFAULT '{}',
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, number)
);

-- GitHub App installations, from webhooks.
CREATE TABLE installations (
    id              BIGINT PRIMARY KEY,
    account         TEXT NOT NULL,
    repositories    TEXT[] NOT NULL DEFAULT '{}',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at      TIMESTAMPTZ
);
