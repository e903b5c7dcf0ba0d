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
/// variables: read-only data (with pointers, `.data.rel.ro` in a PIE), and
/// the variables without pointers (`noptrdata`) and with them (`data`).
fn is_rodata(name: &str) -> bool {
    matches!(
        name,
        ".rodata"
            | "__rodata"
            | ".rdata"
            | ".data.rel.ro"
            | ".noptrdata"
            | "__noptrdata"
            | ".data"
            | "__data"
    )
}

/// A reference's length flag: the length of a slice (its elements, so at
/// least that many bytes), not of a string.
pub(crate) const SLICE: u32 = 1 << 31;

/// One reference from code: the address, the referencing package, and the
/// length loaded right after it (0 when none; see [`SLICE`]).
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

/// The data addresses the code of the functions forms, decoded once for
/// the type walk and the string pass.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct CodeRefs {
    /// References, sorted.
    pub refs: Vec<Reference>,
    /// Package names the references index.
    pub packages: Vec<String>,
}

impl CodeRefs {
    /// Decode the code of every function for the addresses it forms into
    /// the data sections or `[types, etypes)`.
    pub(crate) fn decode(
        layout: &Layout<'_>,
        isa: Isa,
        functions: &[GoFunction],
        (types, etypes): (u64, u64),
    ) -> CodeRefs {
        let (_, bounds) = data_targets(layout);
        let inside = |address: u64| {
            (types <= address && address < etypes)
                || bounds.iter().any(|&(a, b)| a <= address && address < b)
        };
        code_references(layout, isa, functions, &inside)
    }

    /// The distinct addresses in `[start, end)`, each with its first
    /// referencing package.
    pub(crate) fn within(&self, (start, end): (u64, u64)) -> Vec<(u64, u32)> {
        let first = self.refs.partition_point(|r| r.0 < start);
        let mut out: Vec<(u64, u32)> = Vec::new();
        for &(address, owner, _) in self.refs[first..].iter().take_while(|r| r.0 < end) {
            if out.last().is_none_or(|last| last.0 != address) {
                out.push((address, owner));
            }
        }
        out
    }
}

/// Decode the code of every function; the references into `inside`
/// addresses, sorted, and the packages they index.
fn code_references(
    layout: &Layout<'_>,
    isa: Isa,
    functions: &[GoFunction],
    inside: &impl Fn(u64) -> bool,
) -> CodeRefs {
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
    CodeRefs {
        refs,
        packages: packages.into_iter().map(str::to_owned).collect(),
    }
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
    let mut blocked = target_ranges(taken.iter(), targets);
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

/// The ranges of the `regions` in the `targets` sections.
fn target_ranges<'r>(
    regions: impl Iterator<Item = &'r Region>,
    targets: &[usize],
) -> Vec<(u64, u64)> {
    regions
        .filter(|r| targets.contains(&r.section))
        .flat_map(|r| r.ranges.iter().copied())
        .collect()
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
pub(crate) type Piece = (usize, u64, u64, Owners);

/// The packages a piece is charged to: almost always one, so held inline
/// (a Go binary's string pass cuts a few hundred thousand pieces per round).
pub(crate) type Owners = smallvec::SmallVec<[u32; 2]>;

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
        while next < refs.len() && refs[next].0 == address {
            length = length.max(refs[next].2);
            next += 1;
        }
        let group = &refs[at..next];
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
        let want = if length & SLICE != 0 {
            u64::from(length & !SLICE).max(MAX_PIECE)
        } else if length > 0 {
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
        let mut owners: Owners = group.iter().map(|r| r.1).collect();
        owners.dedup();
        out.push((section, address, end, owners));
    }
    out
}

/// The data symbols of real packages (unstripped builds) as pieces, so
/// that what they point at is charged with them too; their units are
/// added to `packages`.
fn symbol_pieces(
    targets: &[usize],
    placed: &[PlacedSymbol],
    names: &[Demangled],
    packages: &mut Vec<String>,
) -> Vec<Piece> {
    let mut index: HashMap<String, u32> = packages
        .iter()
        .enumerate()
        .map(|(i, p)| (p.clone(), i as u32))
        .collect();
    let mut out = Vec::new();
    for (p, n) in placed.iter().zip(names) {
        if p.size == 0 || n.unit.starts_with('[') || !targets.contains(&p.section) {
            continue;
        }
        let owner = *index.entry(n.unit.clone()).or_insert_with(|| {
            packages.push(n.unit.clone());
            (packages.len() - 1) as u32
        });
        out.push((
            p.section,
            p.address,
            p.address.saturating_add(p.size),
            smallvec::smallvec![owner],
        ));
    }
    out
}

