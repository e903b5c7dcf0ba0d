//! Go attribution beyond symbols: the Go readers' per-package splits of
//! runtime tables (the pclntab, and through `moduledata` the type data,
//! itabs and funcdata) turned into charges on address ranges of the
//! layout's sections, the alignment padding between functions, and the
//! module path and version of each package unit from the build info.

use std::collections::HashMap;

use crate::code_refs::Isa;
use crate::demangle::Demangled;
use crate::format::Layout;
use crate::go::{self, GoSection};
use crate::go_strings::{CodeRefs, StringCharges};
use crate::report::{Format, GoBuildInfo, Unit, UnitKind};
use crate::sections::SectionInfo;
use crate::symbols::PlacedSymbol;

/// Bytes of one address range charged to units. Symbol bytes inside the
/// range are taken back from their units: the charges explain all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Region {
    /// Position of the section in the layout's list.
    pub section: usize,
    /// Disjoint (start, end) address ranges, sorted.
    pub ranges: Vec<(u64, u64)>,
    /// (unit, bytes); the bytes sum to at most the ranges' length.
    pub charges: Vec<(String, u64)>,
}

impl Region {
    /// A region whose charges are put in report order: largest first, then
    /// by name.
    pub(crate) fn new(
        section: usize,
        ranges: Vec<(u64, u64)>,
        mut charges: Vec<(String, u64)>,
    ) -> Region {
        charges.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Region {
            section,
            ranges,
            charges,
        }
    }

    /// [`Region::group`] of the charged ranges cut to the bytes of their
    /// section that ship (a range in a section `layout` lacks is dropped).
    pub(crate) fn group_shipped<U: AsRef<str>>(
        charged: Vec<(usize, u64, u64, U)>,
        layout: &crate::format::Layout<'_>,
    ) -> Vec<Region> {
        let shipped: Vec<(usize, u64, u64, U)> = charged
            .into_iter()
            .filter_map(|(section, start, end, unit)| {
                let info = layout.sections.get(section)?;
                let end = end.min(info.address.saturating_add(info.shipped));
                Some((section, start, end, unit))
            })
            .collect();
        Region::group(shipped)
    }

    /// Regions from charged ranges `(section, start, end, unit)`: per
    /// section, the ranges sorted and merged when they touch, with the
    /// bytes of each unit. A range overlapping an earlier one is dropped,
    /// so no byte is charged twice.
    pub(crate) fn group<U: AsRef<str>>(mut charged: Vec<(usize, u64, u64, U)>) -> Vec<Region> {
        charged.sort_unstable_by_key(|a| (a.0, a.1, a.2));
        let mut out: Vec<Region> = Vec::new();
        let mut bytes: HashMap<String, u64> = HashMap::new();
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        let mut current: Option<usize> = None;
        let flush = |out: &mut Vec<Region>,
                     section: usize,
                     ranges: Vec<(u64, u64)>,
                     bytes: &mut HashMap<String, u64>| {
            let charges: Vec<(String, u64)> = bytes.drain().collect();
            if !ranges.is_empty() {
                out.push(Region::new(section, ranges, charges));
            }
        };
        for (section, start, end, unit) in charged {
            if current != Some(section) {
                if let Some(previous) = current {
                    flush(&mut out, previous, std::mem::take(&mut ranges), &mut bytes);
                }
                current = Some(section);
            }
            if start >= end {
                continue;
            }
            match ranges.last_mut() {
                Some(last) if start < last.1 => continue,
                Some(last) if start == last.1 => last.1 = end,
                _ => ranges.push((start, end)),
            }
            // No allocation for a unit met before (most ranges).
            match bytes.get_mut(unit.as_ref()) {
                Some(total) => *total += end - start,
                None => {
                    bytes.insert(unit.as_ref().to_owned(), end - start);
                }
            }
        }
        if let Some(previous) = current {
            flush(&mut out, previous, ranges, &mut bytes);
        }
        out
    }
}

