-- Post-merge step alerts (issue 18): a step in a target's size on a
-- protected branch, found by the change-point detector after a measured
-- push, with its culprit (one commit, or a range when commits in between
-- were not measured), stored once per (target, metric, culprit) and
-- delivered once to each sink of the repository.
-- Append-only: never edit an applied migration.

-- One alert.
--   commit_sha:      the culprit, or the last commit of the range
--   range_start_sha: the last measured commit before the step (exclusive:
--                    the culprit is after it, up to commit_sha); NULL once
--                    narrowed to one commit
--   before_size, after_size: the levels either side (median of the window,
--                    median of the confirming points)
--   changes:         what changed in the step, from the diff of the two
--                    reports: {"units": [{name, delta}], "symbols":
--                    [{name, delta}], "causes": [text]}, the largest first
CREATE TABLE alerts (
    id              BIGSERIAL PRIMARY KEY,
    repository_id   BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    target_id       BIGINT NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    metric          TEXT NOT NULL,
    branch          TEXT NOT NULL,
    commit_sha      TEXT NOT NULL CHECK (commit_sha ~ '^[0-9a-f]{40}$'),
    range_start_sha TEXT CHECK (range_start_sha ~ '^[0-9a-f]{40}$'),
    before_size     BIGINT NOT NULL,
    after_size      BIGINT NOT NULL,
    delta           BIGINT NOT NULL,
    percent         DOUBLE PRECISION NOT NULL,
    author_login    TEXT,
    pr_number       BIGINT,
    changes         JSONB NOT NULL DEFAULT '{}',
    state           TEXT NOT NULL DEFAULT 'open'
                    CHECK (state IN ('open', 'acknowledged', 'resolved')),
    state_changed_by TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (target_id, metric, commit_sha)
);
CREATE INDEX alerts_repository ON alerts (repository_id, id DESC);

-- Where a repository's alerts go: a generic webhook (JSON with a
-- Slack-compatible `text`) and, opted in, a GitHub commit comment on the
-- culprit. One sink of each kind per repository.
CREATE TABLE alert_sinks (
    id              BIGSERIAL PRIMARY KEY,
    repository_id   BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('webhook', 'commit-comment')),
    url             TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (repository_id, kind),
    CHECK ((kind = 'webhook') = (url IS NOT NULL))
);

-- One delivery of an alert to a sink: unique, so an alert reaches a sink
-- at most once; retried with growing backoff until delivered or out of
-- attempts (failed_at, keeping last_error so failures stay visible).
CREATE TABLE alert_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    alert_id        BIGINT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    sink_id         BIGINT NOT NULL REFERENCES alert_sinks (id) ON DELETE CASCADE,
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL DEFAULT 8,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    locked_until    TIMESTAMPTZ,
    last_error      TEXT,
    delivered_at    TIMESTAMPTZ,
    failed_at       TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (alert_id, sink_id)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;

-- The trailing series of a target on a branch: baseline-eligible current
-- builds, newest first (one index scan per push).
CREATE INDEX builds_eligible_series ON builds (target_id, branch, id DESC)
    WHERE baseline_eligible AND superseded_at IS NULL;
