//! `sizegate gc`: one garbage collection, then exit. See
//! `sizegate_store::gc` for what is collected.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::service::{DatabaseArgs, LogArgs, StorageArgs, parse_duration, runtime};

/// Arguments of `sizegate gc`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Collect superseded and non-baseline builds older than this (`30d`,
    /// `12h`...).
    #[arg(long, default_value = "30d", value_parser = parse_duration)]
    older_than: Duration,
    /// Delete blobs no row refers to only once unmodified for this long:
    /// an upload writes its blob before it commits its row.
    #[arg(long, default_value = "1d", value_parser = parse_duration)]
    orphan_grace: Duration,
    /// Count what would be deleted; delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the counts as JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    log: LogArgs,
}

/// Run `sizegate gc`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    args.log.init()?;
    let report = runtime()?.block_on(async {
        let store = args.database.connect(false).await?;
        let blobs = args.storage.open().await?;
        let policy = sizegate_store::gc::GcPolicy {
            older_than: args.older_than,
            orphan_grace: args.orphan_grace,
            dry_run: args.dry_run,
        };
        store
            .collect_garbage(blobs.as_ref(), &policy)
            .await
            .context("collecting garbage")
    })?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("writing JSON")?
        );
    } else if report.skipped {
        println!("another garbage collection is running; nothing done");
    } else {
        let verb = if args.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        println!(
            "{verb}: {} builds, {} artifacts, {} blobs ({} bytes), {} expired sessions, {} expired OIDC token ids, {} abandoned upload sessions ({} bytes); kept {} recent unreferenced blobs",
            report.builds,
            report.artifacts,
            report.blobs,
            report.blob_bytes,
            report.sessions,
            report.oidc_token_ids,
            report.upload_sessions,
            report.upload_session_bytes,
            report.recent_orphans_kept
        );
    }
    Ok(ExitCode::SUCCESS)
}
