//! Decoding of the Go pclntab: the runtime's table of functions, kept even
//! in binaries built with `-ldflags "-s -w"` or stripped, which gives every
//! function's name, entry address and (by difference) size.
//!
//! Layouts handled (header words are pointer-sized):
//! - Go 1.2–1.15, magic `0xfffffffb`: `nfunc`, then `functab` right after
//!   the header as (entry pc, func offset) pairs; offsets from the table start.
//! - Go 1.16–1.17, magic `0xfffffffa`: `nfunc, nfiles, funcnameOffset,
//!   cuOffset, filetabOffset, pctabOffset, pclnOffset`; `functab` at
//!   `pclnOffset` with pointer-sized (entry pc, func offset) pairs.
//! - Go 1.18+, magic `0xfffffff0` / `0xfffffff1`: as 1.16 with `textStart`
//!   after `nfiles`, and `functab` pairs of `u32` (entry offset from
//!   `textStart`, func offset).
//!
//! In every layout the functab ends with one extra entry, the end of the
//! text, and each `_func` record starts with its entry (pc or offset) and the
//! offset of its name. Every entry is checked against its `_func` record, so
//! a candidate found by scanning for the magic is only accepted when the whole
//! table is consistent.

use super::decode::{Layout, c_str, offset_of, to_usize, uvarint};
use super::{GoFunction, GoSection, Pclntab, PclntabVersion, Target};

/// Longest function name accepted. Real names, even of generic
/// instantiations, are far shorter; a longer one means a corrupt table.
const MAX_NAME_LEN: usize = 64 * 1024;

/// Largest text a table may cover. Go 1.18+ tables store entries as `u32`
/// offsets, so no real table spans more; an older table claiming to is corrupt.
const MAX_TEXT_SPAN: u64 = u32::MAX as u64;

/// How many magic-number hits a scan may try to decode before giving up, so
/// crafted input full of fake headers cannot make the scan quadratic.
const MAX_SCAN_CANDIDATES: usize = 64;

/// Sections that hold the pclntab and nothing else.
fn is_pclntab_section(name: &str) -> bool {
    name.ends_with("gopclntab")
}

/// Find and decode the pclntab; see [`super::read_pclntab`].
pub(crate) fn read(sections: &[GoSection<'_>], target: Target) -> Option<Pclntab> {
    let located = locate(sections, target)?;
    Some(Pclntab {
        version: located.table.version,
        section: located.section.to_owned(),
        functions: located.functions,
    })
}

/// A decoded table with where it lies, for the per-package split of its bytes.
#[derive(Debug)]
pub(crate) struct Located<'a> {
    /// Name of the section holding it.
    pub section: &'a str,
    /// Whether that section holds the table and nothing else.
    pub whole_section: bool,
    /// Address of the table's first byte.
    pub address: u64,
    /// The table's bytes, up to the end of its section.
    pub data: &'a [u8],
    /// Header fields.
    pub table: TableLayout,
    /// Functions sorted by entry.
    pub functions: Vec<GoFunction>,
    /// Offset of each function's `_func` record from `table.funcdata`.
    pub records: Vec<usize>,
}

/// Find and decode the pclntab, keeping what the split of its bytes needs.
pub(crate) fn locate<'a>(sections: &[GoSection<'a>], target: Target) -> Option<Located<'a>> {
    let text_hint = text_section_address(sections);
    let byte_orders = [target.big_endian, !target.big_endian];
    for section in sections.iter().filter(|s| is_pclntab_section(s.name)) {
        for big_endian in byte_orders {
            if let Some(located) = decode_at(section, 0, big_endian, text_hint) {
                return Some(located);
            }
        }
    }
    let mut candidates = 0;
    for section in sections.iter().filter(|s| !is_pclntab_section(s.name)) {
        for offset in magic_offsets(section, target) {
            candidates += 1;
            if candidates > MAX_SCAN_CANDIDATES {
                return None;
            }
            if let Some(located) = decode_at(section, offset, target.big_endian, text_hint) {
                return Some(located);
            }
        }
    }
    None
}

