//! Running the analyzer in a child process, so that a crash or runaway
//! memory while parsing an untrusted artifact cannot take the worker (or the
//! server it runs in) down.
//!
//! The child is `<analyzer> analyze --format json --top 0 <file>`, under an
//! address-space limit (RLIMIT_AS) set before the analyzer starts, by one of
//! two [`Limiter`]s: the `sizegate` binary itself (`sizegate run-limited`,
//! see [`crate::limits`]: no shell needed, what `serve` and `worker` use), or
//! `/bin/sh -c 'ulimit -v KiB; exec ...'` (for embedding without the
//! binary). Both avoid an `unsafe` `pre_exec` (the workspace denies unsafe
//! code). The wall-time limit is enforced here: past it the child is killed,
//! with its whole process group (it runs in a group of its own), so that
//! nothing it started outlives it. Artifacts over the size limit are refused
//! before the analyzer starts.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sizegate_analyze::Report;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// How the memory limit is put on the analyzer child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limiter {
    /// Through `/bin/sh` and `ulimit -v` (needs a POSIX shell).
    Shell,
    /// Through `<sizegate> run-limited --memory-bytes N -- ANALYZER ARGS...`,
    /// with the path of a `sizegate` binary.
    Exec(PathBuf),
}

/// How to run the analyzer.
#[derive(Debug, Clone)]
pub struct AnalyzerCommand {
    /// The `sizegate` binary (or a stand-in taking the same arguments).
    pub program: PathBuf,
    /// How the memory limit is set.
    pub limiter: Limiter,
    /// Wall-time limit.
    pub timeout: Duration,
    /// Address-space limit in bytes (0: none).
    pub memory_limit: u64,
    /// Refuse reports larger than this many bytes of JSON.
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
    /// Whether the artifact itself is at fault, so that retrying is pointless.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            AnalyzerError::Rejected(_)
                | AnalyzerError::TooLarge { .. }
                | AnalyzerError::OutOfMemory { .. }
                | AnalyzerError::BadOutput(_)
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
    /// Analyze `file` and return its report.
    pub async fn run(&self, file: &Path) -> Result<Report, AnalyzerError> {
        if self.max_artifact_bytes > 0 {
            let size = tokio::fs::metadata(file)
                .await
                .map_err(|source| AnalyzerError::Spawn {
                    program: format!("(reading {})", file.display()),
                    source,
                })?
                .len();
            if size > self.max_artifact_bytes {
                return Err(AnalyzerError::TooLarge {
                    size,
                    limit: self.max_artifact_bytes,
                });
            }
        }
        let mut command = match (&self.limiter, self.memory_limit) {
            (_, 0) => Command::new(&self.program),
            (Limiter::Shell, limit) => {
                let mut c = Command::new("/bin/sh");
                c.arg("-c")
                    .arg(r#"ulimit -v "$1" || exit 125; shift; exec "$@""#)
                    .arg("sh")
                    .arg((limit / 1024).max(1).to_string())
                    .arg(&self.program);
                c
            }
            (Limiter::Exec(sizegate), limit) => {
                let mut c = Command::new(sizegate);
                c.arg("run-limited")
                    .arg("--memory-bytes")
                    .arg(limit.to_string())
                    .arg("--")
                    .arg(&self.program);
                c
            }
        };
        command
            .args(["analyze", "--format", "json", "--top", "0"])
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // A group of its own, so that a timeout kills whatever it started too.
        #[cfg(unix)]
        command.process_group(0);
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
        let max_output = self.max_output;
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
        let stderr = tail(&err, 2000);
        if out.len() as u64 > max_output {
            return Err(AnalyzerError::BadOutput(format!(
                "more than {max_output} bytes of JSON"
            )));
        }
        if !status.success() {
            if stderr.contains("memory allocation of") || stderr.contains("out of memory") {
                return Err(AnalyzerError::OutOfMemory {
                    limit_mib: self.memory_limit >> 20,
                    stderr,
                });
            }
            return Err(match status.code() {
                // A clean exit with a message: the analyzer refused the file.
                // (125-127: the shell could not set the limit or run it.)
                Some(code) if !(125..=127).contains(&code) && !stderr.is_empty() => {
                    AnalyzerError::Rejected(stderr.trim_start_matches("error: ").to_owned())
                }
                _ => AnalyzerError::Crashed {
                    status: status.to_string(),
                    stderr,
                },
            });
        }
        parse_output(&out)
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
    if report.schema_version != sizegate_analyze::SCHEMA_VERSION {
        return Err(AnalyzerError::BadOutput(format!(
            "schema_version {} (this worker reads {})",
            report.schema_version,
            sizegate_analyze::SCHEMA_VERSION
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
            memory_limit: 512 << 20,
            max_output: 1 << 20,
            max_artifact_bytes: 0,
        }
    }

    const REPORT: &str = r#"{"schema_version":1,"file":{"name":"a","size":3,"sha256":"x"},
        "format":"elf","arch":"x86_64","language":"c","stripped":true,
        "toolchain":{"rustc":null,"go":null,"compilers":[],"debug_info":false,"go_build":null},
        "sizes":{"file":3,"vm":0,"shipped":3,"gzip":3,"zstd":3,"debug":0,"symbols":0},
        "sections":[],"units":[],"symbols":[],"advice":[]}"#;

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
        let report = command(program).run(Path::new("/some/file")).await.unwrap();
        assert_eq!(report.sizes.file, 3);
        assert_eq!(
            std::fs::read_to_string(log).unwrap().trim(),
            "analyze --format json --top 0 /some/file"
        );
        let many = script(dir.path(), "many", &format!("cat <<'EOF'\n[{REPORT}]\nEOF"));
        assert_eq!(
            command(many).run(Path::new("f")).await.unwrap().arch,
            "x86_64"
        );
    }

    #[tokio::test]
    async fn a_refusal_is_permanent_with_the_parsers_message() {
        let dir = tempfile::tempdir().unwrap();
        let program = script(
            dir.path(),
            "refuse",
            "echo 'error: unsupported file format: not a binary' >&2; exit 2",
        );
        let err = command(program).run(Path::new("f")).await.unwrap_err();
        assert!(err.is_permanent());
        assert_eq!(err.to_string(), "unsupported file format: not a binary");
    }

    #[tokio::test]
    async fn crashes_and_timeouts_are_retryable() {
        let dir = tempfile::tempdir().unwrap();
        let crash = script(dir.path(), "crash", "kill -SEGV $$");
        let err = command(crash).run(Path::new("f")).await.unwrap_err();
        assert!(matches!(err, AnalyzerError::Crashed { .. }), "{err}");
        assert!(!err.is_permanent());

        let slow = script(dir.path(), "slow", "exec sleep 30");
        let mut cmd = command(slow);
        cmd.timeout = Duration::from_millis(300);
        let started = std::time::Instant::now();
        let err = cmd.run(Path::new("f")).await.unwrap_err();
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
        let err = cmd.run(&artifact).await.unwrap_err();
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
        cmd.run(&artifact).await.unwrap();
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
        let err = cmd.run(Path::new("f")).await.unwrap_err();
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
        let err = command(program).run(Path::new("f")).await.unwrap_err();
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
        let err = command(program).run(Path::new("f")).await.unwrap_err();
        assert_eq!(err.to_string(), format!("limit {}", 512 * 1024));
    }

    #[tokio::test]
    async fn garbage_output_and_oversized_output_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = script(dir.path(), "garbage", "echo '{\"not\": \"a report\"}'");
        let err = command(garbage).run(Path::new("f")).await.unwrap_err();
        assert!(matches!(err, AnalyzerError::BadOutput(_)), "{err}");
        let big = script(dir.path(), "big", "head -c 2000000 /dev/zero");
        let err = command(big).run(Path::new("f")).await.unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
        let missing = command(dir.path().join("missing"));
        let err = missing.run(Path::new("f")).await.unwrap_err();
        assert!(!err.is_permanent(), "{err}");
        let mut direct = missing.clone();
        direct.memory_limit = 0;
        assert!(matches!(
            direct.run(Path::new("f")).await.unwrap_err(),
            AnalyzerError::Spawn { .. }
        ));
    }
}
