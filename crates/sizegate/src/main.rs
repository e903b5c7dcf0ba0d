//! The `sizegate` binary: one executable for every role (CLI analysis,
//! uploads, the server, the worker, administration).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod container_input;
mod input;
mod output;

/// A self-hosted CI gate for binary size.
#[derive(Debug, Parser)]
#[command(name = "sizegate", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure a binary: sections, units (crates, Go packages), symbols, advice.
    Analyze(cmd::analyze::Args),
    /// Compare two binaries or two JSON reports written by `analyze`.
    Diff(cmd::diff::Args),
    /// Run the HTTP server with in-process workers.
    Serve(cmd::serve::Args),
    /// Run job workers only (no HTTP).
    Worker(cmd::worker::Args),
    /// Create the database if missing and apply migrations.
    Migrate(cmd::migrate::Args),
    /// Delete superseded and non-baseline builds past an age, and blobs no row refers to.
    Gc(cmd::gc::Args),
    /// Create, list and revoke upload tokens and read tokens.
    Token(cmd::token::Args),
    /// Repository settings: make a repository private or public.
    Repo(cmd::repo::Args),
    /// Run a program under a memory limit (used by the worker for the analyzer).
    #[command(hide = true)]
    RunLimited(cmd::run_limited::Args),
    /// Validate a sizegate.toml: print its budgets, or its errors (exit 2).
    CheckConfig(cmd::check_config::Args),
    /// Upload release builds of one commit to a sizegate server.
    Upload(Box<cmd::upload::Args>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => cmd::analyze::run(args),
        Command::Diff(args) => cmd::diff::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Worker(args) => cmd::worker::run(args),
        Command::Migrate(args) => cmd::migrate::run(args),
        Command::Gc(args) => cmd::gc::run(args),
        Command::Token(args) => cmd::token::run(args),
        Command::Repo(args) => cmd::repo::run(args),
        Command::RunLimited(args) => cmd::run_limited::run(args),
        Command::CheckConfig(args) => cmd::check_config::run(args),
        Command::Upload(args) => cmd::upload::run(*args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
