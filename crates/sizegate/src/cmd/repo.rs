//! `sizegate repo`: repository settings. Today one: whether it is private
//! (its dashboard pages and API answers need a read token).

use std::process::ExitCode;

use anyhow::Context;

use sizegate_store::RepoName;

use super::service::{DatabaseArgs, runtime};

/// Arguments of `sizegate repo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Hide OWNER/REPO from anonymous readers (dashboard and JSON API).
    SetPrivate {
        /// The repository, `OWNER/REPO`.
        repo: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Show OWNER/REPO to everyone again.
    SetPublic {
        /// The repository, `OWNER/REPO`.
        repo: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// Run `sizegate repo`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (repo, database, private) = match args.action {
        Action::SetPrivate { repo, database } => (repo, database, true),
        Action::SetPublic { repo, database } => (repo, database, false),
    };
    let repo = RepoName::parse(&repo)?;
    runtime()?.block_on(async {
        let store = database.connect(true).await?;
        store
            .migrate()
            .await
            .context("applying database migrations")?;
        if store.set_repository_private(&repo, private).await? {
            eprintln!("{repo} is now {}", if private { "private" } else { "public" });
            Ok(ExitCode::SUCCESS)
        } else {
            eprintln!("no repository {repo} (it is registered by `sizegate token create {repo}` or its first upload)");
            Ok(ExitCode::from(1))
        }
    })
}
