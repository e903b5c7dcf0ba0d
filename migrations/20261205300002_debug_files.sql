-- A debug file (split DWARF, .dSYM, .pdb...) uploaded next to a build's
-- artifact: stored in the blob store under `debug/`, handed to the analyzer
-- with `--debug-file`, never counted in the target's sizes.
ALTER TABLE builds ADD COLUMN debug_blob_key TEXT;
ALTER TABLE builds ADD COLUMN debug_size BIGINT;
