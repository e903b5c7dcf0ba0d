//! Anonymous data of Rust and C binaries charged to its users: the bytes
//! of the data sections (`.rodata`, `.data.rel.ro`, `.data`, `.got`...)
//! that no symbol covers, charged to the units whose code or data refers
//! to them.
//!
//! - References from code: every code symbol's instructions are decoded
//!   (`code_refs`: x86-64 RIP-relative operands, arm64 `ADRP` pairs); an
//!   address formed inside a data section is a reference by the symbol's
//!   unit.
//! - References from data: a pointer slot that an `R_*_RELATIVE`
//!   relocation fills is a reference by the slot's owner: the unit of the
//!   symbol holding the slot, or the owners of the anonymous object holding
//!   it (so a table of string slices referenced by code charges the strings
//!   too).
//! - Extents: an anonymous object starts at a referenced address and runs
//!   to the next referenced address (from code or a relocation), symbol or
//!   already charged byte, or its section's end. Bytes before the first
//!   referenced address of a gap (alignment, or data nothing visibly uses)
//!   stay unattributed.
//! - Several owners: the object is split equally between their units, in
//!   contiguous shares (the remainder to the first units by name).
//! - Relocation entries (`.rela.dyn`) go to the owner of the address they
//!   patch; dynamic symbols (`.dynsym` entry and `.dynstr` name) to the
//!   unit of the symbol they export.
//!
//! Everything is bounded by the sections' sizes: one decoding pass over
//! each code symbol, and owner sets of at most [`MAX_OWNERS`] units.

use std::collections::{BTreeSet, HashMap};

use crate::code_refs::{CodeSections, Isa, References};
use crate::demangle::Demangled;
use crate::format::Layout;
use crate::go::Layout as Words;
use crate::go_units::Region;
use crate::report::{Format, SectionKind};
use crate::rust::Relocations;
use crate::symbols::PlacedSymbol;

/// Most units one anonymous object is split between.
const MAX_OWNERS: usize = 64;
/// Most dynamic symbols read.
const MAX_DYNAMIC_SYMBOLS: u64 = 1 << 22;

/// Sections whose bytes may hold anonymous objects used by code.
fn is_target(kind: SectionKind, name: &str) -> bool {
    matches!(kind, SectionKind::Rodata | SectionKind::Data) || name == ".got" || name == "__got"
}

/// Disjoint, sorted address ranges, for "is this byte charged already".
#[derive(Debug, Default)]
struct Ranges(Vec<(u64, u64)>);

impl Ranges {
    fn new(mut ranges: Vec<(u64, u64)>) -> Self {
        ranges.retain(|r| r.0 < r.1);
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        Ranges(merged)
    }

    /// The range holding `address`.
    fn holding(&self, address: u64) -> Option<(u64, u64)> {
        let i = self.0.partition_point(|r| r.1 <= address);
        self.0.get(i).copied().filter(|r| r.0 <= address)
    }

    /// The start of the first range at or after `address`.
    fn next_start(&self, address: u64) -> u64 {
        let i = self.0.partition_point(|r| r.1 <= address);
        self.0.get(i).map_or(u64::MAX, |r| r.0.max(address))
    }

    /// Whether `[start, end)` touches a range.
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.next_start(start) < end
    }
}

/// Units by name, interned.
#[derive(Default)]
struct Interner<'a> {
    names: Vec<&'a str>,
    index: HashMap<&'a str, u32>,
}

impl<'a> Interner<'a> {
    fn get(&mut self, name: &'a str) -> u32 {
        *self.index.entry(name).or_insert_with(|| {
            self.names.push(name);
            (self.names.len() - 1) as u32
        })
    }
}

/// The facts the anonymous data reader works from.
pub(crate) struct Inputs<'i, 'd> {
    pub layout: &'i Layout<'d>,
    pub isa: Option<Isa>,
    pub words: Words,
    pub placed: &'i [PlacedSymbol],
    pub names: &'i [Demangled],
    /// Regions charged already (panic locations, unwind tables, pointer
    /// slots): their bytes are not taken again.
    pub taken: &'i [Region],
    /// `R_*_RELATIVE` pointers by patched address.
    pub relocations: &'i Relocations,
    /// Functions no symbol covers, with their unit: (start, end, unit).
    pub functions: &'i [(u64, u64, &'i str)],
}

