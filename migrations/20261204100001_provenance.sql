-- Trust (issue 14): every build records how it was uploaded (its
-- provenance), builds are kept per (commit, target, provenance), and only
-- baseline-eligible builds (trusted provenance on a protected branch) serve
-- as baselines or lend their sizegate.toml to judge other commits.
-- Repositories learn GitHub's numeric ids, their default branch and their
-- protected branches, and accept GitHub OIDC uploads only when enabled.
-- Append-only: never edit an applied migration.

-- Per-repository settings.
--   default_branch:      a protected branch (learned from GitHub payloads
--                        or set with `sizegate repo set-branches`).
--   protected_branches:  more protected branches (`sizegate repo set-branches`).
--   github_id, github_owner_id: GitHub's numeric ids (`repository_id` and
--                        `repository_owner_id` of OIDC tokens must match).
--   oidc_enabled:        GitHub OIDC uploads accepted (`sizegate repo set-oidc`).
ALTER TABLE repositories
    ADD COLUMN default_branch TEXT NOT NULL DEFAULT 'main',
    ADD COLUMN protected_branches TEXT[] NOT NULL DEFAULT '{}',
    ADD COLUMN github_id BIGINT,
    ADD COLUMN github_owner_id BIGINT,
    ADD COLUMN oidc_enabled BOOLEAN NOT NULL DEFAULT false;

-- Existing repositories: the branch that carried most of their non-fork,
-- non-pull-request uploads is taken as the default branch, so their
-- baselines keep working after the upgrade.
UPDATE repositories r SET default_branch = top.branch
FROM (
    SELECT DISTINCT ON (repository_id) repository_id, branch
    FROM commits
    WHERE branch IS NOT NULL AND NOT fork AND pr_number IS NULL
    GROUP BY repository_id, branch
    ORDER BY repository_id, count(*) DESC, branch
) top
WHERE top.repository_id = r.id;

-- provenance:        token | oidc-push | oidc-pull-request | fork
-- branch:            the branch this upload was made for (from the token's
--                    claims for OIDC uploads, from the request otherwise)
-- baseline_eligible: trusted provenance (token, oidc-push) on a protected
--                    branch when uploaded
-- trust_rank:        3 baseline-eligible, 2 other trusted, 1 oidc-pull-request,
--                    0 fork; the preferred build of a (commit, target) is the
--                    highest rank, then the newest
-- replaced_at:       set when a newer upload of the same (commit, target,
--                    provenance) replaced this build. `superseded_at` keeps
--                    its meaning "not the build shown for (commit, target)":
--                    a build outranked by a more trusted one is superseded
--                    but not replaced.
ALTER TABLE builds
    ADD COLUMN provenance TEXT NOT NULL DEFAULT 'token'
        CHECK (provenance IN ('token', 'oidc-push', 'oidc-pull-request', 'fork')),
    ADD COLUMN branch TEXT,
    ADD COLUMN baseline_eligible BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN trust_rank SMALLINT NOT NULL DEFAULT 2,
    ADD COLUMN replaced_at TIMESTAMPTZ;

-- The rank of a commit's annotations (branch, pr, base, ancestors, config):
-- an upload of lower rank never changes them.
ALTER TABLE commits ADD COLUMN trust_rank SMALLINT NOT NULL DEFAULT 2;

-- Existing rows: builds were one per (commit, target); a fork-flagged
-- commit's builds are fork builds, the others token builds, eligible when
-- their commit is on the default branch.
UPDATE builds b SET replaced_at = b.superseded_at WHERE b.superseded_at IS NOT NULL;
UPDATE builds b SET provenance = 'fork', trust_rank = 0
FROM commits c WHERE c.id = b.commit_id AND c.fork;
UPDATE builds b SET branch = c.branch,
    baseline_eligible = (NOT c.fork AND c.branch = r.default_branch),
    trust_rank = CASE WHEN c.fork THEN 0
                      WHEN c.branch = r.default_branch THEN 3 ELSE 2 END
FROM commits c JOIN repositories r ON r.id = c.repository_id
WHERE c.id = b.commit_id;
UPDATE commits c SET trust_rank = CASE WHEN c.fork THEN 0
                                       WHEN c.branch = r.default_branch THEN 3 ELSE 2 END
FROM repositories r WHERE r.id = c.repository_id;

-- One live build per (commit, target, provenance); `builds_current` still
-- allows one shown build per (commit, target).
CREATE UNIQUE INDEX builds_slot ON builds (commit_id, target_id, provenance)
    WHERE replaced_at IS NULL;

-- The pull request's own `updated_at` from the webhook payload: a delivery
-- older than the state already recorded (GitHub does not deliver in order)
-- does not overwrite its labels.
ALTER TABLE pull_requests ADD COLUMN github_updated_at TIMESTAMPTZ;
