//! `sizegate migrate`: create the database if missing and apply migrations.

use std::process::ExitCode;

use anyhow::Context;

use super::service::{DatabaseArgs, LogArgs, runtime};

/// Arguments of `sizegate migrate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    log: LogArgs,
}

/// Run `sizegate migrate`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    args.log.init()?;
    runtime()?.block_on(async {
        let store = args.database.connect(true).await?;
        store
            .migrate()
            .await
            .context("applying database migrations")?;
        tracing::info!("database migrated");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
