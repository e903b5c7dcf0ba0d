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
    crate::Error::Malformed { format: "Mach-O", message: message.to_string() }
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
        containers.push(PseudoRange { name: "[__LINKEDIT]", kind: SectionKind::Dynamic, offset, size });
    }
}

/// The strip model: debug sections go; of the symbol table only the
/// undefined symbols (imports dyld binds) and their names stay.
pub(super) fn shipped(
    file: &object::File<'_>,
    sections: &mut [SectionInfo<'_>],
    partition: &[Section],
) -> Shipped {
    let is_64 = file.is_64();
    let nlist_size: u64 = if is_64 { 16 } else { 12 };
    let (mut kept_symbols, mut kept_strings) = (0u64, 1u64);
    for symbol in file.symbols().filter(|s| s.is_undefined()) {
        kept_symbols += 1;
        kept_strings += symbol.name_bytes().map_or(0, |n| n.len() as u64 + 1);
    }
    subtractive(
        sections,
        partition,
        &[
            ("[symbol table]", kept_symbols * nlist_size),
            ("[string table]", kept_strings),
        ],
    )
}
