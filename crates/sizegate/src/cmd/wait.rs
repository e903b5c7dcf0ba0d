//! `sizegate upload --wait`: after the upload, poll the commit's gate
//! (`GET /api/v1/repos/{owner}/{repo}/commits/{sha}/gate`) until its verdict
//! is final, showing each target's state on standard error as it changes;
//! then print the verdict and exit 0 (success or neutral), 1 (over a
//! budget) or 2 (an analysis failed, an error, or the timeout).

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
// The gate route's answer: the server's own type.
use sizegate_server::gate::GateView as Gate;

use super::service::parse_duration;

/// The flags of `upload` about waiting.
#[derive(Debug, Clone, clap::Args)]
pub struct WaitArgs {
    /// After the upload, wait for the gate's verdict and exit 0 on success
    /// or neutral, 1 on failure (over a budget), 2 on an error (an analysis
    /// failed, the server cannot be read) or on the timeout.
    #[arg(long, env = "SIZEGATE_WAIT")]
    pub wait: bool,
    /// Longest wait, e.g. `90s`, `10m`, `1h`.
    #[arg(long, env = "SIZEGATE_WAIT_TIMEOUT", default_value = "30m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Also append the pull request comment (markdown) to this file, e.g.
    /// `$GITHUB_STEP_SUMMARY`.
    #[arg(long, env = "SIZEGATE_SUMMARY_FILE")]
    pub summary_file: Option<PathBuf>,
    /// Read token for waiting on a private repository after an upload with
    /// a GitHub OIDC token (the upload token, when one is used, works too).
    #[arg(long, env = "SIZEGATE_READ_TOKEN", hide_env_values = true)]
    pub read_token: Option<String>,
}

/// What to wait for.
#[derive(Debug)]
pub struct Target<'a> {
    /// Server base URL.
    pub server: &'a str,
    /// `owner/repo`.
    pub repo: &'a str,
    /// Full commit sha.
    pub commit: &'a str,
    /// Bearer token for reading, if any.
    pub token: Option<String>,
}

/// How the wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    OverBudget,
    Error,
}

impl Outcome {
    fn of(gate: &Gate) -> Outcome {
        let verdict = |v: &str| gate.targets.iter().any(|t| t.verdict.as_deref() == Some(v));
        match gate.conclusion.as_deref() {
            Some("success" | "neutral") => Outcome::Pass,
            Some("failure") if verdict("fail") => Outcome::OverBudget,
            // A failure with no target over budget, or no conclusion yet
            // because an analysis failed.
            _ => Outcome::Error,
        }
    }

    fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Pass => ExitCode::SUCCESS,
            Outcome::OverBudget => ExitCode::from(1),
            Outcome::Error => ExitCode::from(2),
        }
    }
}

/// Wait for the verdict of `target` and report it.
pub fn run(args: &WaitArgs, target: &Target<'_>) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let deadline = Instant::now() + args.timeout;
    let gate = match runtime.block_on(poll(target, deadline))? {
        Some(gate) => gate,
        None => {
            eprintln!(
                "error: no verdict for {} within {}; the gate is still running (see {})",
                target.commit,
                show_duration(args.timeout),
                gate_url(target)
            );
            return Ok(ExitCode::from(2));
        }
    };
    let comment = gate.comment_markdown.clone().unwrap_or_default();
    if let Some(path) = &args.summary_file {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(file, "{comment}").with_context(|| format!("writing {}", path.display()))?;
    }
    if std::io::stdout().is_terminal() {
        print!("{}", table(&gate));
    } else {
        println!("{comment}");
    }
    let outcome = Outcome::of(&gate);
    eprintln!(
        "gate: {} ({})",
        gate.conclusion.as_deref().unwrap_or("unknown"),
        gate.check_title.as_deref().unwrap_or("")
    );
    Ok(outcome.exit_code())
}

fn gate_url(target: &Target<'_>) -> String {
    format!(
        "{}/api/v1/repos/{}/commits/{}/gate",
        target.server.trim_end_matches('/'),
        target.repo,
        target.commit
    )
}