/// The pieces the code's references start, then with what the pieces
/// (and the data `symbols`) point at, for at most [`POINTER_ROUNDS`]
/// rounds, one level of pointers each (a variable's string header, a
/// slice's backing array and what its elements point at): each round cuts
/// the pieces again from the code's references and the pointers the
/// pieces of the previous round hold, so a piece without a length ends
/// where data points too, not only where code does, and pointers read
/// from bytes it then no longer covers are dropped. A pointer into a piece
/// of known length (inside a string) adds nothing.
fn followed_pieces(
    layout: &Layout<'_>,
    code: Vec<Reference>,
    blocked: &[(u64, u64)],
    (targets, bounds): (&[usize], &[(u64, u64)]),
    symbols: &[Piece],
) -> Vec<Piece> {
    let mut pieces = pieces(&code, blocked, targets, bounds);
    let mut refs = code.clone();
    // The last round's pointers, as a digest: holding the list itself
    // for the comparison made the peak of a large Go binary's analysis.
    let mut previous = digest(&[]);
    for _ in 0..POINTER_ROUNDS {
        // Read again from the pieces as cut last round: a pointer read from
        // bytes a piece no longer covers is gone.
        // A piece given a length (a string) holds no pointers.
        let lengthless = pieces.iter().filter(|p| !starts_sized(&refs, p.1));
        let mut held = data_references(layout, lengthless, bounds);
        held.extend(data_references(layout, symbols, bounds));
        held.retain(|r| !in_sized_piece(&pieces, &refs, r.0));
        held.sort_unstable();
        held.dedup();
        // Grown by doubling: give back the unused half before the merge
        // doubles the references again.
        held.shrink_to_fit();
        let this = digest(&held);
        if this == previous {
            break;
        }
        merge_sorted(&code, &held, &mut refs);
        drop(held);
        // The old cut is freed before the new one is made.
        drop(std::mem::take(&mut pieces));
        pieces = self::pieces(&refs, blocked, targets, bounds);
        previous = this;
    }
    pieces
}

/// A digest of a sorted list of references (its length and entries).
fn digest(refs: &[Reference]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    refs.hash(&mut hasher);
    hasher.finish()
}

/// `out` becomes the sorted, deduplicated merge of sorted `a` and `b`.
fn merge_sorted(a: &[Reference], b: &[Reference], out: &mut Vec<Reference>) {
    out.clear();
    out.reserve(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if y < x => {
                j += 1;
                *y
            }
            (Some(x), _) => {
                i += 1;
                *x
            }
            (None, Some(y)) => {
                j += 1;
                *y
            }
            (None, None) => break,
        };
        if out.last() != Some(&next) {
            out.push(next);
        }
    }
}

/// Whether `address` is inside (not at the start of) one of the sorted
/// `pieces` that a reference gave a length.
fn in_sized_piece(pieces: &[Piece], refs: &[Reference], address: u64) -> bool {
    let Some(piece) = pieces
        .partition_point(|p| p.1 <= address)
        .checked_sub(1)
        .and_then(|i| pieces.get(i))
    else {
        return false;
    };
    if address == piece.1 || address >= piece.2 {
        return false;
    }
    starts_sized(refs, piece.1)
}

/// Whether a reference to `address` gave it a (string's) length.
fn starts_sized(refs: &[Reference], address: u64) -> bool {
    let first = refs.partition_point(|r| r.0 < address);
    refs[first..]
        .iter()
        .take_while(|r| r.0 == address)
        .any(|r| r.2 > 0 && r.2 & SLICE == 0)
}

/// Rounds of following the pointers data pieces hold.
const POINTER_ROUNDS: usize = 6;

/// Most words read from the pieces for pointers (per round and kind).
const MAX_DATA_WORDS: usize = 1 << 24;

