//! Print the report of a file as JSON: `cargo run -p sizegate-analyze --example analyze -- FILE [TOP]`.
//! With `SIZEGATE_NO_COMPRESS=1` the gzip and zstd sizes are skipped (as `--no-compress`).

use std::io::Write as _;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: analyze FILE [TOP]");
        std::process::exit(2);
    };
    let top: usize = args.next().and_then(|t| t.parse().ok()).unwrap_or(20);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    match sizegate_analyze::analyze(
        &path,
        &bytes,
        &sizegate_analyze::Options {
            skip_compression: std::env::var_os("SIZEGATE_NO_COMPRESS").is_some(),
            ..sizegate_analyze::Options::default()
        },
    ) {
        Ok(reports) => {
            // Streamed, as `sizegate analyze --format json` writes it: the
            // JSON of 100k+ symbols is not held in memory.
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for mut report in reports {
                report.truncate_symbols(top);
                if serde_json::to_writer_pretty(&mut out, &report).is_err()
                    || writeln!(out).is_err()
                {
                    std::process::exit(1);
                }
            }
            if out.flush().is_err() {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    }
}
