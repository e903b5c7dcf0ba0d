//! `sizegate diff OLD NEW`: compare two builds, each given as a binary or as
//! a JSON report written by `sizegate analyze --format json`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::input;
use crate::output::{self, diff_markdown, diff_table};

/// Output format of `sizegate diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for the terminal (100 columns).
    Table,
    /// The versioned JSON diff, with every change.
    Json,
    /// GitHub-flavoured markdown tables, to paste into a pull request.
    Markdown,
}

/// Arguments of `sizegate diff`.
#[derive(Debug, clap::Args)]
#[command(after_help = super::EXIT_CODES)]
pub struct Args {
    /// The old build: a binary or a JSON report.
    pub old: PathBuf,
    /// The new build: a binary or a JSON report.
    pub new: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// How many section, unit and symbol changes to show in the table and
    /// markdown (JSON carries all); 0 shows all.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// For universal (fat) Mach-O files: the architecture to compare.
    #[arg(long)]
    pub arch: Option<String>,
}

/// Run `sizegate diff`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let old = input::load_one_report(&args.old, args.arch.as_deref())?;
    let new = input::load_one_report(&args.new, args.arch.as_deref())?;
    let diff = sizegate_analyze::diff(&old, &new);
    let text = match args.format {
        Format::Table => diff_table::render(&diff, args.top),
        Format::Json => output::json(&diff)?,
        Format::Markdown => diff_markdown::render(&diff, args.top),
    };
    output::print(&text)?;
    Ok(ExitCode::SUCCESS)
}
