//! `sizegate diff`.

use std::process::ExitCode;

/// Arguments of `sizegate diff`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `sizegate diff`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`sizegate diff` is not written yet")
}
