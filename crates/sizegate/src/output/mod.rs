//! Rendering of reports and diffs for people: terminal tables and
//! GitHub-flavoured markdown. JSON output is the serde form of the contract
//! types and needs no module of its own.

pub mod analyze_table;
pub mod diff_markdown;
pub mod diff_table;
pub mod labels;
pub mod table;

use std::io::{ErrorKind, Write};

use anyhow::Context;
use serde::Serialize;

/// Writes `text` to standard output. A closed pipe (`sizegate … | head`)
/// is not an error.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        result => result.context("cannot write to standard output"),
    }
}

/// Writes `value` to standard output as pretty JSON with a final newline,
/// the same bytes as [`json`], streamed: a report with every symbol of a
/// large binary is tens of MB of text, which need not be held in memory.
/// A closed pipe is not an error.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let result = serde_json::to_writer_pretty(&mut stdout, value)
        .map_err(std::io::Error::from)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    match result {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        result => result.context("cannot write to standard output"),
    }
}

/// Pretty JSON with a final newline.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(value).context("cannot encode JSON")?;
    text.push('\n');
    Ok(text)
}

/// `part` as a share of `whole`: `48.2%`; empty when `whole` is zero.
pub fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return String::new();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// How many rows of a list to show: `top`, or all when `top` is 0.
pub fn shown(len: usize, top: usize) -> usize {
    if top == 0 { len } else { len.min(top) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_row_counts() {
        assert_eq!(share(1, 3), "33.3%");
        assert_eq!(share(5, 0), "");
        assert_eq!(
            share(u64::MAX, 1),
            format!("{:.1}%", u64::MAX as f64 * 100.0)
        );
        assert_eq!(shown(50, 20), 20);
        assert_eq!(shown(5, 20), 5);
        assert_eq!(shown(50, 0), 50);
    }
}