fn decode_at<'a>(
    section: &GoSection<'a>,
    offset: usize,
    big_endian: bool,
    text_hint: Option<u64>,
) -> Option<Located<'a>> {
    let data = section.data.get(offset..)?;
    let table = parse_header(data, big_endian, text_hint)?;
    let (functions, records) = read_functions(data, &table)?;
    Some(Located {
        section: section.name,
        whole_section: offset == 0 && is_pclntab_section(section.name),
        address: section.address.checked_add(offset as u64)?,
        data,
        table,
        functions,
        records,
    })
}

/// Address of the text section, used as `textStart` when a Go 1.18+ header
/// holds 0 there (the field is relocated at load time, and in some PIE
/// binaries the file keeps 0). For internally linked binaries `runtime.text`
/// is the start of `.text`; with external linking it may sit a few bytes
/// later, so entries are then approximate (sizes are exact either way).
fn text_section_address(sections: &[GoSection<'_>]) -> Option<u64> {
    sections
        .iter()
        .find(|s| s.name == ".text" || s.name == "__text")
        .map(|s| s.address)
}

/// Offsets in `section` (4-byte aligned in memory) where a pclntab header of
/// any known version, in the target's byte order and pointer size, starts.
fn magic_offsets<'a>(
    section: &'a GoSection<'a>,
    target: Target,
) -> impl Iterator<Item = usize> + 'a {
    let misalignment = usize::try_from(section.address % 4).unwrap_or(0);
    let first = (4 - misalignment) % 4;
    let data = section.data;
    (first..data.len().saturating_sub(8))
        .step_by(4)
        .filter(move |&offset| {
            let header = &data[offset..offset + 8];
            let magic = header[..4].try_into().map_or(0, |bytes: [u8; 4]| {
                if target.big_endian {
                    u32::from_be_bytes(bytes)
                } else {
                    u32::from_le_bytes(bytes)
                }
            });
            version_of(magic).is_some()
                && header[4] == 0
                && header[5] == 0
                && matches!(header[6], 1 | 2 | 4)
                // WebAssembly modules are 32-bit files holding Go's
                // 64-bit tables: take either pointer size.
                && matches!(header[7], 4 | 8)
                && (header[7] == target.ptr_size || target.ptr_size == 4)
        })
}

fn version_of(magic: u32) -> Option<PclntabVersion> {
    match magic {
        0xffff_fffb => Some(PclntabVersion::Go12),
        0xffff_fffa => Some(PclntabVersion::Go116),
        0xffff_fff0 => Some(PclntabVersion::Go118),
        0xffff_fff1 => Some(PclntabVersion::Go120),
        _ => None,
    }
}

/// Where the parts of one table are, from its header.
#[derive(Debug, Clone)]
pub(crate) struct TableLayout {
    pub version: PclntabVersion,
    pub layout: Layout,
    pub nfunc: usize,
    /// Start of the (entry, func offset) pairs.
    pub functab: usize,
    /// Size of one functab field: 4 (Go 1.18+) or the pointer size.
    pub field_size: u8,
    /// `_func` offsets are relative to this.
    pub funcdata: usize,
    /// Name offsets are relative to this.
    pub funcnames: usize,
    /// Go 1.16+: start of the compilation unit table (0 before).
    pub cutab: usize,
    /// Go 1.16+: start of the file name table (0 before).
    pub filetab: usize,
    /// Go 1.16+: start of the pc-value tables (0 before).
    pub pctab: usize,
    /// Instruction size quantum (1 on x86, 4 on arm64...).
    pub quantum: u8,
    /// Go 1.18+: entries are offsets from here. Older: 0 (absolute pcs).
    pub text_start: u64,
}