/// Pointers held by the pieces (variables, and the read-only tables the
/// compiler lays out: string headers of map literals, static interface
/// values): each 8-aligned word pointing inside the targets, with
/// the piece's (first) owner and, when the next word is a plausible string
/// length, that length. Sorted.
fn data_references<'p>(
    layout: &Layout<'_>,
    pieces: impl IntoIterator<Item = &'p Piece>,
    bounds: &[(u64, u64)],
) -> Vec<Reference> {
    let inside = |address: u64| bounds.iter().any(|&(a, b)| a <= address && address < b);
    let mut refs = Vec::new();
    let mut budget = MAX_DATA_WORDS;
    for (section, start, end, owners) in pieces {
        let Some(info) = layout.sections.get(*section) else {
            continue;
        };
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
            // A Go slice header's capacity usually equals its length,
            // which counts elements, not bytes: at least that many bytes
            // then (8-byte words: Go's own layout).
            let length = word(at + step)
                .filter(|&n| n > 0 && n <= 1 << 16)
                .map_or(0, |n| {
                    if width == 8 && word(at + 16) == Some(n) {
                        n as u32 | SLICE
                    } else {
                        n as u32
                    }
                });
            refs.push((pointer, owner, length));
        }
        at += step;
    }
}

/// The regions charging referenced read-only data to packages; nothing
/// without a decodable instruction set. `code` are the references of the
/// functions' code when already decoded; `taken` the regions already
/// charged.
pub(crate) fn regions(
    layout: &Layout<'_>,
    isa: Option<Isa>,
    (functions, code): (&[GoFunction], Option<CodeRefs>),
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
    let CodeRefs { refs, mut packages } =
        code.unwrap_or_else(|| CodeRefs::decode(layout, isa, functions, (0, 0)));
    if refs.is_empty() {
        return StringCharges::default();
    }
    let blocked = blocked_ranges(&targets, &bounds, taken, placed, names);
    let symbols = symbol_pieces(&targets, placed, names, &mut packages);
    let mut pieces = followed_pieces(layout, refs, &blocked, (&targets, &bounds), &symbols);
    pieces.sort_unstable_by_key(|p| p.1);
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
                .map(|(owner, n)| (packages[owner as usize].clone(), n))
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
        packages,
    }
}

/// Longest run of zero bytes taken for alignment fill: Go's linker aligns
/// a data symbol to at most 32 bytes.
const MAX_FILL: u64 = 32;

/// Alignment fill of the data sections: a run of fewer than [`MAX_FILL`]
/// zero bytes that nothing charges, between charged bytes, and ending at
/// an 8-aligned address where a package's bytes start, goes with that
/// package (the linker put it there to align that symbol). `charged` are
/// the regions so far; symbols (any unit) count as charged too.
pub(crate) fn alignment_fill<'o>(
    layout: &Layout<'_>,
    charged: &[&[Region]],
    placed: &[PlacedSymbol],
    owner: &dyn Fn(u64) -> Option<&'o str>,
) -> Vec<Region> {
    let (targets, bounds) = data_targets(layout);
    let mut covered = target_ranges(charged.iter().flat_map(|regions| regions.iter()), &targets);
    covered.extend(
        placed
            .iter()
            .filter(|p| p.size > 0 && targets.contains(&p.section))
            .map(|p| (p.address, p.address.saturating_add(p.size))),
    );
    let covered = merged(covered);
    let mut fill: Vec<(usize, u64, u64, &str)> = Vec::new();
    for (&section, &(start, end)) in targets.iter().zip(&bounds) {
        let info = &layout.sections[section];
        let first = covered.partition_point(|r| r.1 <= start);
        for pair in covered[first..].windows(2) {
            let (gap, next) = (pair[0].1, pair[1].0);
            if next > end {
                break;
            }
            if gap < start || next - gap >= MAX_FILL || !next.is_multiple_of(8) {
                continue;
            }
            let zeros = usize::try_from(gap - info.address)
                .ok()
                .zip(usize::try_from(next - info.address).ok())
                .and_then(|(a, b)| info.data.get(a..b))
                .is_some_and(|bytes| bytes.iter().all(|&b| b == 0));
            if let Some(unit) = owner(next).filter(|u| zeros && !u.starts_with('[')) {
                fill.push((section, gap, next, unit));
            }
        }
    }
    Region::group_shipped(fill, layout)
}
