//! Running the analyzer in a child process, so that a crash or runaway
//! memory while parsing an untrusted artifact cannot take the worker (or the
//! server it runs in) down.
//!
//! The child is `<analyzer> analyze --binary-only --format json --top 0
//! <file>` (a JSON report posing as an artifact is refused), sandboxed: it
//! gets a cleared environment (only what [`AnalyzerCommand::env`] lists:
//! none of the worker's secrets), no core dumps, and address-space,
//! CPU-time, open-file and process-count limits ([`ChildLimits`]) set
//! before the analyzer starts by one of two [`Limiter`]s: the `sizegate`
//! binary itself (`sizegate run-limited`, see [`crate::limits`]: no shell
//! needed, what `serve` and `worker` use), or `/bin/sh -c 'ulimit ...;
//! exec ...'` (for embedding without the binary). Both avoid an `unsafe`
//! `pre_exec` (the workspace denies unsafe code). The wall-time limit is
//! enforced here: past it the child is killed, with its whole process group
//! (it runs in a group of its own), so that nothing it started outlives it.
//! Artifacts over the size limit are refused before the analyzer starts.
//! What it writes is read up to [`report_json_cap`] of the artifact's size
//! and checked against the artifact ([`crate::plausible`]) before it is
//! believed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sizegate_analyze::Report;
use sizegate_store::measurements::report_json_cap;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::limits::ChildLimits;

/// How the memory limit is put on the analyzer child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limiter {
    /// Through `/bin/sh` and `ulimit` (needs a POSIX shell).
    Shell,
    /// Through `<sizegate> run-limited --memory-bytes N ... -- ANALYZER ARGS...`,
    /// with the path of a `sizegate` binary.
    Exec(PathBuf),
}

/// How to run the analyzer.
#[derive(Debug, Clone)]
pub struct AnalyzerCommand {
    /// The `sizegate` binary (or a stand-in taking the same arguments).
    pub program: PathBuf,
    /// How the limits are set.
    pub limiter: Limiter,
    /// Wall-time limit.
    pub timeout: Duration,
    /// Resource limits of the child (all 0: none, and no limiting step).
    pub limits: ChildLimits,
    /// The child's whole environment (it inherits nothing else).
    pub env: Vec<(OsString, OsString)>,
    /// Refuse reports larger than this many bytes of JSON (and larger than
    /// [`report_json_cap`] of the artifact's size, whichever is less).
    pub max_output: u64,
    /// Refuse artifacts larger than this many bytes without analyzing them
    /// (0: no limit).
    pub max_artifact_bytes: u64,
}

/// Why the analyzer gave no report. [`AnalyzerError::is_permanent`] says
/// whether trying again could help.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzerError {
    /// The analyzer refused the artifact (not a binary, corrupt...): its message.
    #[error("{0}")]
    Rejected(String),
    /// It ran out of the memory it is allowed.
    #[error(
        "the analyzer ran out of memory (limit {limit_mib} MiB, SIZEGATE_ANALYZER_MEMORY_MIB): {stderr}"
    )]
    OutOfMemory {
        /// The limit in MiB.
        limit_mib: u64,
        /// The end of its stderr.
        stderr: String,
    },
    /// The artifact is over the size limit; it was not analyzed.
    #[error(
        "artifact is {size} bytes, the limit is {limit} bytes (SIZEGATE_MAX_ARTIFACT_BYTES); it was not analyzed"
    )]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// It used up its CPU time (SIGXCPU).
    #[error(
        "the analyzer used more than {0} s of CPU time and was stopped (SIZEGATE_ANALYZER_CPU_SECS)"
    )]
    CpuTime(u64),
    /// It ran longer than allowed and was killed.
    #[error("the analyzer took longer than {0:?} and was killed (SIZEGATE_ANALYZER_TIMEOUT_SECS)")]
    TimedOut(Duration),
    /// It died from a signal or exited without a message.
    #[error("the analyzer crashed ({status}): {stderr}")]
    Crashed {
        /// Exit status.
        status: String,
        /// The end of its stderr.
        stderr: String,
        /// Whether a signal killed it (SIGSEGV, SIGABRT...): the artifact
        /// made it crash, and it would again.
        signaled: bool,
    },
    /// Its output is not a report.
    #[error("the analyzer wrote an invalid report: {0}")]
    BadOutput(String),
    /// It could not be started.
    #[error("could not run the analyzer `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl AnalyzerError {
    /// Whether the artifact itself is at fault, so that retrying is
    /// pointless: a refusal, a limit reached, a crash from a signal (an
    /// abort included), a bad report. Not: a wall-time timeout (the machine
    /// may have been busy), a failure to start the child or to set its
    /// limits.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            AnalyzerError::Rejected(_)
                | AnalyzerError::TooLarge { .. }
                | AnalyzerError::OutOfMemory { .. }
                | AnalyzerError::CpuTime(_)
                | AnalyzerError::BadOutput(_)
                | AnalyzerError::Crashed { signaled: true, .. }
        )
    }
}

