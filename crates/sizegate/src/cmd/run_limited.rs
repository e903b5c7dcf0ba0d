//! `sizegate run-limited` (hidden): lower this process's memory limit, then
//! become the given program. The worker starts the analyzer through it so
//! that the limit holds without a shell in the image.

use std::ffi::OsString;
use std::process::ExitCode;

/// Arguments of `sizegate run-limited`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address-space limit in bytes (0: none).
    #[arg(long)]
    memory_bytes: u64,
    /// The program to run, then its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<OsString>,
}

/// Run `sizegate run-limited`: returns only if the program could not start.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Some((program, rest)) = args.command.split_first() else {
        anyhow::bail!("run-limited needs a program to run");
    };
    let (code, message) =
        sizegate_worker::limits::exec_with_memory_limit(args.memory_bytes, program, rest);
    if !message.is_empty() {
        eprintln!("error: {message}");
    }
    Ok(ExitCode::from(code))
}
