//! Compressed DWARF, on binaries built during the test run: a two-crate
//! Rust program with line tables (rustc), compressed by `objcopy
//! --compress-debug-sections` (`SHF_COMPRESSED` zlib, and the GNU
//! `.zdebug_*` form), and a zstd form made from the zlib one (neither this
//! binutils nor this LLVM writes zstd: the test recompresses each section
//! in place with the `zstd` crate); a stripped build with its compressed
//! `objcopy --only-keep-debug` file; a C program built with `gcc -gz=zlib`.
//! Hostile headers (a section claiming 4 GiB, or less than it holds) are
//! left out with a note, never allocated.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use object::{Object, ObjectSection};
use sizegate_analyze::{Unit, analyze, analyze_with_debug_file};

mod rust_support;
use rust_support::{build_generic_program, options, report, run, strip_all};

/// The Rust program with line tables, unstripped and uncompressed.
fn built() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("compressed-dwarf-{}", std::process::id()));
        build_generic_program(&dir, ["zlib_lib", "zlib_app"], ["lib.rs", "main.rs", "app"])
    })
}

/// `objcopy --compress-debug-sections=FORMAT` of `input`.
fn compressed(input: &Path, format: &str, extra: &[&str]) -> PathBuf {
    let out = input.with_extension(format!("{format}{}", extra.join("")));
    run(Command::new("objcopy")
        .arg(format!("--compress-debug-sections={format}"))
        .args(extra)
        .arg(input)
        .arg(&out));
    out
}

/// Crate units by name and size.
fn crates(units: &[Unit]) -> Vec<(String, u64)> {
    units
        .iter()
        .filter(|u| !u.name.starts_with('['))
        .map(|u| (u.name.clone(), u.size))
        .collect()
}

fn size(units: &[Unit], name: &str) -> u64 {
    units.iter().find(|u| u.name == name).map_or(0, |u| u.size)
}

/// The compression format of `.debug_info` (or `.zdebug_info`) in `bytes`.
fn info_format(bytes: &[u8]) -> object::CompressionFormat {
    let file = object::File::parse(bytes).unwrap();
    let section = file
        .section_by_name(".debug_info")
        .or_else(|| file.section_by_name(".zdebug_info"))
        .unwrap();
    section.compressed_data().unwrap().format
}

/// Offsets of ELF64 section header fields (little-endian).
const SH_FLAGS: usize = 0x08;
const SH_OFFSET: usize = 0x18;
const SH_SIZE: usize = 0x20;
const SHF_COMPRESSED: u64 = 0x800;

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// Each `SHF_COMPRESSED` section's header offset in an ELF64 file.
fn compressed_headers(bytes: &[u8]) -> Vec<usize> {
    let shoff = u64_at(bytes, 0x28) as usize;
    let entsize = u16::from_le_bytes([bytes[0x3a], bytes[0x3b]]) as usize;
    let count = u16::from_le_bytes([bytes[0x3c], bytes[0x3d]]) as usize;
    (0..count)
        .map(|i| shoff + i * entsize)
        .filter(|&h| u64_at(bytes, h + SH_FLAGS) & SHF_COMPRESSED != 0)
        .collect()
}

/// Recompress every zlib `SHF_COMPRESSED` section of `bytes` as zstd in
/// place (when smaller, which it is at level 19 on DWARF); how many were.
fn zlib_to_zstd(bytes: &mut [u8]) -> usize {
    let mut done = 0;
    for header in compressed_headers(bytes) {
        let (offset, size) = (
            u64_at(bytes, header + SH_OFFSET) as usize,
            u64_at(bytes, header + SH_SIZE) as usize,
        );
        // Elf64_Chdr: ch_type, ch_reserved, ch_size, ch_addralign.
        let mut plain = Vec::new();
        flate2::read::ZlibDecoder::new(&bytes[offset + 24..offset + size])
            .read_to_end(&mut plain)
            .unwrap();
        let zstd = zstd::bulk::compress(&plain, 19).unwrap();
        if zstd.len() > size - 24 {
            continue;
        }
        bytes[offset..offset + 4].copy_from_slice(&2u32.to_le_bytes());
        bytes[offset + 24..offset + 24 + zstd.len()].copy_from_slice(&zstd);
        let new_size = (24 + zstd.len()) as u64;
        bytes[header + SH_SIZE..header + SH_SIZE + 8].copy_from_slice(&new_size.to_le_bytes());
        done += 1;
    }
    done
}

/// `SHF_COMPRESSED` zlib, zstd and GNU `.zdebug_*` DWARF give the codegen
/// units of the uncompressed file, byte for byte.
#[test]
fn compressed_dwarf_gives_the_units_of_the_uncompressed_build() {
    let app = built();
    let plain = report(app);
    let expected = crates(&plain.units_instantiating);
    assert!(
        size(&plain.units_instantiating, "zlib_app") > 0,
        "{expected:?}"
    );
    let zlib = compressed(app, "zlib", &[]);
    let gnu = compressed(app, "zlib-gnu", &[]);
    let mut zstd = std::fs::read(&zlib).unwrap();
    assert!(zlib_to_zstd(&mut zstd) >= 1, "no section recompressed");
    let zstd_path = app.with_extension("zstd");
    std::fs::write(&zstd_path, &zstd).unwrap();
    for (path, format) in [
        (&zlib, object::CompressionFormat::Zlib),
        (&gnu, object::CompressionFormat::Zlib),
        (&zstd_path, object::CompressionFormat::Zstandard),
    ] {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(info_format(&bytes), format, "{}", path.display());
        let report = report(path);
        assert!(report.notes.is_empty(), "{:?}", report.notes);
        assert!(report.toolchain.debug_info);
        assert_eq!(
            crates(&report.units_instantiating),
            expected,
            "{}",
            path.display()
        );
        assert_eq!(crates(&report.units), crates(&plain.units));
    }
}

