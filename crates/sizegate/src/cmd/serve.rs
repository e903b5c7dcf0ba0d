//! `sizegate serve`: the HTTP server with in-process workers. Zero
//! configuration: without `DATABASE_URL` it finds a local Postgres or
//! starts a private one (`local_pg`); the database is created if missing
//! and migrated, blobs go to `./sizegate-data`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sizegate_github::oidc::{OidcConfig, OidcVerifier};
use sizegate_server::{AppState, ListenerLimits, ServerConfig, ServerMetrics};

use super::github_app::GitHubArgs;
use super::service::{
    DatabaseArgs, GcArgs, LogArgs, StorageArgs, WorkerArgs, WorkerSetup, runtime,
    shutdown_on_signal,
};

/// Arguments of `sizegate serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port; the log says which).
    #[arg(long, env = "SIZEGATE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Run no workers in this process (run `sizegate worker` elsewhere).
    #[arg(long, env = "SIZEGATE_NO_WORKER")]
    no_worker: bool,
    /// Attempts a job gets before it fails for good (set when it is queued).
    #[arg(long, env = "SIZEGATE_JOB_MAX_ATTEMPTS", default_value_t = 5)]
    job_max_attempts: i32,
    /// Public base URL of this server (absolute links in answers and comments).
    #[arg(long, env = "SIZEGATE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Issuer of the GitHub Actions OIDC tokens accepted for uploads (GitHub
    /// Enterprise Server: `https://HOST/_services/token`). OIDC uploads are
    /// on when `--public-url` is set: it is the audience tokens must carry.
    #[arg(long, env = "SIZEGATE_OIDC_ISSUER", default_value = sizegate_github::oidc::GITHUB_ACTIONS_ISSUER)]
    oidc_issuer: String,
    /// Seconds a client has to send a request's headers; a slower one is
    /// disconnected.
    #[arg(long, env = "SIZEGATE_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    header_read_timeout_secs: u64,
    /// Seconds a connection may move no byte (between requests, or stalled
    /// in one) before it is closed.
    #[arg(long, env = "SIZEGATE_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    idle_timeout_secs: u64,
    /// Most bytes of artifacts in one upload request, all parts together.
    #[arg(long, env = "SIZEGATE_MAX_UPLOAD_BYTES", default_value_t = 1 << 30)]
    max_upload_bytes: u64,
    /// Most bytes of artifacts one repository may keep (0: no quota);
    /// uploads past it get 507.
    #[arg(long, env = "SIZEGATE_REPO_QUOTA_BYTES", default_value_t = 0)]
    repo_quota_bytes: u64,
    /// Seconds a resumable upload session may stay unfinished; `gc` then
    /// deletes it and its bytes.
    #[arg(
        long,
        env = "SIZEGATE_UPLOAD_SESSION_TTL_SECS",
        default_value_t = 86_400
    )]
    upload_session_ttl_secs: u64,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, env = "SIZEGATE_MAX_CONNECTIONS", default_value_t = 512)]
    max_connections: usize,
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    worker: WorkerArgs,
    #[command(flatten)]
    gc: GcArgs,
    #[command(flatten)]
    github: GitHubArgs,
    #[command(flatten)]
    log: LogArgs,
}

/// Run `sizegate serve`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    args.log.init()?;
    runtime()?.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(mut args: Args) -> anyhow::Result<()> {
    // Stopped when this function returns (on every path: it stops on drop).
    let _cluster = find_database(&mut args).await?;
    let store = args.database.connect(true).await?;
    store
        .migrate()
        .await
        .context("applying database migrations")?;
    let blobs = args.storage.open().await?;
    let setup = WorkerSetup::new(
        &args.worker,
        &args.storage.data_dir,
        args.public_url.as_deref(),
        &args.github,
    )?;
    let state = app_state(&args, &store, &blobs, &setup)?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener
        .local_addr()
        .context("reading the listening address")?;
    let shutdown = shutdown_on_signal();
    let gc = args
        .gc
        .spawn(store.clone(), Arc::clone(&blobs), shutdown.clone());
    let worker = (!args.no_worker)
        .then(|| tokio::spawn(setup.into_worker(store, blobs).run(shutdown.clone())));
    tracing::info!("sizegate listening on http://{address}");
    sizegate_server::serve(listener, state, shutdown.clone())
        .await
        .context("serving HTTP")?;
    // The server stops on the same signal; let the workers finish or release.
    shutdown.cancel();
    if let Some(worker) = worker {
        worker.await.context("waiting for the workers")?;
    }
    if let Some(gc) = gc {
        gc.await.context("waiting for the garbage collection")?;
    }
    tracing::info!("sizegate stopped");
    Ok(())
}

/// Without `DATABASE_URL`: a local server, or a private cluster (returned,
/// stopped when dropped), whose URL is put into `args`.
async fn find_database(args: &mut Args) -> anyhow::Result<Option<super::local_pg::PrivateCluster>> {
    match args.database.database_url.as_deref() {
        Some(url) if !url.is_empty() => {
            tracing::info!(database = %sizegate_store::redact_database_url(url), "using the database {}", sizegate_store::redact_database_url(url));
            Ok(None)
        }
        _ => {
            let local = super::local_pg::find_or_start(&args.storage.data_dir).await?;
            args.database.database_url = Some(local.url);
            Ok(local.cluster)
        }
    }
}

/// The HTTP server's state: its settings from `args`, sharing the store,
/// the blobs, the GitHub client and the workers' metrics.
fn app_state(
    args: &Args,
    store: &sizegate_store::Store,
    blobs: &Arc<dyn sizegate_store::BlobStore>,
    setup: &WorkerSetup,
) -> anyhow::Result<AppState> {
    Ok(AppState {
        store: store.clone(),
        blobs: Arc::clone(blobs),
        config: Arc::new(ServerConfig {
            max_artifact_bytes: args.worker.max_artifact_bytes,
            max_upload_bytes: args.max_upload_bytes,
            repo_quota_bytes: args.repo_quota_bytes,
            max_attempts: args.job_max_attempts.max(1),
            public_url: args.public_url.clone(),
            webhook_secret: args.github.github_webhook_secret.clone(),
            github: setup.github.clone(),
            listener: ListenerLimits {
                header_read_timeout: Duration::from_secs(args.header_read_timeout_secs.max(1)),
                idle_timeout: Duration::from_secs(args.idle_timeout_secs.max(1)),
                max_connections: args.max_connections.max(1),
            },
            upload_session_ttl: Duration::from_secs(args.upload_session_ttl_secs.max(1)),
            ..ServerConfig::default()
        }),
        metrics: Arc::new(ServerMetrics::default()),
        worker_metrics: Arc::clone(&setup.metrics),
        oidc: oidc_verifier(args, store)?,
    })
}

/// The OIDC verifier, when the server has a public URL to use as audience.
/// Used token ids are kept in the database, shared by every replica.
fn oidc_verifier(
    args: &Args,
    store: &sizegate_store::Store,
) -> anyhow::Result<Option<Arc<OidcVerifier>>> {
    let Some(public_url) = args.public_url.as_deref().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let config = OidcConfig {
        issuer: args.oidc_issuer.trim_end_matches('/').to_owned(),
        ..OidcConfig::github(public_url)
    };
    let verifier = OidcVerifier::new(config)
        .context("setting up GitHub OIDC verification")?
        .with_replay_cache(Arc::new(sizegate_server::replay::PgReplayCache::new(
            store.clone(),
        )));
    tracing::info!(issuer = %args.oidc_issuer, audience = public_url, "GitHub OIDC uploads accepted");
    Ok(Some(Arc::new(verifier)))
}
