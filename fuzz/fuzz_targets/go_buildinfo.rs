//! The Go build-info reader on two arbitrary sections: one holding the
//! `\xff Go buildinf:` blob (found by name or by scanning) and one that the
//! pre-1.18 layout's pointers may point into. Whatever it returns must be
//! bounded by the input.
//!
//! Input: a flags byte (bit 0 big-endian, bit 1 32-bit, bits 2-3 the blob
//! section's name), the two sections' addresses (8 bytes each,
//! little-endian), the length of the first section (2 bytes), then the
//! sections' bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sizegate_analyze::go::{GoSection, Target, read_build_info};

const NAMES: [&str; 4] = [".go.buildinfo", ".data", "__go_buildinfo", ".noptrdata"];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some((first_address, rest)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let Some((second_address, rest)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let Some((split, rest)) = rest.split_first_chunk::<2>() else {
        return;
    };
    let split = usize::from(u16::from_le_bytes(*split)).min(rest.len());
    let (blob, other) = rest.split_at(split);
    let target = Target {
        big_endian: flags & 1 != 0,
        ptr_size: if flags & 2 != 0 { 4 } else { 8 },
    };
    let sections = [
        GoSection {
            name: NAMES[usize::from(flags >> 2) % NAMES.len()],
            address: u64::from_le_bytes(*first_address),
            data: blob,
        },
        GoSection {
            name: ".rodata",
            address: u64::from_le_bytes(*second_address),
            data: other,
        },
    ];
    let Some(info) = read_build_info(&sections, target) else {
        return;
    };
    assert!(info.go_version.starts_with("go") || info.go_version.starts_with("devel"));
    let text: usize = info.go_version.len()
        + info.path.as_ref().map_or(0, String::len)
        + info
            .deps
            .iter()
            .map(|d| d.path.len() + d.version.len())
            .sum::<usize>()
        + info
            .settings
            .iter()
            .map(|s| s.key.len() + s.value.len())
            .sum::<usize>();
    // Lossy UTF-8 decoding may triple a byte (U+FFFD), never more.
    assert!(
        text <= 3 * data.len(),
        "{text} bytes of text from {} bytes",
        data.len()
    );
});
