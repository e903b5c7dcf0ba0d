//! Truncated and corrupted inputs: `analyze` returns `Ok` (with the
//! invariants intact) or a clear `Err`, and never panics.

use std::panic::{AssertUnwindSafe, catch_unwind};

use sizegate_analyze::{Error, Options, analyze};

use crate::checks::assert_invariants;
use crate::fixtures;

/// Deterministic pseudo-random numbers (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Analyze `bytes`; a panic fails the test naming the case.
fn survive(case: &str, bytes: &[u8]) -> Result<(), Error> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        analyze(case, bytes, &Options::default())
    }));
    match result {
        Ok(Ok(reports)) => {
            for report in &reports {
                assert_invariants(report);
            }
            Ok(())
        }
        Ok(Err(e)) => {
            assert!(!e.to_string().is_empty());
            Err(e)
        }
        Err(_) => panic!("analyze panicked on {case}"),
    }
}

const FORMATS: [&str; 8] = [
    "c-hello",
    "rust-stripped",
    "go-linux-386",
    "go-linux-s390x",
    "go-windows-amd64",
    "go-darwin-amd64",
    "go-darwin-universal",
    "go-js-wasm",
];

#[test]
fn truncated_files_never_panic() {
    for name in FORMATS {
        let bytes = &fixtures::get(name).bytes;
        let mut rng = Rng(0x5eed_0000 + bytes.len() as u64);
        // Every offset in the headers, then spread over the whole file.
        let mut cuts: Vec<usize> = (0..64).map(|i| i * 7).collect();
        cuts.extend((0..24).map(|_| rng.below(bytes.len())));
        let mut errors = 0;
        for cut in cuts {
            if survive(
                &format!("{name} cut at {cut}"),
                &bytes[..cut.min(bytes.len())],
            )
            .is_err()
            {
                errors += 1;
            }
        }
        assert!(
            errors > 0,
            "{name}: some truncations must be reported as errors"
        );
    }
}

#[test]
fn flipped_bytes_never_panic() {
    for name in FORMATS {
        let original = &fixtures::get(name).bytes;
        let mut rng = Rng(0xf11b_0000 ^ original.len() as u64);
        for round in 0..28 {
            let mut bytes = original.clone();
            let flips = 1 + rng.below(8);
            for _ in 0..flips {
                // Half in the first 4 KiB, where the headers are.
                let at = if rng.below(2) == 0 {
                    rng.below(4096.min(bytes.len()))
                } else {
                    rng.below(bytes.len())
                };
                bytes[at] ^= 1 << rng.below(8);
            }
            let _ = survive(&format!("{name} round {round}"), &bytes);
        }
    }
}

#[test]
fn truncated_elf_is_reported_as_malformed() {
    let bytes = &fixtures::get("c-hello").bytes;
    match analyze("half", &bytes[..bytes.len() / 2], &Options::default()) {
        Err(Error::Malformed { format, message }) => {
            assert_eq!(format, "ELF");
            assert!(!message.is_empty());
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn non_binaries_are_unsupported() {
    for bytes in [&b""[..], b"#!/bin/sh\necho hi\n", &[0u8; 64][..]] {
        match analyze("text", bytes, &Options::default()) {
            Err(Error::Unsupported(message)) => assert!(message.contains("ELF")),
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }
}

#[test]
fn hostile_section_and_symbol_counts_are_bounded() {
    // An ELF header claiming 65535 sections at an offset past the end.
    let mut bytes = fixtures::get("c-hello").bytes[..4096].to_vec();
    bytes[0x3c..0x3e].copy_from_slice(&u16::MAX.to_le_bytes()); // e_shnum
    bytes[0x28..0x30].copy_from_slice(&64u64.to_le_bytes()); // e_shoff
    let _ = survive("hostile shnum", &bytes);
    // A universal header claiming 2^31 architectures.
    let mut fat = fixtures::fat_macho(&[fixtures::get("go-darwin-arm64").bytes[..8192].to_vec()]);
    fat[4..8].copy_from_slice(&0x8000_0000u32.to_be_bytes());
    assert!(survive("hostile nfat_arch", &fat).is_err());
}
