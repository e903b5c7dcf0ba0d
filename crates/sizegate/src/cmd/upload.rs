//! `sizegate upload`: send the release builds of one commit to a sizegate
//! server in one multipart request, from any CI. Everything that can be
//! checked locally is checked before the first byte goes out.

mod git;
mod oidc_token;
mod plan;
mod progress;
mod send;
mod session;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use self::plan::{Plan, PlanInput};
use self::send::{Credentials, RetryPolicy, SessionPolicy, Upload};

/// A secret given on the command line or in the environment; never shown
/// by `Debug` (clap keeps its env value out of `--help` too).
#[derive(Clone)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.trim().to_owned()))
    }
}

/// Arguments of `sizegate upload`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of the sizegate server, e.g. `https://sizegate.example.com`.
    #[arg(long, env = "SIZEGATE_SERVER")]
    server: String,
    /// Upload token (`sizegate token create OWNER/REPO`). Without one, inside
    /// GitHub Actions with `permissions: id-token: write`, a GitHub OIDC
    /// token is requested and sent instead.
    #[arg(long, env = "SIZEGATE_TOKEN", hide_env_values = true)]
    token: Option<Secret>,
    /// Repository, `OWNER/REPO`.
    #[arg(long, env = "SIZEGATE_REPO")]
    repo: String,
    /// The commit these builds come from: a full 40-hex-digit sha.
    #[arg(long, env = "SIZEGATE_COMMIT")]
    commit: String,
    /// Branch name (pushes).
    #[arg(long, env = "SIZEGATE_BRANCH")]
    branch: Option<String>,
    /// Pull request number; requires `--base-sha`.
    #[arg(long, env = "SIZEGATE_PR")]
    pr: Option<u64>,
    /// The pull request's base commit (full sha).
    #[arg(long, env = "SIZEGATE_BASE_SHA")]
    base_sha: Option<String>,
    /// Send up to 50 first-parent ancestors of the base (or, for a push, of
    /// the commit), from `git rev-list` in the current directory, so the
    /// server can find a baseline when the base itself was never measured.
    #[arg(long, env = "SIZEGATE_ANCESTORS_FROM_GIT")]
    ancestors_from_git: bool,
    /// Release tag naming the commit (a git tag name, at most 200 bytes),
    /// e.g. `v1.2.0`: `sizegate report` and the compare page accept it in
    /// place of the sha. A tag names one commit; uploading it with another
    /// commit moves it. Not with `--pr`.
    #[arg(long, env = "SIZEGATE_TAG")]
    tag: Option<String>,
    /// Budgets file sent with the upload [default: `sizegate.toml` in the
    /// current directory, when present].
    #[arg(long, env = "SIZEGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Audience of the GitHub OIDC token [default: the server URL]. It must
    /// equal the server's `SIZEGATE_PUBLIC_URL`.
    #[arg(long, env = "SIZEGATE_OIDC_AUDIENCE")]
    oidc_audience: Option<String>,
    /// Set by GitHub Actions when the job may request an OIDC token.
    #[arg(long, env = "ACTIONS_ID_TOKEN_REQUEST_URL", hide = true)]
    actions_id_token_request_url: Option<String>,
    /// Set by GitHub Actions when the job may request an OIDC token.
    #[arg(
        long,
        env = "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        hide = true,
        hide_env_values = true
    )]
    actions_id_token_request_token: Option<Secret>,
    /// Artifacts larger than this many bytes are sent in a resumable upload
    /// session, in chunks, resumed from the server's offset after a failure.
    #[arg(long, env = "SIZEGATE_CHUNKED_THRESHOLD", default_value_t = 64 << 20)]
    chunked_threshold: u64,
    /// Bytes per chunk of a resumable upload.
    #[arg(long, env = "SIZEGATE_CHUNK_SIZE", default_value_t = 16 << 20)]
    chunk_size: u64,
    /// A debug file for one of the artifacts, as `TARGET=PATH` (split DWARF,
    /// a `.debug` file): stored with the build and given to the analyzer,
    /// never counted in the target's sizes. Repeatable.
    #[arg(long = "debug-file", value_name = "TARGET=PATH")]
    debug_files: Vec<String>,
    /// Artifacts, as `TARGET=PATH`, e.g.
    /// `x86_64-unknown-linux-gnu/app=target/release/app`.
    #[arg(required = true, value_name = "TARGET=PATH")]
    artifacts: Vec<String>,
    #[command(flatten)]
    wait: super::wait::WaitArgs,
}