/// The regions charging anonymous data, relocation entries and dynamic
/// symbols.
pub(crate) fn regions(inputs: &Inputs<'_, '_>) -> Vec<Region> {
    let layout = inputs.layout;
    let mut units = Interner::default();
    let known = Known::new(inputs, &mut units);
    let from_code = code_references(inputs, &known, &mut units);
    let pieces = Pieces::new(inputs, &known, &from_code);
    let owners = pieces.owners(inputs, &known, &from_code);
    let mut charged = pieces.split(&owners, &units);
    charged.extend(relocation_entries(inputs, &known, &pieces, &owners, &units));
    let dynamic = dynamic_symbols(layout, inputs.words, &|address| {
        known.owner_of(address).map(|u| units.names[u as usize])
    });
    charged.extend(
        dynamic
            .into_iter()
            .filter(|c| !known.taken.overlaps(c.1, c.2)),
    );
    Region::group_shipped(charged, layout)
}

/// What is known before any decoding: who owns which bytes, which bytes
/// are charged already, and where anonymous objects may lie.
struct Known {
    /// (start, end, unit) of every named symbol in a loaded section.
    owned: Vec<(u64, u64, u32)>,
    /// (start, end) of anonymous constants the compiler gave a symbol.
    anonymous: Vec<(u64, u64)>,
    /// Bytes charged already.
    taken: Ranges,
    /// Bytes of named symbols.
    symbols: Ranges,
    /// Target sections: (start, end of shipped bytes, position).
    targets: Vec<(u64, u64, usize)>,
}

impl Known {
    fn new<'a>(inputs: &Inputs<'a, '_>, units: &mut Interner<'a>) -> Known {
        let layout = inputs.layout;
        let mut owned: Vec<(u64, u64, u32)> = Vec::new();
        let mut anonymous: Vec<(u64, u64)> = Vec::new();
        for (p, n) in inputs.placed.iter().zip(inputs.names) {
            let Some(section) = layout.sections.get(p.section) else {
                continue;
            };
            if p.size == 0 || section.vm_size == 0 {
                continue;
            }
            let end = p.address.saturating_add(p.size);
            if section.kind != SectionKind::Code && is_anonymous(&n.name) {
                anonymous.push((p.address, end));
            } else {
                owned.push((p.address, end, units.get(&n.unit)));
            }
        }
        owned.sort_unstable();
        anonymous.sort_unstable();
        let taken = Ranges::new(
            inputs
                .taken
                .iter()
                .flat_map(|r| r.ranges.iter().copied())
                .collect(),
        );
        let symbols = Ranges::new(owned.iter().map(|o| (o.0, o.1)).collect());
        let mut targets: Vec<(u64, u64, usize)> = layout
            .sections
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                is_target(s.kind, &s.raw_name)
                    && s.shipped > 0
                    && s.vm_size > 0
                    && !s.data.is_empty()
            })
            .map(|(i, s)| (s.address, s.address.saturating_add(s.shipped), i))
            .collect();
        targets.sort_unstable();
        Known {
            owned,
            anonymous,
            taken,
            symbols,
            targets,
        }
    }

    /// The unit of the named symbol holding `address`.
    fn owner_of(&self, address: u64) -> Option<u32> {
        let i = self.owned.partition_point(|o| o.1 <= address);
        self.owned.get(i).filter(|o| o.0 <= address).map(|o| o.2)
    }

    /// The target section holding `address`.
    fn target_of(&self, address: u64) -> Option<(u64, u64, usize)> {
        let i = self.targets.partition_point(|t| t.1 <= address);
        self.targets.get(i).copied().filter(|t| t.0 <= address)
    }

    /// Whether `address` is in a target section, in bytes no symbol holds
    /// and nothing charged yet.
    fn free(&self, address: u64) -> bool {
        self.target_of(address).is_some()
            && self.symbols.holding(address).is_none()
            && self.taken.holding(address).is_none()
    }
}

