//! The split of the pclntab's bytes between packages (Go 1.16+ layouts).
//!
//! Each function owns its functab pair, its `_func` record (with its
//! `pcdata` and `funcdata` offsets and the alignment up to the next record),
//! its name in `funcnametab` and the pc-value tables it points to (`pcsp`,
//! `pcfile`, `pcln`, `pcdata`). The linker shares identical pc-value tables
//! between functions: a table used by several packages is split between
//! them in equal parts. Each compilation unit (one per package) owns its
//! slice of `cutab`, and the file names in `filetab` it lists. What no
//! function explains (the header, the functab's end entry, unreferenced
//! bytes) goes to [`PCLNTAB_HEADER`].

use std::collections::HashMap;

use super::decode::to_usize;
use super::pclntab::{FuncFields, Located, pc_table_extent};
use super::{PclntabVersion, names};

/// Unit for the pclntab bytes no package owns: header, end entry, gaps.
pub const PCLNTAB_HEADER: &str = "[go pclntab header]";

/// The pclntab's bytes charged to packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PclntabSplit {
    /// Address of the table's first byte.
    pub address: u64,
    /// Bytes of the table the split covers (the charges sum to this).
    pub size: u64,
    /// Bytes per package (as [`super::package_of`] names them), largest first;
    /// [`PCLNTAB_HEADER`] for the shared rest.
    pub by_package: Vec<(String, u64)>,
    /// `funcdata` references: (offset from `moduledata.gofunc` for Go
    /// 1.18+, absolute address before; index into `packages`).
    pub funcdata: Vec<(u64, u32)>,
    /// Whether [`Self::funcdata`] holds offsets from `gofunc` (Go 1.18+).
    pub funcdata_relative: bool,
    /// Package names indexed by the `funcdata` entries.
    pub packages: Vec<String>,
}

/// Packages by index, so that per-byte owners are small integers.
#[derive(Debug, Default)]
struct Interner<'a> {
    names: Vec<&'a str>,
    index: HashMap<&'a str, u32>,
}

impl<'a> Interner<'a> {
    fn get(&mut self, name: &'a str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name);
        self.index.insert(name, i);
        i
    }
}

/// Charges accumulated per package index, plus the shared rest.
#[derive(Debug)]
struct Ledger {
    bytes: Vec<u64>,
    header: u64,
}

impl Ledger {
    fn charge(&mut self, package: u32, bytes: u64) {
        if let Some(slot) = self.bytes.get_mut(package as usize) {
            *slot += bytes;
        } else {
            self.header += bytes;
        }
    }

    /// `bytes` split in equal parts between `owners` (sorted, deduplicated);
    /// the remainder of the division to the first.
    fn split(&mut self, owners: &[u32], bytes: u64) {
        match owners {
            [] => self.header += bytes,
            [one] => self.charge(*one, bytes),
            many => {
                let n = many.len() as u64;
                let part = bytes / n;
                for &owner in many {
                    self.charge(owner, part);
                }
                self.charge(many[0], bytes - part * n);
            }
        }
    }
}

/// Pieces of a table that several owners reference: (start, owner) pairs
/// sorted, each piece running to the next distinct start.
fn charge_pieces(ledger: &mut Ledger, mut refs: Vec<(usize, u32)>, start: usize, end: usize) {
    refs.retain(|&(offset, _)| offset >= start && offset < end);
    refs.sort_unstable();
    refs.dedup();
    let mut covered = start;
    let mut i = 0;
    let mut owners = Vec::new();
    while i < refs.len() {
        let offset = refs[i].0;
        owners.clear();
        while i < refs.len() && refs[i].0 == offset {
            owners.push(refs[i].1);
            i += 1;
        }
        let next = refs.get(i).map_or(end, |r| r.0);
        // Bytes between the previous piece and this one belong to no one.
        ledger.header += (offset - covered) as u64;
        ledger.split(&owners, (next - offset) as u64);
        covered = next;
    }
    ledger.header += end.saturating_sub(covered) as u64;
}

