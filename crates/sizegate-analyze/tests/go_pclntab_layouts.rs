//! The pclntab reader on synthetic tables for the layouts no installed
//! toolchain produces here (Go 1.2–1.15, 1.16–1.17, 1.20+; 1.18 is covered
//! by the real binaries too), built by a small encoder that follows the
//! documented layout, in both byte orders and pointer sizes; and on corrupt,
//! truncated and hostile tables, which must give `None` (never a panic or a
//! huge allocation).

#![allow(clippy::unwrap_used)]

use sizegate_analyze::go::{GoFunction, GoSection, PclntabVersion, Target, read_pclntab};

/// Functions as (name, entry offset from the start of text).
const FUNCTIONS: &[(&str, u64)] = &[
    ("internal/cpu.Initialize", 0x00),
    ("runtime.main", 0x40),
    ("main.(*server).handle.func1", 0x100),
    ("gopkg.in/yaml%2ev3.(*decoder).unmarshal", 0x180),
    ("main.Map[...]", 0x1a0),
];
/// End of text, as an offset.
const TEXT_END: u64 = 0x220;
const TEXT_START: u64 = 0x40_1000;

/// Writes integers in one byte order and pointer size.
struct Writer {
    out: Vec<u8>,
    big_endian: bool,
    ptr_size: u8,
}

impl Writer {
    fn u32(&mut self, value: u32) {
        let bytes = if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        self.out.extend_from_slice(&bytes);
    }

    fn word(&mut self, value: u64) {
        if self.ptr_size == 8 {
            let bytes = if self.big_endian {
                value.to_be_bytes()
            } else {
                value.to_le_bytes()
            };
            self.out.extend_from_slice(&bytes);
        } else {
            self.u32(u32::try_from(value).unwrap());
        }
    }

    /// A functab field: `u32` from Go 1.18 on, pointer-sized before.
    fn field(&mut self, version: PclntabVersion, value: u64) {
        match version {
            PclntabVersion::Go118 | PclntabVersion::Go120 => {
                self.u32(u32::try_from(value).unwrap())
            }
            PclntabVersion::Go12 | PclntabVersion::Go116 => self.word(value),
        }
    }

    fn magic(&mut self, version: PclntabVersion) {
        let magic = match version {
            PclntabVersion::Go12 => 0xffff_fffb,
            PclntabVersion::Go116 => 0xffff_fffa,
            PclntabVersion::Go118 => 0xffff_fff0,
            PclntabVersion::Go120 => 0xffff_fff1,
        };
        self.u32(magic);
        let ptr_size = self.ptr_size;
        self.out.extend_from_slice(&[0, 0, 1, ptr_size]);
    }
}