/// What the Go readers add to the symbol-based attribution.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct GoCharges {
    /// Ranges explained by package charges.
    pub regions: Vec<Region>,
    /// Alignment padding between functions, per section position.
    pub padding: Vec<(usize, u64)>,
    /// The runtime data pieces (for ELF relocations: who owns an address).
    pub runtime: Option<go::RuntimeDataSplit>,
    /// The pclntab's functions (for the string references in their code).
    pub functions: Vec<go::GoFunction>,
    /// The references their code makes, when decoded for the type walk.
    pub code: Option<CodeRefs>,
}

/// A WebAssembly data segment: where its bytes land in linear memory and
/// where they are in the data section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    /// Linear memory address of the first byte.
    pub address: u64,
    /// Offset of the first byte in the data section's contents.
    pub offset: usize,
    /// Length.
    pub len: usize,
}

/// The active data segments of a WebAssembly data section (the contents,
/// after the section id and size). Stops at the first malformed segment.
pub(crate) fn wasm_segments(data: &[u8]) -> Vec<Segment> {
    fn leb(data: &[u8], at: &mut usize) -> Option<u64> {
        let (value, used) = crate::go::uleb128(data.get(*at..)?)?;
        *at += used;
        Some(value)
    }
    let mut out = Vec::new();
    let mut at = 0usize;
    let Some(count) = leb(data, &mut at) else {
        return out;
    };
    // Each segment takes at least three bytes: the data bounds the count.
    for _ in 0..count.min(data.len() as u64 / 3) {
        let Some(flags) = leb(data, &mut at) else {
            break;
        };
        let mut address = None;
        if flags == 0 || flags == 2 {
            if flags == 2 && leb(data, &mut at).is_none() {
                break;
            }
            // The offset: `i32.const N end` (N a signed LEB128, non-negative here).
            if data.get(at) != Some(&0x41) {
                break;
            }
            at += 1;
            let Some(value) = leb(data, &mut at) else {
                break;
            };
            if data.get(at) != Some(&0x0b) {
                break;
            }
            at += 1;
            address = Some(value);
        }
        let Some(len) = leb(data, &mut at).and_then(|l| usize::try_from(l).ok()) else {
            break;
        };
        if at.checked_add(len).is_none_or(|end| end > data.len()) {
            break;
        }
        if let Some(address) = address {
            out.push(Segment {
                address,
                offset: at,
                len,
            });
        }
        at += len;
    }
    out
}

/// The initial linear memory of a WebAssembly module, rebuilt from its
/// data segments (Go splits its data at runs of zeros, so its pclntab and
/// type data span thousands of segments): the first address and the bytes.
/// `None` without data, or when the segments spread over more than four
/// times their own size (the gaps would be allocated).
pub(crate) fn wasm_memory(sections: &[SectionInfo<'_>]) -> Option<(u64, Vec<u8>)> {
    let data = sections.iter().find(|s| s.raw_name == "<data>")?;
    let segments = wasm_segments(data.data);
    let start = segments.iter().map(|s| s.address).min()?;
    let end = segments
        .iter()
        .map(|s| s.address.saturating_add(s.len as u64))
        .max()?;
    let span = usize::try_from(end - start).ok()?;
    if span > data.data.len().saturating_mul(4).saturating_add(1 << 20) {
        return None;
    }
    let mut memory = vec![0u8; span];
    for segment in &segments {
        let at = usize::try_from(segment.address - start).ok()?;
        let bytes = data
            .data
            .get(segment.offset..segment.offset + segment.len)?;
        memory.get_mut(at..at + segment.len)?.copy_from_slice(bytes);
    }
    Some((start, memory))
}

/// The sections as the Go readers take them; with `memory` (see
/// [`wasm_memory`]) a WebAssembly module's linear memory as one more
/// section at its address (where Go puts its pclntab, type data and
/// build info).
pub(crate) fn go_sections<'a>(
    sections: &'a [SectionInfo<'_>],
    memory: Option<&'a (u64, Vec<u8>)>,
) -> Vec<GoSection<'a>> {
    let mut out: Vec<GoSection<'a>> = sections
        .iter()
        .filter(|s| memory.is_none() || s.raw_name != "<data>")
        .map(|s| GoSection {
            name: s.raw_name.as_str(),
            address: s.address,
            data: s.data,
        })
        .collect();
    if let Some((address, data)) = memory {
        out.push(GoSection {
            name: "<memory>",
            address: *address,
            data,
        });
    }
    out
}

