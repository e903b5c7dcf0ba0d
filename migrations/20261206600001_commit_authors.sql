-- The GitHub login of each commit's author, from `push` webhooks
-- (`commits[].author.username`, `head_commit`). Only logins are kept, never
-- e-mail addresses; a commit whose author has no GitHub account has no row.
-- Alerts that name one commit show its author from here (issue 18).
CREATE TABLE commit_authors (
    repository_id   BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    sha             TEXT NOT NULL CHECK (length(sha) = 40),
    login           TEXT NOT NULL CHECK (length(login) BETWEEN 1 AND 100),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, sha)
);
