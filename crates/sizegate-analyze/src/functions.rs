//! Functions of a stripped Mach-O, PE or ELF file and their crates.
//!
//! Release builds for macOS and Windows keep few symbols (a dylib only its
//! exports), but the file still knows where its functions are: Mach-O's
//! `LC_FUNCTION_STARTS` (every function's start, ULEB128 deltas from
//! `__TEXT`) and the x86-64 PE exception directory `.pdata` (begin, end and
//! unwind info of every function that is not a leaf), and on ELF the code
//! ranges of the `.eh_frame` FDEs when no symbol is left. Each function no
//! symbol covers is given the crate of the panic locations its code refers
//! to (decoded with `code_refs`; `#[track_caller]` makes `unwrap` and
//! indexing report the caller's own file, so these name the function's
//! crate, the most named one when several). A function with no such
//! reference lying between two functions of the same crate goes to that
//! crate (codegen units are laid out together); the others stay
//! unattributed. The function's bytes, its `.pdata` entry and its unwind
//! info are charged to the crate.

use std::collections::HashMap;

use object::read::macho::{LoadCommandVariant, MachHeader, MachOFile};
use object::{Endianness, Object, ObjectSegment};

use crate::code_refs::{CodeSections, Isa, References};
use crate::format::Layout;
use crate::go_units::Region;
use crate::sections::SectionInfo;

/// Most functions read (bounds memory on hostile input).
const MAX_FUNCTIONS: usize = 1 << 22;
/// Longest function we believe.
const MAX_FUNCTION: u64 = 1 << 26;
/// Most call targets kept per function.
const MAX_CALLS: usize = 4096;
/// Rounds of giving a function its callers' crate.
const CALL_ROUNDS: usize = 4;

/// One function the file describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Function {
    pub start: u64,
    pub end: u64,
    /// Section position, address and size of its `.pdata` entry (12
    /// bytes on x86-64, 8 on arm64).
    pub pdata: Option<(usize, u64, u64)>,
    /// Address of its `UNWIND_INFO`.
    pub unwind: Option<u64>,
}

/// The functions of a Mach-O (`LC_FUNCTION_STARTS`) or x86-64 PE
/// (`.pdata`) image, sorted by start, each ending where the next starts
/// (or its code section ends). Empty for other files.
pub(crate) fn extents(
    file: &object::File<'_>,
    bytes: &[u8],
    layout: &Layout<'_>,
    words: crate::go::Layout,
    code_symbols: bool,
) -> Vec<Function> {
    let mut functions = match file {
        // A stripped ELF file: the code its FDEs describe.
        object::File::Elf32(_) | object::File::Elf64(_) if !code_symbols => {
            crate::unwind::fde_extents(layout, words)
                .into_iter()
                .take(MAX_FUNCTIONS)
                .map(|(start, end)| Function {
                    start,
                    end,
                    pdata: None,
                    unwind: None,
                })
                .collect()
        }
        object::File::MachO64(m) => macho_starts(m, bytes),
        object::File::MachO32(m) => macho_starts(m, bytes),
        object::File::Pe64(_) if file.architecture() == object::Architecture::X86_64 => {
            pdata(layout, file.relative_address_base())
        }
        object::File::Pe64(_) if file.architecture() == object::Architecture::Aarch64 => {
            pdata_arm64(layout, file.relative_address_base())
        }
        _ => Vec::new(),
    };
    functions.sort_unstable();
    functions.dedup_by_key(|f| f.start);
    // Ends: the next start, within the code section holding the function.
    let code = CodeSections::new(layout);
    let next: Vec<u64> = functions.iter().skip(1).map(|f| f.start).collect();
    functions
        .iter_mut()
        .zip(next.into_iter().map(Some).chain(std::iter::once(None)))
        .for_each(|(f, next)| {
            let section_end = code.end_of(f.start).unwrap_or(f.start);
            let mut end = if f.end > f.start { f.end } else { section_end };
            if let Some(next) = next {
                end = end.min(next);
            }
            f.end = end
                .min(section_end)
                .min(f.start.saturating_add(MAX_FUNCTION));
        });
    functions.retain(|f| f.end > f.start);
    functions
}

