//! Go string literals and other anonymous read-only data charged to the
//! packages of the functions that reference them: the code of every
//! function of the pclntab is decoded, and each address it forms that points
//! into a read-only data section starts a piece (the decoding, shared with
//! the Rust and C reader, is in `code_refs`). A piece runs to the length the next
//! instruction loads as an immediate (Go passes a string's length that
//! way), else to
//! the next referenced address, capped at [`MAX_PIECE`]; it never crosses
//! bytes already owned by a package (named symbols, type data, pclntab).
//! A piece referenced by several packages is split equally between them.

use std::collections::HashMap;

use crate::code_refs::{Isa, References};
use crate::demangle::Demangled;
use crate::format::Layout;
use crate::go::{self, GoFunction};
use crate::go_units::Region;
use crate::symbols::PlacedSymbol;

/// Longest piece charged from one reference without a length.
const MAX_PIECE: u64 = 4096;

/// The linker's section markers: no data of their own, but on Mach-O
/// (symbols without sizes) they seem to span the anonymous data after them.
const MARKERS: [&str; 6] = [
    "runtime.rodata",
    "runtime.erodata",
    "runtime.types",
    "runtime.etypes",
    "runtime.noptrdata",
    "runtime.enoptrdata",
];

/// Data sections where Go puts its strings, constants and package
/// variables: read-only data, and the variables without pointers
/// (`noptrdata`) and with them (`data`).
fn is_rodata(name: &str) -> bool {
    matches!(
        name,
        ".rodata" | "__rodata" | ".rdata" | ".noptrdata" | "__noptrdata" | ".data" | "__data"
    )
}

/// One reference from code: the address, the referencing package, and the
/// length loaded right after it (0 when none).
pub(crate) type Reference = (u64, u32, u32);

/// A section's ranges, and bytes per package index.
type Pieces = (Vec<(u64, u64)>, HashMap<u32, u64>);

/// What the string pass charges: the regions, and each piece with its
/// (first) package, for the passes that ask who owns an address.
#[derive(Debug, Default)]
pub(crate) struct StringCharges {
    /// Regions charging the referenced data.
    pub regions: Vec<Region>,
    /// Disjoint (start, end, index into `packages`) pieces, sorted.
    pub pieces: Vec<(u64, u64, u32)>,
    /// Package names the pieces index.
    pub packages: Vec<String>,
}

/// The read-only and variable data sections that ship: positions in the
/// layout and their shipped address bounds.
fn data_targets(layout: &Layout<'_>) -> (Vec<usize>, Vec<(u64, u64)>) {
    let targets: Vec<usize> = layout
        .sections
        .iter()
        .enumerate()
        .filter(|(_, s)| is_rodata(&s.raw_name) && s.shipped > 0 && !s.data.is_empty())
        .map(|(i, _)| i)
        .collect();
    let bounds = targets
        .iter()
        .map(|&i| {
            let s = &layout.sections[i];
            (s.address, s.address.saturating_add(s.shipped))
        })
        .collect();
    (targets, bounds)
}

/// Decode the code of every function; the references into `inside`
/// addresses, sorted, and the packages they index.
fn code_references<'f>(
    layout: &Layout<'_>,
    isa: Isa,
    functions: &'f [GoFunction],
    inside: &impl Fn(u64) -> bool,
) -> (Vec<Reference>, Vec<&'f str>) {
    let mut packages: Vec<&str> = Vec::new();
    let mut index: HashMap<&str, u32> = HashMap::new();
    let mut refs: Vec<Reference> = Vec::new();
    let mut code: Option<(u64, &[u8])> = None;
    let mut decoder = References::new(isa);
    for function in functions {
        if function.size == 0 {
            continue;
        }
        let fits = |(start, data): (u64, &[u8])| {
            function.entry >= start
                && function.entry.saturating_add(function.size) <= start + data.len() as u64
        };
        if !code.is_some_and(fits) {
            code = layout
                .sections
                .iter()
                .map(|s| (s.address, s.data))
                .find(|&c| fits(c));
        }
        let Some((start, data)) = code else {
            continue;
        };
        let Ok(from) = usize::try_from(function.entry - start) else {
            continue;
        };
        let Some(bytes) = usize::try_from(function.size)
            .ok()
            .and_then(|n| data.get(from..from.checked_add(n)?))
        else {
            continue;
        };
        let package = go::package_of(&function.name);
        let owner = *index.entry(package).or_insert_with(|| {
            packages.push(package);
            (packages.len() - 1) as u32
        });
        let mut push = |address: u64, length: u32| refs.push((address, owner, length));
        decoder.scan(bytes, function.entry, inside, &mut push);
    }
    refs.sort_unstable();
    (refs, packages)
}

