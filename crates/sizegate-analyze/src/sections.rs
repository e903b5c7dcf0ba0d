//! Sections of an image: their classification, and the partition of the
//! file's bytes into sections plus bracketed pseudo-sections (`[headers]`,
//! `[padding]`, `[unmapped]`...) whose sizes add up to exactly the file size.

use object::{Object, ObjectSection};

use crate::report::{Section, SectionKind};

/// One real section of the file, as the rest of the analyzer sees it.
#[derive(Debug, Clone)]
pub(crate) struct SectionInfo<'data> {
    /// Display name (Mach-O: `__TEXT,__text`).
    pub name: String,
    /// Name as stored in the file (Mach-O: `__text`).
    pub raw_name: String,
    /// Size in memory, or in the file for sections that are not loaded.
    pub size: u64,
    /// Classification.
    pub kind: SectionKind,
    /// Index in the object file, to match symbols to it.
    pub index: object::SectionIndex,
    /// Virtual address of its first byte.
    pub address: u64,
    /// Bytes in memory once loaded (0 when not allocated).
    pub vm_size: u64,
    /// Offset and size in the file, clipped to the file; `None` for bss-like.
    pub file_range: Option<(u64, u64)>,
    /// Required alignment.
    pub align: u64,
    /// Its bytes in the file (empty when it has none or they are out of bounds).
    pub data: &'data [u8],
    /// File bytes charged to it in the partition (less than the range only
    /// when sections overlap).
    pub share: u64,
    /// Bytes of it that survive stripping (set by the format's strip model).
    pub shipped: u64,
}

impl SectionInfo<'_> {
    /// Bytes from the section's address that symbols may cover.
    pub fn extent(&self) -> u64 {
        self.size.max(self.share)
    }

    /// Bytes from the section's address that survive stripping.
    pub fn shipped_extent(&self) -> u64 {
        self.shipped
    }

    /// Whether `address` falls inside the section.
    pub fn contains(&self, address: u64) -> bool {
        address >= self.address && address - self.address < self.extent()
    }
}

/// A run of bytes outside any section, with the pseudo-section name it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PseudoRange {
    /// Bracketed name, e.g. `[headers]`.
    pub name: &'static str,
    /// Classification.
    pub kind: SectionKind,
    /// File offset.
    pub offset: u64,
    /// Length in bytes.
    pub size: u64,
}

/// How a format names the gaps no section or known structure covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GapNaming {
    /// All-zero gaps are `[padding]`, others `[unmapped]`.
    ZeroIsPadding,
    /// Every gap is a section header (WebAssembly: id and length bytes).
    SectionHeaders,
}

/// Read the sections of an object file, classified, with file ranges clipped
/// to the file. `share` and `shipped` are filled in later.
pub(crate) fn read_sections<'data>(
    file: &object::File<'data>,
    file_len: u64,
) -> Vec<SectionInfo<'data>> {
    let is_macho = matches!(file, object::File::MachO32(_) | object::File::MachO64(_));
    let is_wasm = matches!(file, object::File::Wasm(_));
    let mut out = Vec::new();
    for section in file.sections() {
        let raw_name = section.name().unwrap_or("");
        let segment = section.segment_name().ok().flatten();
        let name = match (is_macho, segment) {
            (true, Some(seg)) => format!("{seg},{raw_name}"),
            _ => raw_name.to_string(),
        };
        let kind = classify(raw_name, segment, section.kind());
        // object 0.40 gives WebAssembly ranges as (start, end); the section's
        // data has the right length.
        let range = match (is_wasm, section.file_range()) {
            (true, Some((offset, _))) => {
                Some((offset, section.data().map_or(0, |d| d.len() as u64)))
            }
            (_, range) => range,
        };
        let file_range = range.and_then(|(offset, size)| {
            let end = offset.saturating_add(size).min(file_len);
            (offset < end).then(|| (offset, end - offset))
        });
        let data = match file_range {
            Some(_) => section.data().unwrap_or(&[]),
            None => &[],
        };
        let vm_size = if section.address() != 0 && !matches!(kind, SectionKind::Debug) {
            section.size()
        } else {
            0
        };
        out.push(SectionInfo {
            name,
            raw_name: raw_name.to_string(),
            size: section.size(),
            kind,
            index: section.index(),
            address: section.address(),
            vm_size,
            file_range,
            align: section.align(),
            data,
            share: 0,
            shipped: 0,
        });
    }
    out
}