fn macho_starts<Mach: MachHeader<Endian = Endianness>>(
    file: &MachOFile<'_, Mach>,
    bytes: &[u8],
) -> Vec<Function> {
    let mut out = Vec::new();
    let Some(text) = file
        .segments()
        .find(|s| s.name().ok().flatten() == Some("__TEXT"))
        .map(|s| s.address())
    else {
        return out;
    };
    let endian = file.endian();
    let Ok(mut commands) = file.macho_load_commands() else {
        return out;
    };
    while let Ok(Some(command)) = commands.next() {
        if command.cmd() != object::macho::LC_FUNCTION_STARTS {
            continue;
        }
        let Ok(LoadCommandVariant::LinkeditData(data)) = command.variant() else {
            continue;
        };
        let (offset, size) = (
            data.dataoff.get(endian) as usize,
            data.datasize.get(endian) as usize,
        );
        let Some(mut data) = offset
            .checked_add(size)
            .and_then(|end| bytes.get(offset..end))
        else {
            continue;
        };
        let mut address = text;
        while out.len() < MAX_FUNCTIONS {
            let Some((delta, used)) = crate::go::uleb128(data) else {
                break;
            };
            if delta == 0 {
                break;
            }
            data = &data[used..];
            address = address.saturating_add(delta);
            out.push(Function {
                start: address,
                end: 0,
                pdata: None,
                unwind: None,
            });
        }
    }
    out
}

/// One x86-64 `RUNTIME_FUNCTION` entry of a `.pdata` section: the entry's
/// own address and its begin, end and unwind info RVAs.
pub(crate) struct RuntimeFunction {
    pub(crate) at: u64,
    pub(crate) begin: u64,
    pub(crate) end: u64,
    pub(crate) unwind: u64,
}

impl RuntimeFunction {
    /// The address of its `UNWIND_INFO`, relative to image base `base`;
    /// `None` when bit 0 is set (a pointer to another entry, not unwind
    /// info) or there is none.
    pub(crate) fn unwind_info(&self, base: u64) -> Option<u64> {
        (self.unwind != 0 && self.unwind & 1 == 0).then(|| base.saturating_add(self.unwind))
    }
}

/// The 12-byte `RUNTIME_FUNCTION` entries of `section`, in order.
pub(crate) fn runtime_functions<'s>(
    section: &'s SectionInfo<'_>,
) -> impl Iterator<Item = RuntimeFunction> + 's {
    section.data.chunks_exact(12).enumerate().map(|(i, entry)| {
        let word = |at: usize| {
            u64::from(u32::from_le_bytes([
                entry[at],
                entry[at + 1],
                entry[at + 2],
                entry[at + 3],
            ]))
        };
        RuntimeFunction {
            at: section.address.saturating_add(12 * i as u64),
            begin: word(0),
            end: word(4),
            unwind: word(8),
        }
    })
}

/// x86-64 `RUNTIME_FUNCTION` entries: begin, end and unwind info RVAs.
fn pdata(layout: &Layout<'_>, base: u64) -> Vec<Function> {
    let mut out = Vec::new();
    for (index, section) in layout.sections.iter().enumerate() {
        if section.raw_name != ".pdata" {
            continue;
        }
        for entry in runtime_functions(section) {
            if out.len() >= MAX_FUNCTIONS {
                break;
            }
            if entry.begin == 0 || entry.end <= entry.begin {
                continue;
            }
            out.push(Function {
                start: base.saturating_add(entry.begin),
                end: base.saturating_add(entry.end),
                pdata: Some((index, entry.at, 12)),
                unwind: entry.unwind_info(base),
            });
        }
    }
    out
}