/// Keep the end of a child's stderr, where the error message is.
fn tail(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}

impl AnalyzerCommand {
    /// Analyze `file` and return its report, checked against the file's
    /// size and, when given, its `sha256` (lower-case hex).
    pub async fn run(&self, file: &Path, sha256: Option<&str>) -> Result<Report, AnalyzerError> {
        self.run_with_debug(file, sha256, None).await
    }

    /// [`Self::run`], with the debug file uploaded next to the artifact
    /// given to the analyzer as `--debug-file PATH`.
    pub async fn run_with_debug(
        &self,
        file: &Path,
        sha256: Option<&str>,
        debug_file: Option<&Path>,
    ) -> Result<Report, AnalyzerError> {
        let size = self.artifact_size(file).await?;
        let max_output = self.max_output.min(report_json_cap(size));
        let (status, out, err) = self
            .run_child(self.command(file, debug_file), max_output)
            .await?;
        let stderr = tail(&err, 2000);
        if out.len() as u64 > max_output {
            return Err(AnalyzerError::BadOutput(format!(
                "more than {max_output} bytes of JSON for a {size}-byte artifact"
            )));
        }
        if !status.success() {
            return Err(self.failure(status, stderr));
        }
        let report = parse_output(&out)?;
        crate::plausible::check(&report, size, sha256).map_err(AnalyzerError::BadOutput)?;
        Ok(report)
    }

    /// The size of the artifact, refused when over the limit.
    async fn artifact_size(&self, file: &Path) -> Result<u64, AnalyzerError> {
        let size = tokio::fs::metadata(file)
            .await
            .map_err(|source| AnalyzerError::Spawn {
                program: format!("(reading {})", file.display()),
                source,
            })?
            .len();
        if self.max_artifact_bytes > 0 && size > self.max_artifact_bytes {
            return Err(AnalyzerError::TooLarge {
                size,
                limit: self.max_artifact_bytes,
            });
        }
        Ok(size)
    }

    /// The analyzer's command line for `file`, under the limiter, with a
    /// clean environment and piped output.
    fn command(&self, file: &Path, debug_file: Option<&Path>) -> Command {
        let mut command = match &self.limiter {
            _ if self.limits.is_unlimited() => Command::new(&self.program),
            Limiter::Shell => {
                let mut c = Command::new("/bin/sh");
                c.arg("-c")
                    .arg(self.limits.shell_script())
                    .arg("sh")
                    .arg(&self.program);
                c
            }
            Limiter::Exec(sizegate) => {
                let mut c = Command::new(sizegate);
                c.arg("run-limited")
                    .args(self.limits.run_limited_args())
                    .arg("--")
                    .arg(&self.program);
                c
            }
        };
        command
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(["analyze", "--binary-only", "--format", "json", "--top", "0"]);
        if let Some(debug) = debug_file {
            command.arg("--debug-file").arg(debug);
        }
        command
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // A group of its own, so that a timeout kills whatever it started too.
        #[cfg(unix)]
        command.process_group(0);
        command
    }

