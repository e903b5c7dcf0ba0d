//! Every ELF file of the machine under /usr/bin and /usr/lib is analyzed
//! without an error or a panic, within a time budget.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sizegate_analyze::{Options, analyze};

use crate::checks::assert_invariants;

/// Wall time for the sweep; what is not reached is reported, not failed.
const BUDGET: Duration = Duration::from_secs(45);
/// Larger files are left to the benchmark.
const MAX_SIZE: u64 = 64 << 20;

fn elf_files(dir: &Path, out: &mut Vec<(u64, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() {
            elf_files(&path, out);
        } else if kind.is_file() {
            let mut magic = [0u8; 4];
            let is_elf = std::fs::File::open(&path)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
                .is_ok()
                && magic == *b"\x7fELF";
            if let Some(size) = entry
                .metadata()
                .ok()
                .map(|m| m.len())
                .filter(|&s| is_elf && s <= MAX_SIZE)
            {
                out.push((size, path));
            }
        }
    }
}

#[test]
fn every_elf_file_of_the_machine_is_analyzed() {
    let mut files = Vec::new();
    elf_files(Path::new("/usr/bin"), &mut files);
    elf_files(Path::new("/usr/lib"), &mut files);
    assert!(files.len() > 50, "only {} ELF files found", files.len());
    // Smallest first: the most files within the budget; the largest are
    // the benchmark's.
    files.sort();
    let files: Vec<PathBuf> = files.into_iter().map(|(_, path)| path).collect();
    let start = Instant::now();
    let mut analyzed = 0usize;
    let mut bytes_total = 0u64;
    let mut failures = Vec::new();
    for path in &files {
        if start.elapsed() > BUDGET {
            break;
        }
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        let name = path.display().to_string();
        match catch_unwind(AssertUnwindSafe(|| {
            analyze(&name, &bytes, &Options::default())
        })) {
            Ok(Ok(reports)) => reports.iter().for_each(assert_invariants),
            Ok(Err(e)) => failures.push(format!("{name}: {e}")),
            Err(_) => failures.push(format!("{name}: PANIC")),
        }
        analyzed += 1;
        bytes_total += bytes.len() as u64;
    }
    eprintln!(
        "analyzed {analyzed} of {} ELF files ({} MiB) in {:.1} s",
        files.len(),
        bytes_total >> 20,
        start.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(analyzed >= 50);
}

/// Most unstripped files of the machine to compare with `strip`.
const STRIP_SAMPLE: usize = 25;

#[test]
fn shipped_size_matches_strip_on_the_machines_unstripped_files() {
    let mut files = Vec::new();
    elf_files(Path::new("/usr/lib/x86_64-linux-gnu"), &mut files);
    elf_files(Path::new("/usr/lib/gcc"), &mut files);
    files.sort();
    let out = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let start = Instant::now();
    let mut compared = Vec::new();
    for (_, path) in files {
        if compared.len() >= STRIP_SAMPLE || start.elapsed() > Duration::from_secs(20) {
            break;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        // Linked executables and libraries: strip takes relocatable objects
        // apart in ways no shipped artifact sees.
        let linked = object::File::parse(&bytes[..]).is_ok_and(|f| {
            use object::Object;
            matches!(
                f.kind(),
                object::ObjectKind::Executable | object::ObjectKind::Dynamic
            )
        });
        if !linked {
            continue;
        }
        let Ok(reports) = analyze("x", &bytes, &Options::default()) else {
            continue;
        };
        let report = &reports[0];
        if report.stripped || report.language == sizegate_analyze::Language::Go {
            continue;
        }
        let stripped = out.path().join("stripped");
        let status = std::process::Command::new("strip")
            .arg("--strip-all")
            .arg("-o")
            .arg(&stripped)
            .arg(&path)
            .status()
            .unwrap();
        if !status.success() {
            continue; // e.g. an object strip cannot rewrite
        }
        let real = std::fs::metadata(&stripped).unwrap().len();
        let error = (report.sizes.shipped as f64 - real as f64).abs() / real as f64;
        compared.push((
            path.display().to_string(),
            report.sizes.shipped,
            real,
            error,
        ));
    }
    for (path, estimate, real, error) in &compared {
        eprintln!(
            "{path}: shipped {estimate}, strip {real}, {:.3}%",
            error * 100.0
        );
    }
    assert!(
        compared.len() >= 3,
        "only {} unstripped files compared",
        compared.len()
    );
    let off: Vec<_> = compared.iter().filter(|c| c.3 > 0.005).collect();
    assert!(off.is_empty(), "more than 0.5% off: {off:?}");
}