/// What the `_func` records reference, read in one pass.
#[derive(Debug, Default)]
struct Records {
    /// pc-value tables: (offset in the table, owner).
    pc_refs: Vec<(usize, u32)>,
    /// See [`PclntabSplit::funcdata`].
    funcdata: Vec<(u64, u32)>,
    /// Owners of each compilation unit (by its first `cutab` entry).
    cu_refs: HashMap<u32, Vec<u32>>,
    /// Bytes of each function's record, by function index.
    record_bytes: Vec<u64>,
    /// End of the last record (at least the functab's end).
    table_end: usize,
}

/// Read every `_func` record: what it references, and its extent (up to
/// the next record; records are in entry order, but sorted to be safe; the
/// last one to its computed end). `None` on an offset overflow.
fn read_records(located: &Located<'_>, fields: &FuncFields, owners: &[u32]) -> Option<Records> {
    let table = &located.table;
    let data = located.data;
    let ptr = usize::from(table.layout.ptr_size);
    let mut record_order: Vec<(usize, usize)> = located
        .records
        .iter()
        .enumerate()
        .map(|(i, &r)| (r, i))
        .collect();
    record_order.sort_unstable();
    let (pc_refs, funcdata) = reference_counts(located, fields, &record_order);
    let mut out = Records {
        pc_refs: Vec::with_capacity(pc_refs),
        funcdata: Vec::with_capacity(funcdata),
        record_bytes: vec![0; located.records.len()],
        table_end: table
            .functab
            .saturating_add((2 * table.nfunc + 1) * usize::from(table.field_size)),
        ..Records::default()
    };
    for (k, &(record, i)) in record_order.iter().enumerate() {
        let at = table.funcdata.checked_add(record)?;
        let Some(end) = read_record(located, fields, at, owners[i], &mut out) else {
            continue;
        };
        let next = record_order
            .get(k + 1)
            .and_then(|&(r, _)| table.funcdata.checked_add(r))
            .unwrap_or(end.next_multiple_of(ptr));
        if next < at || next > data.len() {
            continue;
        }
        out.record_bytes[i] = (next - at) as u64;
        out.table_end = out.table_end.max(next);
    }
    Some(out)
}

/// How many pc-value table and `funcdata` references the records hold at
/// most: 3 + `npcdata` and `nfuncdata` per record, a corrupt count bounded
/// by the data. The lists are sized once from these: a large binary has
/// millions of references, and growing by doubling left up to half the
/// room unused at the analysis's peak memory.
fn reference_counts(
    located: &Located<'_>,
    fields: &FuncFields,
    record_order: &[(usize, usize)],
) -> (usize, usize) {
    let (table, data) = (&located.table, located.data);
    let bound = data.len() / 4;
    let (mut pc_refs, mut funcdata) = (0usize, 0usize);
    for &(record, _) in record_order {
        let Some(at) = table.funcdata.checked_add(record) else {
            continue;
        };
        if let Some(npcdata) = at
            .checked_add(fields.pcsp + 12)
            .and_then(|n| table.layout.u32(data, n))
            .and_then(|n| usize::try_from(n).ok())
        {
            pc_refs = pc_refs.saturating_add(3 + npcdata.min(bound));
        }
        if let Some(&n) = at.checked_add(fields.nfuncdata).and_then(|n| data.get(n)) {
            funcdata = funcdata.saturating_add(usize::from(n));
        }
    }
    (pc_refs.min(bound), funcdata.min(bound))
}

