//! Unwind and exception tables charged to the functions they describe:
//! each `.eh_frame` FDE to the unit of the function at its initial
//! location, each `.gcc_except_table` LSDA (from the FDE's augmentation
//! data up to the next LSDA) to the same unit, and each `.eh_frame_hdr`
//! search-table entry likewise. CIEs, shared by many FDEs, stay
//! `[.eh_frame unattributed]`. A small reader of the DWARF call frame
//! format as `.eh_frame` uses it (LSB, "Exception Frames"): every read is
//! bounds-checked and every loop is bounded by the section's size.

use std::collections::HashMap;

use crate::demangle::Demangled;
use crate::format::Layout;
use crate::go::Layout as Words;
use crate::go_units::Region;
use crate::report::SectionKind;
use crate::symbols::PlacedSymbol;

/// `DW_EH_PE_omit`.
const OMIT: u8 = 0xff;

/// Who owns a code address: symbols of code sections by address.
pub(crate) struct Owners<'a> {
    /// (start, end, unit), sorted, without overlaps that matter.
    spans: Vec<(u64, u64, &'a str)>,
}

impl<'a> Owners<'a> {
    pub(crate) fn new(
        layout: &Layout<'_>,
        placed: &[PlacedSymbol],
        names: &'a [Demangled],
    ) -> Self {
        // At most one span per symbol: sized once rather than grown by
        // doubling (it lives through all the Rust passes).
        let mut spans: Vec<(u64, u64, &'a str)> = Vec::with_capacity(placed.len());
        spans.extend(
            placed
                .iter()
                .enumerate()
                .filter(|(_, p)| {
                    p.size > 0
                        && layout
                            .sections
                            .get(p.section)
                            .is_some_and(|s| s.kind == SectionKind::Code)
                })
                .filter_map(|(i, p)| {
                    let unit = names.get(i)?.unit.as_str();
                    Some((p.address, p.address.saturating_add(p.size), unit))
                }),
        );
        spans.sort_unstable();
        Owners { spans }
    }

    /// Add code spans no symbol covers (functions of a stripped file whose
    /// crate was found otherwise).
    pub(crate) fn extend(&mut self, extra: &[(u64, u64, &'a str)]) {
        if extra.is_empty() {
            return;
        }
        self.spans.extend_from_slice(extra);
        self.spans.sort_unstable();
    }

    /// The unit of the code symbol holding `address`.
    pub(crate) fn unit(&self, address: u64) -> Option<&'a str> {
        let i = self.spans.partition_point(|s| s.1 <= address);
        let &(start, _, unit) = self.spans.get(i)?;
        (start <= address).then_some(unit)
    }

    /// Whether a code symbol holds `address`.
    pub(crate) fn covers(&self, address: u64) -> bool {
        self.unit(address).is_some()
    }
}

/// A cursor over one section's bytes at a known address.
struct Reader<'d> {
    data: &'d [u8],
    base: u64,
    at: usize,
    words: Words,
}

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let b = *self.data.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn fixed(&mut self, size: usize) -> Option<u64> {
        let bytes = self.data.get(self.at..self.at.checked_add(size)?)?;
        self.at += size;
        let mut value = 0u64;
        for (i, &b) in bytes.iter().enumerate() {
            let shift = if self.words.big_endian {
                8 * (size - 1 - i)
            } else {
                8 * i
            };
            value |= u64::from(b) << shift;
        }
        Some(value)
    }

    /// The 4-byte word at `at` (the reader moves past it).
    fn u32_at(&mut self, at: usize) -> Option<u32> {
        self.at = at;
        self.fixed(4).map(|v| v as u32)
    }

    fn uleb(&mut self) -> Option<u64> {
        let (value, used) = crate::go::uleb128(self.data.get(self.at..)?)?;
        self.at += used;
        Some(value)
    }

    fn sleb(&mut self) -> Option<i64> {
        let mut value = 0i64;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift < 64 {
                value |= i64::from(b & 0x7f) << shift;
            }
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    value |= -1i64 << shift;
                }
                return Some(value);
            }
            if shift > 70 {
                return None;
            }
        }
    }

    /// A pointer in `encoding` (`DW_EH_PE_*`); `pcrel` is applied,
    /// `datarel` against `data_base`, other applications give `None`.
    fn pointer(&mut self, encoding: u8, data_base: u64) -> Option<u64> {
        let field = self.base.wrapping_add(self.at as u64);
        let value = match encoding & 0x0f {
            0x00 => self.fixed(usize::from(self.words.ptr_size))?,
            0x01 => self.uleb()?,
            0x02 => self.fixed(2)?,
            0x03 => self.fixed(4)?,
            0x04 => self.fixed(8)?,
            0x09 => self.sleb()? as u64,
            0x0a => self.fixed(2)? as u16 as i16 as i64 as u64,
            0x0b => self.fixed(4)? as u32 as i32 as i64 as u64,
            0x0c => self.fixed(8)?,
            _ => return None,
        };
        match encoding & 0x70 {
            0x00 => Some(value),
            0x10 => Some(field.wrapping_add(value)),
            0x30 => Some(data_base.wrapping_add(value)),
            _ => None,
        }
    }
}