/// arm64 `.pdata` entries (8 bytes: the function's RVA, then either the
/// RVA of its `.xdata` record or, when the low two bits are set, packed
/// unwind data holding the function's length in words).
fn pdata_arm64(layout: &Layout<'_>, base: u64) -> Vec<Function> {
    let mut out = Vec::new();
    for (index, section) in layout.sections.iter().enumerate() {
        if section.raw_name != ".pdata" {
            continue;
        }
        for (i, entry) in section.data.chunks_exact(8).enumerate() {
            if out.len() >= MAX_FUNCTIONS {
                break;
            }
            let begin = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
            let unwind = u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
            if begin == 0 {
                continue;
            }
            let start = base.saturating_add(u64::from(begin));
            let (length, xdata) = if unwind & 3 == 0 {
                let xdata = base.saturating_add(u64::from(unwind));
                let header = read_u32(layout, xdata).unwrap_or(0);
                (u64::from(header & 0x3_ffff) * 4, Some(xdata))
            } else {
                (u64::from((unwind >> 2) & 0x7ff) * 4, None)
            };
            out.push(Function {
                start,
                end: start.saturating_add(length),
                pdata: Some((index, section.address.saturating_add(8 * i as u64), 8)),
                unwind: xdata,
            });
        }
    }
    out
}

/// Bytes of an arm64 `.xdata` record: its header (one word, two when both
/// counts there are 0), the epilog scopes (a word each, none when the `E`
/// bit says the one epilog is packed in the header), the unwind code
/// words, and the exception handler's RVA when the `X` bit is set (the
/// handler's own data follows).
fn xdata_size(layout: &Layout<'_>, address: u64) -> Option<u64> {
    let header = read_u32(layout, address)?;
    let (x, e) = (header >> 20 & 1, header >> 21 & 1);
    let (mut epilogs, mut words) = (header >> 22 & 0x1f, header >> 27 & 0x1f);
    let mut size = 4u64;
    if epilogs == 0 && words == 0 {
        let extended = read_u32(layout, address.saturating_add(4))?;
        (epilogs, words) = (extended & 0xffff, extended >> 16 & 0xff);
        size += 4;
    }
    if e == 0 {
        size += 4 * u64::from(epilogs);
    }
    size += 4 * u64::from(words) + 4 * u64::from(x);
    Some(size)
}

/// The crate of each function no symbol covers (`covered` says which
/// are): (start, end, crate) of those given one. `locations` are the panic
/// locations found, (start, end, crate) sorted by start.
pub(crate) fn crates<'a>(
    functions: &[Function],
    layout: &Layout<'_>,
    isa: Option<Isa>,
    locations: &'a [(u64, u64, String)],
    covered: &dyn Fn(u64) -> bool,
) -> Vec<(u64, u64, &'a str)> {
    let Some(isa) = isa else {
        return Vec::new();
    };
    if locations.is_empty() {
        return Vec::new();
    }
    let (referenced, calls) = references(functions, layout, isa, locations, covered);
    let mut named = vote(referenced, locations);
    name_by_callers(&mut named, &calls);
    between_same_crate(&named)
}

/// A function and the panic locations (indices) its code refers to.
type Referenced = (Function, Vec<u32>);

/// Per function no symbol covers: the panic locations its code refers to
/// (indices into `locations`), and the addresses it calls or jumps to
/// outside itself.
fn references(
    functions: &[Function],
    layout: &Layout<'_>,
    isa: Isa,
    locations: &[(u64, u64, String)],
    covered: &dyn Fn(u64) -> bool,
) -> (Vec<Referenced>, Vec<Vec<u64>>) {
    let location = |address: u64| -> Option<usize> {
        let i = locations.partition_point(|l| l.1 <= address);
        locations.get(i).filter(|l| l.0 <= address).map(|_| i)
    };
    let inside = |address: u64| location(address).is_some();
    let mut decoder = References::new(isa);
    let mut referenced: Vec<Referenced> = Vec::new();
    let mut calls: Vec<Vec<u64>> = Vec::new();
    let code = CodeSections::new(layout);
    for f in functions {
        if covered(f.start) {
            continue;
        }
        let Some(bytes) = code.bytes(f.start, f.end) else {
            continue;
        };
        let mut found: Vec<u32> = Vec::new();
        decoder.scan(bytes, f.start, &inside, &mut |address, _| {
            if let Some(i) = location(address) {
                found.push(i as u32);
            }
        });
        found.sort_unstable();
        found.dedup();
        let mut targets: Vec<u64> = Vec::new();
        decoder.branches(bytes, f.start, &mut |target| {
            if (target < f.start || target >= f.end) && targets.len() < MAX_CALLS {
                targets.push(target);
            }
        });
        calls.push(targets);
        referenced.push((*f, found));
    }
    (referenced, calls)
}

