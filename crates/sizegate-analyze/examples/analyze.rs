//! Print the report of a file as JSON: `cargo run -p sizegate-analyze --example analyze -- FILE [TOP]`.
//! With `SIZEGATE_NO_COMPRESS=1` the gzip and zstd sizes are skipped (as `--no-compress`);
//! with `SIZEGATE_DEBUG_FILE=DEBUG` the debug file is read (as `--debug-file`: a dSYM's
//! DWARF file, not the bundle directory, or a PDB).
//! A container image archive (tar) is streamed from disk, not read whole, so
//! the example can profile image analysis without building the CLI.

use std::io::{BufReader, Read};

use sizegate_analyze::container::{self, ImageOptions, TarSource};

use std::io::Write as _;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: analyze FILE [TOP]");
        std::process::exit(2);
    };
    let top: usize = args.next().and_then(|t| t.parse().ok()).unwrap_or(20);
    if is_tar(&path) {
        analyze_image(&path);
        return;
    }
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let options = sizegate_analyze::Options {
        skip_compression: std::env::var_os("SIZEGATE_NO_COMPRESS").is_some(),
        ..sizegate_analyze::Options::default()
    };
    let reports = match std::env::var_os("SIZEGATE_DEBUG_FILE") {
        Some(debug) => match std::fs::read(&debug) {
            Ok(debug) => sizegate_analyze::analyze_with_debug_file(&path, &bytes, &debug, &options),
            Err(e) => {
                eprintln!("{}: {e}", debug.to_string_lossy());
                std::process::exit(1);
            }
        },
        None => sizegate_analyze::analyze(&path, &bytes, &options),
    };
    match reports {
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

fn is_tar(path: &str) -> bool {
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(512).read_to_end(&mut head))
        .is_ok_and(|_| container::looks_like_tar(&head))
}

fn analyze_image(path: &str) {
    let options = ImageOptions::default();
    let reports = std::fs::File::open(path)
        .map_err(|e| e.to_string())
        .and_then(|file| {
            TarSource::new(BufReader::with_capacity(1 << 20, file), &options.limits)
                .map_err(|e| e.to_string())
        })
        .and_then(|mut source| {
            container::analyze_image(path, &mut source, &options).map_err(|e| e.to_string())
        });
    match reports {
        Ok(reports) => {
            for report in reports {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            }
        }
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    }
}
