//! `sizegate check-config`: validate a `sizegate.toml` locally, before
//! pushing it. Prints the budgets it defines, or every error it finds with
//! its line and field.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use sizegate_gate::{Config, MAX_CONFIG_BYTES};

/// Arguments of `sizegate check-config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to check, usually `sizegate.toml` at the root of the repository.
    #[arg(default_value = "sizegate.toml")]
    file: PathBuf,
}

/// Run `sizegate check-config`: exit 0 and a summary when the file is
/// valid, exit 2 and every error otherwise.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let origin = args.file.display().to_string();
    let file = std::fs::File::open(&args.file).with_context(|| format!("cannot open {origin}"))?;
    // Read one byte past the limit so that an oversized file is reported as such.
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {origin}"))?;
    let text = String::from_utf8(bytes).with_context(|| format!("{origin} is not UTF-8 text"))?;
    match Config::parse(&text, &origin) {
        Ok(config) => {
            print!("{}", summary(&config, &origin));
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for error in &errors.0 {
                eprintln!("error: {error}");
            }
            Ok(ExitCode::from(2))
        }
    }
}

/// What a valid config says, in plain words.
fn summary(config: &Config, origin: &str) -> String {
    let mut out = String::new();
    let bytes = |b: sizegate_gate::ByteSize| format!("{b} ({} bytes)", b.bytes());
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{origin}: valid");
    let _ = writeln!(out, "metric: {}", config.metric);
    match &config.approve_label {
        Some(label) => {
            let _ = writeln!(
                out,
                "approve_label: {label} (a pull request with it passes)"
            );
        }
        None => {
            let _ = writeln!(out, "approve_label: none (over budget always fails)");
        }
    }
    if config.budgets.is_empty() {
        let _ = writeln!(out, "no budgets: sizes are reported, nothing can fail");
    } else {
        let _ = writeln!(
            out,
            "{} budget(s); the first whose target glob matches judges a target:",
            config.budgets.len()
        );
    }
    for (i, budget) in config.budgets.iter().enumerate() {
        let _ = writeln!(
            out,
            "budget[{i}]: targets matching `{}`",
            budget.target.as_str()
        );
        if let Some(metric) = budget.metric {
            let only = if metric.image_only() {
                " (container images only; a binary it judges is an error)"
            } else {
                ""
            };
            let _ = writeln!(out, "  metric: {metric}{only}");
        }
        if let Some(max) = budget.max_size {
            let _ = writeln!(out, "  max_size: {}", bytes(max));
        }
        if let Some(max) = budget.max_increase {
            let _ = writeln!(out, "  max_increase: {} against the baseline", bytes(max));
        }
        if let Some(max) = budget.max_increase_percent {
            let _ = writeln!(out, "  max_increase_percent: {max}% against the baseline");
        }
        for unit in &budget.unit {
            let _ = write!(out, "  units matching `{}`:", unit.name.as_str());
            if let Some(max) = unit.max_size {
                let _ = write!(out, " max_size {}", bytes(max));
            }
            if let Some(max) = unit.max_increase {
                let _ = write!(out, " max_increase {}", bytes(max));
            }
            out.push('\n');
        }
    }
    out
}
