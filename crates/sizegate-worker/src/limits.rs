//! Resource limits for the analyzer child, set without `unsafe` and without
//! a shell (the container image has none): the worker starts
//! `sizegate run-limited --memory-bytes N -- ANALYZER ARGS...`, which lowers
//! its own address-space limit (RLIMIT_AS) and then `exec`s the analyzer,
//! which inherits the limit. [`exec_with_memory_limit`] is that step.

use std::ffi::OsString;

/// Exit status when the limit cannot be set (the worker retries the job).
pub const EXIT_LIMIT_FAILED: u8 = 125;
/// Exit status when the program cannot be executed (as a shell would).
pub const EXIT_EXEC_FAILED: u8 = 127;

/// Lower this process's address-space limit to `memory_bytes` (0: leave it)
/// and replace the process with `program args...`. Returns only on failure,
/// with the exit status to use and a message.
#[cfg(unix)]
pub fn exec_with_memory_limit(
    memory_bytes: u64,
    program: &OsString,
    args: &[OsString],
) -> (u8, String) {
    use std::os::unix::process::CommandExt;

    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

    if memory_bytes > 0 {
        // Never above the hard limit already in force: raising it is not allowed.
        let hard = getrlimit(Resource::As).maximum;
        let limit = hard.map_or(memory_bytes, |hard| hard.min(memory_bytes));
        let new = Rlimit {
            current: Some(limit),
            maximum: hard,
        };
        if let Err(e) = setrlimit(Resource::As, new) {
            return (
                EXIT_LIMIT_FAILED,
                format!("could not set the memory limit: {e}"),
            );
        }
    }
    let error = std::process::Command::new(program).args(args).exec();
    (
        EXIT_EXEC_FAILED,
        format!("could not run {}: {error}", program.to_string_lossy()),
    )
}

/// Without rlimits, run the program and pass its exit status on.
#[cfg(not(unix))]
pub fn exec_with_memory_limit(
    _memory_bytes: u64,
    program: &OsString,
    args: &[OsString],
) -> (u8, String) {
    match std::process::Command::new(program).args(args).status() {
        Ok(status) => (
            u8::try_from(status.code().unwrap_or(1)).unwrap_or(1),
            String::new(),
        ),
        Err(e) => (
            EXIT_EXEC_FAILED,
            format!("could not run {}: {e}", program.to_string_lossy()),
        ),
    }
}