/// Encode a pclntab holding [`FUNCTIONS`]. `stored_text_start` is what the
/// Go 1.18+ header holds (0 when the file keeps it unrelocated).
fn encode(
    version: PclntabVersion,
    big_endian: bool,
    ptr_size: u8,
    stored_text_start: u64,
) -> Vec<u8> {
    let mut w = Writer {
        out: Vec::new(),
        big_endian,
        ptr_size,
    };
    let ptr = u64::from(ptr_size);
    let nfunc = FUNCTIONS.len() as u64;
    let relative = matches!(version, PclntabVersion::Go118 | PclntabVersion::Go120);
    let field = if relative { 4 } else { ptr };
    let entry = |offset: u64| {
        if relative {
            offset
        } else {
            TEXT_START + offset
        }
    };
    // Names, NUL-terminated, with their offsets in the name table.
    let mut names = Vec::new();
    let mut name_offsets = Vec::new();
    for (name, _) in FUNCTIONS {
        name_offsets.push(names.len() as u64);
        names.extend_from_slice(name.as_bytes());
        names.push(0);
    }
    let functab_len = (2 * nfunc + 1) * field;
    let record_len = field + 4;
    w.magic(version);
    match version {
        PclntabVersion::Go12 => {
            // Header, functab, _func records, names: all offsets from the start.
            w.word(nfunc);
            let records = 8 + ptr + functab_len;
            let names_at = records + nfunc * record_len;
            for (index, (_, offset)) in FUNCTIONS.iter().enumerate() {
                w.word(entry(*offset));
                w.word(records + index as u64 * record_len);
            }
            w.word(entry(TEXT_END));
            for (index, (_, offset)) in FUNCTIONS.iter().enumerate() {
                w.word(entry(*offset));
                w.u32(u32::try_from(names_at + name_offsets[index]).unwrap());
            }
        }
        PclntabVersion::Go116 | PclntabVersion::Go118 | PclntabVersion::Go120 => {
            let header_words = if relative { 8 } else { 7 };
            let names_at = 8 + header_words * ptr;
            let pcln_at = names_at + names.len() as u64;
            w.word(nfunc);
            w.word(1); // nfiles
            if relative {
                w.word(stored_text_start);
            }
            w.word(names_at);
            w.word(pcln_at); // cuOffset: empty tables, unused here
            w.word(pcln_at); // filetabOffset
            w.word(pcln_at); // pctabOffset
            w.word(pcln_at);
            w.out.extend_from_slice(&names);
            for (index, (_, offset)) in FUNCTIONS.iter().enumerate() {
                w.field(version, entry(*offset));
                w.field(version, functab_len + index as u64 * record_len);
            }
            w.field(version, entry(TEXT_END));
            for (index, (_, offset)) in FUNCTIONS.iter().enumerate() {
                w.field(version, entry(*offset));
                w.u32(u32::try_from(name_offsets[index]).unwrap());
            }
            return w.out;
        }
    }
    w.out.extend_from_slice(&names);
    w.out
}

fn expected_functions() -> Vec<GoFunction> {
    FUNCTIONS
        .iter()
        .enumerate()
        .map(|(index, (name, offset))| {
            let next = FUNCTIONS.get(index + 1).map_or(TEXT_END, |(_, next)| *next);
            GoFunction {
                name: (*name).to_owned(),
                entry: TEXT_START + offset,
                size: next - offset,
                padding: 0,
            }
        })
        .collect()
}

const VERSIONS: [PclntabVersion; 4] = [
    PclntabVersion::Go12,
    PclntabVersion::Go116,
    PclntabVersion::Go118,
    PclntabVersion::Go120,
];
const TARGETS: [Target; 4] = [
    Target {
        big_endian: false,
        ptr_size: 8,
    },
    Target {
        big_endian: true,
        ptr_size: 8,
    },
    Target {
        big_endian: false,
        ptr_size: 4,
    },
    Target {
        big_endian: true,
        ptr_size: 4,
    },
];

fn section<'a>(name: &'a str, data: &'a [u8]) -> GoSection<'a> {
    GoSection {
        name,
        address: 0x4b_0000,
        data,
    }
}

#[test]
fn every_layout_decodes_in_every_byte_order_and_pointer_size() {
    for version in VERSIONS {
        for target in TARGETS {
            let table = encode(version, target.big_endian, target.ptr_size, TEXT_START);
            let found = read_pclntab(&[section(".gopclntab", &table)], target)
                .unwrap_or_else(|| panic!("{version:?} {target:?} not decoded"));
            assert_eq!(found.version, version);
            assert_eq!(found.section, ".gopclntab");
            assert_eq!(
                found.functions,
                expected_functions(),
                "{version:?} {target:?}"
            );
        }
    }
}