/// References from code: (address, unit) of every free address the
/// instructions of a code symbol or an unnamed function form.
fn code_references<'a>(
    inputs: &Inputs<'a, '_>,
    known: &Known,
    units: &mut Interner<'a>,
) -> Vec<(u64, u32)> {
    let layout = inputs.layout;
    let mut from_code: Vec<(u64, u32)> = Vec::new();
    let Some(isa) = inputs.isa else {
        return from_code;
    };
    if known.targets.is_empty() {
        return from_code;
    }
    let mut functions: Vec<(u64, u64, &str)> = inputs
        .placed
        .iter()
        .zip(inputs.names)
        .filter(|(p, _)| {
            p.size > 0
                && layout
                    .sections
                    .get(p.section)
                    .is_some_and(|s| s.kind == SectionKind::Code)
        })
        .map(|(p, n)| (p.address, p.address.saturating_add(p.size), n.unit.as_str()))
        .collect();
    functions.extend_from_slice(inputs.functions);
    functions.sort_unstable();
    let mut decoder = References::new(isa);
    let code = CodeSections::new(layout);
    let free = |address: u64| known.free(address);
    for (start, end, unit) in functions {
        let Some(bytes) = code.bytes(start, end) else {
            continue;
        };
        let unit = units.get(unit);
        decoder.scan(bytes, start, &free, &mut |address, _| {
            from_code.push((address, unit));
        });
    }
    from_code
}

/// Anonymous objects: (start, end, section position), sorted, disjoint.
struct Pieces(Vec<(u64, u64, usize)>);

impl Pieces {
    /// An object starts at every referenced address (from code or a
    /// relocation) and at an anonymous constant's symbol, and runs to the
    /// next start, symbol, taken byte, anonymous symbol's end or section end.
    fn new(inputs: &Inputs<'_, '_>, known: &Known, from_code: &[(u64, u32)]) -> Pieces {
        let mut starts: Vec<u64> = from_code.iter().map(|r| r.0).collect();
        starts.extend(
            inputs
                .relocations
                .values()
                .map(|r| r.value)
                .filter(|&v| known.free(v)),
        );
        starts.extend(
            known
                .anonymous
                .iter()
                .map(|a| a.0)
                .filter(|&a| known.free(a)),
        );
        starts.sort_unstable();
        starts.dedup();
        let mut ends: Vec<u64> = known.anonymous.iter().map(|a| a.1).collect();
        ends.sort_unstable();
        let next_end = |address: u64| {
            let i = ends.partition_point(|&e| e <= address);
            ends.get(i).copied().unwrap_or(u64::MAX)
        };
        let pieces = starts
            .iter()
            .enumerate()
            .filter_map(|(i, &start)| {
                let (_, section_end, section) = known.target_of(start)?;
                let end = starts
                    .get(i + 1)
                    .copied()
                    .unwrap_or(u64::MAX)
                    .min(section_end)
                    .min(known.symbols.next_start(start))
                    .min(known.taken.next_start(start))
                    .min(next_end(start));
                (end > start).then_some((start, end, section))
            })
            .collect();
        Pieces(pieces)
    }

    /// The piece holding `address`.
    fn piece_of(&self, address: u64) -> Option<usize> {
        let i = self.0.partition_point(|p| p.1 <= address);
        self.0.get(i).filter(|p| p.0 <= address).map(|_| i)
    }