/// Run `sizegate upload`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = read_config(args.config.as_deref())?;
    let plan = Plan::new(PlanInput {
        server: &args.server,
        repo: &args.repo,
        commit: &args.commit,
        branch: args.branch.as_deref(),
        pr: args.pr,
        base_sha: args.base_sha.as_deref(),
        config,
        artifacts: &args.artifacts,
        debug_files: &args.debug_files,
        tag: args.tag.as_deref(),
    })?;
    let ancestors = if args.ancestors_from_git {
        let start = plan.meta.base_sha.as_deref().unwrap_or(&plan.meta.commit);
        git::first_parent_ancestors(start, plan::MAX_ANCESTORS)?
    } else {
        Vec::new()
    };
    let plan = plan.with_ancestors(ancestors);
    let read_token = args
        .wait
        .read_token
        .clone()
        .or(args.token.clone().map(|t| t.0));
    let credentials = match (args.token, args.actions_id_token_request_url) {
        (Some(token), _) if !token.0.is_empty() => Credentials::Token(token.0),
        (_, Some(url)) if !url.is_empty() => Credentials::GithubOidc {
            request_url: url,
            request_token: args
                .actions_id_token_request_token
                .map(|t| t.0)
                .unwrap_or_default(),
            audience: args
                .oidc_audience
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| plan.server.trim_end_matches('/').to_owned()),
        },
        _ => anyhow::bail!(
            "no credentials: pass --token (or SIZEGATE_TOKEN) with a token from \
             `sizegate token create OWNER/REPO`, or run inside GitHub Actions with \
             `permissions: id-token: write` to upload with an OIDC token"
        ),
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let upload = Upload {
        plan: &plan,
        credentials: &credentials,
        retry: RetryPolicy {
            attempts: 4,
            first_delay: Duration::from_millis(500),
        },
        sessions: SessionPolicy {
            threshold: args.chunked_threshold,
            chunk_size: args.chunk_size.max(64 << 10),
        },
    };
    let answer = runtime.block_on(upload.send())?;
    for line in answer.summary_lines() {
        println!("{line}");
    }
    if args.wait.wait {
        let target = super::wait::Target {
            server: &plan.server,
            repo: &plan.meta.repo,
            commit: &plan.meta.commit,
            token: read_token,
        };
        return super::wait::run(&args.wait, &target);
    }
    Ok(ExitCode::SUCCESS)
}

/// The text of the budgets file: the one named, or `./sizegate.toml` if it
/// exists, or none.
fn read_config(path: Option<&std::path::Path>) -> anyhow::Result<Option<String>> {
    /// Budget files are small; a bigger one is a mistake (wrong file).
    const MAX_CONFIG_BYTES: u64 = 256 * 1024;
    let (path, explicit) = match path {
        Some(p) if !p.as_os_str().is_empty() => (p.to_path_buf(), true),
        _ => (PathBuf::from("sizegate.toml"), false),
    };
    let meta = match std::fs::metadata(&path) {
        Ok(meta) => meta,
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("reading the config file {}", path.display()));
        }
    };
    if meta.len() > MAX_CONFIG_BYTES {
        anyhow::bail!(
            "config file {} is {} bytes; a sizegate.toml is at most {MAX_CONFIG_BYTES}",
            path.display(),
            meta.len()
        );
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    Ok(Some(text))
}