#[test]
fn unrelocated_text_start_falls_back_to_the_text_section() {
    let target = Target {
        big_endian: false,
        ptr_size: 8,
    };
    let table = encode(PclntabVersion::Go120, false, 8, 0);
    let text = GoSection {
        name: ".text",
        address: TEXT_START,
        data: &[],
    };
    let found = read_pclntab(&[text, section(".gopclntab", &table)], target).unwrap();
    assert_eq!(found.functions, expected_functions());
    // Without a text section the entries stay offsets; sizes are unchanged.
    let alone = read_pclntab(&[section(".gopclntab", &table)], target).unwrap();
    assert_eq!(alone.functions[1].entry, 0x40);
    let sizes: Vec<u64> = alone.functions.iter().map(|f| f.size).collect();
    let expected: Vec<u64> = expected_functions().iter().map(|f| f.size).collect();
    assert_eq!(sizes, expected);
}

#[test]
fn tables_without_a_section_of_their_own_are_found_by_magic() {
    for version in VERSIONS {
        for target in TARGETS {
            let table = encode(version, target.big_endian, target.ptr_size, TEXT_START);
            // Other data first, including a header-looking decoy that does not
            // decode, then the real table at an aligned offset.
            let mut rdata = vec![0x55u8; 64];
            let mut decoy = encode(version, target.big_endian, target.ptr_size, TEXT_START);
            decoy.truncate(40);
            rdata.extend_from_slice(&decoy);
            rdata.resize(rdata.len().next_multiple_of(16), 0);
            rdata.extend_from_slice(&table);
            let sections = [section(".text", &[0x90; 32]), section(".rdata", &rdata)];
            let found = read_pclntab(&sections, target)
                .unwrap_or_else(|| panic!("{version:?} {target:?} not found by scanning"));
            assert_eq!(found.section, ".rdata");
            assert_eq!(found.functions, expected_functions());
        }
    }
}

#[test]
fn truncated_tables_are_rejected() {
    for version in VERSIONS {
        for target in TARGETS {
            let table = encode(version, target.big_endian, target.ptr_size, TEXT_START);
            for cut in 0..table.len() {
                let found = read_pclntab(&[section(".gopclntab", &table[..cut])], target);
                // Only a cut in the trailing name bytes of the Go 1.2 layout
                // could leave a table that still decodes; it must not here,
                // because every name then loses its terminator or the last.
                assert!(
                    found.is_none(),
                    "{version:?} {target:?} cut at {cut} decoded"
                );
            }
        }
    }
}

/// Overwrite the word-sized (or `u32`) value at `offset`.
fn patch(table: &mut [u8], offset: usize, value: u64, size: usize, big_endian: bool) {
    let bytes = if big_endian {
        value.to_be_bytes()
    } else {
        value.to_le_bytes()
    };
    let bytes = if big_endian {
        &bytes[8 - size..]
    } else {
        &bytes[..size]
    };
    table[offset..offset + size].copy_from_slice(bytes);
}

#[test]
fn hostile_headers_are_rejected_without_allocating() {
    for version in VERSIONS {
        for target in TARGETS {
            let ptr = usize::from(target.ptr_size);
            let base = encode(version, target.big_endian, target.ptr_size, TEXT_START);
            // A function count far beyond the data: rejected before any
            // allocation sized by it (a huge `Vec::with_capacity` would abort).
            for nfunc in [u64::from(u32::MAX), 1 << 40, u64::MAX] {
                let mut table = base.clone();
                let nfunc = if ptr == 4 { nfunc & 0xffff_ffff } else { nfunc };
                patch(&mut table, 8, nfunc, ptr, target.big_endian);
                assert!(read_pclntab(&[section(".gopclntab", &table)], target).is_none());
            }
            // Zero functions, bad pointer size, bad quantum, nonzero padding.
            for (offset, value, size) in [(8, 0, ptr), (7, 3, 1), (6, 3, 1), (4, 1, 1)] {
                let mut table = base.clone();
                patch(&mut table, offset, value, size, target.big_endian);
                assert!(read_pclntab(&[section(".gopclntab", &table)], target).is_none());
            }
            // Every header word (table offsets) pointed past the end.
            let words = match version {
                PclntabVersion::Go12 => 1,
                PclntabVersion::Go116 => 7,
                _ => 8,
            };
            let relative = matches!(version, PclntabVersion::Go118 | PclntabVersion::Go120);
            // (`textStart`, word 2 from Go 1.18 on, is a value, not an offset.)
            for word in (1..words).filter(|&word| !(relative && word == 2)) {
                let mut table = base.clone();
                let huge = if ptr == 4 {
                    u64::from(u32::MAX)
                } else {
                    u64::MAX
                };
                patch(&mut table, 8 + word * ptr, huge, ptr, target.big_endian);
                let found = read_pclntab(&[section(".gopclntab", &table)], target);
                // nfiles, cuOffset, filetabOffset and pctabOffset are not
                // needed for names and sizes; the others must break decoding.
                if let Some(found) = found {
                    assert_eq!(
                        found.functions,
                        expected_functions(),
                        "{version:?} word {word}"
                    );
                }
            }
        }
    }
}

