//! `sizegate analyze`.

use std::process::ExitCode;

/// Arguments of `sizegate analyze`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `sizegate analyze`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`sizegate analyze` is not written yet")
}