/// Bytes no reference may take, merged and sorted: the other regions,
/// symbols of real packages, and the first byte past each target.
fn blocked_ranges(
    targets: &[usize],
    bounds: &[(u64, u64)],
    taken: &[Region],
    placed: &[PlacedSymbol],
    names: &[Demangled],
) -> Vec<(u64, u64)> {
    let mut blocked: Vec<(u64, u64)> = taken
        .iter()
        .filter(|r| targets.contains(&r.section))
        .flat_map(|r| r.ranges.iter().copied())
        .collect();
    blocked.extend(
        placed
            .iter()
            .zip(names)
            .filter(|(p, n)| {
                p.size > 0
                    && !n.unit.starts_with('[')
                    && !MARKERS.contains(&n.name.as_str())
                    && targets.contains(&p.section)
            })
            .map(|(p, _)| (p.address, p.address.saturating_add(p.size))),
    );
    blocked.extend(bounds.iter().map(|&(_, end)| (end, end.saturating_add(1))));
    merged(blocked)
}

/// Ranges sorted and merged where they overlap or touch: disjoint, so that
/// a binary search finds the range holding an address.
pub(crate) fn merged(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// Add `bytes` to `owners` in equal parts, the remainder to the first.
pub(crate) fn split_between(totals: &mut HashMap<u32, u64>, owners: &[u32], bytes: u64) {
    let count = owners.len() as u64;
    for (i, &owner) in owners.iter().enumerate() {
        let share = bytes / count + u64::from((i as u64) < bytes % count);
        *totals.entry(owner).or_default() += share;
    }
}

/// One charged piece: section position, start, end and its packages.
pub(crate) type Piece = (usize, u64, u64, Vec<u32>);

/// The pieces the sorted references start: each runs to the length loaded
/// with it, else to the next reference (at most [`MAX_PIECE`]), never into
/// blocked bytes.
pub(crate) fn pieces(
    refs: &[Reference],
    blocked: &[(u64, u64)],
    targets: &[usize],
    bounds: &[(u64, u64)],
) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < refs.len() {
        let address = refs[at].0;
        let mut next = at;
        let mut length = 0u32;
        let mut owners = Vec::new();
        while next < refs.len() && refs[next].0 == address {
            owners.push(refs[next].1);
            length = length.max(refs[next].2);
            next += 1;
        }
        owners.dedup();
        let following = refs.get(next).map_or(u64::MAX, |r| r.0);
        at = next;
        // Inside blocked bytes: not ours. Else up to the next blocked start.
        let b = blocked.partition_point(|r| r.1 <= address);
        let Some(&(block_start, _)) = blocked.get(b) else {
            continue;
        };
        if block_start <= address {
            continue;
        }
        let want = if length > 0 {
            u64::from(length)
        } else {
            MAX_PIECE
        };
        let end = following.min(block_start).min(address.saturating_add(want));
        let Some(section) = targets
            .iter()
            .zip(bounds)
            .find(|(_, (a, b))| *a <= address && address < *b)
            .map(|(&i, _)| i)
        else {
            continue;
        };
        out.push((section, address, end, owners));
    }
    out
}

/// Most words read from the pieces for pointers.
const MAX_DATA_WORDS: usize = 1 << 24;

/// Pointers held by the pieces of variable sections (`.data`,
/// `.noptrdata`): each 8-aligned word pointing inside the targets, with
/// the piece's (first) owner and, when the next word is a plausible string
/// length, that length. Sorted.
fn data_references(layout: &Layout<'_>, pieces: &[Piece], bounds: &[(u64, u64)]) -> Vec<Reference> {
    let inside = |address: u64| bounds.iter().any(|&(a, b)| a <= address && address < b);
    let mut refs = Vec::new();
    let mut budget = MAX_DATA_WORDS;
    for (section, start, end, owners) in pieces {
        let Some(info) = layout.sections.get(*section) else {
            continue;
        };
        if !matches!(
            info.raw_name.as_str(),
            ".data" | ".noptrdata" | "__data" | "__noptrdata"
        ) {
            continue;
        }
        let Some(&owner) = owners.first() else {
            continue;
        };
        held_words(
            (*start, *end),
            owner,
            (info.data, info.address),
            &inside,
            &mut budget,
            &mut refs,
        );
    }
    refs.sort_unstable();
    refs
}