#[test]
fn inconsistent_functabs_are_rejected() {
    let target = Target {
        big_endian: false,
        ptr_size: 8,
    };
    let base = encode(PclntabVersion::Go120, false, 8, TEXT_START);
    let functab = 8 + 8 * 8 + FUNCTIONS.iter().map(|(n, _)| n.len() + 1).sum::<usize>();
    // Entries out of order.
    let mut table = base.clone();
    patch(&mut table, functab + 8, 0x300, 4, false);
    assert!(read_pclntab(&[section(".gopclntab", &table)], target).is_none());
    // A func offset out of range.
    let mut table = base.clone();
    patch(&mut table, functab + 4, 0xffff_fff0, 4, false);
    assert!(read_pclntab(&[section(".gopclntab", &table)], target).is_none());
    // A _func record whose entry disagrees with the functab.
    let mut table = base.clone();
    let first_record = functab + (2 * FUNCTIONS.len() + 1) * 4;
    patch(&mut table, first_record, 0x8, 4, false);
    assert!(read_pclntab(&[section(".gopclntab", &table)], target).is_none());
    // A name offset past the name table's data.
    let mut table = base.clone();
    patch(&mut table, first_record + 4, 0x7fff_ffff, 4, false);
    assert!(read_pclntab(&[section(".gopclntab", &table)], target).is_none());
    // End of text before the last entry.
    let mut table = base;
    patch(
        &mut table,
        functab + 2 * FUNCTIONS.len() * 4,
        0x10,
        4,
        false,
    );
    assert!(read_pclntab(&[section(".gopclntab", &table)], target).is_none());
}

#[test]
fn random_corruption_never_panics() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for version in VERSIONS {
        for target in TARGETS {
            let base = encode(version, target.big_endian, target.ptr_size, TEXT_START);
            for _ in 0..500 {
                let mut table = base.clone();
                for _ in 0..1 + next() % 4 {
                    let index = usize::try_from(next()).unwrap() % table.len();
                    table[index] = u8::try_from(next() & 0xff).unwrap();
                }
                let cut = usize::try_from(next()).unwrap() % (table.len() + 1);
                let data = if next() % 4 == 0 {
                    &table[..cut]
                } else {
                    &table[..]
                };
                for name in [".gopclntab", ".data.rel.ro"] {
                    if let Some(found) = read_pclntab(&[section(name, data)], target) {
                        let total: u64 = found.functions.iter().map(|f| f.size).sum();
                        assert!(total <= u64::from(u32::MAX));
                        assert!(found.functions.windows(2).all(|w| w[0].entry <= w[1].entry));
                    }
                }
            }
        }
    }
}

#[test]
fn empty_and_tiny_inputs_have_no_table() {
    let target = Target {
        big_endian: false,
        ptr_size: 8,
    };
    assert!(read_pclntab(&[], target).is_none());
    for len in 0..64 {
        let zeros = vec![0u8; len];
        let ones = vec![0xffu8; len];
        assert!(read_pclntab(&[section(".gopclntab", &zeros)], target).is_none());
        assert!(read_pclntab(&[section(".rdata", &ones)], target).is_none());
    }
}
