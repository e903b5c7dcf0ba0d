//! `sizegate report`: the release to release report of a sizegate server
//! (`GET /api/v1/repos/{owner}/{repo}/compare/{base}...{head}`), as
//! markdown for release notes or as the server's JSON, verbatim.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use sizegate_analyze::human;
// The server's answer type itself, so the two cannot drift.
use sizegate_server::compare::{Comparison, Side, TargetComparison};

/// Most moved units listed per target in the markdown.
const MARKDOWN_UNITS: usize = 10;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown for release notes.
    Markdown,
    /// The server's JSON answer, verbatim.
    Json,
}

/// Arguments of `sizegate report`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 done; 2 usage error, or the server refused \
    (unknown or ambiguous revision: the message says which) or could not be reached."
)]
pub struct Args {
    /// Base URL of the sizegate server, e.g. `https://sizegate.example.com`.
    #[arg(long, env = "SIZEGATE_SERVER")]
    server: String,
    /// Repository, `OWNER/REPO`.
    #[arg(long, env = "SIZEGATE_REPO")]
    repo: String,
    /// Read token, for a private repository.
    #[arg(long, env = "SIZEGATE_READ_TOKEN", hide_env_values = true)]
    read_token: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "markdown")]
    format: Format,
    /// The older side: a tag sent with an upload, a full sha or a unique
    /// sha prefix (7 or more hex digits).
    base: String,
    /// The newer side, the same way.
    head: String,
}

/// Run `sizegate report`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let server = args.server.trim().trim_end_matches('/');
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        anyhow::bail!("--server must be an http:// or https:// URL, got `{server}`");
    }
    let Some((owner, name)) = args.repo.split_once('/') else {
        anyhow::bail!("--repo must be OWNER/REPO, got `{}`", args.repo);
    };
    for (what, revision) in [("BASE", &args.base), ("HEAD", &args.head)] {
        if revision.trim().is_empty() || revision.contains("...") {
            anyhow::bail!(
                "{what} must be a tag, a sha or a sha prefix (7 or more hex digits), got `{revision}`"
            );
        }
    }
    let url = format!(
        "{server}/api/v1/repos/{}/{}/compare/{}...{}",
        encode(owner),
        encode(name),
        encode(args.base.trim()),
        encode(args.head.trim())
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let body = runtime.block_on(fetch(&url, args.read_token.as_deref()))?;
    match args.format {
        Format::Json => println!("{}", body.trim_end()),
        Format::Markdown => {
            let comparison: Comparison = serde_json::from_str(&body)
                .with_context(|| format!("{url} answered JSON of an unexpected shape"))?;
            print!("{}", markdown(&comparison));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Percent-encode one path segment (a tag may hold `/`).
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

async fn fetch(url: &str, token: Option<&str>) -> anyhow::Result<String> {
    // reqwest is built without a bundled TLS crypto provider; use ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(120))
        .user_agent(concat!("sizegate/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")?;
    let mut request = client.get(url);
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("requesting {url}"))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .with_context(|| format!("reading the answer of {url}"))?;
    if !status.is_success() {
        // The API's errors are `{"error": "..."}`; show the message alone.
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| body.chars().take(500).collect());
        anyhow::bail!("{url} answered {status}: {message}");
    }
    Ok(body)
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

fn side(side: &Side) -> String {
    match &side.tag {
        Some(tag) => format!("{} ({})", cell(tag), short(&side.sha)),
        None => short(&side.sha).to_owned(),
    }
}

/// Text safe inside a markdown table cell.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

fn size(value: Option<u64>) -> String {
    value.map_or_else(|| "—".to_owned(), human::size)
}

/// The report as markdown for release notes.
fn markdown(c: &Comparison) -> String {
    let (base, head) = (side(&c.base), side(&c.head));
    let mut out = String::new();
    let _ = writeln!(out, "## Binary size: {base} → {head}\n");
    let _ = writeln!(
        out,
        "{}, metric `{}`.\n",
        cell(&c.repository),
        cell(c.metric.as_str())
    );
    if c.targets.is_empty() {
        out.push_str("No target was measured for these commits.\n");
        return out;
    }
    let _ = writeln!(out, "| Target | {base} | {head} | Change |");
    out.push_str("|---|---:|---:|---:|\n");
    for t in &c.targets {
        let change = match (t.delta, t.base_size) {
            (Some(d), Some(b)) => format!("{} ({})", human::delta(d), human::percent(d, b)),
            (_, None) => "new".to_owned(),
            (_, Some(_)) => "removed".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {change} |",
            cell(&t.target),
            size(t.base_size),
            size(t.head_size)
        );
    }
    for t in &c.targets {
        target_section(&mut out, t);
    }
    out
}

/// A target's section: its note, the steps between the two commits, the
/// units and the versions that moved.
fn target_section(out: &mut String, t: &TargetComparison) {
    let _ = writeln!(out, "\n### {}\n", cell(&t.target));
    if let Some(note) = &t.note {
        let _ = writeln!(out, "_{}_\n", cell(note));
    }
    if t.steps.is_empty() {
        out.push_str("No size step between the two commits.\n");
    } else {
        let _ = writeln!(out, "Steps between ({}):\n", t.steps.len());
        out.push_str("| Commit | Previous | Before | After | Change |\n|---|---|---:|---:|---:|\n");
        for s in &t.steps {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} ({:+.2}%) |",
                short(&s.commit),
                short(&s.previous),
                human::size(s.before),
                human::size(s.after),
                human::delta(s.delta),
                s.percent
            );
        }
    }
    if !t.units.is_empty() {
        out.push_str(
            "\nUnits moved:\n\n| Unit | Before | After | Change |\n|---|---:|---:|---:|\n",
        );
        for u in t.units.iter().take(MARKDOWN_UNITS) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&u.name),
                human::size(u.base),
                human::size(u.head),
                human::delta(u.delta)
            );
        }
        if t.units.len() > MARKDOWN_UNITS {
            let _ = writeln!(out, "\n…and {} more.", t.units.len() - MARKDOWN_UNITS);
        }
    }
    if !t.dependencies.is_empty() {
        out.push_str("\nVersions moved:\n\n");
        for d in &t.dependencies {
            let _ = writeln!(
                out,
                "- {}: {} → {}",
                cell(&d.name),
                cell(d.base.as_deref().unwrap_or("none")),
                cell(d.head.as_deref().unwrap_or("none"))
            );
        }
    }
}
