//! `sizegate run-limited` (hidden): lower this process's resource limits
//! (core dumps always off), then become the given program. The worker
//! starts the analyzer through it so that the limits hold without a shell
//! in the image.

use std::ffi::OsString;
use std::process::ExitCode;

use sizegate_worker::limits::ChildLimits;

/// Arguments of `sizegate run-limited`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address-space limit in bytes (0: none).
    #[arg(long)]
    memory_bytes: u64,
    /// CPU-time limit in seconds (0: none).
    #[arg(long, default_value_t = 0)]
    cpu_secs: u64,
    /// Most open file descriptors (0: as it is).
    #[arg(long, default_value_t = 0)]
    open_files: u64,
    /// Most processes and threads of the user (0: as it is).
    #[arg(long, default_value_t = 0)]
    processes: u64,
    /// The program to run, then its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<OsString>,
}

/// Run `sizegate run-limited`: returns only if the program could not start.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Some((program, rest)) = args.command.split_first() else {
        anyhow::bail!("run-limited needs a program to run");
    };
    let limits = ChildLimits {
        memory_bytes: args.memory_bytes,
        cpu_secs: args.cpu_secs,
        open_files: args.open_files,
        processes: args.processes,
    };
    let (code, message) = sizegate_worker::limits::exec_with_limits(&limits, program, rest);
    if !message.is_empty() {
        eprintln!("error: {message}");
    }
    Ok(ExitCode::from(code))
}