fn parse_header(data: &[u8], big_endian: bool, text_hint: Option<u64>) -> Option<TableLayout> {
    let (version, layout, quantum) = header_fields(data, big_endian)?;
    let ptr = usize::from(layout.ptr_size);
    let header_word =
        |index: usize| -> Option<usize> { to_usize(layout.word(data, offset_of(8, index, ptr)?)?) };
    let nfunc = header_word(0)?;
    let table = match version {
        PclntabVersion::Go12 => TableLayout {
            version,
            layout,
            nfunc,
            functab: 8 + ptr,
            field_size: layout.ptr_size,
            funcdata: 0,
            funcnames: 0,
            cutab: 0,
            filetab: 0,
            pctab: 0,
            quantum,
            text_start: 0,
        },
        PclntabVersion::Go116 => {
            let pcln = header_word(6)?;
            TableLayout {
                version,
                layout,
                nfunc,
                functab: pcln,
                field_size: layout.ptr_size,
                funcdata: pcln,
                funcnames: header_word(2)?,
                cutab: header_word(3)?,
                filetab: header_word(4)?,
                pctab: header_word(5)?,
                quantum,
                text_start: 0,
            }
        }
        PclntabVersion::Go118 | PclntabVersion::Go120 => {
            let pcln = header_word(7)?;
            let stored_text = layout.word(data, 8 + 2 * ptr)?;
            let text_start = match (stored_text, text_hint) {
                (0, Some(hint)) => hint,
                (stored, _) => stored,
            };
            TableLayout {
                version,
                layout,
                nfunc,
                functab: pcln,
                field_size: 4,
                funcdata: pcln,
                funcnames: header_word(3)?,
                cutab: header_word(4)?,
                filetab: header_word(5)?,
                pctab: header_word(6)?,
                quantum,
                text_start,
            }
        }
    };
    fits(&table, data).then_some(table)
}

/// The first 8 bytes: magic (the version), two zero bytes, the instruction
/// quantum (1, 2 or 4) and the pointer size (4 or 8).
fn header_fields(data: &[u8], big_endian: bool) -> Option<(PclntabVersion, Layout, u8)> {
    let header = data.get(..8)?;
    let probe = Layout {
        big_endian,
        ptr_size: 4,
    };
    let version = version_of(probe.u32(header, 0)?)?;
    if header[4] != 0 || header[5] != 0 || !matches!(header[6], 1 | 2 | 4) {
        return None;
    }
    let ptr_size = header[7];
    if !matches!(ptr_size, 4 | 8) {
        return None;
    }
    let layout = Layout {
        big_endian,
        ptr_size,
    };
    Some((version, layout, header[6]))
}

/// The functab (nfunc pairs and the end entry) must fit in the data; this
/// also bounds every allocation made from `nfunc`.
fn fits(table: &TableLayout, data: &[u8]) -> bool {
    let Some(entries) = table.nfunc.checked_mul(2).and_then(|n| n.checked_add(1)) else {
        return false;
    };
    let Some(functab_end) = offset_of(table.functab, entries, usize::from(table.field_size)) else {
        return false;
    };
    table.nfunc != 0 && functab_end <= data.len() && table.funcnames < data.len()
}

fn read_functions(data: &[u8], table: &TableLayout) -> Option<(Vec<GoFunction>, Vec<usize>)> {
    let field = usize::from(table.field_size);
    let functab_field = |index: usize| -> Option<u64> {
        table.layout.sized(
            data,
            offset_of(table.functab, index, field)?,
            table.field_size,
        )
    };
    let names = data.get(table.funcnames..)?;
    // Names are distinct and live inside `data`, so a consistent table never
    // needs more name bytes than that; a crafted one pointing every function
    // at one long name could, so cap the total.
    let mut name_budget = data.len();
    let mut functions = Vec::with_capacity(table.nfunc);
    let mut records = Vec::with_capacity(table.nfunc);
    let mut previous_entry = 0u64;
    for index in 0..table.nfunc {
        let raw_entry = functab_field(2 * index)?;
        let func_offset = to_usize(functab_field(2 * index + 1)?)?;
        if raw_entry < previous_entry {
            return None;
        }
        previous_entry = raw_entry;
        let record = table.funcdata.checked_add(func_offset)?;
        // The `_func` record repeats the entry: a strong consistency check.
        if table.layout.sized(data, record, table.field_size)? != raw_entry {
            return None;
        }
        let name_offset = table.layout.u32(data, record.checked_add(field)?)?;
        let name = c_str(names, to_usize(name_offset.into())?, MAX_NAME_LEN)?;
        if name.is_empty() || name.len() > name_budget {
            return None;
        }
        name_budget -= name.len();
        functions.push(GoFunction {
            name: name.to_owned(),
            entry: table.text_start.checked_add(raw_entry)?,
            size: 0,
            padding: 0,
        });
        records.push(func_offset);
    }
    let end = table
        .text_start
        .checked_add(functab_field(2 * table.nfunc)?)?;
    let first_entry = functions.first()?.entry;
    if end < table.text_start.checked_add(previous_entry)? || end - first_entry > MAX_TEXT_SPAN {
        return None;
    }
    let mut next_entry = end;
    for (function, &record) in functions.iter_mut().zip(&records).rev() {
        let span = next_entry - function.entry;
        // The pc tables say where the code ends; the rest of the span is
        // alignment padding. A table that cannot be read, or claims more
        // than the span, leaves the span as the size.
        let code = table
            .funcdata
            .checked_add(record)
            .and_then(|record| code_size(data, table, record))
            .filter(|&code| code > 0 && code <= span)
            .unwrap_or(span);
        function.size = code;
        function.padding = span - code;
        next_entry = function.entry;
    }
    Some((functions, records))
}

