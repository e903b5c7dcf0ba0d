//! `sizegate-store`: Postgres history, the job queue and the blob store.
