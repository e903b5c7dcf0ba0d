//! The partition invariants and the shipped size, on every fixture.

use crate::checks::assert_invariants;
use crate::fixtures;
use sizegate_analyze::{Options, analyze};

#[test]
fn partition_invariants_hold_on_every_fixture() {
    let all = fixtures::all();
    assert!(
        all.len() >= 18,
        "expected every fixture to build, got {}",
        all.len()
    );
    for fixture in all.values() {
        assert!(!fixture.reports.is_empty());
        for report in &fixture.reports {
            assert_invariants(report);
        }
    }
}

fn assert_close(name: &str, estimate: u64, real: u64) {
    let error = (estimate as f64 - real as f64).abs() / real as f64;
    eprintln!(
        "{name}: shipped estimate {estimate}, real {real}, error {:.4}%",
        error * 100.0
    );
    assert!(
        error <= 0.005,
        "{name}: shipped {estimate} vs real {real}: {:.3}% off",
        error * 100.0
    );
}

#[test]
fn shipped_size_is_what_strip_leaves() {
    for name in [
        "rust-unwind",
        "rust-abort",
        "rust-lto",
        "rust-stripped",
        "c-hello",
        "cpp-shapes",
    ] {
        let fixture = fixtures::get(name);
        let real = fixture
            .strip_size
            .expect("strip size measured for ELF fixtures");
        assert_close(name, fixture.report().sizes.shipped, real);
    }
}

#[test]
fn go_shipped_size_is_what_ldflags_s_w_leaves() {
    for (name, stripped) in [
        ("go-linux-amd64", "go-linux-amd64-sw"),
        ("go-windows-amd64", "go-windows-amd64-sw"),
        ("go-darwin-arm64", "go-darwin-arm64-sw"),
        ("go-linux-386", "go-linux-386-sw"),
        ("go-linux-s390x", "go-linux-s390x-sw"),
        ("go-js-wasm", "go-js-wasm-sw"),
    ] {
        let real = fixtures::get(stripped).bytes.len() as u64;
        assert_close(name, fixtures::get(name).report().sizes.shipped, real);
        // Analyzing the -s -w build itself finds (almost) nothing to strip.
        assert_close(
            stripped,
            fixtures::get(stripped).report().sizes.shipped,
            real,
        );
    }
}

#[test]
fn debug_and_symbol_bytes_are_measured() {
    let unwind = fixtures::get("rust-unwind").report();
    assert!(unwind.toolchain.debug_info);
    assert!(unwind.sizes.debug > 0 && unwind.sizes.symbols > 0);
    assert!(!unwind.stripped);
    let stripped = fixtures::get("rust-stripped").report();
    assert!(stripped.stripped);
    assert_eq!(stripped.sizes.symbols, 0);
    assert!(!stripped.toolchain.debug_info);
    let go_sw = fixtures::get("go-linux-amd64-sw").report();
    assert!(go_sw.stripped);
    assert_eq!((go_sw.sizes.symbols, go_sw.sizes.debug), (0, 0));
    let wasm_sw = fixtures::get("go-js-wasm-sw").report();
    assert!(wasm_sw.stripped);
    assert_eq!(wasm_sw.language, sizegate_analyze::Language::Go);
    let wasm = fixtures::get("go-js-wasm").report();
    assert!(!wasm.stripped && wasm.sizes.symbols > 0);
    let go = fixtures::get("go-linux-amd64").report();
    assert!(!go.stripped && go.sizes.debug > 0 && go.sizes.symbols > 0);
}

#[test]
fn compressed_sizes_are_real() {
    use std::io::{Read, Write};
    let fixture = fixtures::get("c-hello");
    let report = fixture.report();
    // Under 4 MiB the gzip figure is one gzip member of the whole file at
    // libdeflate level 6: it decompresses to the file, and stays within 2%
    // of zlib's `gzip -6`.
    let mut compressor = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(6).unwrap());
    let mut member = vec![0; compressor.gzip_compress_bound(fixture.bytes.len())];
    let n = compressor
        .gzip_compress(&fixture.bytes, &mut member)
        .unwrap();
    assert_eq!(report.sizes.gzip, n as u64);
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(&member[..n])
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, fixture.bytes);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(&fixture.bytes).unwrap();
    let zlib = gz.finish().unwrap().len() as f64;
    let off = (report.sizes.gzip as f64 - zlib).abs() / zlib;
    assert!(
        off < 0.02,
        "gzip figure {} vs zlib -6 {zlib}",
        report.sizes.gzip
    );
    let zstd = zstd::stream::encode_all(&fixture.bytes[..], 3).unwrap();
    assert_eq!(report.sizes.zstd, zstd.len() as u64);
    assert!(report.sizes.gzip < report.sizes.file);
    assert!(!report.compression_skipped);
}

#[test]
fn skipping_compression_changes_only_the_compressed_sizes() {
    for name in [
        "c-hello",
        "rust-abort",
        "go-linux-amd64",
        "go-darwin-universal",
    ] {
        let fixture = fixtures::get(name);
        let full = analyze(name, &fixture.bytes, &Options::default()).unwrap();
        let options = Options {
            skip_compression: true,
            ..Options::default()
        };
        let skipped = analyze(name, &fixture.bytes, &options).unwrap();
        assert_eq!(full.len(), skipped.len(), "{name}");
        for (mut full, skipped) in full.into_iter().zip(skipped) {
            assert!(skipped.compression_skipped, "{name}");
            assert_eq!((skipped.sizes.gzip, skipped.sizes.zstd), (0, 0), "{name}");
            assert!(full.sizes.gzip > 0 && full.sizes.zstd > 0, "{name}");
            full.sizes.gzip = 0;
            full.sizes.zstd = 0;
            full.compression_skipped = true;
            assert_eq!(full, skipped, "{name}");
            // The flag is in the JSON only when set, and reads back.
            let json = serde_json::to_string(&skipped).unwrap();
            assert!(json.contains("\"compression_skipped\":true"), "{name}");
            let back: sizegate_analyze::Report = serde_json::from_str(&json).unwrap();
            assert_eq!(back, skipped);
        }
    }
}

#[test]
fn reports_round_trip_through_json() {
    for name in [
        "rust-abort",
        "go-darwin-universal",
        "go-js-wasm",
        "cpp-shapes",
    ] {
        for report in &fixtures::get(name).reports {
            let json = serde_json::to_string(report).unwrap();
            let back: sizegate_analyze::Report = serde_json::from_str(&json).unwrap();
            assert_eq!(&back, report, "{name}");
            let value: serde_json::Value = serde_json::from_str(&json).unwrap();
            for key in [
                "schema_version",
                "file",
                "format",
                "arch",
                "language",
                "stripped",
                "toolchain",
                "sizes",
                "sections",
                "units",
                "symbols",
                "advice",
            ] {
                assert!(
                    value.get(key).is_some(),
                    "{name}: no `{key}` in the JSON report"
                );
            }
        }
    }
}
