//! `sizegate-store`: Postgres history, the job queue and the blob store.
//!
//! Queries are plain `sqlx::query`/`query_as` (no compile-time database),
//! each covered by the tests of this crate. [`Store`] wraps the pool; the
//! methods are grouped by area: [`tokens`] (repositories and upload tokens),
//! [`uploads`] (commits, targets, artifacts, builds), [`queue`] (jobs),
//! [`measurements`] and [`history`] (the read side of the API), [`reads`]
//! (series, branches, a commit's measurements, baselines and pull request
//! pushes, as the dashboard and the API read them), [`alerts`]
//! (post-merge step alerts and their deliveries),
//! [`evaluations`] (the gate's input and output) and [`github_events`]
//! (webhook deliveries, pull request labels, installations).

pub mod access;
pub mod alerts;
pub mod blob;
pub mod compare;
pub mod evaluations;
pub mod gc;
pub mod github_events;
pub mod history;
pub mod measurements;
pub mod oidc_replay;
pub mod queue;
pub mod reads;
pub mod repo_settings;
pub mod tokens;
pub mod upload_sessions;
pub mod uploads;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

pub use blob::{BlobError, BlobStore, open_blob_store};
pub use reads::{
    MAX_BRANCHES, MeasuredTarget, MetricPoint, PushRow, SectionRow, SymbolRow, TargetRef, UnitRow,
};

/// Install ring as the process-wide rustls crypto provider, once. reqwest
/// (used for S3) is built without a bundled provider to avoid the aws-lc-rs
/// C build; any HTTPS client in the process needs a provider installed
/// before it is built. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The migrations of `migrations/` at the repository root, embedded.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed or refused a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The blob store failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// A stored report could not be encoded or decoded.
    #[error("report encoding: {0}")]
    Report(String),
    /// The operating system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
    /// A value given to the store is invalid (the message names it).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// Whether the database could not be reached at all — down, restarting,
    /// refusing connections, or no pooled connection came free in time —
    /// as opposed to refusing a statement. Callers answer 503 and retry
    /// later instead of treating it as a bug.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Database(e) => database_unavailable(e),
            _ => false,
        }
    }
}

/// Whether `error` means the database is out of reach (see
/// [`Error::is_unavailable`]).
pub fn database_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exceptions; 57P01-57P03: the server is
        // shutting down, crashed or starting up; 53300: too many connections.
        sqlx::Error::Database(e) => e.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// The database side of sizegate: one pool, cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// Wrap an existing pool (tests get one from `#[sqlx::test]`).
    pub fn new(pool: PgPool) -> Self {
        Store { pool }
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Apply pending migrations.
    pub async fn migrate(&self) -> Result<(), Error> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Check that the database answers (for `/healthz`).
    pub async fn ping(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Connection settings for [`connect`]. Its `Debug` output hides the
/// URL's password.
#[derive(Clone)]
pub struct DatabaseSettings {
    /// `postgres://...` URL. Without a host, the local server's socket is used.
    pub url: String,
    /// Create the database when it does not exist.
    pub create_if_missing: bool,
    /// Pool size.
    pub max_connections: u32,
    /// How long a query waits for a connection before it fails as
    /// unavailable; while the database is down, requests fail after this.
    pub acquire_timeout: Duration,
}

/// A database URL fit for logs and error messages: its password replaced
/// by `<redacted>`; an unparsable URL, which could hold anything, entirely.
pub fn redact_database_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("<redacted>"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "<redacted>".to_owned(),
    }
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_database_url(&self.url))
            .field("create_if_missing", &self.create_if_missing)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

/// Open a pool, creating the database first if asked and missing.
///
/// The database is tried first and created only when the server says it
/// does not exist: the usual start (database present) then costs one
/// connection, not an extra one to the maintenance database (start-up time
/// is part of the footprint we measure, see benchmarks/service.md).
pub async fn connect(settings: &DatabaseSettings) -> Result<PgPool, Error> {
    let options = PgConnectOptions::from_str(&settings.url)?;
    let open = |options: PgConnectOptions| {
        PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
    };
    match open(options.clone()).await {
        Ok(pool) => Ok(pool),
        Err(e) if settings.create_if_missing && is_missing_database(&e) => {
            create_database_if_missing(&options).await?;
            Ok(open(options).await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Postgres' `invalid_catalog_name`: the database named in the URL does not exist.
fn is_missing_database(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.code().as_deref() == Some("3D000"))
}

/// Create the database named by `options` unless it exists, by connecting
/// to the server's `postgres` maintenance database.
async fn create_database_if_missing(options: &PgConnectOptions) -> Result<(), Error> {
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let mut admin = options.clone().database("postgres").connect().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let statement = format!("CREATE DATABASE {quoted}");
        match sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut admin)
            .await
        {
            Ok(_) => tracing::info!(database = %name, "created the database"),
            // Another process created it at the same moment.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

pub use sizegate_core::RepoName;

/// A stored byte count (a size column, never negative: CHECKs keep them
/// so) as bytes.
pub(crate) fn stored_bytes(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A byte count (a size, a range bound) as a column value; a count beyond
/// `i64` is refused.
pub(crate) fn to_db(value: u64) -> Result<i64, Error> {
    i64::try_from(value).map_err(|_| Error::Invalid(format!("size {value} is too large")))
}

impl From<sizegate_core::InvalidRepoName> for Error {
    fn from(e: sizegate_core::InvalidRepoName) -> Self {
        Error::Invalid(e.to_string())
    }
}

/// Set-up shared by this crate's database tests.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::{RepoName, Store};

    /// A store on `pool` with the repository `name` (`owner/name`), and
    /// the repository's id.
    pub(crate) async fn store_with_repository(pool: sqlx::PgPool, name: &str) -> (Store, i64) {
        let store = Store::new(pool);
        let repository_id = store
            .ensure_repository(&RepoName::parse(name).expect("a valid test repository name"))
            .await
            .expect("the test repository is created");
        (store, repository_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_settings_hide_the_password() {
        let settings = DatabaseSettings {
            url: "postgres://sizegate:hunter2-db-pass@db.internal:5432/sizegate".into(),
            create_if_missing: false,
            max_connections: 1,
            acquire_timeout: Duration::from_secs(5),
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2-db-pass"), "{shown}");
        assert!(shown.contains("db.internal"), "{shown}");
    }
}
