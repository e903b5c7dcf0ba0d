//! `sizegate repo`: repository settings: whether it is private (its
//! dashboard pages and API answers need a read token), whether GitHub OIDC
//! uploads are accepted (and GitHub's numeric ids they must carry), and the
//! protected branches whose trusted builds become baselines, and where
//! post-merge step alerts go (a webhook, GitHub commit comments).

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
    /// Send OWNER/REPO's step alerts to a webhook: a JSON POST with a
    /// Slack-compatible `text` field (`--off` removes it).
    SetAlertWebhook {
        /// The repository, `OWNER/REPO`.
        repo: String,
        /// The webhook's URL (http or https).
        #[arg(required_unless_present = "off", conflicts_with = "off")]
        url: Option<String>,
        /// Remove the webhook.
        #[arg(long)]
        off: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Comment on the culprit commit of each step alert of OWNER/REPO
    /// through the GitHub App (`on`), or not (`off`, the default).
    SetAlertComments {
        /// The repository, `OWNER/REPO`.
        repo: String,
        /// `on` or `off`.
        #[arg(value_parser = ["on", "off"])]
        state: String,
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
        Action::SetAlertWebhook {
            repo,
            url,
            off: _,
            database,
        } => set_alert_webhook(&repo, url.as_deref(), database),
        Action::SetAlertComments {
            repo,
            state,
            database,
        } => set_alert_comments(&repo, state == "on", database),
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

/// A webhook URL as given: absolute, http or https, with a host.
fn check_webhook_url(text: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(text.trim())
        .with_context(|| format!("`{text}` is not a URL; give the webhook's full http(s) URL"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https"),
        "`{text}`: a webhook URL must start with http:// or https://, not {}:",
        url.scheme()
    );
    anyhow::ensure!(url.host_str().is_some(), "`{text}`: the URL has no host");
    Ok(url.to_string())
}

fn set_alert_webhook(
    repo: &str,
    url: Option<&str>,
    database: DatabaseArgs,
) -> anyhow::Result<ExitCode> {
    let repo = RepoName::parse(repo)?;
    let url = url.map(check_webhook_url).transpose()?;
    runtime()?.block_on(async {
        let store = connect(database).await?;
        let Some(settings) = store.repository_settings(&repo).await? else {
            return unknown(&repo);
        };
        store.set_alert_webhook(settings.id, url.as_deref()).await?;
        match url {
            Some(url) => eprintln!("{repo}: step alerts found from now on are sent to {url}"),
            None => eprintln!("{repo}: no alert webhook"),
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn set_alert_comments(repo: &str, on: bool, database: DatabaseArgs) -> anyhow::Result<ExitCode> {
    let repo = RepoName::parse(repo)?;
    runtime()?.block_on(async {
        let store = connect(database).await?;
        let Some(settings) = store.repository_settings(&repo).await? else {
            return unknown(&repo);
        };
        store.set_alert_comments(settings.id, on).await?;
        eprintln!(
            "{repo}: commit comments on alert culprits are {}",
            if on {
                "on (needs the GitHub App)"
            } else {
                "off"
            }
        );
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_must_be_http_or_https() {
        assert_eq!(
            check_webhook_url("https://hooks.example/x?y=1").unwrap(),
            "https://hooks.example/x?y=1"
        );
        assert!(check_webhook_url("http://127.0.0.1:9000/hook").is_ok());
        for bad in [
            "ftp://example/x",
            "file:///etc/passwd",
            "hooks.example/x",
            "javascript:alert(1)",
        ] {
            assert!(check_webhook_url(bad).is_err(), "{bad}");
        }
    }
}