    /// Each piece's owning units: those whose code refers to it, the units
    /// of symbols whose slots point at it, and the owners of pieces whose
    /// slots point at it, until nothing changes.
    fn owners(
        &self,
        inputs: &Inputs<'_, '_>,
        known: &Known,
        from_code: &[(u64, u32)],
    ) -> Vec<BTreeSet<u32>> {
        let mut owners: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); self.0.len()];
        for &(address, unit) in from_code {
            if let Some(i) = self.piece_of(address)
                && owners[i].len() < MAX_OWNERS
            {
                owners[i].insert(unit);
            }
        }
        // Data to data: a slot in a symbol charges its target to the
        // symbol's unit; a slot in a piece passes the piece's owners on.
        let mut edges: Vec<(usize, usize)> = Vec::new();
        for relocation in inputs.relocations.values() {
            let slot = relocation.slot;
            let Some(to) = self.piece_of(relocation.value) else {
                continue;
            };
            if let Some(from) = self.piece_of(slot) {
                if from != to {
                    edges.push((from, to));
                }
            } else if let Some(unit) = known.owner_of(slot)
                && owners[to].len() < MAX_OWNERS
            {
                owners[to].insert(unit);
            }
        }
        edges.sort_unstable();
        edges.dedup();
        propagate(&mut owners, &edges);
        owners
    }

    /// Each piece split equally between its owners' units, in contiguous
    /// shares, the remainder to the first units by name.
    fn split<'u>(
        &self,
        owners: &[BTreeSet<u32>],
        units: &Interner<'u>,
    ) -> Vec<(usize, u64, u64, &'u str)> {
        let mut charged = Vec::new();
        for (&(start, end, section), who) in self.0.iter().zip(owners) {
            let mut who: Vec<&str> = who.iter().map(|&u| units.names[u as usize]).collect();
            who.sort_unstable();
            let count = who.len() as u64;
            if count == 0 {
                continue;
            }
            let bytes = end - start;
            let mut at = start;
            for (i, unit) in who.into_iter().enumerate() {
                let share = bytes / count + u64::from((i as u64) < bytes % count);
                if share > 0 {
                    charged.push((section, at, at + share, unit));
                }
                at += share;
            }
        }
        charged
    }
}

/// Owners flow along `edges` (sorted (from, to)) until nothing changes.
fn propagate(owners: &mut [BTreeSet<u32>], edges: &[(usize, usize)]) {
    let mut queue: Vec<usize> = (0..owners.len())
        .filter(|&i| !owners[i].is_empty())
        .collect();
    // Each piece's set only grows and is capped: the loop ends.
    while let Some(from) = queue.pop() {
        let first = edges.partition_point(|e| e.0 < from);
        for &(_, to) in edges[first..].iter().take_while(|e| e.0 == from) {
            let before = owners[to].len();
            let add: Vec<u32> = owners[from]
                .iter()
                .copied()
                .filter(|u| !owners[to].contains(u))
                .take(MAX_OWNERS.saturating_sub(before))
                .collect();
            if !add.is_empty() {
                owners[to].extend(add);
                queue.push(to);
            }
        }
    }
}

/// Relocation entries to the owner of the address they patch: the symbol
/// there, or the unit whose share of the piece there holds it.
fn relocation_entries<'u>(
    inputs: &Inputs<'_, '_>,
    known: &Known,
    pieces: &Pieces,
    owners: &[BTreeSet<u32>],
    units: &Interner<'u>,
) -> Vec<(usize, u64, u64, &'u str)> {
    let first_owner = |address: u64| -> Option<&'u str> {
        if let Some(unit) = known.owner_of(address) {
            return Some(units.names[unit as usize]);
        }
        let i = pieces.piece_of(address)?;
        let mut who: Vec<&str> = owners[i].iter().map(|&u| units.names[u as usize]).collect();
        if who.is_empty() {
            return None;
        }
        who.sort_unstable();
        let (start, end, _) = pieces.0[i];
        let count = who.len() as u64;
        let share = ((end - start) / count).max(1);
        let k = usize::try_from((address - start) / share)
            .unwrap_or(usize::MAX)
            .min(who.len() - 1);
        who.get(k).copied()
    };
    let mut charged = Vec::new();
    for relocation in inputs.relocations.values() {
        let (start, end) = (
            relocation.entry,
            relocation.entry.saturating_add(relocation.entry_size),
        );
        if known.taken.overlaps(start, end) {
            continue;
        }
        if let Some(unit) = first_owner(relocation.slot) {
            charged.push((relocation.section, start, end, unit));
        }
    }
    charged
}

