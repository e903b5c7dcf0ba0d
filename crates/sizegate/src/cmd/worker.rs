//! `sizegate worker`: job loops only, no HTTP. Run as many as needed
//! against one Postgres (and one shared blob store).

use std::process::ExitCode;
use std::sync::Arc;

use sizegate_worker::{Worker, WorkerMetrics};

use super::service::{DatabaseArgs, LogArgs, StorageArgs, WorkerArgs, runtime, shutdown_on_signal};

/// Arguments of `sizegate worker`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    worker: WorkerArgs,
    #[command(flatten)]
    log: LogArgs,
}

/// Run `sizegate worker` until SIGTERM or ctrl-c.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    args.log.init()?;
    runtime()?.block_on(async {
        let store = args.database.connect(false).await?;
        let blobs = args.storage.open().await?;
        let config = args.worker.config(&args.storage.data_dir)?;
        let worker = Worker::new(store, blobs, config, Arc::new(WorkerMetrics::default()));
        worker.run(shutdown_on_signal()).await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