/// Go's WebAssembly linker writes function names with `/` turned into `_`
/// in the `name` section (`net_http.(*Server).Serve`); give the symbols
/// back their pclntab names so they land in the right package (when the
/// pclntab cannot name the code bodies itself).
pub(crate) fn restore_wasm_names(
    sections: &[SectionInfo<'_>],
    target: go::Target,
    names: &mut [String],
) {
    let memory = wasm_memory(sections);
    let sections = go_sections(sections, memory.as_ref());
    let Some(table) = go::read_pclntab(&sections, target) else {
        return;
    };
    let real: HashMap<String, String> = table
        .functions
        .into_iter()
        .map(|f| (wasm_mangled(&f.name), f.name))
        .filter(|(mangled, name)| mangled != name)
        .collect();
    for name in names.iter_mut() {
        if let Some(found) = real.get(name.as_str()) {
            name.clone_from(found);
        }
    }
}

/// A Go function name as the WebAssembly `name` section spells it: every
/// character other than ASCII letters, digits, `_` and `.` becomes `_`
/// (`net/http.(*conn).serve` → `net_http.__conn_.serve`).
pub(crate) fn wasm_mangled(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Translate WebAssembly linear memory ranges to the data section's own
/// addresses (its start plus the offset in its contents), where its
/// symbols lie; ranges outside every segment are dropped.
pub(crate) fn wasm_to_section(layout: &Layout<'_>, regions: &mut [Region]) {
    let Some((data_index, data)) = layout
        .sections
        .iter()
        .enumerate()
        .find(|(_, s)| s.raw_name == "<data>")
    else {
        return;
    };
    // Each segment with where its header (flags, offset expression,
    // length) starts: the previous segment's end, in file order.
    let mut segments: Vec<(Segment, usize)> = Vec::new();
    let mut previous_end = 0usize;
    for segment in wasm_segments(data.data) {
        segments.push((segment, previous_end.min(segment.offset)));
        previous_end = segment.offset + segment.len;
    }
    segments.sort_unstable_by_key(|s| s.0.address);
    for region in regions.iter_mut() {
        let mut ranges = Vec::new();
        let (mut kept, mut headers) = (0u64, 0u64);
        for &(start, end) in &region.ranges {
            let first = segments.partition_point(|s| s.0.address + (s.0.len as u64) <= start);
            for (segment, header) in segments[first..].iter().take_while(|s| s.0.address < end) {
                let seg_end = segment.address + segment.len as u64;
                let (from, to) = (start.max(segment.address), end.min(seg_end));
                if from < to {
                    let base = data.address + segment.offset as u64;
                    ranges.push((
                        base + (from - segment.address),
                        base + (to - segment.address),
                    ));
                    kept += to - from;
                }
                // The header goes with the segment's first byte.
                if from == segment.address && from < to && *header < segment.offset {
                    ranges.push((
                        data.address + *header as u64,
                        data.address + segment.offset as u64,
                    ));
                    headers += (segment.offset - header) as u64;
                }
            }
        }
        region.ranges = crate::go_strings::merged(ranges);
        region.section = data_index;
        // Charges beyond the bytes kept come off the largest first.
        let mut excess = region
            .charges
            .iter()
            .map(|c| c.1)
            .sum::<u64>()
            .saturating_sub(kept);
        for charge in region.charges.iter_mut() {
            let cut = excess.min(charge.1);
            charge.1 -= cut;
            excess -= cut;
        }
        share_headers(&mut region.charges, headers);
    }
}

/// Add `extra` bytes to `charges` in proportion to their bytes (the
/// remainder of the division to the largest, which comes first).
fn share_headers(charges: &mut [(String, u64)], extra: u64) {
    let total: u64 = charges.iter().map(|c| c.1).sum();
    if total == 0 || extra == 0 {
        return;
    }
    let mut given = 0u64;
    for charge in charges.iter_mut() {
        let part = u64::try_from(u128::from(extra) * u128::from(charge.1) / u128::from(total))
            .unwrap_or(0);
        charge.1 += part;
        given += part;
    }
    if let Some(first) = charges.first_mut() {
        first.1 += extra - given;
    }
}

/// The loaded section holding `address`, with room for `size` bytes.
fn section_of(layout: &Layout<'_>, address: u64, size: u64) -> Option<usize> {
    layout.sections.iter().position(|s| {
        s.vm_size > 0
            && !s.data.is_empty()
            && s.contains(address)
            && address.saturating_add(size) <= s.address.saturating_add(s.extent())
    })
}

/// The alignment padding after each function, summed per section
/// position, sorted.
fn padding_of(layout: &Layout<'_>, functions: &[go::GoFunction]) -> Vec<(usize, u64)> {
    let mut padding: HashMap<usize, u64> = HashMap::new();
    for function in functions {
        if function.padding == 0 {
            continue;
        }
        let end = function.entry.saturating_add(function.size);
        if let Some(section) = section_of(layout, end, function.padding) {
            *padding.entry(section).or_default() += function.padding;
        }
    }
    let mut out: Vec<(usize, u64)> = padding.into_iter().collect();
    out.sort_unstable();
    out
}

/// Read the Go tables of the image and turn them into charges. With an
/// `isa`, the functions' code is decoded (once) for the type descriptors
/// it refers to, which the type walk starts from too.
pub(crate) fn charges(
    layout: &Layout<'_>,
    module: &[u8],
    target: go::Target,
    go_version: Option<&str>,
    isa: Option<Isa>,
) -> GoCharges {
    let memory = wasm_memory(&layout.sections);
    let sections = go_sections(&layout.sections, memory.as_ref());
    let wasm = layout.format == Format::Wasm;
    let mut out = GoCharges::default();
    let mut code: Option<CodeRefs> = None;
    let mut seeds = |functions: &[go::GoFunction], types: (u64, u64)| {
        let Some(isa) = isa else {
            return (Vec::new(), Vec::new());
        };
        let decoded = CodeRefs::decode(layout, isa, functions, types);
        let referenced = decoded.within(types);
        let packages = decoded.packages.clone();
        code = Some(decoded);
        (referenced, packages)
    };
    let Some(tables) = go::read_tables(&sections, target, go_version, &mut seeds) else {
        return out;
    };
    out.code = code;
    out.padding = padding_of(layout, &tables.functions);
    if let Some(split) = &tables.pclntab {
        let section = if wasm {
            Some(0)
        } else {
            section_of(layout, split.address, split.size)
        };
        if let Some(section) = section {
            out.regions.push(Region {
                section,
                ranges: vec![(split.address, split.address + split.size)],
                charges: split.by_package.clone(),
            });
        }
    }
    if let Some(data) = &tables.runtime {
        if wasm {
            let mut region = Region {
                section: 0,
                ranges: Vec::new(),
                charges: Vec::new(),
            };
            let mut bytes: HashMap<u32, u64> = HashMap::new();
            for &(start, end, owner) in &data.pieces {
                region.ranges.push((start, end));
                *bytes.entry(owner).or_default() += end - start;
            }
            region.charges = bytes
                .into_iter()
                .filter_map(|(o, n)| Some((data.packages.get(o as usize)?.clone(), n)))
                .collect();
            region
                .charges
                .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            out.regions.push(region);
        } else {
            out.regions.extend(regions_of(layout, data));
        }
    }
    if wasm {
        // The data the code references, outside the tables (memory addresses).
        if let Some((base, data)) = &memory {
            let mut taken: Vec<(u64, u64)> = out
                .regions
                .iter()
                .flat_map(|r| r.ranges.iter().copied())
                .collect();
            let bounds = (*base, data.len() as u64);
            let findfunctab = tables.module.as_ref().and_then(|m| {
                crate::go_wasm::findfunctab_region(m, &tables.functions, bounds, &taken)
            });
            if let Some(region) = findfunctab {
                taken.extend(region.ranges.iter().copied());
                out.regions.push(region);
            }
            let region =
                crate::go_wasm::data_region(module, (*base, data), &taken, &tables.functions);
            out.regions.extend(region);
        }
        wasm_to_section(layout, &mut out.regions);
        out.regions.extend(crate::go_wasm::function_entry_regions(
            module,
            layout,
            &tables.functions,
        ));
    }
    out.runtime = tables.runtime;
    out.functions = tables.functions;
    out
}

/// Most relocation entries read from one section.
const MAX_RELOCATIONS: usize = 1 << 24;

/// Who owns a data address of a Go binary: the package of the runtime data
/// there (type data, itabs, funcdata), else of the data its code references
/// there, else the unit of the symbol there.
pub(crate) struct DataOwners<'a> {
    runtime: Option<&'a go::RuntimeDataSplit>,
    strings: &'a StringCharges,
    /// Symbols by address: (start, end, index into `names`).
    symbols: Vec<(u64, u64, usize)>,
    names: &'a [Demangled],
}

impl<'a> DataOwners<'a> {
    pub(crate) fn new(
        go: &'a GoCharges,
        strings: &'a StringCharges,
        placed: &[PlacedSymbol],
        names: &'a [Demangled],
    ) -> Self {
        // Symbols of loaded sections do not overlap.
        let mut symbols: Vec<(u64, u64, usize)> = placed
            .iter()
            .enumerate()
            .filter(|(_, p)| p.size > 0)
            .map(|(i, p)| (p.address, p.address.saturating_add(p.size), i))
            .collect();
        symbols.sort_unstable();
        DataOwners {
            runtime: go.runtime.as_ref(),
            strings,
            symbols,
            names,
        }
    }

    /// The unit owning `address`, if any.
    pub(crate) fn unit(&self, address: u64) -> Option<&'a str> {
        fn find(pieces: &[(u64, u64, u32)], address: u64) -> Option<u32> {
            let i = pieces.partition_point(|p| p.1 <= address);
            let &(start, _, owner) = pieces.get(i)?;
            (start <= address).then_some(owner)
        }
        if let Some(data) = self.runtime
            && let Some(owner) = find(&data.pieces, address)
        {
            return data.packages.get(owner as usize).map(String::as_str);
        }
        if let Some(owner) = find(&self.strings.pieces, address) {
            return self
                .strings
                .packages
                .get(owner as usize)
                .map(String::as_str);
        }
        let i = self.symbols.partition_point(|s| s.1 <= address);
        let &(start, _, index) = self.symbols.get(i)?;
        (start <= address).then(|| self.names.get(index).map(|n| n.unit.as_str()))?
    }
}

