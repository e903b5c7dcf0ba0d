-- Uploads made for pull requests from forks (the `workflow_run` pattern).
-- A fork's build ran code nobody reviewed yet: a commit any fork upload
-- touched never serves as a baseline. The flag is sticky (see uploads.rs).
ALTER TABLE commits ADD COLUMN fork boolean NOT NULL DEFAULT false;
