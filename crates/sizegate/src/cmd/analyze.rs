//! `sizegate analyze FILE`: measure one binary (or re-render a JSON report
//! written earlier) as a table or as the JSON report.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::input;
use crate::output::{self, analyze_table};

/// Output format of `sizegate analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for the terminal (100 columns).
    Table,
    /// The versioned JSON report (an array of reports for a universal
    /// Mach-O file without --arch).
    Json,
}

/// Arguments of `sizegate analyze`.
#[derive(Debug, clap::Args)]
#[command(after_help = super::EXIT_CODES)]
pub struct Args {
    /// The binary or container image (`docker save` tarball, OCI layout
    /// directory or tar) to measure, or a JSON report written by `sizegate analyze --format json`.
    pub file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// How many symbols to list (and, in the table, rows of sections and
    /// units); 0 lists all.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// For a universal (fat) Mach-O file: the one architecture to report.
    #[arg(long)]
    pub arch: Option<String>,
    /// For a container image with several platforms (an OCI index): the
    /// one to report, as `os/arch[/variant]` (`linux/amd64`); every
    /// platform is reported otherwise.
    #[arg(long)]
    pub platform: Option<String>,
    /// Skip the gzip and zstd sizes, the slowest part on large files: they
    /// read 0 and the report says `"compression_skipped": true`. For
    /// timing the attribution alone, or a quick look at a big binary.
    #[arg(long)]
    pub no_compress: bool,
    /// Accept a binary only: refuse a JSON report as input. The worker runs
    /// the analyzer this way, so that an uploaded "artifact" that is really
    /// a report (made-up sizes, unbounded names) is never taken as measured.
    #[arg(long)]
    pub binary_only: bool,
}

/// Run `sizegate analyze`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = sizegate_analyze::Options {
        arch: args.arch.clone(),
        skip_compression: args.no_compress,
    };
    let json = if args.binary_only {
        input::Json::Refuse
    } else {
        input::Json::Accept
    };
    let mut reports =
        input::load_reports_on_platform(&args.file, &options, json, args.platform.as_deref())?;
    match args.format {
        Format::Table => output::print(&analyze_table::render_reports(&reports, args.top))?,
        Format::Json => {
            for report in &mut reports {
                report.truncate_symbols(args.top);
                report.truncate_files(args.top);
            }
            match reports.as_slice() {
                [one] => output::print_json(one)?,
                many => output::print_json(many)?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