/// Charge each entry of the loaded ELF relocation sections (`.rela.dyn`,
/// `.rela`, `.rel.dyn`) to the unit owning the address it patches (see
/// [`DataOwners`]). Entries patching addresses no one owns stay
/// unattributed.
pub(crate) fn relocation_regions(
    layout: &Layout<'_>,
    target: go::Target,
    owners: &DataOwners<'_>,
) -> Vec<Region> {
    if layout.format != Format::Elf {
        return Vec::new();
    }
    let owner = |address: u64| owners.unit(address);
    let word = u64::from(target.ptr_size);
    let layout_of = crate::go::Layout {
        big_endian: target.big_endian,
        ptr_size: target.ptr_size,
    };
    let mut regions = Vec::new();
    for (index, section) in layout.sections.iter().enumerate() {
        let entry = if section.raw_name.starts_with(".rela") {
            3 * word
        } else if section.raw_name.starts_with(".rel.") || section.raw_name == ".rel" {
            2 * word
        } else {
            continue;
        };
        if section.shipped == 0 || section.vm_size == 0 {
            continue;
        }
        let mut bytes: HashMap<&str, u64> = HashMap::new();
        let count = (section.data.len() as u64 / entry).min(MAX_RELOCATIONS as u64);
        for i in 0..count {
            let Some(patched) = usize::try_from(i * entry)
                .ok()
                .and_then(|at| layout_of.word(section.data, at))
            else {
                break;
            };
            if let Some(unit) = owner(patched) {
                *bytes.entry(unit).or_default() += entry;
            }
        }
        regions.push(whole_section(index, section, bytes));
    }
    regions
}

