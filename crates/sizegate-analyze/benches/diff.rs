//! Throughput of `diff` on two synthetic reports shaped like a large Rust
//! or Go binary: 60 000 symbols each, with legacy hashes, v0
//! disambiguators, closure families and duplicated generic names, and a
//! few hundred changes between the two sides.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sizegate_analyze::{
    FileInfo, Format, Language, Report, SCHEMA_VERSION, Section, SectionKind, Sizes, Symbol,
    Toolchain, Unit, UnitKind, diff,
};

const SYMBOLS: u64 = 60_000;

/// A deterministic report; `variant` 1 renames hashes, grows some symbols,
/// drops some and adds closures.
fn report(variant: u64) -> Report {
    let mut symbols = Vec::new();
    for i in 0..SYMBOLS {
        let krate = format!("crate{}", i % 300);
        let size = 16 + (i * 2_654_435_761) % 4096;
        let grown = if variant == 1 && i % 211 == 0 { 64 } else { 0 };
        if variant == 1 && i % 307 == 0 {
            continue;
        }
        let name = match i % 5 {
            0 => format!(
                "{krate}::module{}::function{i}::h{:016x}",
                i % 17,
                i ^ variant
            ),
            1 => format!(
                "<{krate}[{:08x}]::Type{i} as core::fmt::Debug>::fmt",
                variant + i
            ),
            2 => format!(
                "{krate}::run{}::{{closure#{}}}",
                i % 900,
                (i / 5 + variant) % 7
            ),
            3 => format!("core::ptr::drop_in_place<{krate}::Thing{}>", i % 50),
            _ => format!("main.handler{}.func{}", i % 700, (i / 5 + variant) % 9 + 1),
        };
        symbols.push(Symbol {
            name,
            unit: krate,
            section: ".text".into(),
            size: size + grown,
        });
    }
    if variant == 1 {
        for j in 0..200 {
            symbols.push(Symbol {
                name: format!("crate{j}::run{j}::{{closure#8}}"),
                unit: format!("crate{j}"),
                section: ".text".into(),
                size: 100 + j,
            });
        }
    }
    symbols.sort_by_key(|s| std::cmp::Reverse(s.size));
    let units = (0..300)
        .map(|k| Unit {
            name: format!("crate{k}"),
            kind: UnitKind::Crate,
            size: 10_000 + k * (1 + variant),
            symbols: 200,
            version: None,
            module: None,
        })
        .collect();
    Report {
        schema_version: SCHEMA_VERSION,
        file: FileInfo {
            name: "bench".into(),
            size: 0,
            sha256: String::new(),
        },
        format: Format::Elf,
        arch: "x86_64".into(),
        language: Language::Rust,
        stripped: false,
        toolchain: Toolchain::default(),
        sizes: Sizes::default(),
        sections: vec![Section {
            name: ".text".into(),
            kind: SectionKind::Code,
            file_size: 1 << 20,
            vm_size: 1 << 20,
        }],
        units,
        symbols,
        units_instantiating: Vec::new(),
        symbols_truncated: false,
        notes: Vec::new(),
        compression_skipped: false,
        advice: vec![],
        layers: Vec::new(),
        files: Vec::new(),
        directories: Vec::new(),
    }
}

fn bench(c: &mut Criterion) {
    let (old, new) = (report(0), report(1));
    let mut group = c.benchmark_group("diff");
    group.sample_size(10);
    group.throughput(Throughput::Elements(
        (old.symbols.len() + new.symbols.len()) as u64,
    ));
    group.bench_function("60k_symbols", |b| b.iter(|| diff(&old, &new).symbols.len()));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