/// A stripped build with its compressed `objcopy --only-keep-debug` file
/// (as Debian's `-dbgsym` packages ship them) reads as the unstripped
/// build: the same crates by both rules, within 1%.
#[test]
fn stripped_build_with_a_compressed_debug_file() {
    let app = built();
    let plain = report(app);
    let debug = compressed(app, "zlib", &["--only-keep-debug"]);
    let stripped = app.with_extension("strip-all");
    strip_all(app, &stripped);
    let debug_bytes = std::fs::read(&debug).unwrap();
    assert_eq!(info_format(&debug_bytes), object::CompressionFormat::Zlib);
    let report = analyze_with_debug_file(
        "app",
        &std::fs::read(&stripped).unwrap(),
        &debug_bytes,
        &options(),
    )
    .unwrap()
    .remove(0);
    assert!(report.stripped && report.toolchain.debug_info);
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    for (units, expected) in [
        (&report.units, &plain.units),
        (&report.units_instantiating, &plain.units_instantiating),
    ] {
        assert!(!units.is_empty());
        for unit in expected.iter().filter(|u| !u.name.starts_with('[')) {
            let got = size(units, &unit.name);
            assert!(
                got.abs_diff(unit.size) * 100 <= unit.size,
                "{}: {} unstripped, {got} stripped with the compressed debug file",
                unit.name,
                unit.size
            );
        }
    }
}

/// A C program built with `gcc -g -gz=zlib`, stripped, with its debug
/// file: the symbols of the unstripped build.
#[test]
fn gcc_gz_debug_file_gives_the_symbols() {
    let dir = built().parent().unwrap().join("gcc-gz");
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join("hello.c");
    std::fs::write(
        &c,
        "#include <stdio.h>\n__attribute__((noinline)) int twice(int x) { return 2 * x; }\nint main(int argc, char **argv) { printf(\"%d %s\\n\", twice(argc), argv[0]); return 0; }\n",
    )
    .unwrap();
    let exe = dir.join("hello");
    run(Command::new("gcc")
        .args(["-g", "-O1", "-gz=zlib", "-Wl,--build-id"])
        .arg(&c)
        .arg("-o")
        .arg(&exe));
    let bytes = std::fs::read(&exe).unwrap();
    assert_eq!(info_format(&bytes), object::CompressionFormat::Zlib);
    let debug = dir.join("hello.debug");
    run(Command::new("objcopy")
        .arg("--only-keep-debug")
        .arg(&exe)
        .arg(&debug));
    let stripped = dir.join("hello.stripped");
    strip_all(&exe, &stripped);
    let unstripped = report(&exe);
    let with_debug = analyze_with_debug_file(
        "hello",
        &std::fs::read(&stripped).unwrap(),
        &std::fs::read(&debug).unwrap(),
        &options(),
    )
    .unwrap()
    .remove(0);
    assert!(with_debug.toolchain.debug_info);
    assert!(with_debug.notes.is_empty(), "{:?}", with_debug.notes);
    assert!(with_debug.symbols.iter().any(|s| s.name == "twice"));
    assert_eq!(with_debug.symbols.len(), unstripped.symbols.len());
}

/// Write `value` as the uncompressed size of the compressed section
/// `name`: the `Elf64_Chdr`'s `ch_size`, or the GNU header's big-endian
/// 32-bit size after `ZLIB`.
fn claim(bytes: &mut [u8], name: &str, value: u64) {
    let file = object::File::parse(&*bytes).unwrap();
    let (offset, _) = file.section_by_name(name).unwrap().file_range().unwrap();
    let at = offset as usize;
    if name.starts_with(".zdebug") {
        let value = u32::try_from(value).unwrap();
        bytes[at + 8..at + 12].copy_from_slice(&value.to_be_bytes());
    } else {
        bytes[at + 8..at + 16].copy_from_slice(&value.to_le_bytes());
    }
}

/// A header claiming 4 GiB, or less than the section holds, leaves the
/// section out with a note naming it: no allocation of what it claims, no
/// codegen units from it, the rest of the report intact.
#[test]
fn hostile_compressed_sizes_are_left_out_with_a_note() {
    let app = built();
    let plain = report(app);
    let zlib = std::fs::read(compressed(app, "zlib", &[])).unwrap();
    let gnu = std::fs::read(compressed(app, "zlib-gnu", &[])).unwrap();
    let cases = [
        (&zlib, ".debug_info", 4u64 << 30, "more than the bound"),
        (&zlib, ".debug_info", 16, "decompresses to more"),
        (
            &gnu,
            ".zdebug_info",
            u64::from(u32::MAX),
            "more than the bound",
        ),
    ];
    let stripped = app.with_extension("hostile-stripped");
    strip_all(app, &stripped);
    let stripped = std::fs::read(&stripped).unwrap();
    for (original, section, value, why) in cases {
        let mut bytes = original.clone();
        claim(&mut bytes, section, value);
        let report = analyze("app", &bytes, &options()).unwrap().remove(0);
        assert!(report.units_instantiating.is_empty(), "{section} {value}");
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.contains(section) && n.contains(why)),
            "{section} {value}: {:?}",
            report.notes
        );
        assert_eq!(crates(&report.units), crates(&plain.units));
        // The same hostile file as a debug file of the stripped build.
        let with_debug = analyze_with_debug_file("app", &stripped, &bytes, &options())
            .unwrap()
            .remove(0);
        assert!(with_debug.units_instantiating.is_empty());
        assert!(with_debug.notes.iter().any(|n| n.contains(why)));
    }
}