/// A region over the whole of section `index`, shared between units by the
/// bytes each was charged.
fn whole_section(index: usize, section: &SectionInfo<'_>, bytes: HashMap<&str, u64>) -> Region {
    let charges: Vec<(String, u64)> = bytes.into_iter().map(|(u, n)| (u.to_owned(), n)).collect();
    Region::new(
        index,
        vec![(
            section.address,
            section.address.saturating_add(section.shipped),
        )],
        charges,
    )
}

/// Charge each PE base relocation (`.reloc`: blocks of a page RVA, the
/// block's size and 2-byte entries, type in the top 4 bits) to the unit
/// owning the address it patches (see [`DataOwners`]); a block's 8-byte
/// header and its padding entries go with its first owned entry. `base` is
/// the image base the RVAs are relative to.
pub(crate) fn base_relocation_regions(
    layout: &Layout<'_>,
    owners: &DataOwners<'_>,
    base: u64,
) -> Vec<Region> {
    if layout.format != Format::Pe {
        return Vec::new();
    }
    let mut regions = Vec::new();
    for (index, section) in layout.sections.iter().enumerate() {
        if section.raw_name != ".reloc" || section.shipped == 0 {
            continue;
        }
        let data = section.data;
        let u32_at = |at: usize| -> Option<u32> {
            Some(u32::from_le_bytes(
                data.get(at..at.checked_add(4)?)?.try_into().ok()?,
            ))
        };
        let mut bytes: HashMap<&str, u64> = HashMap::new();
        let mut at = 0usize;
        while let (Some(page), Some(size)) = (u32_at(at), u32_at(at + 4)) {
            let size = size as usize;
            let Some(block) = data.get(at..at.saturating_add(size)).filter(|_| size >= 8) else {
                break;
            };
            let mut first: Option<&str> = None;
            for entry in block[8..].chunks_exact(2) {
                let value = u16::from_le_bytes([entry[0], entry[1]]);
                if value >> 12 == 0 {
                    continue;
                }
                let patched = base
                    .saturating_add(u64::from(page))
                    .saturating_add(u64::from(value & 0x0fff));
                if let Some(unit) = owners.unit(patched) {
                    *bytes.entry(unit).or_default() += 2;
                    first.get_or_insert(unit);
                }
            }
            if let Some(unit) = first {
                let owned: u64 = 2 * block[8..]
                    .chunks_exact(2)
                    .filter(|e| u16::from_le_bytes([e[0], e[1]]) >> 12 == 0)
                    .count() as u64;
                *bytes.entry(unit).or_default() += 8 + owned + (size as u64 - 8) % 2;
            }
            at += size;
        }
        regions.push(whole_section(index, section, bytes));
    }
    regions
}

