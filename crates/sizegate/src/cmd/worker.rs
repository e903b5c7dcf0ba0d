//! `sizegate worker`: job loops only, no HTTP. Run as many as needed
//! against one Postgres (and one shared blob store).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use sizegate_server::{AppState, ServerConfig, ServerMetrics};

use super::github_app::GitHubArgs;
use super::service::{
    DatabaseArgs, GcArgs, LogArgs, StorageArgs, WorkerArgs, WorkerSetup, runtime,
    shutdown_on_signal,
};

/// Arguments of `sizegate worker`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Serve `/metrics` and `/healthz` of this worker process on this
    /// address (port 0 picks one; the log says which). Off by default.
    #[arg(long, env = "SIZEGATE_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// Public base URL of the sizegate server (links in comments and checks).
    #[arg(long, env = "SIZEGATE_PUBLIC_URL")]
    public_url: Option<String>,
    #[command(flatten)]
    github: GitHubArgs,
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    worker: WorkerArgs,
    #[command(flatten)]
    gc: GcArgs,
    #[command(flatten)]
    log: LogArgs,
}

/// Run `sizegate worker` until SIGTERM or ctrl-c.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    args.log.init()?;
    runtime()?.block_on(async {
        let store = args.database.connect(false).await?;
        let blobs = args.storage.open().await?;
        let setup = WorkerSetup::new(
            &args.worker,
            &args.storage.data_dir,
            args.public_url.as_deref(),
            &args.github,
        )?;
        let shutdown = shutdown_on_signal();
        let operations = match &args.metrics_listen {
            Some(address) => {
                let listener = tokio::net::TcpListener::bind(address)
                    .await
                    .with_context(|| format!("listening on {address}"))?;
                let local = listener
                    .local_addr()
                    .context("reading the metrics address")?;
                let state = AppState {
                    store: store.clone(),
                    blobs: Arc::clone(&blobs),
                    config: Arc::new(ServerConfig::default()),
                    metrics: Arc::new(ServerMetrics::default()),
                    worker_metrics: Arc::clone(&setup.metrics),
                    oidc: None,
                };
                tracing::info!("worker metrics on http://{local}/metrics");
                let router = sizegate_server::operations_app(state);
                Some(tokio::spawn(sizegate_server::serve_router(
                    listener,
                    router,
                    shutdown.clone(),
                )))
            }
            None => None,
        };
        let gc = args
            .gc
            .spawn(store.clone(), Arc::clone(&blobs), shutdown.clone());
        setup.into_worker(store, blobs).run(shutdown.clone()).await;
        shutdown.cancel();
        if let Some(gc) = gc {
            gc.await.context("waiting for the garbage collection")?;
        }
        if let Some(operations) = operations {
            operations
                .await
                .context("waiting for the metrics server")?
                .context("serving metrics")?;
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
