//! `sizegate repo`: repository settings: whether it is private (its
//! dashboard pages and API answers need a read token), whether GitHub OIDC
//! uploads are accepted (and GitHub's numeric ids they must carry), and the
//! protected branches whose trusted builds become baselines.

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

// The variants are the subcommands `set-private`, `set-oidc`, ...: clap
// derives those names from them.
#[allow(clippy::enum_variant_names)]
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
    /// Accept (`on`) or refuse (`off`) GitHub Actions OIDC tokens for
    /// uploads to OWNER/REPO (exact name). A token must carry the
    /// repository's GitHub ids: they are learned from the GitHub App's
    /// installation events, or given here.
    SetOidc {
        /// The repository, `OWNER/REPO`, exactly as registered.
        repo: String,
        /// `on` or `off`.
        #[arg(value_parser = ["on", "off"])]
        state: String,
        /// GitHub's numeric id of the repository (`repository_id` claim;
        /// `gh api repos/OWNER/REPO --jq .id`).
        #[arg(long)]
        github_id: Option<i64>,
        /// GitHub's numeric id of its owner (`repository_owner_id` claim;
        /// `gh api repos/OWNER/REPO --jq .owner.id`).
        #[arg(long)]
        github_owner_id: Option<i64>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Set the protected branches of OWNER/REPO: the default branch and
    /// any others. Trusted builds (upload token, OIDC push) of a protected
    /// branch are baseline-eligible; applies to uploads made from now on.
    SetBranches {
        /// The repository, `OWNER/REPO`.
        repo: String,
        /// The default branch.
        default_branch: String,
        /// More protected branches (e.g. `release-1.x`).
        protected: Vec<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// Run `sizegate repo`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::SetPrivate { repo, database } => set_private(&repo, database, true),
        Action::SetPublic { repo, database } => set_private(&repo, database, false),
        Action::SetOidc {
            repo,
            state,
            github_id,
            github_owner_id,
            database,
        } => set_oidc(&repo, state == "on", github_id, github_owner_id, database),
        Action::SetBranches {
            repo,
            default_branch,
            protected,
            database,
        } => set_branches(&repo, &default_branch, &protected, database),
    }
}

fn unknown(repo: &RepoName) -> anyhow::Result<ExitCode> {
    eprintln!(
        "no repository {repo} (it is registered by `sizegate token create {repo}` or its first upload)"
    );
    Ok(ExitCode::from(1))
}

async fn connect(database: DatabaseArgs) -> anyhow::Result<sizegate_store::Store> {
    let store = database.connect(true).await?;
    store
        .migrate()
        .await
        .context("applying database migrations")?;
    Ok(store)
}

fn set_private(repo: &str, database: DatabaseArgs, private: bool) -> anyhow::Result<ExitCode> {
    let repo = RepoName::parse(repo)?;
    runtime()?.block_on(async {
        let store = connect(database).await?;
        if store.set_repository_private(&repo, private).await? {
            eprintln!(
                "{repo} is now {}",
                if private { "private" } else { "public" }
            );
            Ok(ExitCode::SUCCESS)
        } else {
            unknown(&repo)
        }
    })
}

fn set_oidc(
    repo: &str,
    enabled: bool,
    github_id: Option<i64>,
    github_owner_id: Option<i64>,
    database: DatabaseArgs,
) -> anyhow::Result<ExitCode> {
    let repo = RepoName::parse(repo)?;
    runtime()?.block_on(async {
        let store = connect(database).await?;
        let Some(settings) = store
            .set_repository_oidc(&repo, enabled, github_id, github_owner_id)
            .await?
        else {
            return unknown(&repo);
        };
        if !enabled {
            eprintln!("{repo}: GitHub OIDC uploads are off");
            return Ok(ExitCode::SUCCESS);
        }
        match (settings.github_id, settings.github_owner_id) {
            (Some(id), Some(owner)) => {
                eprintln!(
                    "{repo}: GitHub OIDC uploads are on (tokens must carry repository_id {id} and repository_owner_id {owner})"
                );
            }
            _ => eprintln!(
                "{repo}: GitHub OIDC uploads are on, but GitHub's ids of the repository are not known yet, so every OIDC upload is refused until they are: install the GitHub App on it, or run `sizegate repo set-oidc {repo} on --github-id ID --github-owner-id ID`"
            ),
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn set_branches(
    repo: &str,
    default_branch: &str,
    protected: &[String],
    database: DatabaseArgs,
) -> anyhow::Result<ExitCode> {
    let repo = RepoName::parse(repo)?;
    anyhow::ensure!(
        !default_branch.trim().is_empty(),
        "the default branch cannot be empty"
    );
    runtime()?.block_on(async {
        let store = connect(database).await?;
        match store
            .set_repository_branches(&repo, default_branch, protected)
            .await?
        {
            Some(settings) => {
                let mut all = vec![settings.default_branch];
                all.extend(settings.protected_branches);
                eprintln!("{repo}: protected branches: {}", all.join(", "));
                Ok(ExitCode::SUCCESS)
            }
            None => unknown(&repo),
        }
    })
}