/// What a CIE says about its FDEs.
#[derive(Debug, Clone, Copy)]
struct Cie {
    fde_encoding: u8,
    lsda_encoding: u8,
    augmented: bool,
}

fn parse_cie(r: &mut Reader<'_>) -> Option<Cie> {
    let version = r.u8()?;
    let start = r.at;
    let len = r.data.get(start..)?.iter().position(|&b| b == 0)?;
    let augmentation = r.data.get(start..start + len)?.to_vec();
    r.at = start + len + 1;
    if augmentation.starts_with(b"eh") {
        r.fixed(usize::from(r.words.ptr_size))?;
    }
    r.uleb()?;
    r.sleb()?;
    if version == 1 {
        r.u8()?;
    } else {
        r.uleb()?;
    }
    let mut cie = Cie {
        fde_encoding: 0,
        lsda_encoding: OMIT,
        augmented: augmentation.first() == Some(&b'z'),
    };
    if cie.augmented {
        r.uleb()?;
        for &c in &augmentation[1..] {
            match c {
                b'R' => cie.fde_encoding = r.u8()?,
                b'L' => cie.lsda_encoding = r.u8()?,
                b'P' => {
                    let encoding = r.u8()?;
                    r.pointer(encoding & 0x7f, 0)?;
                }
                b'S' | b'B' => {}
                _ => break,
            }
        }
    }
    Some(cie)
}

/// Bytes charged, by section position: (start, end, unit).
type Charged<'a> = Vec<(usize, u64, u64, &'a str)>;

/// What the table readers find: bytes charged, and the LSDAs the tables
/// name with their unit.
#[derive(Default)]
struct Found<'a> {
    charged: Charged<'a>,
    lsdas: Vec<(u64, &'a str)>,
}

/// One unwind table section being read.
struct Table<'s, 'd> {
    /// Position in the layout.
    index: usize,
    section: &'s crate::sections::SectionInfo<'d>,
    words: Words,
}

impl Table<'_, '_> {
    fn reader(&self, at: usize) -> Reader<'_> {
        Reader {
            data: self.section.data,
            base: self.section.address,
            at,
            words: self.words,
        }
    }

    fn address(&self, at: usize) -> u64 {
        self.section.address.saturating_add(at as u64)
    }
}

/// Regions charging the unwind tables of ELF and Mach-O images.
pub(crate) fn regions(layout: &Layout<'_>, words: Words, owners: &Owners<'_>) -> Vec<Region> {
    if owners.spans.is_empty() {
        return Vec::new();
    }
    let mut found = Found::default();
    let mut out = Vec::new();
    for (index, section) in layout.sections.iter().enumerate() {
        if section.shipped == 0 {
            continue;
        }
        let table = Table {
            index,
            section,
            words,
        };
        match section.raw_name.as_str() {
            ".eh_frame" | "__eh_frame" => eh_frame(&table, owners, &mut found),
            ".eh_frame_hdr" => eh_frame_hdr(&table, owners, &mut found.charged),
            "__unwind_info" => unwind_info(&table, owners, &mut found),
            _ => {}
        }
        // Each table charges only its own section: grouped table by table,
        // the charged ranges (one per FDE or entry, 40 B each) of one table
        // are held at a time, not those of all of them.
        if !found.charged.is_empty() {
            out.extend(Region::group(std::mem::take(&mut found.charged)));
        }
    }
    let Found {
        mut charged,
        mut lsdas,
    } = found;
    // Each LSDA runs to the next one (or its section's end).
    lsdas.sort_unstable();
    lsdas.dedup_by_key(|l| l.0);
    let tables: Vec<usize> = layout
        .sections
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            matches!(
                s.raw_name.as_str(),
                ".gcc_except_table" | "__gcc_except_tab"
            )
        })
        .map(|(i, _)| i)
        .collect();
    for (i, &(start, unit)) in lsdas.iter().enumerate() {
        let Some(position) = tables
            .iter()
            .copied()
            .find(|&t| layout.sections[t].contains(start))
        else {
            continue;
        };
        let section = &layout.sections[position];
        let end = section.address.saturating_add(section.shipped);
        let next = lsdas.get(i + 1).map_or(end, |n| n.0.min(end));
        if next > start {
            charged.push((position, start, next, unit));
        }
    }
    out.extend(Region::group(charged));
    out
}

