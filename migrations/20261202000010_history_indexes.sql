-- Indexes for the target page and the history API on a long history
-- (benchmarks/service.md: 1,000,000 measurements, one repository with
-- 200,000 commits). Append-only: never edit an applied migration.

-- The branch menu (`branches`: each branch with its latest upload) reads
-- only this index (an index-only scan) instead of every commit row of the
-- repository. It also serves everything `commits_branch` did, which it
-- replaces (one index less to maintain on each upload).
CREATE INDEX commits_branch_recent ON commits (repository_id, branch, created_at);
DROP INDEX commits_branch;

-- The newest commits of a repository, read backwards: the branch menu
-- looks at the newest few thousand first.
CREATE INDEX commits_recent ON commits (repository_id, created_at DESC);

-- The budgets shown on the target page (`latest_config`: the newest commit
-- that carried a sizegate.toml): read backwards from the newest, instead
-- of sorting every commit of the repository.
CREATE INDEX commits_config_recent ON commits (repository_id, created_at DESC, id DESC)
    WHERE config IS NOT NULL;