/// Push the 8-aligned little-endian words of `start..end` that point where
/// `inside` accepts, as (pointer, `owner`, length): see [`held_words_of`].
pub(crate) fn held_words(
    range: (u64, u64),
    owner: u32,
    data: (&[u8], u64),
    inside: &dyn Fn(u64) -> bool,
    budget: &mut usize,
    refs: &mut Vec<Reference>,
) {
    held_words_of(8, range, owner, data, inside, budget, refs);
}

/// Push the `width`-aligned little-endian words (4 or 8 bytes) of
/// `start..end` that point where `inside` accepts, as (pointer, `owner`,
/// length): the length is the next word when it is a plausible string
/// length (1 to 64 KiB), else 0. The words are read from `data`, whose
/// first byte is at `data_address`. Each word read takes one from
/// `budget`; none is read once it is spent.
pub(crate) fn held_words_of(
    width: u64,
    (start, end): (u64, u64),
    owner: u32,
    (data, data_address): (&[u8], u64),
    inside: &dyn Fn(u64) -> bool,
    budget: &mut usize,
    refs: &mut Vec<Reference>,
) {
    let width = if width == 4 { 4 } else { 8 };
    let word = |address: u64| -> Option<u64> {
        let offset = usize::try_from(address.checked_sub(data_address)?).ok()?;
        let bytes = data.get(offset..offset.checked_add(width)?)?;
        let mut le = [0u8; 8];
        le[..width].copy_from_slice(bytes);
        Some(u64::from_le_bytes(le))
    };
    let step = width as u64;
    let mut at = start.next_multiple_of(step);
    while at.saturating_add(step) <= end && *budget > 0 {
        *budget -= 1;
        if let Some(pointer) = word(at).filter(|&p| inside(p)) {
            let length = word(at + step)
                .filter(|&n| n > 0 && n <= 1 << 16)
                .map_or(0, |n| n as u32);
            refs.push((pointer, owner, length));
        }
        at += step;
    }
}

/// The regions charging referenced read-only data to packages; nothing
/// without a decodable instruction set. `taken` are the regions already
/// charged.
pub(crate) fn regions(
    layout: &Layout<'_>,
    isa: Option<Isa>,
    functions: &[GoFunction],
    taken: &[Region],
    placed: &[PlacedSymbol],
    names: &[Demangled],
) -> StringCharges {
    let Some(isa) = isa else {
        return StringCharges::default();
    };
    if functions.is_empty() {
        return StringCharges::default();
    }
    let (targets, bounds) = data_targets(layout);
    if targets.is_empty() {
        return StringCharges::default();
    }
    let inside = |address: u64| bounds.iter().any(|&(a, b)| a <= address && address < b);
    let (refs, packages) = code_references(layout, isa, functions, &inside);
    if refs.is_empty() {
        return StringCharges::default();
    }
    let blocked = blocked_ranges(&targets, &bounds, taken, placed, names);
    let mut pieces = pieces(&refs, &blocked, &targets, &bounds);
    // Then what those pieces point at (a variable's string header): its
    // owners' too, outside every piece so far.
    let data_refs = data_references(layout, &pieces, &bounds);
    if !data_refs.is_empty() {
        let mut blocked = blocked;
        blocked.extend(pieces.iter().map(|p| (p.1, p.2)));
        let blocked = merged(blocked);
        pieces.extend(self::pieces(&data_refs, &blocked, &targets, &bounds));
        pieces.sort_unstable_by_key(|p| p.1);
    }
    let mut by_section: HashMap<usize, Pieces> = HashMap::new();
    for (section, address, end, owners) in &pieces {
        let bytes = end - address;
        let entry = by_section.entry(*section).or_default();
        match entry.0.last_mut() {
            Some(last) if last.1 == *address => last.1 = *end,
            _ => entry.0.push((*address, *end)),
        }
        split_between(&mut entry.1, owners, bytes);
    }
    let mut out: Vec<Region> = by_section
        .into_iter()
        .map(|(section, (ranges, bytes))| {
            let charges: Vec<(String, u64)> = bytes
                .into_iter()
                .filter(|&(_, n)| n > 0)
                .map(|(owner, n)| (packages[owner as usize].to_owned(), n))
                .collect();
            Region::new(section, ranges, charges)
        })
        .collect();
    out.sort_by_key(|r| r.section);
    StringCharges {
        regions: out,
        pieces: pieces
            .into_iter()
            .filter(|p| p.1 < p.2)
            .map(|(_, start, end, owners)| (start, end, owners.first().copied().unwrap_or(0)))
            .collect(),
        packages: packages.into_iter().map(str::to_owned).collect(),
    }
}
