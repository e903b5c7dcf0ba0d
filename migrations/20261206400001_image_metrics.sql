-- Container images are measured in three more metrics (issue 19):
-- `compressed` (the layer blobs), `uncompressed` (the layers' tar streams)
-- and `pull` (what a cold pull transfers). Binaries have none of them, so
-- the columns stay NULL for binaries and for every measurement made before.
ALTER TABLE measurements
    ADD COLUMN size_compressed   BIGINT CHECK (size_compressed >= 0),
    ADD COLUMN size_uncompressed BIGINT CHECK (size_uncompressed >= 0),
    ADD COLUMN size_pull         BIGINT CHECK (size_pull >= 0);