/// The references of the `_func` record at `at`, charged to `owner`; the
/// end of its `funcdata` offsets. `None` when its counts cannot be read
/// or are larger than the data.
fn read_record(
    located: &Located<'_>,
    fields: &FuncFields,
    at: usize,
    owner: u32,
    out: &mut Records,
) -> Option<usize> {
    let table = &located.table;
    let (data, layout) = (located.data, table.layout);
    let ptr = usize::from(layout.ptr_size);
    let read = |offset: usize| layout.u32(data, at.checked_add(offset)?);
    let npcdata = read(fields.pcsp + 12).and_then(|n| to_usize(n.into()))?;
    let nfuncdata = usize::from(*data.get(at.checked_add(fields.nfuncdata)?)?);
    // Bound by the data: a corrupt count cannot make us loop long.
    if npcdata > data.len() / 4 {
        return None;
    }
    for field in 0..3 {
        if let Some(offset) = read(fields.pcsp + 4 * field).filter(|&o| o != 0) {
            out.pc_refs
                .push((table.pctab.saturating_add(offset as usize), owner));
        }
    }
    if let Some(cu) = read(fields.pcsp + 16) {
        out.cu_refs.entry(cu).or_default().push(owner);
    }
    let pcdata_at = at + fields.fixed;
    for j in 0..npcdata {
        if let Some(offset) = layout.u32(data, pcdata_at + 4 * j).filter(|&o| o != 0) {
            out.pc_refs
                .push((table.pctab.saturating_add(offset as usize), owner));
        }
    }
    let mut end = pcdata_at + 4 * npcdata;
    match table.version {
        PclntabVersion::Go118 | PclntabVersion::Go120 => {
            for j in 0..nfuncdata {
                if let Some(offset) = layout.u32(data, end + 4 * j)
                    && offset != u32::MAX
                {
                    out.funcdata.push((u64::from(offset), owner));
                }
            }
            end += 4 * nfuncdata;
        }
        _ => {
            end = end.next_multiple_of(ptr);
            for j in 0..nfuncdata {
                if let Some(address) = layout.word(data, end + ptr * j)
                    && address != 0
                {
                    out.funcdata.push((address, owner));
                }
            }
            end += ptr * nfuncdata;
        }
    }
    Some(end)
}

/// Charge every string of `funcnametab` to the package its text names
/// (inlined functions' names are there too, without a functab entry).
fn charge_names<'a>(ledger: &mut Ledger, interner: &mut Interner<'a>, names_table: &'a [u8]) {
    let mut at = 0;
    while at < names_table.len() {
        let len = names_table[at..]
            .iter()
            .position(|&b| b == 0)
            .map_or(names_table.len() - at, |n| n + 1);
        match std::str::from_utf8(&names_table[at..at + len - 1]) {
            Ok(name) if !name.is_empty() => {
                let owner = interner.get(names::package_of(name));
                if owner as usize >= ledger.bytes.len() {
                    ledger.bytes.resize(owner as usize + 1, 0);
                }
                ledger.charge(owner, len as u64);
            }
            _ => ledger.header += len as u64,
        }
        at += len;
    }
}

/// Charge each compilation unit's slice of `cutab` to its packages; the
/// `filetab` references of the file names the units list.
fn charge_cutab(
    ledger: &mut Ledger,
    located: &Located<'_>,
    cu_refs: &HashMap<u32, Vec<u32>>,
) -> Vec<(usize, u32)> {
    let table = &located.table;
    let (data, layout) = (located.data, table.layout);
    let mut cu_starts: Vec<u32> = cu_refs.keys().copied().collect();
    cu_starts.sort_unstable();
    let cu_entries = (table.filetab - table.cutab) / 4;
    let mut file_refs: Vec<(usize, u32)> = Vec::new();
    let mut cu_bytes = 0u64;
    for (k, &cu) in cu_starts.iter().enumerate() {
        let Some(first) = to_usize(cu.into()).filter(|&c| c < cu_entries) else {
            continue;
        };
        let last = cu_starts
            .get(k + 1)
            .and_then(|&c| to_usize(c.into()))
            .unwrap_or(cu_entries)
            .min(cu_entries);
        let mut owners_of_cu = cu_refs.get(&cu).cloned().unwrap_or_default();
        owners_of_cu.sort_unstable();
        owners_of_cu.dedup();
        ledger.split(&owners_of_cu, ((last - first) * 4) as u64);
        cu_bytes += ((last - first) * 4) as u64;
        for entry in first..last {
            if let Some(offset) = layout.u32(data, table.cutab + 4 * entry)
                && offset != u32::MAX
            {
                for &owner in &owners_of_cu {
                    file_refs.push((table.filetab.saturating_add(offset as usize), owner));
                }
            }
        }
    }
    ledger.header += ((table.filetab - table.cutab) as u64).saturating_sub(cu_bytes);
    file_refs
}