    /// Run the child to its end within the timeout: its exit status, up to
    /// `max_output + 1` bytes of stdout (a child writing more is killed)
    /// and up to 1 MiB of stderr.
    async fn run_child(
        &self,
        mut command: Command,
        max_output: u64,
    ) -> Result<(std::process::ExitStatus, Vec<u8>, Vec<u8>), AnalyzerError> {
        let mut child = command.spawn().map_err(|source| AnalyzerError::Spawn {
            program: self.program.display().to_string(),
            source,
        })?;
        // Armed until the child has been waited for: on a timeout, or when
        // the job is dropped mid-run, the whole group is killed.
        let mut group = ProcessGroup(child.id());
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(AnalyzerError::BadOutput("no output pipes".into()));
        };
        let collect = async move {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let child_ref = &mut child;
            let read_out = async {
                let read = stdout.take(max_output + 1).read_to_end(&mut out).await;
                if out.len() as u64 > max_output {
                    // Stop a child that writes without end (it would block on the pipe).
                    let _ = child_ref.start_kill();
                }
                read
            };
            let mut stderr = stderr.take(1 << 20);
            let read_err = stderr.read_to_end(&mut err);
            let (a, b) = tokio::join!(read_out, read_err);
            let status = child.wait().await;
            (a.and(b).and(status), out, err)
        };
        let (status, out, err) = tokio::time::timeout(self.timeout, collect)
            .await
            .map_err(|_| AnalyzerError::TimedOut(self.timeout))?;
        group.disarm();
        let status = status.map_err(|source| AnalyzerError::Spawn {
            program: self.program.display().to_string(),
            source,
        })?;
        Ok((status, out, err))
    }

    /// What a child that did not succeed means: out of memory, out of CPU
    /// time, a refusal with a message, or a crash.
    fn failure(&self, status: std::process::ExitStatus, stderr: String) -> AnalyzerError {
        if stderr.contains("memory allocation of") || stderr.contains("out of memory") {
            return AnalyzerError::OutOfMemory {
                limit_mib: self.limits.memory_bytes >> 20,
                stderr,
            };
        }
        #[cfg(unix)]
        let signal = std::os::unix::process::ExitStatusExt::signal(&status);
        #[cfg(not(unix))]
        let signal: Option<i32> = None;
        if signal == Some(rustix::process::Signal::XCPU.as_raw()) && self.limits.cpu_secs > 0 {
            return AnalyzerError::CpuTime(self.limits.cpu_secs);
        }
        match status.code() {
            // A clean exit with a message: the analyzer refused the file.
            // (125-127: the shell could not set the limit or run it.)
            Some(code) if !(125..=127).contains(&code) && !stderr.is_empty() => {
                AnalyzerError::Rejected(stderr.trim_start_matches("error: ").to_owned())
            }
            _ => AnalyzerError::Crashed {
                status: status.to_string(),
                stderr,
                signaled: signal.is_some(),
            },
        }
    }
}

/// Kills a child's process group when dropped, unless disarmed once the
/// child has been reaped (its id may then be reused).
struct ProcessGroup(Option<u32>);

