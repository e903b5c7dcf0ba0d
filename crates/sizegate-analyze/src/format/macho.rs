//! Mach-O: header and load commands, the `LC_SYMTAB` symbol and string
//! tables, the rest of `__LINKEDIT`, and the strip model (debug sections go,
//! the symbol table keeps only the undefined symbols dyld binds).

use object::macho::{SegmentCommand32, SegmentCommand64};
use object::read::macho::{LoadCommandVariant, MachHeader, MachOFile};
use object::{Endianness, Object, ObjectSymbol};

use super::{Shipped, subtractive};
use crate::report::{Section, SectionKind};
use crate::sections::{PseudoRange, SectionInfo};

fn malformed(message: impl std::fmt::Display) -> crate::Error {
    crate::Error::Malformed {
        format: "Mach-O",
        message: message.to_string(),
    }
}

/// Known structures (header, load commands, symbol and string tables) and
/// containers (`__LINKEDIT`) outside the sections.
pub(super) fn structures<Mach: MachHeader<Endian = Endianness>>(
    file: &MachOFile<'_, Mach>,
) -> Result<(Vec<PseudoRange>, Vec<PseudoRange>), crate::Error> {
    let endian = file.endian();
    let header = file.macho_header();
    let header_size = if header.is_type_64() { 32 } else { 28 };
    let mut structures = vec![PseudoRange {
        name: "[headers]",
        kind: SectionKind::Other,
        offset: 0,
        size: header_size + u64::from(header.sizeofcmds(endian)),
    }];
    let mut containers = Vec::new();
    let nlist_size: u64 = if header.is_type_64() { 16 } else { 12 };
    let mut commands = file.macho_load_commands().map_err(malformed)?;
    while let Some(command) = commands.next().map_err(malformed)? {
        match command.variant().map_err(malformed)? {
            LoadCommandVariant::Symtab(symtab) => {
                structures.push(PseudoRange {
                    name: "[symbol table]",
                    kind: SectionKind::Symbols,
                    offset: symtab.symoff.get(endian).into(),
                    size: u64::from(symtab.nsyms.get(endian)) * nlist_size,
                });
                structures.push(PseudoRange {
                    name: "[string table]",
                    kind: SectionKind::Symbols,
                    offset: symtab.stroff.get(endian).into(),
                    size: symtab.strsize.get(endian).into(),
                });
            }
            LoadCommandVariant::Segment32(segment, _) => {
                push_linkedit(&mut containers, segment_range32(segment, endian));
            }
            LoadCommandVariant::Segment64(segment, _) => {
                push_linkedit(&mut containers, segment_range64(segment, endian));
            }
            _ => {}
        }
    }
    Ok((structures, containers))
}

fn segment_range32(s: &SegmentCommand32<Endianness>, e: Endianness) -> ([u8; 16], u64, u64) {
    (s.segname, s.fileoff.get(e).into(), s.filesize.get(e).into())
}

fn segment_range64(s: &SegmentCommand64<Endianness>, e: Endianness) -> ([u8; 16], u64, u64) {
    (s.segname, s.fileoff.get(e), s.filesize.get(e))
}

fn push_linkedit(containers: &mut Vec<PseudoRange>, (name, offset, size): ([u8; 16], u64, u64)) {
    if name.starts_with(b"__LINKEDIT\0") {
        containers.push(PseudoRange {
            name: "[__LINKEDIT]",
            kind: SectionKind::Dynamic,
            offset,
            size,
        });
    }
}

/// Page size the code signature hashes (one SHA-256 per page).
const SIGNATURE_PAGE: u64 = 4096;
const SIGNATURE_HASH: u64 = 32;