/// Split the bytes of a located table; `None` for Go 1.2–1.15 layouts or
/// when the header's offsets are out of order.
pub(crate) fn split(located: &Located<'_>) -> Option<PclntabSplit> {
    let table = &located.table;
    let fields = table.func_fields()?;
    let data = located.data;
    // Header order: funcnametab, cutab, filetab, pctab, pclntable.
    let bounds = [
        table.funcnames,
        table.cutab,
        table.filetab,
        table.pctab,
        table.funcdata,
    ];
    if bounds.windows(2).any(|w| w[0] > w[1]) || table.funcdata > data.len() {
        return None;
    }
    let mut interner = Interner::default();
    let owners: Vec<u32> = located
        .functions
        .iter()
        .map(|f| interner.get(names::package_of(&f.name)))
        .collect();
    let mut records = read_records(located, &fields, &owners)?;
    let table_end = if located.whole_section {
        data.len()
    } else {
        records.table_end.min(data.len())
    };

    let mut ledger = Ledger {
        bytes: vec![0; interner.names.len()],
        header: 0,
    };
    // The header, then the functab pairs and records.
    let pair = 2 * u64::from(table.field_size);
    ledger.header += table.funcnames as u64;
    for (i, &owner) in owners.iter().enumerate() {
        ledger.charge(owner, pair + records.record_bytes[i]);
    }
    let mut explained = table.funcnames as u64
        + owners.len() as u64 * pair
        + records.record_bytes.iter().sum::<u64>();
    charge_names(
        &mut ledger,
        &mut interner,
        data.get(table.funcnames..table.cutab)?,
    );
    explained += (table.cutab - table.funcnames) as u64;
    let file_refs = charge_cutab(&mut ledger, located, &records.cu_refs);
    explained += (table.filetab - table.cutab) as u64;
    charge_pieces(&mut ledger, file_refs, table.filetab, table.pctab);
    explained += (table.pctab - table.filetab) as u64;
    // pc-value tables: each to the end of the next one, exactly.
    let pieces = pc_table_pieces(
        std::mem::take(&mut records.pc_refs),
        data,
        table.pctab,
        table.funcdata,
        table.quantum,
    );
    charge_pieces(&mut ledger, pieces, table.pctab, table.funcdata);
    explained += (table.funcdata - table.pctab) as u64;
    // The functab's end entry and whatever follows the last record.
    ledger.header += (table_end as u64).saturating_sub(explained);
    finish(
        located,
        interner,
        &ledger,
        table_end as u64,
        records.funcdata,
    )
}

/// The split from the ledger; `None` when the charges exceed the table (a
/// corrupt table is not split).
fn finish(
    located: &Located<'_>,
    interner: Interner<'_>,
    ledger: &Ledger,
    size: u64,
    funcdata: Vec<(u64, u32)>,
) -> Option<PclntabSplit> {
    let mut by_package: Vec<(String, u64)> = interner
        .names
        .iter()
        .zip(&ledger.bytes)
        .filter(|(_, bytes)| **bytes > 0)
        .map(|(name, bytes)| ((*name).to_owned(), *bytes))
        .collect();
    let charged: u64 = by_package.iter().map(|p| p.1).sum();
    if charged > size {
        return None;
    }
    let header = size - charged;
    if header > 0 {
        by_package.push((PCLNTAB_HEADER.to_owned(), header));
    }
    by_package.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let version = located.table.version;
    Some(PclntabSplit {
        address: located.address,
        size: by_package.iter().map(|p| p.1).sum(),
        by_package,
        funcdata_relative: matches!(version, PclntabVersion::Go118 | PclntabVersion::Go120),
        funcdata,
        packages: interner.names.iter().map(|n| (*n).to_owned()).collect(),
    })
}

/// The pc-value table references, kept where a table really starts (a
/// corrupt offset pointing inside another table is dropped), so that each
/// piece runs exactly to the next table. Filtered in place: a large binary
/// has millions of references, and a copy was the largest allocation of
/// its analysis.
fn pc_table_pieces(
    mut refs: Vec<(usize, u32)>,
    data: &[u8],
    start: usize,
    end: usize,
    quantum: u8,
) -> Vec<(usize, u32)> {
    refs.retain(|&(offset, _)| {
        offset >= start
            && offset < end
            && data
                .get(offset..end)
                .and_then(|t| pc_table_extent(t, quantum))
                .is_some()
    });
    refs
}