/// Most second-level pages and entries read from `__unwind_info`.
const MAX_UNWIND_ENTRIES: usize = 1 << 22;

/// Mach-O compact unwind (`__unwind_info`, `<mach-o/compact_unwind_encoding.h>`):
/// each second-level page entry (8 bytes regular, 4 compressed) and each
/// LSDA index entry (8 bytes) to the unit of its function; the LSDAs they
/// name to the same unit. The header, the first-level index and the
/// encoding tables, shared by all functions, stay unattributed.
fn unwind_info<'a>(table: &Table<'_, '_>, owners: &Owners<'a>, found: &mut Found<'a>) {
    // Function offsets are from the start of `__TEXT`, the Mach header.
    let section = table.section;
    let Some(text) = section
        .file_range
        .and_then(|(offset, _)| section.address.checked_sub(offset))
    else {
        return;
    };
    let mut r = table.reader(0);
    let (Some(1), Some(index_offset), Some(index_count)) =
        (r.u32_at(0), r.u32_at(20), r.u32_at(24))
    else {
        return;
    };
    let mut pages = Pages {
        table,
        owners,
        text,
        budget: MAX_UNWIND_ENTRIES,
    };
    let pairs = (index_count as usize).min(section.data.len() / 12);
    for i in 0..pairs {
        let at = (index_offset as usize).saturating_add(12 * i);
        let (Some(first), Some(page), Some(lsda_start)) =
            (r.u32_at(at), r.u32_at(at + 4), r.u32_at(at + 8))
        else {
            break;
        };
        // The LSDA index of this page runs to the next page's.
        let lsda_end = r.u32_at(at + 20).unwrap_or(lsda_start);
        pages.lsda_index(lsda_start as usize, lsda_end as usize, found);
        if page != 0 {
            pages.second_level(page as usize, first, &mut found.charged);
        }
    }
}

/// The pages of an `__unwind_info` section, read within one budget.
struct Pages<'t, 's, 'd, 'o, 'a> {
    table: &'t Table<'s, 'd>,
    owners: &'o Owners<'a>,
    /// Address of `__TEXT`, the base of function offsets.
    text: u64,
    /// Entries left to read.
    budget: usize,
}

impl<'a> Pages<'_, '_, '_, '_, 'a> {
    /// LSDA index entries (function, LSDA) in `[start, end)`.
    fn lsda_index(&mut self, start: usize, end: usize, found: &mut Found<'a>) {
        let table = self.table;
        let mut r = table.reader(0);
        let end = end.min(table.section.data.len());
        let mut lsda = start;
        while lsda + 8 <= end && self.budget > 0 {
            self.budget -= 1;
            if let (Some(function), Some(target)) = (r.u32_at(lsda), r.u32_at(lsda + 4))
                && let Some(unit) = self
                    .owners
                    .unit(self.text.saturating_add(u64::from(function)))
            {
                let charge = (
                    table.index,
                    table.address(lsda),
                    table.address(lsda + 8),
                    unit,
                );
                found.charged.push(charge);
                found
                    .lsdas
                    .push((self.text.saturating_add(u64::from(target)), unit));
            }
            lsda += 8;
        }
    }

    /// A second-level page's entries (regular: 8 bytes, compressed: 4,
    /// offsets from the first-level entry's `first` function).
    fn second_level(&mut self, page: usize, first: u32, charged: &mut Charged<'a>) {
        let table = self.table;
        let mut r = table.reader(0);
        let (Some(kind), Some(header)) = (r.u32_at(page), r.u32_at(page + 4)) else {
            return;
        };
        let (entries, count) = ((header & 0xffff) as usize, (header >> 16) as usize);
        let (size, compressed) = match kind {
            2 => (8, false),
            3 => (4, true),
            _ => return,
        };
        for e in 0..count.min(self.budget) {
            self.budget -= 1;
            let at = page.saturating_add(entries).saturating_add(size * e);
            let Some(word) = r.u32_at(at) else {
                break;
            };
            let function = if compressed {
                u64::from(first).saturating_add(u64::from(word & 0x00ff_ffff))
            } else {
                u64::from(word)
            };
            if let Some(unit) = self.owners.unit(self.text.saturating_add(function)) {
                charged.push((
                    table.index,
                    table.address(at),
                    table.address(at + size),
                    unit,
                ));
            }
        }
    }
}

/// One FDE: its bytes, the code it describes, and its LSDA.
#[derive(Debug, Clone, Copy)]
struct Fde {
    start: u64,
    end: u64,
    pc: u64,
    range: Option<u64>,
    lsda: Option<u64>,
}

fn eh_frame<'a>(table: &Table<'_, '_>, owners: &Owners<'a>, found: &mut Found<'a>) {
    for_each_fde(table.section, table.words, &mut |fde| {
        let Some(unit) = owners.unit(fde.pc) else {
            return;
        };
        found.charged.push((table.index, fde.start, fde.end, unit));
        if let Some(lsda) = fde.lsda {
            found.lsdas.push((lsda, unit));
        }
    });
}

