-- The commit a merged pull request made on its base branch and the pull
-- request's author, from `pull_request` `closed` deliveries: a post-merge
-- alert whose culprit is that commit names the pull request and its author.
-- Append-only: never edit an applied migration.
ALTER TABLE pull_requests
    ADD COLUMN merge_commit_sha TEXT CHECK (merge_commit_sha ~ '^[0-9a-f]{40}$'),
    ADD COLUMN author_login TEXT CHECK (length(author_login) <= 100);

CREATE INDEX pull_requests_merge_commit ON pull_requests (repository_id, merge_commit_sha)
    WHERE merge_commit_sha IS NOT NULL;
