//! Throughput of `analyze` on the largest ELF file of the machine (under
//! /usr/lib and /usr/bin, up to 512 MiB), or on `SIZEGATE_BENCH_FILE`:
//! the full report (`largest_elf`), and the attribution alone, without the
//! gzip and zstd sizes (`attribution_only`).

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sizegate_analyze::{Options, analyze};

fn largest_elf(dir: &Path, best: &mut Option<(u64, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() {
            largest_elf(&path, best);
        } else if kind.is_file() {
            let size = entry.metadata().map_or(0, |m| m.len());
            if size > best.as_ref().map_or(0, |b| b.0) && size <= 512 << 20 {
                let mut magic = [0u8; 4];
                let is_elf = std::fs::File::open(&path)
                    .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
                    .is_ok()
                    && magic == *b"\x7fELF";
                if is_elf {
                    *best = Some((size, path));
                }
            }
        }
    }
}

fn bench(c: &mut Criterion) {
    let path = match std::env::var_os("SIZEGATE_BENCH_FILE") {
        Some(p) => PathBuf::from(p),
        None => {
            let mut best = None;
            largest_elf(Path::new("/usr/lib"), &mut best);
            largest_elf(Path::new("/usr/bin"), &mut best);
            match best {
                Some((_, path)) => path,
                None => return,
            }
        }
    };
    let Ok(bytes) = std::fs::read(&path) else {
        return;
    };
    eprintln!("benchmark file: {} ({} bytes)", path.display(), bytes.len());
    let mut group = c.benchmark_group("analyze");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("largest_elf", |b| {
        b.iter(|| analyze("bench", &bytes, &Options::default()).map(|r| r.len()))
    });
    let attribution_only = Options {
        skip_compression: true,
        ..Options::default()
    };
    group.bench_function("attribution_only", |b| {
        b.iter(|| analyze("bench", &bytes, &attribution_only).map(|r| r.len()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