/// Each function's crate by its panic locations' votes. A location many
/// functions use is inlined library code (an indexing helper's own panic);
/// one few functions use is the function's own `unwrap` or index. Each
/// location votes 1 / (functions using it).
fn vote<'a>(
    referenced: Vec<Referenced>,
    locations: &'a [(u64, u64, String)],
) -> Vec<(Function, Option<&'a str>)> {
    let mut users: HashMap<u32, u32> = HashMap::new();
    for (_, found) in &referenced {
        for &i in found {
            *users.entry(i).or_default() += 1;
        }
    }
    let mut votes: HashMap<&'a str, f64> = HashMap::new();
    referenced
        .into_iter()
        .map(|(f, found)| {
            votes.clear();
            for i in found {
                let weight = 1.0 / f64::from(users.get(&i).copied().unwrap_or(1).max(1));
                *votes.entry(locations[i as usize].2.as_str()).or_default() += weight;
            }
            let best = votes
                .iter()
                .max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(a.0)))
                .map(|(&name, _)| name);
            (f, best)
        })
        .collect()
}

/// A function without evidence that only functions of one crate call is
/// taken to be of that crate (a generic instantiated there, or a private
/// helper); rounds let this reach helpers of helpers.
fn name_by_callers(named: &mut [(Function, Option<&str>)], calls: &[Vec<u64>]) {
    let starts: Vec<u64> = named.iter().map(|n| n.0.start).collect();
    let mut callers: Vec<(usize, usize)> = Vec::new();
    for (caller, targets) in calls.iter().enumerate() {
        for target in targets {
            if let Ok(callee) = starts.binary_search(target) {
                callers.push((callee, caller));
            }
        }
    }
    callers.sort_unstable();
    callers.dedup();
    for _ in 0..CALL_ROUNDS {
        let mut found = Vec::new();
        let mut at = 0;
        while at < callers.len() {
            let callee = callers[at].0;
            let run = callers[at..].iter().take_while(|c| c.0 == callee).count();
            if named[callee].1.is_none() {
                let mut crates = callers[at..at + run].iter().map(|c| named[c.1].1);
                if let Some(Some(first)) = crates.next()
                    && crates.all(|c| c == Some(first))
                {
                    found.push((callee, first));
                }
            }
            at += run;
        }
        if found.is_empty() {
            break;
        }
        for (callee, name) in found {
            named[callee].1 = Some(name);
        }
    }
}

/// The named functions, and between two functions of one crate those
/// without evidence, taken to be of that crate too.
fn between_same_crate<'a>(named: &[(Function, Option<&'a str>)]) -> Vec<(u64, u64, &'a str)> {
    let mut out = Vec::with_capacity(named.len());
    let mut previous: Option<&str> = None;
    let mut i = 0;
    while i < named.len() {
        if let (f, Some(name)) = named[i] {
            out.push((f.start, f.end, name));
            previous = Some(name);
            i += 1;
            continue;
        }
        let run = named[i..].iter().take_while(|n| n.1.is_none()).count();
        let next = named.get(i + run).and_then(|n| n.1);
        if let (Some(a), Some(b)) = (previous, next)
            && a == b
        {
            out.extend(named[i..i + run].iter().map(|(f, _)| (f.start, f.end, a)));
        }
        i += run;
    }
    out
}

