//! Resource limits for the analyzer child, set without `unsafe` and without
//! a shell (the container image has none): the worker starts
//! `sizegate run-limited [LIMITS] -- ANALYZER ARGS...`, which lowers its
//! own limits (no core dump, address space, CPU time, open files,
//! processes) and then `exec`s the analyzer, which inherits them.
//! [`exec_with_limits`] is that step; [`ChildLimits::shell_script`] is the
//! same for `/bin/sh`.

use std::ffi::OsString;

/// Exit status when a limit cannot be set (the worker retries the job).
pub const EXIT_LIMIT_FAILED: u8 = 125;
/// Exit status when the program cannot be executed (as a shell would).
pub const EXIT_EXEC_FAILED: u8 = 127;

/// The limits put on the analyzer child; 0 leaves a limit as it is. Core
/// dumps are always off: a crashing analyzer must not write a copy of its
/// memory (the artifact, and whatever else it held) to disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildLimits {
    /// Address space in bytes (RLIMIT_AS).
    pub memory_bytes: u64,
    /// CPU time in seconds (RLIMIT_CPU): SIGXCPU when used up, SIGKILL a
    /// second later.
    pub cpu_secs: u64,
    /// Open file descriptors (RLIMIT_NOFILE).
    pub open_files: u64,
    /// Processes and threads of the user (RLIMIT_NPROC). The kernel counts
    /// every process of the user, the worker's own threads included, and
    /// does not apply it to root.
    pub processes: u64,
}

impl ChildLimits {
    /// Whether no limit is set at all (the child then starts directly,
    /// without the limiting step).
    pub fn is_unlimited(&self) -> bool {
        *self == ChildLimits::default()
    }

    /// The arguments of `sizegate run-limited` before `--`.
    pub fn run_limited_args(&self) -> Vec<String> {
        let mut args = vec!["--memory-bytes".to_owned(), self.memory_bytes.to_string()];
        for (flag, value) in [
            ("--cpu-secs", self.cpu_secs),
            ("--open-files", self.open_files),
            ("--processes", self.processes),
        ] {
            if value > 0 {
                args.extend([flag.to_owned(), value.to_string()]);
            }
        }
        args
    }

    /// A `/bin/sh -c` script setting the limits then running `"$@"`
    /// (exit 125 when a limit cannot be set). The process limit is `ulimit
    /// -u` in bash and `ulimit -p` in dash.
    pub fn shell_script(&self) -> String {
        let mut script = String::from("ulimit -c 0 || exit 125; ");
        if self.memory_bytes > 0 {
            let kib = (self.memory_bytes / 1024).max(1);
            script.push_str(&format!("ulimit -v {kib} || exit 125; "));
        }
        if self.cpu_secs > 0 {
            // SIGXCPU at the soft limit, SIGKILL a second later.
            let (soft, hard) = (self.cpu_secs, self.cpu_secs.saturating_add(1));
            script.push_str(&format!(
                "ulimit -S -t {soft} && ulimit -H -t {hard} || exit 125; "
            ));
        }
        if self.open_files > 0 {
            script.push_str(&format!("ulimit -n {} || exit 125; ", self.open_files));
        }
        if self.processes > 0 {
            let n = self.processes;
            script.push_str(&format!(
                "{{ ulimit -u {n} || ulimit -p {n}; }} 2>/dev/null || exit 125; "
            ));
        }
        script.push_str(r#"exec "$@""#);
        script
    }
}

/// Lower `resource` to `value` (soft) and `hard` (hard), never above the
/// hard limit already in force: raising it is not allowed.
#[cfg(unix)]
fn lower(
    resource: rustix::process::Resource,
    name: &str,
    soft: u64,
    hard: u64,
) -> Result<(), String> {
    use rustix::process::{Rlimit, getrlimit, setrlimit};

    let current = getrlimit(resource).maximum;
    let clamp = |v: u64| current.map_or(v, |max| max.min(v));
    let new = Rlimit {
        current: Some(clamp(soft)),
        maximum: Some(clamp(hard)),
    };
    setrlimit(resource, new).map_err(|e| format!("could not set the {name} limit: {e}"))
}

/// Set `limits` on this process and replace it with `program args...`.
/// Returns only on failure, with the exit status to use and a message.
#[cfg(unix)]
pub fn exec_with_limits(
    limits: &ChildLimits,
    program: &OsString,
    args: &[OsString],
) -> (u8, String) {
    use std::os::unix::process::CommandExt;

    use rustix::process::Resource;

    let mut steps = vec![(Resource::Core, "core dump", 0, 0)];
    if limits.memory_bytes > 0 {
        let m = limits.memory_bytes;
        steps.push((Resource::As, "memory", m, m));
    }
    if limits.cpu_secs > 0 {
        // The soft limit sends SIGXCPU; the hard one, a second later, SIGKILL.
        let s = limits.cpu_secs;
        steps.push((Resource::Cpu, "CPU time", s, s.saturating_add(1)));
    }
    if limits.open_files > 0 {
        let n = limits.open_files;
        steps.push((Resource::Nofile, "open files", n, n));
    }
    if limits.processes > 0 {
        let n = limits.processes;
        steps.push((Resource::Nproc, "process count", n, n));
    }
    for (resource, name, soft, hard) in steps {
        if let Err(message) = lower(resource, name, soft, hard) {
            return (EXIT_LIMIT_FAILED, message);
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
pub fn exec_with_limits(
    _limits: &ChildLimits,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_set_limits_are_passed_on() {
        let limits = ChildLimits {
            memory_bytes: 1 << 30,
            cpu_secs: 0,
            open_files: 64,
            processes: 0,
        };
        assert_eq!(
            limits.run_limited_args(),
            ["--memory-bytes", "1073741824", "--open-files", "64"]
        );
        assert_eq!(
            limits.shell_script(),
            r#"ulimit -c 0 || exit 125; ulimit -v 1048576 || exit 125; ulimit -n 64 || exit 125; exec "$@""#
        );
        assert!(!limits.is_unlimited());
        assert!(ChildLimits::default().is_unlimited());
    }
}
