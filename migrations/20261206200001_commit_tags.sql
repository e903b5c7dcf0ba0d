-- Release tags sent with uploads (`meta.tag`, the Action's `GITHUB_REF_NAME`
-- on tag pushes). A tag names one commit per repository, like a git tag; an
-- upload that names it on another commit moves it there (the newest trusted
-- upload wins, as `git tag -f` would), and `moved_at` says when. A commit
-- may carry several tags. Only trusted, non-pull-request uploads tag.
CREATE TABLE commit_tags (
    repository_id   BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    commit_id       BIGINT NOT NULL REFERENCES commits (id) ON DELETE CASCADE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    moved_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, name)
);
CREATE INDEX commit_tags_commit ON commit_tags (commit_id);
