//! ELF: header, program and section header tables, and the strip model
//! (`strip --strip-all` keeps every loaded byte in place, drops symbol
//! tables, debug sections and non-loaded relocations, then lays the kept
//! non-loaded sections, `.shstrtab` and the section header table out again).

use object::read::elf::{ElfFile, FileHeader, ProgramHeader, SectionHeader};
use object::{Endianness, Object};

use super::Shipped;
use crate::report::{Section, SectionKind};
use crate::sections::{PseudoRange, SectionInfo, align_up};

const SHF_ALLOC: u64 = 0x2;
const PT_LOAD: u32 = 1;
/// Largest segment alignment we believe (64 KiB pages, with room to spare).
const MAX_PAGE: u64 = 1 << 20;

/// A Go binary linked by Go's internal linker: Go sections, and no
/// `.comment` (external linkers add one from the C runtime objects).
fn go_internal_link(sections: &[SectionInfo<'_>]) -> bool {
    let has = |name: &str| sections.iter().any(|s| s.raw_name == name);
    (has(".gopclntab") || has(".go.buildinfo")) && !has(".comment")
}

/// Header, program headers and section header table.
pub(super) fn structures<Elf: FileHeader<Endian = Endianness>>(
    elf: &ElfFile<'_, Elf>,
) -> Vec<PseudoRange> {
    let endian = elf.endian();
    let header = elf.elf_header();
    let mut out = vec![PseudoRange {
        name: "[headers]",
        kind: SectionKind::Other,
        offset: 0,
        size: u64::from(header.e_ehsize(endian)),
    }];
    let phoff: u64 = header.e_phoff(endian).into();
    let phnum = elf.elf_program_headers().len() as u64;
    out.push(PseudoRange {
        name: "[headers]",
        kind: SectionKind::Other,
        offset: phoff,
        size: phnum.saturating_mul(u64::from(header.e_phentsize(endian))),
    });
    let shoff: u64 = header.e_shoff(endian).into();
    let shnum = elf.elf_section_table().len() as u64;
    out.push(PseudoRange {
        name: "[section headers]",
        kind: SectionKind::Other,
        offset: shoff,
        size: shnum.saturating_mul(u64::from(header.e_shentsize(endian))),
    });
    out
}

/// Apply the strip model; sets `shipped` on every section.
pub(super) fn shipped<Elf: FileHeader<Endian = Endianness>>(
    elf: &ElfFile<'_, Elf>,
    sections: &mut [SectionInfo<'_>],
    partition: &[Section],
    file_len: u64,
) -> Shipped {
    let endian = elf.endian();
    let header = elf.elf_header();
    let table = elf.elf_section_table();
    if table.is_empty() {
        // No section headers: strip has nothing to remove.
        for s in sections.iter_mut() {
            s.shipped = s.share;
        }
        let pseudo = partition
            .iter()
            .filter(|p| p.name.starts_with('['))
            .map(|p| (p.name.clone(), p.file_size))
            .collect();
        return Shipped {
            pseudo,
            total: file_len,
        };
    }
    let alloc: Vec<bool> = sections
        .iter()
        .map(|s| {
            let flags: u64 = table
                .section(s.index)
                .map(|h| h.sh_flags(endian).0)
                .unwrap_or(0);
            flags & SHF_ALLOC != 0
        })
        .collect();
    let (loaded_end, page) = loaded_image(elf, sections, &alloc);
    let loaded_end = loaded_end.min(file_len);
    let removed: Vec<bool> = sections
        .iter()
        .zip(&alloc)
        .map(|(s, &alloc)| {
            !alloc
                && matches!(
                    s.kind,
                    SectionKind::Debug | SectionKind::Symbols | SectionKind::Relocations
                )
        })
        .collect();
    let (kept_count, cursor) = lay_out_kept(sections, &removed, loaded_end);
    let bracketed = |name: &str| -> u64 {
        partition
            .iter()
            .filter(|p| p.name == name)
            .map(|p| p.file_size)
            .sum()
    };
    // Headers inside the loaded image ship as they are.
    let headers = bracketed("[headers]");
    // Never more than the table there is (a corrupt entry size could say so).
    let section_headers = kept_count
        .saturating_mul(u64::from(header.e_shentsize(endian)))
        .min(bracketed("[section headers]"));
    let word = if elf.is_64() { 8 } else { 4 };
    let total = if go_internal_link(sections) {
        // Go's own linker, with `-s -w`, writes the loaded segments (its
        // section headers go inside them) and pads the file to the segment
        // alignment; nothing follows.
        align_up(loaded_end, page.min(MAX_PAGE))
    } else {
        align_up(cursor, word).saturating_add(section_headers)
    };
    Shipped {
        pseudo: vec![
            ("[headers]".to_string(), headers.min(loaded_end)),
            ("[section headers]".to_string(), section_headers),
        ],
        total,
    }
}

/// The end of the loaded image in the file (everything up to it stays
/// where it is: headers, program headers, segments, allocated sections)
/// and the largest `PT_LOAD` alignment.
fn loaded_image<Elf: FileHeader<Endian = Endianness>>(
    elf: &ElfFile<'_, Elf>,
    sections: &[SectionInfo<'_>],
    alloc: &[bool],
) -> (u64, u64) {
    let endian = elf.endian();
    let header = elf.elf_header();
    let mut loaded_end = u64::from(header.e_ehsize(endian));
    let phoff: u64 = header.e_phoff(endian).into();
    let phdrs = elf.elf_program_headers();
    if !phdrs.is_empty() {
        let phsize = (phdrs.len() as u64).saturating_mul(u64::from(header.e_phentsize(endian)));
        loaded_end = loaded_end.max(phoff.saturating_add(phsize));
    }
    let mut page = 1u64;
    for ph in phdrs {
        let offset: u64 = ph.p_offset(endian).into();
        let filesz: u64 = ph.p_filesz(endian).into();
        loaded_end = loaded_end.max(offset.saturating_add(filesz));
        if ph.p_type(endian).0 == PT_LOAD {
            page = page.max(ph.p_align(endian).into());
        }
    }
    for (s, &alloc) in sections.iter().zip(alloc) {
        if alloc && let Some((offset, size)) = s.file_range {
            loaded_end = loaded_end.max(offset + size);
        }
    }
    (loaded_end, page)
}

/// Set `shipped` on every section: bytes inside the loaded image as they
/// are, removed sections 0, kept ones laid out after the image in file
/// order (`.shstrtab` at its size once the removed names are gone).
/// Returns the number of section headers kept (with the null one) and the
/// end of the last kept section.
fn lay_out_kept(sections: &mut [SectionInfo<'_>], removed: &[bool], loaded_end: u64) -> (u64, u64) {
    let kept_names: Vec<&str> = sections
        .iter()
        .zip(removed)
        .filter(|&(s, &removed)| !removed && !s.name.is_empty())
        .map(|(s, _)| s.name.as_str())
        .collect();
    let kept_count = 1 + kept_names.len() as u64;
    let shstrtab_size = merged_string_table_size(&kept_names);
    let shstrtab_index = sections
        .iter()
        .find(|s| s.name == ".shstrtab")
        .map(|s| s.index)
        .filter(|_| kept_count > 1);
    let mut cursor = loaded_end;
    let mut order: Vec<usize> = (0..sections.len()).collect();
    order.sort_by_key(|&i| sections[i].file_range.map_or(0, |r| r.0));
    for i in order {
        let s = &sections[i];
        let in_image = s
            .file_range
            .is_some_and(|(offset, size)| offset + size <= loaded_end);
        let shipped = if removed[i] {
            0
        } else if in_image {
            s.share
        } else if s.file_range.is_none() {
            0
        } else {
            let size = if Some(s.index) == shstrtab_index {
                shstrtab_size.min(s.share)
            } else {
                s.share
            };
            cursor = align_up(cursor, s.align).saturating_add(size);
            size
        };
        sections[i].shipped = shipped;
    }
    (kept_count, cursor)
}

/// Size of a string table holding `names` with suffix merging, as linkers
/// and objcopy write it (`.text` is stored inside `.rela.text`).
fn merged_string_table_size(names: &[&str]) -> u64 {
    // Reversed, a suffix becomes a prefix, and sorting puts a prefix right
    // before the names that extend it.
    let mut reversed: Vec<Vec<u8>> = names.iter().map(|n| n.bytes().rev().collect()).collect();
    reversed.sort_unstable();
    reversed.dedup();
    let mut size = 1u64;
    for (i, name) in reversed.iter().enumerate() {
        let is_suffix = reversed
            .get(i + 1)
            .is_some_and(|next| next.starts_with(name));
        if !is_suffix {
            size += name.len() as u64 + 1;
        }
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_table_merges_suffixes() {
        // "\0.rela.text\0.data\0" holds .text inside .rela.text.
        assert_eq!(
            merged_string_table_size(&[".text", ".rela.text", ".data"]),
            1 + 11 + 6
        );
        assert_eq!(merged_string_table_size(&[]), 1);
    }
}