/// The strip model. The `__DWARF` segment goes, up to where the next
/// segment starts (segments are page-aligned), and the code signature
/// shrinks with the file. `strip` also empties the symbol table down to the
/// undefined symbols dyld binds; Go's `-s` keeps the symbol table on Mach-O.
pub(super) fn shipped<Mach: MachHeader<Endian = Endianness>>(
    file: &MachOFile<'_, Mach>,
    sections: &mut [SectionInfo<'_>],
    partition: &[Section],
    file_len: u64,
) -> Shipped {
    let go = sections
        .iter()
        .any(|s| s.raw_name == "__gopclntab" || s.raw_name == "__go_buildinfo");
    let (segments, signature_offset) = segments_and_signature(file);
    let dwarf_span = dwarf_span(&segments, file_len);
    let signature_shrink = match signature_offset {
        Some(signed) if dwarf_span > 0 => {
            let pages = |bytes: u64| bytes.div_ceil(SIGNATURE_PAGE);
            (pages(signed) - pages(signed.saturating_sub(dwarf_span))) * SIGNATURE_HASH
        }
        _ => 0,
    };
    let (reduced, symbol_shrink) = symbol_tables(file, partition, go);
    let mut shipped = subtractive(sections, partition, &reduced);
    shipped.total = file_len
        .saturating_sub(dwarf_span.max(debug_bytes(sections)))
        .saturating_sub(signature_shrink)
        .saturating_sub(symbol_shrink);
    shipped
}

/// A segment's name, file offset and file size.
type SegmentRange = ([u8; 16], u64, u64);

/// The segments and the code signature's file offset.
fn segments_and_signature<Mach: MachHeader<Endian = Endianness>>(
    file: &MachOFile<'_, Mach>,
) -> (Vec<SegmentRange>, Option<u64>) {
    let endian = file.endian();
    let mut segments: Vec<SegmentRange> = Vec::new();
    let mut signature_offset = None;
    if let Ok(mut commands) = file.macho_load_commands() {
        while let Ok(Some(command)) = commands.next() {
            match command.variant() {
                Ok(LoadCommandVariant::Segment32(segment, _)) => {
                    segments.push(segment_range32(segment, endian))
                }
                Ok(LoadCommandVariant::Segment64(segment, _)) => {
                    segments.push(segment_range64(segment, endian))
                }
                Ok(LoadCommandVariant::LinkeditData(data))
                    if command.cmd() == object::macho::LC_CODE_SIGNATURE =>
                {
                    signature_offset = Some(u64::from(data.dataoff.get(endian)));
                }
                _ => {}
            }
        }
    }
    (segments, signature_offset)
}

/// The DWARF segment's span: from its start to the next segment's start.
fn dwarf_span(segments: &[SegmentRange], file_len: u64) -> u64 {
    let mut span = 0u64;
    for (_, offset, size) in segments.iter().filter(|s| s.0.starts_with(b"__DWARF\0")) {
        let next = segments
            .iter()
            .map(|s| s.1)
            .filter(|&o| o > *offset)
            .min()
            .unwrap_or(offset.saturating_add(*size))
            .min(file_len);
        span += next.saturating_sub(*offset);
    }
    span
}

/// The symbol and string tables' bytes kept, and the bytes `strip` takes
/// from them (none for Go, whose `-s` keeps them).
fn symbol_tables<Mach: MachHeader<Endian = Endianness>>(
    file: &MachOFile<'_, Mach>,
    partition: &[Section],
    go: bool,
) -> (Vec<(&'static str, u64)>, u64) {
    let size_of = |name: &str| -> u64 {
        partition
            .iter()
            .filter(|p| p.name == name)
            .map(|p| p.file_size)
            .sum()
    };
    if go {
        let reduced = ["[symbol table]", "[string table]"]
            .into_iter()
            .map(|name| (name, size_of(name)))
            .collect();
        return (reduced, 0);
    }
    let nlist_size: u64 = if file.is_64() { 16 } else { 12 };
    let (mut kept_symbols, mut kept_strings) = (0u64, 1u64);
    for symbol in file.symbols().filter(|s| s.is_undefined()) {
        kept_symbols += 1;
        kept_strings += symbol.name_bytes().map_or(0, |n| n.len() as u64 + 1);
    }
    let mut reduced = Vec::new();
    let mut symbol_shrink = 0;
    for (name, kept) in [
        ("[symbol table]", kept_symbols * nlist_size),
        ("[string table]", kept_strings),
    ] {
        symbol_shrink += size_of(name).saturating_sub(kept);
        reduced.push((name, kept));
    }
    (reduced, symbol_shrink)
}

/// File bytes of debug sections.
fn debug_bytes(sections: &[SectionInfo<'_>]) -> u64 {
    sections
        .iter()
        .filter(|s| s.kind == SectionKind::Debug)
        .map(|s| s.share)
        .sum()
}
