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
    /// Release-to-release report from a sizegate server: per target the size
    /// change, units and versions moved, and the steps between BASE and HEAD.
    Report(cmd::report::Args),
}

/// glibc's allocator, tuned at start.
///
/// glibc raises its mmap threshold each time a large block is freed, up to
/// 32 MiB, so later large blocks come from the heap and stay resident once
/// freed: analyzing a 66 MB Rust binary, the peak RSS was 10 MB over the
/// live heap (2.03x the file; 1.85x with the threshold fixed). Fixed at
/// glibc's initial 128 KiB, large blocks go back to the system when freed.
///
/// When `analyzing` (`analyze`, `diff`), one arena for all threads: glibc
/// gives each new thread that allocates an arena of its own, reserving
/// 64 MiB of address space each, and the analyzer's threads (the Go tables
/// beside the symbols, the sha256) then need some 120 MiB more of it under
/// the worker's address-space limit (`SIZEGATE_ANALYZER_MEMORY_MIB`): a
/// 74 MB Go binary's report needed 300 MiB of address space, and fits in
/// 180 MiB with one arena, no slower (its threads allocate little at the
/// same time). The server and the worker keep glibc's arenas per thread.
///
/// musl and other platforms keep their allocator's own policy.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_allocator(analyzing: bool) {
    // SAFETY: `mallopt` only sets parameters of the C allocator; `main`
    // calls this once the arguments are parsed, before any other thread
    // exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        if analyzing {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator(_analyzing: bool) {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tune_allocator(matches!(
        cli.command,
        Command::Analyze(_) | Command::Diff(_)
    ));
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
        Command::Report(args) => cmd::report::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", error_chain(&err));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes on one line, `: `-separated, leaving out a
/// cause whose text the line already holds (libraries often repeat their
/// source in their own message: printed as is, a database error shows
/// three times).
fn error_chain(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    /// An error that repeats its source in its message, as sqlx's do.
    #[derive(Debug)]
    struct Repeats(std::io::Error);

    impl std::fmt::Display for Repeats {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error returned from database: {}", self.0)
        }
    }

    impl std::error::Error for Repeats {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_repeated_cause_is_printed_once() {
        let inner = std::io::Error::other("role \"root\" does not exist");
        let err = anyhow::Error::new(Repeats(inner)).context("connecting to the database");
        assert_eq!(
            super::error_chain(&err),
            "connecting to the database: error returned from database: role \"root\" does not exist"
        );
    }
}