/// Regions charging the functions' bytes, `.pdata` entries and unwind info
/// to their crates.
pub(crate) fn regions(
    functions: &[Function],
    crates: &[(u64, u64, &str)],
    layout: &Layout<'_>,
    base: u64,
) -> Vec<Region> {
    // Loaded sections by address, to find the one holding an address.
    let mut loaded: Vec<(u64, u64, usize)> = layout
        .sections
        .iter()
        .enumerate()
        .filter(|(_, s)| s.vm_size > 0)
        .map(|(i, s)| (s.address, s.address.saturating_add(s.extent()), i))
        .collect();
    loaded.sort_unstable();
    let section_of = |address: u64| {
        let i = loaded.partition_point(|s| s.0 <= address).checked_sub(1)?;
        loaded.get(i).filter(|s| address < s.1).map(|s| s.2)
    };
    let by_start: HashMap<u64, &Function> = functions.iter().map(|f| (f.start, f)).collect();
    let mut charged: Vec<(usize, u64, u64, &str)> = Vec::new();
    for &(start, end, name) in crates {
        if let Some(section) = section_of(start) {
            charged.push((section, start, end, name));
        }
        let Some(f) = by_start.get(&start) else {
            continue;
        };
        let mut arm64 = false;
        if let Some((section, entry, size)) = f.pdata {
            charged.push((section, entry, entry + size, name));
            arm64 = size == 8;
        }
        let size_of = |section: usize, unwind: u64| match arm64 {
            true => xdata_size(layout, unwind),
            false => unwind_info_size(layout, section, unwind),
        };
        if let Some(unwind) = f.unwind
            && let Some(section) = section_of(unwind)
            && let Some(size) = size_of(section, unwind)
        {
            // A handler's data: the C++ exception tables, when the handler
            // is `__CxxFrameHandler3`'s kind (with their 4-byte RVA).
            let tables = read_u32(layout, unwind + size)
                .map(|rva| cxx_tables(layout, base, base.saturating_add(u64::from(rva))))
                .unwrap_or_default();
            let data = if tables.is_empty() { 0 } else { 4 };
            charged.push((section, unwind, unwind + size + data, name));
            for (start, end) in tables {
                if let Some(section) = section_of(start) {
                    charged.push((section, start, end, name));
                }
            }
        }
    }
    let charged = charged
        .into_iter()
        .filter_map(|(section, start, end, name)| {
            let info = layout.sections.get(section)?;
            Some((
                section,
                start,
                end.min(info.address.saturating_add(info.shipped)),
                name,
            ))
        })
        .collect();
    Region::group(charged)
}

/// The little-endian word at `address`, in the section holding it.
fn read_u32(layout: &Layout<'_>, address: u64) -> Option<u32> {
    let s = layout
        .sections
        .iter()
        .find(|s| s.contains(address) && !s.data.is_empty())?;
    let at = usize::try_from(address - s.address).ok()?;
    let word = s.data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
}

/// The C++ exception tables an x86-64 `__CxxFrameHandler3` reads (what
/// rustc's cleanups and `catch_unwind` use on Windows), from the
/// `FuncInfo` at `at` (its handler data): the `FuncInfo` (32, 36 or 40
/// bytes by its magic number), its unwind map (8 bytes a state), its
/// try-block map (20 bytes a block, and each block's 20-byte handlers) and
/// its IP-to-state map (8 bytes an entry), as (start, end) addresses. Empty
/// when `at` holds no `FuncInfo`; a table that does not fit in its section
/// is left out, so the work is bounded by the section sizes.
fn cxx_tables(layout: &Layout<'_>, base: u64, at: u64) -> Vec<(u64, u64)> {
    let word = |offset: u64| read_u32(layout, at.saturating_add(offset));
    let size = match word(0) {
        Some(0x1993_0520) => 32,
        Some(0x1993_0521) => 36,
        Some(0x1993_0522) => 40,
        _ => return Vec::new(),
    };
    let mut out = vec![(at, at + size)];
    // A table of `count` entries of `entry` bytes at `rva`, when it fits.
    let mut table = |rva: Option<u32>, count: Option<u32>, entry: u64| -> Option<(u64, u64)> {
        let (rva, count) = (rva.filter(|&r| r != 0)?, u64::from(count?));
        let start = base.checked_add(u64::from(rva))?;
        let end = start.checked_add(count.checked_mul(entry)?)?;
        let section = layout.sections.iter().find(|s| s.contains(start))?;
        (count > 0 && end <= section.address.saturating_add(section.data.len() as u64)).then(|| {
            out.push((start, end));
            (start, end)
        })
    };
    let _ = table(word(8), word(4), 8);
    let tries = table(word(16), word(12), 20);
    let _ = table(word(24), word(20), 8);
    if let Some((start, end)) = tries {
        let mut block = start;
        while block < end {
            let handlers = read_u32(layout, block + 12);
            let _ = table(read_u32(layout, block + 16), handlers, 20);
            block += 20;
        }
    }
    out
}