/// Poll until the gate is final (`Some`) or the deadline passes (`None`).
/// Network errors and 5xx answers are retried; other refusals end the wait.
async fn poll(target: &Target<'_>, deadline: Instant) -> anyhow::Result<Option<Gate>> {
    // reqwest is built without a bundled TLS crypto provider; use ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("sizegate/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")?;
    let url = gate_url(target);
    let mut delay = Duration::from_millis(500);
    let mut shown = String::new();
    let mut last_error = String::new();
    loop {
        let mut request = client.get(&url);
        if let Some(token) = target.token.as_deref().filter(|t| !t.is_empty()) {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                let body = response
                    .bytes()
                    .await
                    .with_context(|| format!("reading the answer of {url}"))?;
                let gate: Gate = serde_json::from_slice(&body)
                    .with_context(|| format!("reading the answer of {url}"))?;
                let states = progress_line(&gate);
                if states != shown {
                    eprintln!("waiting: {states}");
                    shown = states;
                }
                if gate.is_final {
                    return Ok(Some(gate));
                }
            }
            Ok(response) if response.status().is_server_error() => {
                let text = format!("{url} answered {}", response.status());
                if text != last_error {
                    eprintln!("warning: {text}; trying again");
                    last_error = text;
                }
            }
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                anyhow::bail!("{url} answered {status}: {}", body.trim());
            }
            Err(e) => {
                let text = format!("reading {url}: {e}");
                if text != last_error {
                    eprintln!("warning: {text}; trying again");
                    last_error = text;
                }
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
        delay = (delay * 3 / 2).min(Duration::from_secs(10));
    }
}

/// `linux/app running (attempt 1/5), mac/app done: pass`.
fn progress_line(gate: &Gate) -> String {
    gate.targets
        .iter()
        .map(|t| match (t.status.as_str(), &t.verdict) {
            ("done", Some(v)) => format!("{} done: {v}", t.target),
            ("failed", _) => format!(
                "{} failed: {}",
                t.target,
                t.error.as_deref().unwrap_or("analysis failed")
            ),
            ("running" | "queued", _) if t.attempts > 1 => format!(
                "{} {} (attempt {}/{})",
                t.target, t.status, t.attempts, t.max_attempts
            ),
            (status, _) => format!("{} {status}", t.target),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The compact table shown on a terminal.
fn table(gate: &Gate) -> String {
    let width = gate
        .targets
        .iter()
        .map(|t| t.target.chars().count())
        .max()
        .unwrap_or(0)
        .max("TARGET".len());
    let mut out = format!("{:width$}  VERDICT  STATUS\n", "TARGET");
    for t in &gate.targets {
        out.push_str(&format!(
            "{:width$}  {:7}  {}\n",
            t.target,
            t.verdict.as_deref().unwrap_or("-"),
            t.status
        ));
    }
    if let Some(title) = &gate.check_title {
        out.push_str(title);
        out.push('\n');
    }
    out
}

fn show_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sizegate_server::gate::GateTarget;

    fn gate(conclusion: &str, verdicts: &[&str]) -> Gate {
        Gate {
            repository: "o/r".into(),
            sha: "0".repeat(40),
            is_final: true,
            gate_status: Some("completed".into()),
            conclusion: Some(conclusion.to_owned()),
            check_title: None,
            comment_markdown: None,
            targets: verdicts
                .iter()
                .enumerate()
                .map(|(i, v)| GateTarget {
                    target: format!("t{i}"),
                    status: "done".into(),
                    attempts: 1,
                    max_attempts: 5,
                    error: None,
                    verdict: Some((*v).to_owned()),
                })
                .collect(),
        }
    }

    #[test]
    fn conclusions_map_to_exit_codes() {
        assert_eq!(Outcome::of(&gate("success", &["pass"])), Outcome::Pass);
        assert_eq!(Outcome::of(&gate("neutral", &["neutral"])), Outcome::Pass);
        assert_eq!(
            Outcome::of(&gate("failure", &["fail", "error"])),
            Outcome::OverBudget
        );
        assert_eq!(Outcome::of(&gate("failure", &["error"])), Outcome::Error);
    }

    #[test]
    fn the_table_lines_up() {
        let text = table(&gate("success", &["pass", "neutral"]));
        assert_eq!(
            text,
            "TARGET  VERDICT  STATUS\nt0      pass     done\nt1      neutral  done\n"
        );
    }
}