/// Charge each x86-64 `RUNTIME_FUNCTION` entry (12 bytes: begin, end and
/// unwind info RVAs) of the PE exception directory `.pdata` to the package
/// of the function it begins, and each `UNWIND_INFO` of `.xdata` (its
/// header and unwind codes) to the packages of the functions using it, in
/// equal parts. `base` is the image base the RVAs are relative to.
pub(crate) fn pdata_regions(
    layout: &Layout<'_>,
    functions: &[go::GoFunction],
    base: u64,
) -> Vec<Region> {
    if layout.format != Format::Pe || functions.is_empty() {
        return Vec::new();
    }
    let package = |address: u64| -> Option<&str> {
        let i = functions
            .partition_point(|f| f.entry <= address)
            .checked_sub(1)?;
        let f = &functions[i];
        (address < f.entry.saturating_add(f.size.max(1))).then(|| go::package_of(&f.name))
    };
    let mut charged: Vec<(usize, u64, u64, &str)> = Vec::new();
    let mut unwind_users: HashMap<u64, Vec<&str>> = HashMap::new();
    for (index, section) in layout.sections.iter().enumerate() {
        if section.raw_name != ".pdata" || section.shipped == 0 {
            continue;
        }
        for entry in crate::functions::runtime_functions(section) {
            let Some(unit) = package(base.saturating_add(entry.begin)) else {
                continue;
            };
            charged.push((index, entry.at, entry.at + 12, unit));
            if let Some(info) = entry.unwind_info(base) {
                unwind_users.entry(info).or_default().push(unit);
            }
        }
    }
    let mut regions = Region::group_shipped(charged, layout);
    let mut unwind: Vec<(usize, u64, u64, String)> = Vec::new();
    for (address, mut users) in unwind_users {
        let Some(section) = layout
            .sections
            .iter()
            .position(|s| s.raw_name == ".xdata" && s.contains(address))
        else {
            continue;
        };
        let info = &layout.sections[section];
        let Some(header) = usize::try_from(address - info.address)
            .ok()
            .and_then(|at| info.data.get(at..at.checked_add(4)?))
        else {
            continue;
        };
        // Version and flags, prologue size, count of 2-byte codes, frame
        // register; the codes are padded to an even count.
        let codes = u64::from(header[2]).next_multiple_of(2);
        let size = 4 + 2 * codes;
        users.sort_unstable();
        users.dedup();
        // One range per user, in equal parts (the remainder to the first).
        let count = users.len() as u64;
        let mut at = address;
        for (i, user) in users.into_iter().enumerate() {
            let share = size / count + u64::from((i as u64) < size % count);
            unwind.push((section, at, at + share, user.to_owned()));
            at += share;
        }
    }
    regions.extend(Region::group_shipped(unwind, layout));
    regions
}