/// Name prefixes (after `.` or `__`) of unwind tables.
const UNWIND: &[&str] = &[
    "eh_frame",
    "gcc_except_tab",
    "unwind_info",
    "ARM.exidx",
    "ARM.extab",
    "pdata",
    "xdata",
];
/// Name prefixes of Go runtime metadata.
const GO_RUNTIME: &[&str] = &[
    "gopclntab",
    "go.buildinfo",
    "go_buildinfo",
    "typelink",
    "itablink",
    "go.fuzzcntrs",
    "noptrdata.go",
];
/// Name prefixes of dynamic linking sections.
const DYNAMIC: &[&str] = &[
    "dynsym",
    "dynstr",
    "dynamic",
    "plt",
    "got",
    "gnu.hash",
    "hash",
    "gnu.version",
    "interp",
    "idata",
    "edata",
    "stubs",
    "stub_helper",
    "la_symbol_ptr",
    "nl_symbol_ptr",
    "import",
    "export",
];
/// Name prefixes of data that `object` may call something else.
const DATA: &[&str] = &[
    "init_array",
    "fini_array",
    "preinit_array",
    "data.rel.ro",
    "tdata",
];

/// Classify a section by its name (which says most) and `object`'s kind.
pub(crate) fn classify(
    name: &str,
    segment: Option<&str>,
    kind: object::SectionKind,
) -> SectionKind {
    let name = name.trim_start_matches('.').trim_start_matches("__");
    by_name(name, segment).unwrap_or_else(|| by_object_kind(kind))
}

/// The kind a section's name (without `.` or `__`) says, if any.
fn by_name(name: &str, segment: Option<&str>) -> Option<SectionKind> {
    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| name.starts_with(p));
    let kind = if segment == Some("__DWARF") || starts(&["debug", "zdebug", "gdb_index", "stab"]) {
        SectionKind::Debug
    } else if matches!(
        name,
        "symtab" | "strtab" | "symtab_shndx" | "name" | "gosymtab"
    ) {
        SectionKind::Symbols
    } else if starts(UNWIND) {
        SectionKind::Unwind
    } else if starts(GO_RUNTIME) {
        SectionKind::GoRuntime
    } else if starts(&["rela", "rel.", "reloc"]) || name == "rel" {
        SectionKind::Relocations
    } else if starts(DYNAMIC) {
        SectionKind::Dynamic
    } else if name.starts_with('<') {
        // WebAssembly standard sections, as `object` names them.
        match name {
            "<code>" => SectionKind::Code,
            "<data>" | "<element>" | "<global>" => SectionKind::Data,
            "<import>" | "<export>" => SectionKind::Dynamic,
            _ => SectionKind::Other,
        }
    } else if starts(DATA) {
        SectionKind::Data
    } else {
        return None;
    };
    Some(kind)
}

/// The kind `object` gives, for a name that says nothing.
fn by_object_kind(kind: object::SectionKind) -> SectionKind {
    use object::SectionKind as K;
    match kind {
        K::Text => SectionKind::Code,
        K::ReadOnlyData | K::ReadOnlyString | K::ReadOnlyDataWithRel => SectionKind::Rodata,
        K::Data | K::Tls => SectionKind::Data,
        K::UninitializedData | K::UninitializedTls => SectionKind::Bss,
        K::Debug | K::DebugString => SectionKind::Debug,
        _ => SectionKind::Other,
    }
}

