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
    /// The separate debug file of a stripped binary: for ELF the `objcopy
    /// --only-keep-debug` output (or the `.debug` file its build-id names),
    /// for Mach-O the `.dSYM` bundle (or the DWARF file inside it), for PE
    /// the PDB. Sizes come from FILE, symbols and units from this file. A
    /// build-id, UUID or GUID/age mismatch is an error.
    #[arg(long, value_name = "PATH")]
    pub debug_file: Option<PathBuf>,
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
    let spinner = progress(&args.file);
    let loaded = match &args.debug_file {
        Some(debug) => input::load_reports_with_debug_file(&args.file, debug, &options),
        None => {
            input::load_reports_on_platform(&args.file, &options, json, args.platform.as_deref())
        }
    };
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    let mut reports = loaded?;
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
    // The process ends here: freeing the reports' hundreds of thousands of
    // strings one by one would only delay the exit (about 2% of the time
    // of a 74 MB binary's report).
    std::mem::forget(reports);
    Ok(ExitCode::SUCCESS)
}

/// Files from this size on take long enough to show progress.
const PROGRESS_FROM_BYTES: u64 = 32 << 20;

/// A spinner on stderr with the file's size and the time spent, while a
/// large file is read and measured; only when stderr is a terminal, so
/// pipes and CI logs stay clean.
fn progress(file: &std::path::Path) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal as _;
    let size = std::fs::metadata(file).ok()?.len();
    if size < PROGRESS_FROM_BYTES || !std::io::stderr().is_terminal() {
        return None;
    }
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    spinner.set_message(format!(
        "measuring {} ({})",
        file.display(),
        sizegate_analyze::human::size(size)
    ));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(spinner)
}