/// `.dynsym` entries of defined symbols, and their names in `.dynstr`,
/// charged to the unit owning the symbol's address (ELF).
fn dynamic_symbols<'u>(
    layout: &Layout<'_>,
    words: Words,
    owner: &dyn Fn(u64) -> Option<&'u str>,
) -> Vec<(usize, u64, u64, &'u str)> {
    let mut out = Vec::new();
    if layout.format != Format::Elf {
        return out;
    }
    let find = |name: &str| layout.sections.iter().position(|s| s.raw_name == name);
    let (Some(symtab), Some(strtab)) = (find(".dynsym"), find(".dynstr")) else {
        return out;
    };
    let (symtab_info, strtab_info) = (&layout.sections[symtab], &layout.sections[strtab]);
    let wide = words.ptr_size == 8;
    let entry: usize = if wide { 24 } else { 16 };
    let data = symtab_info.data;
    let count = ((data.len() / entry) as u64).min(MAX_DYNAMIC_SYMBOLS);
    let u32_at = |bytes: &[u8], at: usize| -> Option<u64> {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(u64::from(if words.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }))
    };
    // Entry 0 is the null symbol.
    for i in 1..count {
        let Ok(at) = usize::try_from(i) else { break };
        let at = at * entry;
        let (name, value, shndx) = if wide {
            (
                u32_at(data, at),
                words.word(data, at + 8),
                data.get(at + 6..at + 8),
            )
        } else {
            (
                u32_at(data, at),
                words.word(data, at + 4),
                data.get(at + 14..at + 16),
            )
        };
        let (Some(name), Some(value), Some(shndx)) = (name, value, shndx) else {
            break;
        };
        // Undefined (imports) have section index 0.
        if shndx == [0, 0] || value == 0 {
            continue;
        }
        let Some(unit) = owner(value) else {
            continue;
        };
        let start = symtab_info.address.saturating_add(at as u64);
        out.push((symtab, start, start + entry as u64, unit));
        if let Some(from) = usize::try_from(name).ok().filter(|&n| n > 0)
            && let Some(len) = strtab_info
                .data
                .get(from..)
                .and_then(|rest| rest.iter().position(|&b| b == 0))
        {
            let start = strtab_info.address.saturating_add(name);
            out.push((strtab, start, start + len as u64 + 1, unit));
        }
    }
    out
}

/// Whether a data symbol names an anonymous constant: LLVM's
/// `anon.<32 hex>.<n>` (with `.llvm.<n>` when ThinLTO promoted it), rustc's
/// `alloc_<hex>`, clang's `.L.str`, `.Lanon.` and `switch.table.` tables.
fn is_anonymous(name: &str) -> bool {
    if let Some(rest) = name.strip_prefix("anon.") {
        return rest.len() > 33
            && rest.as_bytes()[..32].iter().all(u8::is_ascii_hexdigit)
            && rest.as_bytes()[32] == b'.';
    }
    if let Some(rest) = name.strip_prefix("alloc_") {
        return !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_hexdigit());
    }
    name.starts_with(".L") || name.starts_with("switch.table.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_constant_names() {
        assert!(is_anonymous(
            "anon.f1fa47affeea65fbb5b89ff7f6353701.2970.llvm.16874218202044009478"
        ));
        assert!(is_anonymous("anon.11d3bde21645eca6224a1fc52308109c.174"));
        assert!(is_anonymous("alloc_5f3c0a9e"));
        assert!(is_anonymous(".L.str.3"));
        assert!(!is_anonymous("anon.short.1"));
        assert!(!is_anonymous("alloc_zeroed"));
        assert!(!is_anonymous("anonymous_table"));
    }

    #[test]
    fn ranges_find_and_bound() {
        let r = Ranges::new(vec![(10, 20), (15, 30), (40, 50), (5, 5)]);
        assert_eq!(r.0, vec![(10, 30), (40, 50)]);
        assert_eq!(r.holding(29), Some((10, 30)));
        assert_eq!(r.holding(30), None);
        assert_eq!(r.next_start(30), 40);
        assert_eq!(r.next_start(45), 45);
        assert_eq!(r.next_start(50), u64::MAX);
        assert!(r.overlaps(35, 41));
        assert!(!r.overlaps(30, 40));
    }
}