/// The code extents `.eh_frame` describes, (start, end): the functions of
/// a stripped ELF file (every function that can unwind has an FDE).
pub(crate) fn fde_extents(layout: &Layout<'_>, words: Words) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for section in &layout.sections {
        if section.raw_name != ".eh_frame" {
            continue;
        }
        for_each_fde(section, words, &mut |fde| {
            if let Some(range) = fde.range.filter(|&r| r > 0) {
                out.push((fde.pc, fde.pc.saturating_add(range)));
            }
        });
    }
    out
}

/// Call `visit` with every FDE of an `.eh_frame` section whose CIE parses.
fn for_each_fde(
    section: &crate::sections::SectionInfo<'_>,
    words: Words,
    visit: &mut dyn FnMut(Fde),
) {
    let data = section.data;
    let mut cies: HashMap<usize, Option<Cie>> = HashMap::new();
    let mut at = 0usize;
    let mut r = Reader {
        data,
        base: section.address,
        at: 0,
        words,
    };
    while at + 4 <= data.len() {
        r.at = at;
        let Some(short) = r.fixed(4) else { break };
        if short == 0 {
            at += 4;
            continue;
        }
        let length = if short == 0xffff_ffff {
            match r.fixed(8) {
                Some(l) => l,
                None => break,
            }
        } else {
            short
        };
        let id_at = r.at;
        let Some(end) = usize::try_from(length)
            .ok()
            .and_then(|l| id_at.checked_add(l))
            .filter(|&e| e <= data.len())
        else {
            break;
        };
        let Some(id) = r.fixed(4) else { break };
        if id == 0 {
            let cie = parse_cie(&mut r);
            cies.insert(at, cie);
        } else if let Some(cie_at) = id_at.checked_sub(id as usize) {
            let cie = *cies
                .entry(cie_at)
                .or_insert_with(|| cie_elsewhere(&r, cie_at));
            if let Some(cie) = cie
                && let Some(fde) = parse_fde(&mut r, cie, section.address, (at, end))
            {
                visit(fde);
            }
        }
        at = end;
    }
}

/// The CIE at `at` that an FDE names, read on its own (32-bit length only).
fn cie_elsewhere(r: &Reader<'_>, at: usize) -> Option<Cie> {
    let mut c = Reader {
        data: r.data,
        base: r.base,
        at,
        words: r.words,
    };
    c.fixed(4)
        .and_then(|l| (l != 0xffff_ffff).then_some(()))
        .and_then(|_| c.fixed(4))
        .filter(|&id| id == 0)
        .and_then(|_| parse_cie(&mut c))
}

/// The rest of an FDE after its CIE pointer: initial location, range and
/// LSDA. `bytes` is the FDE's (start, end) in the section.
fn parse_fde(r: &mut Reader<'_>, cie: Cie, base: u64, bytes: (usize, usize)) -> Option<Fde> {
    let pc = r.pointer(cie.fde_encoding, 0)?;
    let range = r.pointer(cie.fde_encoding & 0x0f, 0);
    let lsda = if cie.augmented && cie.lsda_encoding != OMIT && range.is_some() {
        r.uleb()
            .and_then(|_| r.pointer(cie.lsda_encoding, 0))
            .filter(|&l| l != 0)
    } else {
        None
    };
    Some(Fde {
        start: base.saturating_add(bytes.0 as u64),
        end: base.saturating_add(bytes.1 as u64),
        pc,
        range,
        lsda,
    })
}

fn eh_frame_hdr<'a>(table: &Table<'_, '_>, owners: &Owners<'a>, charged: &mut Charged<'a>) {
    let (index, section) = (table.index, table.section);
    let mut r = table.reader(0);
    let (Some(1), Some(frame_enc), Some(count_enc), Some(table_enc)) =
        (r.u8(), r.u8(), r.u8(), r.u8())
    else {
        return;
    };
    // Only the layout every linker writes: 4-byte datarel pairs.
    if table_enc != 0x3b || r.pointer(frame_enc, section.address).is_none() {
        return;
    }
    let Some(count) = r.pointer(count_enc, section.address) else {
        return;
    };
    let room = (section.data.len().saturating_sub(r.at) / 8) as u64;
    for _ in 0..count.min(room) {
        let entry = section.address.saturating_add(r.at as u64);
        let Some(pc) = r.pointer(table_enc, section.address) else {
            break;
        };
        if r.fixed(4).is_none() {
            break;
        }
        if let Some(unit) = owners.unit(pc) {
            charged.push((index, entry, entry + 8, unit));
        }
    }
}
