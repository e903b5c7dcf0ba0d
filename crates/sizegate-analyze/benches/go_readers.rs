//! Speed of the Go readers on a real, large Go binary: the installed Go
//! toolchain's `go` command (about 11k functions), read once per run.
//! Decoding through the named section, finding the table by scanning for
//! its magic, reading the build info, and attributing every function to its
//! package.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use object::{Object, ObjectSection};
use sizegate_analyze::go::{GoSection, Target, package_of, read_build_info, read_pclntab};

fn go_binary() -> Vec<u8> {
    let output = Command::new("go")
        .args(["env", "GOROOT"])
        .output()
        .expect("the benchmark needs the Go toolchain installed");
    let root = PathBuf::from(String::from_utf8(output.stdout).unwrap().trim());
    std::fs::read(root.join("bin/go")).unwrap()
}

fn go_readers(c: &mut Criterion) {
    let bytes = go_binary();
    let file = object::File::parse(&*bytes).unwrap();
    let target = Target {
        big_endian: !file.is_little_endian(),
        ptr_size: if file.is_64() { 8 } else { 4 },
    };
    let sections: Vec<GoSection<'_>> = file
        .sections()
        .map(|s| GoSection {
            name: s.name().unwrap_or(""),
            address: s.address(),
            data: s.data().unwrap_or(&[]),
        })
        .collect();
    let hidden: Vec<GoSection<'_>> = sections
        .iter()
        .map(|s| GoSection {
            name: if s.name == ".gopclntab" {
                ".rodata.other"
            } else {
                s.name
            },
            ..*s
        })
        .collect();
    let table = read_pclntab(&sections, target).unwrap();

    c.bench_function("read_pclntab/named_section", |b| {
        b.iter(|| read_pclntab(black_box(&sections), target))
    });
    c.bench_function("read_pclntab/scan_for_magic", |b| {
        b.iter(|| read_pclntab(black_box(&hidden), target))
    });
    c.bench_function("read_build_info", |b| {
        b.iter(|| read_build_info(black_box(&sections), target))
    });
    c.bench_function("package_of/all_functions", |b| {
        b.iter(|| {
            table
                .functions
                .iter()
                .map(|f| package_of(black_box(&f.name)).len())
                .sum::<usize>()
        })
    });
}

criterion_group!(benches, go_readers);
criterion_main!(benches);
