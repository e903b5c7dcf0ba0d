//! The Go pclntab reader on one arbitrary section: found through its name
//! (`.gopclntab`) or by scanning for the magic (`.data.rel.ro`, `.rdata`),
//! in either byte order and pointer size. A table that decodes must be
//! consistent: sorted entries, code plus padding that tile the text, named
//! functions.
//!
//! Input: a flags byte (bit 0 big-endian, bit 1 32-bit, bits 2-3 the section
//! name), the section's address and the `.text` address (8 bytes each,
//! little-endian), then the section's bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sizegate_analyze::go::{GoSection, Target, read_pclntab};

const NAMES: [&str; 4] = [".gopclntab", ".data.rel.ro", "__gopclntab", ".rdata"];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some((address, rest)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let Some((text, section)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let target = Target {
        big_endian: flags & 1 != 0,
        ptr_size: if flags & 2 != 0 { 4 } else { 8 },
    };
    let sections = [
        GoSection {
            name: NAMES[usize::from(flags >> 2) % NAMES.len()],
            address: u64::from_le_bytes(*address),
            data: section,
        },
        GoSection {
            name: ".text",
            address: u64::from_le_bytes(*text),
            data: &[],
        },
    ];
    let Some(table) = read_pclntab(&sections, target) else {
        return;
    };
    assert!(!table.functions.is_empty());
    let mut span = 0u64;
    for pair in table.functions.windows(2) {
        assert!(pair[0].entry <= pair[1].entry, "entries not sorted");
        assert_eq!(
            pair[0].entry + pair[0].size + pair[0].padding,
            pair[1].entry,
            "code and padding do not tile"
        );
    }
    for function in &table.functions {
        assert!(!function.name.is_empty());
        assert!(function.name.len() <= section.len());
        let end = function.entry.checked_add(function.size);
        assert!(end.and_then(|e| e.checked_add(function.padding)).is_some());
        span += function.size + function.padding;
    }
    assert!(span <= u64::from(u32::MAX), "text span {span}");
});