/// Bytes of an x86-64 `UNWIND_INFO`: the 4-byte header, the unwind codes
/// (an even count of 2-byte slots), then a handler's RVA or a chained
/// `RUNTIME_FUNCTION` (the handler's own data, of unknown size, is left).
pub(crate) fn unwind_info_size(layout: &Layout<'_>, section: usize, address: u64) -> Option<u64> {
    let s = layout.sections.get(section)?;
    let at = usize::try_from(address.checked_sub(s.address)?).ok()?;
    let header = s.data.get(at..at.checked_add(4)?)?;
    let (flags, codes) = (header[0] >> 3, u64::from(header[2]));
    if header[0] & 7 != 1 && header[0] & 7 != 2 {
        return None;
    }
    let mut size = 4 + 2 * (codes + (codes & 1));
    if flags & 0b011 != 0 {
        size += 4;
    } else if flags & 0b100 != 0 {
        size += 12;
    }
    Some(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::SectionKind;

    fn rdata(data: &[u8]) -> Layout<'_> {
        let section = crate::sections::SectionInfo {
            name: ".rdata".into(),
            raw_name: ".rdata".into(),
            size: data.len() as u64,
            kind: SectionKind::Rodata,
            index: object::SectionIndex(1),
            address: 0x1000,
            vm_size: data.len() as u64,
            file_range: None,
            align: 4,
            data,
            share: 0,
            shipped: data.len() as u64,
        };
        Layout {
            format: crate::report::Format::Pe,
            sections: vec![section],
            partition: Vec::new(),
            shipped_pseudo: Vec::new(),
            symbol_bytes: 0,
        }
    }

    #[test]
    fn arm64_xdata_sizes() {
        // X set, E clear, two epilog scopes, three code words.
        let header: u32 = 1 << 20 | 2 << 22 | 3 << 27 | 40;
        let mut data = header.to_le_bytes().to_vec();
        // Both counts 0: an extended header word (one epilog, two words).
        data.extend_from_slice(&(1u32 << 20 | 21).to_le_bytes());
        data.extend_from_slice(&(1u32 | 2 << 16).to_le_bytes());
        let layout = rdata(&data);
        assert_eq!(xdata_size(&layout, 0x1000), Some(4 + 8 + 12 + 4));
        assert_eq!(xdata_size(&layout, 0x1004), Some(8 + 4 + 8 + 4));
        // An extended header past the end.
        assert_eq!(xdata_size(&layout, 0x1008), None);
    }

    #[test]
    fn cxx_exception_tables_follow_their_func_info() {
        let mut data = vec![0u8; 0x80];
        let put = |data: &mut Vec<u8>, at: usize, value: u32| {
            data[at..at + 4].copy_from_slice(&value.to_le_bytes());
        };
        // FuncInfo at 0x1000 (magic 0x19930522, 40 bytes): two states at
        // RVA 0x1030, no try blocks, three IP-to-state entries at 0x1040.
        put(&mut data, 0, 0x1993_0522);
        put(&mut data, 4, 2);
        put(&mut data, 8, 0x30);
        put(&mut data, 20, 3);
        put(&mut data, 24, 0x40);
        let layout = rdata(&data);
        assert_eq!(
            cxx_tables(&layout, 0x1000, 0x1000),
            [(0x1000, 0x1028), (0x1030, 0x1040), (0x1040, 0x1058)]
        );
        // A map running past its section is left out; no magic, nothing.
        put(&mut data, 20, 1000);
        let layout = rdata(&data);
        assert_eq!(cxx_tables(&layout, 0x1000, 0x1000).len(), 2);
        assert!(cxx_tables(&layout, 0x1000, 0x1004).is_empty());
    }

    #[test]
    fn unwind_info_sizes() {
        let data: Vec<u8> = vec![0x09, 4, 3, 0, 5, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9];
        let layout = rdata(&data);
        // Version 1, an exception handler, three codes (four slots).
        assert_eq!(unwind_info_size(&layout, 0, 0x1000), Some(4 + 8 + 4));
        // Not version 1 or 2.
        assert_eq!(unwind_info_size(&layout, 0, 0x1004), None);
        // Past the end.
        assert_eq!(unwind_info_size(&layout, 0, 0x100e), None);
    }
}