/// The Mach-O `__LINKEDIT` charges of a Go binary (see
/// [`crate::macho_linkedit`]); none for other formats.
pub(crate) fn linkedit_moves(
    file: &object::File<'_>,
    bytes: &[u8],
    owners: &DataOwners<'_>,
) -> crate::macho_linkedit::Moves {
    let owner = |address: u64| owners.unit(address);
    match file {
        object::File::MachO32(m) => crate::macho_linkedit::charges(m, bytes, &owner),
        object::File::MachO64(m) => crate::macho_linkedit::charges(m, bytes, &owner),
        _ => Vec::new(),
    }
}

/// The runtime data pieces grouped by section: one region per section.
fn regions_of(layout: &Layout<'_>, data: &go::RuntimeDataSplit) -> Vec<Region> {
    /// A section's ranges, and bytes per owner.
    type Pieces = (Vec<(u64, u64)>, HashMap<u32, u64>);
    let mut by_section: HashMap<usize, Pieces> = HashMap::new();
    let mut current: Option<usize> = None;
    for &(start, end, owner) in &data.pieces {
        let fits = |i: usize| {
            let s = &layout.sections[i];
            s.contains(start) && end <= s.address.saturating_add(s.extent())
        };
        let section = match current.filter(|&i| fits(i)) {
            Some(i) => i,
            None => match section_of(layout, start, end - start) {
                Some(i) => i,
                None => continue,
            },
        };
        current = Some(section);
        let entry = by_section.entry(section).or_default();
        match entry.0.last_mut() {
            Some(last) if last.1 == start => last.1 = end,
            _ => entry.0.push((start, end)),
        }
        *entry.1.entry(owner).or_default() += end - start;
    }
    let mut regions: Vec<Region> = by_section
        .into_iter()
        .map(|(section, (ranges, bytes))| {
            let charges: Vec<(String, u64)> = bytes
                .into_iter()
                .filter_map(|(owner, n)| Some((data.packages.get(owner as usize)?.clone(), n)))
                .collect();
            Region::new(section, ranges, charges)
        })
        .collect();
    regions.sort_by_key(|r| r.section);
    regions
}

