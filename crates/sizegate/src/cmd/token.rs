//! `sizegate token`: create, list and revoke upload tokens and read tokens. The clear
//! token is printed once, on stdout, by `create`; only its hash is stored.

use std::process::ExitCode;

use anyhow::Context;
use sizegate_store::RepoName;

use super::service::{DatabaseArgs, runtime};

/// Arguments of `sizegate token`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Register OWNER/REPO if needed and print a new upload token for it;
    /// with `--read`, print a read token (opens private repositories in
    /// the dashboard and the API) instead.
    Create {
        /// The repository, `OWNER/REPO` (not with `--read`).
        #[arg(required_unless_present = "read", conflicts_with = "read")]
        repo: Option<String>,
        /// Create a read token for the dashboard and the JSON API.
        #[arg(long)]
        read: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List the tokens of OWNER/REPO (ids and dates, never the secrets).
    List {
        /// The repository, `OWNER/REPO`.
        repo: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke an upload or read token, given in full or by its id.
    Revoke {
        /// The token, or its id (the 16 hex digits after `sgu_` or `sgr_`).
        token: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// Run `sizegate token`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let database = match &args.action {
        Action::Create { database, .. }
        | Action::List { database, .. }
        | Action::Revoke { database, .. } => database.clone(),
    };
    runtime()?.block_on(async {
        let store = database.connect(true).await?;
        store
            .migrate()
            .await
            .context("applying database migrations")?;
        match args.action {
            Action::Create { read: true, .. } => {
                let token = store.create_read_token().await?;
                eprintln!(
                    "read token {} (shown once; enter it at /login or send it as `Authorization: Bearer`):",
                    token.public_id
                );
                println!("{}", token.token);
                Ok(ExitCode::SUCCESS)
            }
            Action::Create { repo, .. } => {
                let repo = RepoName::parse(repo.as_deref().unwrap_or_default())?;
                let token = store.create_upload_token(&repo).await?;
                eprintln!(
                    "upload token {} for {repo} (shown once; store it as a CI secret):",
                    token.public_id
                );
                println!("{}", token.token);
                Ok(ExitCode::SUCCESS)
            }
            Action::List { repo, .. } => {
                let repo = RepoName::parse(&repo)?;
                for token in store.list_upload_tokens(&repo).await? {
                    let state = match token.revoked_at {
                        Some(at) => format!("revoked {at}"),
                        None => "active".to_owned(),
                    };
                    let used = token
                        .last_used_at
                        .map_or_else(|| "never used".to_owned(), |at| format!("last used {at}"));
                    println!(
                        "{}  created {}  {used}  {state}",
                        token.public_id, token.created_at
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            Action::Revoke { token, .. } => {
                let revoked = if token.starts_with("sgr_") {
                    store.revoke_read_token(&token).await?
                } else {
                    store.revoke_upload_token(&token).await? || store.revoke_read_token(&token).await?
                };
                if revoked {
                    eprintln!("token revoked");
                    Ok(ExitCode::SUCCESS)
                } else {
                    eprintln!("no active token matches");
                    Ok(ExitCode::from(1))
                }
            }
        }
    })
}