/// Where the fields of a `_func` record are, per layout generation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FuncFields {
    /// Offset of `pcsp`; `pcfile` and `pcln` follow, then `npcdata`, `cuOffset`.
    pub pcsp: usize,
    /// Offset of the `nfuncdata` byte.
    pub nfuncdata: usize,
    /// Size of the fixed part; the `pcdata` offsets follow it.
    pub fixed: usize,
}

impl TableLayout {
    /// The `_func` field offsets, or `None` for Go 1.2–1.15 tables.
    pub fn func_fields(&self) -> Option<FuncFields> {
        let ptr = usize::from(self.layout.ptr_size);
        match self.version {
            PclntabVersion::Go12 => None,
            PclntabVersion::Go116 => Some(FuncFields {
                pcsp: ptr + 12,
                nfuncdata: ptr + 35,
                fixed: ptr + 36,
            }),
            PclntabVersion::Go118 => Some(FuncFields {
                pcsp: 16,
                nfuncdata: 39,
                fixed: 40,
            }),
            PclntabVersion::Go120 => Some(FuncFields {
                pcsp: 16,
                nfuncdata: 43,
                fixed: 44,
            }),
        }
    }
}

/// Code bytes of the function whose `_func` record is at `record`: the last
/// pc its `pcsp` table covers.
fn code_size(data: &[u8], table: &TableLayout, record: usize) -> Option<u64> {
    let fields = table.func_fields()?;
    let pcsp = table.layout.u32(data, record.checked_add(fields.pcsp)?)?;
    if pcsp == 0 {
        return None;
    }
    let start = table.pctab.checked_add(to_usize(pcsp.into())?)?;
    // The table must lie in the pc-value tables, which end where the
    // function table starts.
    let (_, end_pc) = pc_table_extent(data.get(start..table.funcdata)?, table.quantum)?;
    Some(end_pc)
}

/// Longest pc-value table walked, in entries; real ones are far shorter
/// than this (one entry per change of value).
const MAX_PC_TABLE_ENTRIES: usize = 1 << 20;

/// Length in bytes of the pc-value table at the start of `table`, and the
/// pc (offset from the function's entry) it ends at.
pub(crate) fn pc_table_extent(table: &[u8], quantum: u8) -> Option<(usize, u64)> {
    let mut at = 0usize;
    let mut pc = 0u64;
    for index in 0..MAX_PC_TABLE_ENTRIES {
        let (value_delta, len) = uvarint(table.get(at..)?)?;
        if value_delta == 0 && index > 0 {
            return Some((at + len, pc));
        }
        at += len;
        let (pc_delta, len) = uvarint(table.get(at..)?)?;
        at += len;
        pc = pc.checked_add(pc_delta.checked_mul(u64::from(quantum.max(1)))?)?;
    }
    None
}