/// Set each Go package unit's module path and version from the build
/// info's main module and `dep` lines (the longest module path that is the
/// package path or a prefix of it ending at a `/`). Standard library
/// packages have no module.
pub(crate) fn set_modules(units: &mut [Unit], build: &GoBuildInfo) {
    let mut modules: Vec<(&str, &str)> = build
        .deps
        .iter()
        .chain(build.main.iter())
        .map(|m| {
            // A replaced module's code comes from the replacement, but the
            // import paths stay those of the original.
            let version = m.replace.as_ref().map_or(m.version.as_str(), |r| {
                if r.version.is_empty() {
                    m.version.as_str()
                } else {
                    r.version.as_str()
                }
            });
            (m.path.as_str(), version)
        })
        .collect();
    // Longest first, so the first match is the longest.
    modules.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(b.0)));
    for unit in units.iter_mut().filter(|u| u.kind == UnitKind::Package) {
        let path = go::unescape_package(&unit.name).into_owned();
        let module = modules.iter().find(|(module, _)| {
            path == *module
                || (path.starts_with(module) && path.as_bytes().get(module.len()) == Some(&b'/'))
        });
        if let Some((module, version)) = module {
            unit.module = Some((*module).to_owned());
            unit.version = Some((*version).to_owned());
        } else if path == "main"
            && let Some(main) = &build.main
        {
            unit.module = Some(main.path.clone());
            unit.version = Some(main.version.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::GoModule;

    fn package(name: &str) -> Unit {
        Unit {
            name: name.into(),
            kind: UnitKind::Package,
            size: 1,
            symbols: 1,
            version: None,
            module: None,
        }
    }

    fn module(path: &str, version: &str) -> GoModule {
        GoModule {
            path: path.into(),
            version: version.into(),
            sum: None,
            replace: None,
        }
    }

    #[test]
    fn wasm_names_are_mangled_as_go_writes_them() {
        assert_eq!(
            wasm_mangled("net/http.(*conn).serve"),
            "net_http.__conn_.serve"
        );
        assert_eq!(wasm_mangled("main.main"), "main.main");
    }

    #[test]
    fn wasm_segments_are_read_up_to_the_first_malformed_one() {
        // Two active segments (i32.const 16 and 0x1000), one passive, then junk.
        let data = [
            4, 0, 0x41, 16, 0x0b, 2, 0xaa, 0xbb, 0, 0x41, 0x80, 0x20, 0x0b, 1, 0xcc, 1, 1, 0xdd, 0,
            0x42,
        ];
        assert_eq!(
            wasm_segments(&data),
            [
                Segment {
                    address: 16,
                    offset: 6,
                    len: 2
                },
                Segment {
                    address: 0x1000,
                    offset: 14,
                    len: 1
                },
            ]
        );
        assert_eq!(wasm_segments(&[0xff]), []);
    }

    #[test]
    fn packages_take_the_longest_module_path_that_contains_them() {
        let build = GoBuildInfo {
            go_version: "go1.22.1".into(),
            path: Some("example.com/app".into()),
            main: Some(module("example.com/app", "(devel)")),
            deps: vec![
                module("golang.org/x/net", "v0.23.0"),
                module("golang.org/x/net/http2x", "v1.0.0"),
                module("gopkg.in/yaml.v3", "v3.0.1"),
            ],
            settings: Vec::new(),
        };
        let mut units = vec![
            package("golang.org/x/net/http2"),
            package("golang.org/x/net/http2x/h"),
            package("golang.org/x/netfoo"),
            package("gopkg.in/yaml%2ev3"),
            package("main"),
            package("net/http"),
        ];
        set_modules(&mut units, &build);
        let got: Vec<(Option<&str>, Option<&str>)> = units
            .iter()
            .map(|u| (u.module.as_deref(), u.version.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (Some("golang.org/x/net"), Some("v0.23.0")),
                (Some("golang.org/x/net/http2x"), Some("v1.0.0")),
                (None, None),
                (Some("gopkg.in/yaml.v3"), Some("v3.0.1")),
                (Some("example.com/app"), Some("(devel)")),
                (None, None),
            ]
        );
    }
}