impl ProcessGroup {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.0.and_then(|id| i32::try_from(id).ok())
            && let Some(pid) = rustix::process::Pid::from_raw(pid)
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

/// `analyze --format json` writes one report, or an array of them for a
/// universal Mach-O file; the first is measured.
fn parse_output(out: &[u8]) -> Result<Report, AnalyzerError> {
    let first = out.iter().find(|b| !b.is_ascii_whitespace());
    let bad = |e: serde_json::Error| AnalyzerError::BadOutput(e.to_string());
    let report = if first == Some(&b'[') {
        let reports: Vec<Report> = serde_json::from_slice(out).map_err(bad)?;
        reports
            .into_iter()
            .next()
            .ok_or_else(|| AnalyzerError::BadOutput("an empty list of reports".into()))?
    } else {
        serde_json::from_slice(out).map_err(bad)?
    };
    // Newer schemas only add fields: an analyzer one version behind (a
    // separately deployed `--analyzer`) still writes a report we read.
    let readable = sizegate_analyze::OLDEST_SCHEMA_VERSION..=sizegate_analyze::SCHEMA_VERSION;
    if !readable.contains(&report.schema_version) {
        return Err(AnalyzerError::BadOutput(format!(
            "schema_version {} (this worker reads {} to {})",
            report.schema_version,
            readable.start(),
            readable.end()
        )));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn command(program: PathBuf) -> AnalyzerCommand {
        AnalyzerCommand {
            program,
            limiter: Limiter::Shell,
            timeout: Duration::from_secs(10),
            limits: ChildLimits {
                memory_bytes: 512 << 20,
                ..ChildLimits::default()
            },
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            max_output: 1 << 20,
            max_artifact_bytes: 0,
        }
    }

    const REPORT: &str = r#"{"schema_version":1,"file":{"name":"a","size":3,"sha256":"x"},
        "format":"elf","arch":"x86_64","language":"c","stripped":true,
        "toolchain":{"rustc":null,"go":null,"compilers":[],"debug_info":false,"go_build":null},
        "sizes":{"file":3,"vm":0,"shipped":3,"gzip":3,"zstd":3,"debug":0,"symbols":0},
        "sections":[{"name":"[headers]","kind":"other","file_size":3,"vm_size":0}],
        "units":[{"name":"[unattributed]","kind":"pseudo","size":3,"symbols":0}],
        "symbols":[],"advice":[]}"#;

    /// A 3-byte artifact, the size the fake analyzers' report claims.
    fn artifact(dir: &Path) -> PathBuf {
        let path = dir.join("artifact");
        std::fs::write(&path, b"abc").unwrap();
        path
    }

    #[tokio::test]
    async fn parses_the_report_and_passes_the_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("args");
        let program = script(
            dir.path(),
            "ok",
            &format!(
                "echo \"$@\" > {}\ncat <<'EOF'\n{REPORT}\nEOF",
                log.display()
            ),
        );
        let file = artifact(dir.path());
        let report = command(program).run(&file, None).await.unwrap();
        assert_eq!(report.sizes.file, 3);
        assert_eq!(
            std::fs::read_to_string(log).unwrap().trim(),
            format!(
                "analyze --binary-only --format json --top 0 {}",
                file.display()
            )
        );
        let many = script(dir.path(), "many", &format!("cat <<'EOF'\n[{REPORT}]\nEOF"));
        assert_eq!(command(many).run(&file, None).await.unwrap().arch, "x86_64");
    }