/// Partition the file's bytes. Each byte goes to the first section (or
/// known structure) that covers it, in file order; bytes nothing covers
/// become pseudo-sections, named after the container holding them (Mach-O
/// `[__LINKEDIT]`) or else `[headers]`, `[padding]` or `[unmapped]`. Sets `share` on every section. The result's
/// `file_size` sums to exactly `bytes.len()`.
pub(crate) fn partition(
    bytes: &[u8],
    sections: &mut [SectionInfo<'_>],
    structures: &[PseudoRange],
    containers: &[PseudoRange],
    gaps: GapNaming,
) -> Vec<Section> {
    let file_len = bytes.len() as u64;
    let pieces = pieces(file_len, sections, structures);
    let mut pseudo = Pseudo::default();
    let gaps = Gaps {
        bytes,
        containers,
        naming: gaps,
    };
    let mut cursor = 0u64;
    for (offset, size, piece) in pieces {
        let end = offset + size;
        if offset > cursor {
            gaps.fill(cursor, offset, &mut pseudo);
        }
        let start = offset.max(cursor);
        let charged = end.saturating_sub(start);
        match piece {
            Piece::Section(i) => sections[i].share += charged,
            Piece::Structure(i) => pseudo.add(structures[i].name, structures[i].kind, charged),
        }
        cursor = cursor.max(end);
    }
    gaps.fill(cursor, file_len, &mut pseudo);

    let mut out: Vec<Section> = sections
        .iter()
        .map(|s| Section {
            name: s.name.clone(),
            kind: s.kind,
            file_size: s.share,
            vm_size: s.vm_size,
        })
        .collect();
    out.extend(pseudo.0.into_iter().map(|(name, kind, size)| Section {
        name: name.to_string(),
        kind,
        file_size: size,
        vm_size: 0,
    }));
    out
}

/// Sections and structures by file offset: (offset, size, which), larger
/// first at equal offsets so a container wins over what it holds.
fn pieces(
    file_len: u64,
    sections: &[SectionInfo<'_>],
    structures: &[PseudoRange],
) -> Vec<(u64, u64, Piece)> {
    let mut pieces: Vec<(u64, u64, Piece)> = Vec::with_capacity(sections.len() + structures.len());
    for (i, s) in sections.iter().enumerate() {
        if let Some((offset, size)) = s.file_range {
            pieces.push((offset, size, Piece::Section(i)));
        }
    }
    for (i, r) in structures.iter().enumerate() {
        let end = r.offset.saturating_add(r.size).min(file_len);
        if r.offset < end {
            pieces.push((r.offset, end - r.offset, Piece::Structure(i)));
        }
    }
    pieces.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    pieces
}

/// Pseudo-sections by name, in the order first met.
#[derive(Default)]
struct Pseudo(Vec<(&'static str, SectionKind, u64)>);

impl Pseudo {
    fn add(&mut self, name: &'static str, kind: SectionKind, size: u64) {
        if size == 0 {
            return;
        }
        match self.0.iter_mut().find(|p| p.0 == name) {
            Some(p) => p.2 += size,
            None => self.0.push((name, kind, size)),
        }
    }
}

/// How the bytes between pieces are named.
struct Gaps<'a> {
    bytes: &'a [u8],
    containers: &'a [PseudoRange],
    naming: GapNaming,
}

impl Gaps<'_> {
    /// Charge `[from, to)`: to the containers holding its bytes, the rest
    /// by `default_gap_name`.
    fn fill(&self, from: u64, to: u64, pseudo: &mut Pseudo) {
        let mut from = from;
        while from < to {
            let inside = self
                .containers
                .iter()
                .find(|c| c.offset <= from && from < c.offset.saturating_add(c.size));
            let (end, name, kind) = match inside {
                Some(c) => (to.min(c.offset.saturating_add(c.size)), c.name, c.kind),
                None => {
                    let next = self
                        .containers
                        .iter()
                        .map(|c| c.offset)
                        .filter(|&o| o > from)
                        .min()
                        .unwrap_or(to)
                        .min(to);
                    let name = default_gap_name(self.bytes, from, next, self.naming);
                    (next, name, SectionKind::Other)
                }
            };
            pseudo.add(name, kind, end - from);
            from = end;
        }
    }
}

/// Name of a gap outside any container: `[headers]` at the start of the
/// file, else as the format names its gaps.
fn default_gap_name(bytes: &[u8], from: u64, to: u64, gaps: GapNaming) -> &'static str {
    if from == 0 {
        return "[headers]";
    }
    match gaps {
        GapNaming::SectionHeaders => "[section headers]",
        GapNaming::ZeroIsPadding => {
            let slice = usize::try_from(from)
                .ok()
                .zip(usize::try_from(to).ok())
                .and_then(|(f, t)| bytes.get(f..t))
                .unwrap_or(&[]);
            if slice.iter().all(|&b| b == 0) {
                "[padding]"
            } else {
                "[unmapped]"
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Piece {
    Section(usize),
    Structure(usize),
}

/// Round `value` up to a multiple of `align` (no-op for 0 or 1).
pub(crate) fn align_up(value: u64, align: u64) -> u64 {
    if align <= 1 {
        return value;
    }
    value.div_ceil(align).saturating_mul(align)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_by_name() {
        use object::SectionKind as K;
        assert_eq!(classify(".debug_info", None, K::Debug), SectionKind::Debug);
        assert_eq!(classify(".symtab", None, K::Metadata), SectionKind::Symbols);
        assert_eq!(
            classify(".eh_frame", None, K::ReadOnlyData),
            SectionKind::Unwind
        );
        assert_eq!(
            classify(".gopclntab", None, K::ReadOnlyData),
            SectionKind::GoRuntime
        );
        assert_eq!(
            classify(".rela.dyn", None, K::Metadata),
            SectionKind::Relocations
        );
        assert_eq!(classify(".dynsym", None, K::Metadata), SectionKind::Dynamic);
        assert_eq!(
            classify("__text", Some("__TEXT"), K::Text),
            SectionKind::Code
        );
        assert_eq!(
            classify("__debug_info", Some("__DWARF"), K::Debug),
            SectionKind::Debug
        );
        assert_eq!(
            classify(".bss", None, K::UninitializedData),
            SectionKind::Bss
        );
    }

    #[test]
    fn align_rounds_up() {
        assert_eq!(align_up(0, 8), 0);
        assert_eq!(align_up(1, 8), 8);
        assert_eq!(align_up(9, 1), 9);
        assert_eq!(align_up(u64::MAX, 8), u64::MAX);
    }
}

#[cfg(test)]
mod partition_tests {
    use super::*;

    fn info(name: &str, offset: u64, size: u64) -> SectionInfo<'static> {
        SectionInfo {
            name: name.into(),
            raw_name: name.into(),
            size,
            kind: SectionKind::Data,
            index: object::SectionIndex(1),
            address: 0,
            vm_size: 0,
            file_range: Some((offset, size)),
            align: 1,
            data: &[],
            share: 0,
            shipped: 0,
        }
    }

    #[test]
    fn overlaps_gaps_and_containers_add_up_to_the_file() {
        let mut bytes = vec![0u8; 200];
        bytes[150] = 1; // a non-zero gap byte outside any container
        let mut sections = vec![info(".a", 16, 40), info(".b", 40, 30), info(".c", 100, 10)];
        let structures = [PseudoRange {
            name: "[symbol table]",
            kind: SectionKind::Symbols,
            offset: 180,
            size: 500,
        }];
        let containers = [PseudoRange {
            name: "[__LINKEDIT]",
            kind: SectionKind::Dynamic,
            offset: 110,
            size: 30,
        }];
        let out = partition(
            &bytes,
            &mut sections,
            &structures,
            &containers,
            GapNaming::ZeroIsPadding,
        );
        let size = |name: &str| out.iter().find(|s| s.name == name).map(|s| s.file_size);
        assert_eq!(out.iter().map(|s| s.file_size).sum::<u64>(), 200);
        assert_eq!(size("[headers]"), Some(16));
        assert_eq!(
            (size(".a"), size(".b"), size(".c")),
            (Some(40), Some(14), Some(10))
        );
        assert_eq!(size("[padding]"), Some(30)); // 70..100
        assert_eq!(size("[__LINKEDIT]"), Some(30)); // 110..140
        assert_eq!(size("[unmapped]"), Some(40)); // 140..180, holds the 1
        assert_eq!(size("[symbol table]"), Some(20)); // clipped to the file
    }
}