    #[tokio::test]
    async fn reads_the_schemas_it_knows_and_refuses_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = artifact(dir.path());
        for (version, readable) in [
            (sizegate_analyze::OLDEST_SCHEMA_VERSION, true),
            (sizegate_analyze::SCHEMA_VERSION, true),
            (sizegate_analyze::SCHEMA_VERSION + 1, false),
        ] {
            let report = REPORT.replace(
                "\"schema_version\":1",
                &format!("\"schema_version\":{version}"),
            );
            let program = script(
                dir.path(),
                &format!("v{version}"),
                &format!("cat <<'EOF'\n{report}\nEOF"),
            );
            let result = command(program).run(&file, None).await;
            assert_eq!(
                result.is_ok(),
                readable,
                "schema_version {version}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_refusal_is_permanent_with_the_parsers_message() {
        let dir = tempfile::tempdir().unwrap();
        let program = script(
            dir.path(),
            "refuse",
            "echo 'error: unsupported file format: not a binary' >&2; exit 2",
        );
        let err = command(program)
            .run(&artifact(dir.path()), None)
            .await
            .unwrap_err();
        assert!(err.is_permanent());
        assert_eq!(err.to_string(), "unsupported file format: not a binary");
    }

    #[tokio::test]
    async fn a_crash_from_a_signal_is_permanent_and_a_timeout_retryable() {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in [("segv", "kill -SEGV $$"), ("abort", "kill -ABRT $$")] {
            let crash = script(dir.path(), name, body);
            let err = command(crash)
                .run(&artifact(dir.path()), None)
                .await
                .unwrap_err();
            assert!(
                matches!(err, AnalyzerError::Crashed { signaled: true, .. }),
                "{err}"
            );
            assert!(err.is_permanent(), "{err}");
        }
        // An exit without a message (125: the limits could not be set) is
        // not the artifact's fault: retried.
        let silent = script(dir.path(), "silent", "exit 125");
        let err = command(silent)
            .run(&artifact(dir.path()), None)
            .await
            .unwrap_err();
        assert!(!err.is_permanent(), "{err}");

        let slow = script(dir.path(), "slow", "exec sleep 30");
        let mut cmd = command(slow);
        cmd.timeout = Duration::from_millis(300);
        let started = std::time::Instant::now();
        let err = cmd.run(&artifact(dir.path()), None).await.unwrap_err();
        assert!(matches!(err, AnalyzerError::TimedOut(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn an_artifact_over_the_size_limit_is_refused_without_running_the_analyzer() {
        let dir = tempfile::tempdir().unwrap();
        let ran = dir.path().join("ran");
        let program = script(
            dir.path(),
            "ok",
            &format!("touch {}\ncat <<'EOF'\n{REPORT}\nEOF", ran.display()),
        );
        let artifact = dir.path().join("artifact");
        std::fs::write(&artifact, [0u8; 100]).unwrap();
        let mut cmd = command(program);
        cmd.max_artifact_bytes = 99;
        let err = cmd.run(&artifact, None).await.unwrap_err();
        assert!(
            matches!(
                err,
                AnalyzerError::TooLarge {
                    size: 100,
                    limit: 99
                }
            ),
            "{err}"
        );
        assert!(err.is_permanent());
        assert!(
            err.to_string().contains("SIZEGATE_MAX_ARTIFACT_BYTES"),
            "{err}"
        );
        assert!(!ran.exists(), "the analyzer ran on an oversized artifact");
        // At the limit it is analyzed.
        cmd.max_artifact_bytes = 100;
        cmd.run(&artifact, None).await.unwrap();
        assert!(ran.exists());
    }

    /// Whether process `pid` is gone (or a zombie waiting to be reaped).
    fn is_dead(pid: &str) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        }
    }

    #[tokio::test]
    async fn a_timeout_kills_the_analyzer_and_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        // The analyzer starts a helper process, then hangs waiting for it.
        let program = script(
            dir.path(),
            "spawner",
            &format!(
                "sleep 300 &\necho \"$$ $!\" > {}.tmp\nmv {0}.tmp {0}\nwait",
                pids.display()
            ),
        );
        let mut cmd = command(program);
        cmd.timeout = Duration::from_millis(1500);
        let err = cmd.run(&artifact(dir.path()), None).await.unwrap_err();
        assert!(matches!(err, AnalyzerError::TimedOut(_)), "{err}");
        let text = std::fs::read_to_string(&pids).unwrap();
        let (shell, helper) = text.trim().split_once(' ').unwrap();
        // SIGKILL is delivered at once, but the kernel may take a moment to
        // tear the processes down: wait for it rather than race it.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !(is_dead(shell) && is_dead(helper)) {
            assert!(
                std::time::Instant::now() < deadline,
                "analyzer {shell} or its helper {helper} still alive after the timeout"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn running_out_of_memory_is_permanent() {
        let dir = tempfile::tempdir().unwrap();
        // What a Rust program prints when an allocation fails, then abort.
        let program = script(
            dir.path(),
            "oom",
            "echo 'memory allocation of 1073741824 bytes failed' >&2; kill -ABRT $$",
        );
        let err = command(program)
            .run(&artifact(dir.path()), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, AnalyzerError::OutOfMemory { limit_mib: 512, .. }),
            "{err}"
        );
        assert!(err.is_permanent());
        assert!(
            err.to_string().contains("SIZEGATE_ANALYZER_MEMORY_MIB"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn the_memory_limit_applies_to_the_child() {
        let dir = tempfile::tempdir().unwrap();
        let program = script(
            dir.path(),
            "limits",
            "echo \"limit $(ulimit -v)\" >&2; exit 3",
        );
        let err = command(program)
            .run(&artifact(dir.path()), None)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), format!("limit {}", 512 * 1024));
    }

    #[tokio::test]
    async fn the_child_runs_with_a_cleared_environment_and_every_limit() {
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("dump");
        // The analyzer's view of itself, from the kernel.
        let program = script(
            dir.path(),
            "inspect",
            &format!(
                "cat /proc/$$/environ | tr '\\0' '\\n' > {0}\necho --- >> {0}\n\
                 cat /proc/$$/limits >> {0}\ncat <<'EOF'\n{REPORT}\nEOF",
                dump.display()
            ),
        );
        let mut cmd = command(program);
        cmd.limits = ChildLimits {
            memory_bytes: 512 << 20,
            cpu_secs: 30,
            open_files: 32,
            processes: 200,
        };
        cmd.env.push(("PASSED_ON".into(), "yes".into()));
        cmd.run(&artifact(dir.path()), None).await.unwrap();
        let text = std::fs::read_to_string(&dump).unwrap();
        let (env, limits) = text.split_once("---\n").unwrap();
        // PWD is exported by the limiting /bin/sh itself.
        let mut env: Vec<&str> = env
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with("PWD="))
            .collect();
        env.sort_unstable();
        // This test process has HOME, CARGO_*, RUST_* and more: none is passed.
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        assert_eq!(env, ["PASSED_ON=yes", "PATH=/usr/bin:/bin"], "{text}");
        let limit = |name: &str| {
            limits
                .lines()
                .find(|l| l.starts_with(name))
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        };
        assert_eq!(limit("Max core file size"), "Max core file size 0 0 bytes");
        assert_eq!(limit("Max cpu time"), "Max cpu time 30 31 seconds");
        assert_eq!(limit("Max open files"), "Max open files 32 32 files");
        assert_eq!(limit("Max processes"), "Max processes 200 200 processes");
        assert_eq!(
            limit("Max address space"),
            format!("Max address space {0} {0} bytes", 512u64 << 20)
        );
    }

    #[tokio::test]
    async fn running_out_of_cpu_time_is_permanent() {
        let dir = tempfile::tempdir().unwrap();
        let program = script(dir.path(), "spin", "while :; do :; done");
        let mut cmd = command(program);
        cmd.limits.cpu_secs = 1;
        let err = cmd.run(&artifact(dir.path()), None).await.unwrap_err();
        assert!(matches!(err, AnalyzerError::CpuTime(1)), "{err}");
        assert!(err.is_permanent());
        assert!(
            err.to_string().contains("SIZEGATE_ANALYZER_CPU_SECS"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_report_that_does_not_fit_the_artifact_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = artifact(dir.path());
        let honest = script(dir.path(), "ok", &format!("cat <<'EOF'\n{REPORT}\nEOF"));
        // The report's sha256 ("x") is not the artifact's.
        let err = command(honest)
            .run(&file, Some(&"a".repeat(64)))
            .await
            .unwrap_err();
        assert!(err.is_permanent());
        assert!(err.to_string().contains("not of the artifact"), "{err}");
        // 2 MiB of JSON for a 3-byte artifact is over its cap (1 MiB + 48
        // bytes), though under the 64 MiB ceiling; the child is stopped.
        let padded = REPORT.replace("\"a\"", &format!("\"{}\"", "a".repeat(2 << 20)));
        std::fs::write(dir.path().join("padded.json"), padded).unwrap();
        let chatty = script(
            dir.path(),
            "chatty",
            &format!("cat {}", dir.path().join("padded.json").display()),
        );
        let mut cmd = command(chatty);
        cmd.max_output = 64 << 20;
        let err = cmd.run(&file, None).await.unwrap_err();
        assert!(err.is_permanent());
        assert_eq!(
            err.to_string(),
            "the analyzer wrote an invalid report: more than 1048624 bytes of JSON for a 3-byte artifact"
        );
    }

    #[tokio::test]
    async fn garbage_output_and_oversized_output_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = script(dir.path(), "garbage", "echo '{\"not\": \"a report\"}'");
        let err = command(garbage)
            .run(&artifact(dir.path()), None)
            .await
            .unwrap_err();
        assert!(matches!(err, AnalyzerError::BadOutput(_)), "{err}");
        let big = script(dir.path(), "big", "head -c 2000000 /dev/zero");
        let err = command(big)
            .run(&artifact(dir.path()), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
        let missing = command(dir.path().join("missing"));
        let err = missing.run(&artifact(dir.path()), None).await.unwrap_err();
        assert!(!err.is_permanent(), "{err}");
        let mut direct = missing.clone();
        direct.limits = ChildLimits::default();
        assert!(matches!(
            direct.run(&artifact(dir.path()), None).await.unwrap_err(),
            AnalyzerError::Spawn { .. }
        ));
    }
}
