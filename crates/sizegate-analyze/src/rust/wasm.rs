//! Rust (and C) WebAssembly: the data segments' bytes (string literals,
//! constants, panic locations and their file names, vtables) charged to the
//! crates whose functions form their addresses, as `wasm_data` reads them.
//! Pointers in memory are 4 bytes on wasm32, 8 on wasm64.
//!
//! With a `name` section, each function's crate is its demangled name's.
//! Without one (`wasm-strip`, `wasm-opt`), the panic locations in memory
//! (a `&str` file path, a line and a column) name crates by their paths;
//! each function is given the crate most of the locations its code refers
//! to name, and is charged its body (with its size) as data it refers to.

use std::collections::HashMap;

use crate::format::Layout;
use crate::go_units::Region;
use crate::wasm_data::{self, Reading};

/// Longest source path we believe.
const MAX_PATH: u64 = 4096;

/// The regions charging the code (stripped modules) and data segments to
/// crates; none without data.
pub(crate) fn data_regions(layout: &Layout<'_>, module: &[u8], ptr_size: u8) -> Vec<Region> {
    let Some((base, memory)) = crate::go_units::wasm_memory(&layout.sections) else {
        return Vec::new();
    };
    let reading = Reading {
        word: if ptr_size == 8 { 8 } else { 4 },
        offsets: true,
        to_next: true,
    };
    if layout.sections.iter().any(|s| s.raw_name == "name") {
        let mut crate_of = |_, name: Option<&str>| {
            let demangled = crate::demangle::demangle(name?, false);
            (!demangled.unit.starts_with('[')).then_some(demangled.unit)
        };
        let region = wasm_data::data_region(module, (base, &memory), &[], reading, &mut crate_of);
        let mut regions: Vec<Region> = region.into_iter().collect();
        crate::go_units::wasm_to_section(layout, &mut regions);
        return regions;
    }
    stripped_regions(layout, module, (base, &memory), reading)
}

/// A stripped module: functions' crates from the panic locations their
/// code refers to; their bodies, the locations and the data they refer to
/// charged to those crates.
fn stripped_regions(
    layout: &Layout<'_>,
    module: &[u8],
    (base, memory): (u64, &[u8]),
    reading: Reading,
) -> Vec<Region> {
    let located = locations(base, memory, reading.word);
    if located.is_empty() {
        return Vec::new();
    }
    let end = base.saturating_add(memory.len() as u64);
    let mut each = |i: usize, _: Option<&str>| Some(i.to_string());
    let (refs, bodies) = wasm_data::references(module, (base, end), reading, &mut each);
    // Votes of each function (by index into `bodies`) for crates.
    let mut votes: HashMap<u32, HashMap<&str, u32>> = HashMap::new();
    for &(address, owner, _) in &refs {
        let i = located.partition_point(|l| l.1 <= address);
        if let Some(l) = located.get(i).filter(|l| l.0 <= address) {
            *votes.entry(owner).or_default().entry(&l.2).or_default() += 1;
        }
    }
    let mut crate_of_body: HashMap<usize, String> = votes
        .into_iter()
        .filter_map(|(owner, crates)| {
            let body = bodies.get(owner as usize)?.parse().ok()?;
            let (name, _) = crates
                .into_iter()
                .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))?;
            Some((body, name.to_string()))
        })
        .collect();
    fill_between(&mut crate_of_body);
    let taken: Vec<(u64, u64)> = located.iter().map(|l| (l.0, l.1)).collect();
    let mut regions = Region::group(located.iter().map(|l| (0, l.0, l.1, &l.2)).collect());
    let mut crate_of = |i: usize, _: Option<&str>| crate_of_body.get(&i).cloned();
    regions.extend(wasm_data::data_region(
        module,
        (base, memory),
        &taken,
        reading,
        &mut crate_of,
    ));
    crate::go_units::wasm_to_section(layout, &mut regions);
    regions.extend(code_regions(layout, module, &crate_of_body));
    regions
}

/// A function whose code names no panic location, between two functions
/// of one crate, is that crate's: rustc lays a codegen unit's functions
/// out together.
fn fill_between(crate_of_body: &mut HashMap<usize, String>) {
    let mut known: Vec<(usize, String)> = crate_of_body
        .iter()
        .map(|(&i, name)| (i, name.clone()))
        .collect();
    known.sort_unstable();
    for pair in known.windows(2) {
        let ((a, first), (b, second)) = (&pair[0], &pair[1]);
        if first == second {
            for i in a + 1..*b {
                crate_of_body.insert(i, first.clone());
            }
        }
    }
}

/// The function bodies given a crate, charged to it (code section
/// addresses are offsets in its contents, as the symbols' are).
fn code_regions(
    layout: &Layout<'_>,
    module: &[u8],
    crate_of_body: &HashMap<usize, String>,
) -> Vec<Region> {
    let Some((index, offset)) = layout
        .sections
        .iter()
        .enumerate()
        .find(|(_, s)| s.raw_name == "<code>")
        .and_then(|(i, s)| Some((i, s.file_range?.0)))
    else {
        return Vec::new();
    };
    let charged: Vec<(usize, u64, u64, &str)> = wasm_data::body_ranges(module)
        .into_iter()
        .enumerate()
        .filter_map(|(i, (start, end))| {
            let name = crate_of_body.get(&i)?;
            Some((
                index,
                start.checked_sub(offset)?,
                end.checked_sub(offset)?,
                name.as_str(),
            ))
        })
        .collect();
    Region::group_shipped(charged, layout)
}

/// Panic locations in linear memory (`base`, `memory`): a `word`-byte
/// pointer to a `.rs` path naming a crate and its length, then a line and
/// a column (two `u32`). The locations and their path strings as (start,
/// end, crate), sorted by start, disjoint.
fn locations(base: u64, memory: &[u8], word: u64) -> Vec<(u64, u64, String)> {
    let end = base.saturating_add(memory.len() as u64);
    let step = usize::try_from(word).unwrap_or(4);
    let read = |at: usize| -> Option<u64> {
        let bytes = memory.get(at..at.checked_add(step)?)?;
        let mut le = [0u8; 8];
        le.get_mut(..step)?.copy_from_slice(bytes);
        Some(u64::from_le_bytes(le))
    };
    let size = 2 * step + 8;
    let mut paths: HashMap<(u64, u64), Option<String>> = HashMap::new();
    let mut out = Vec::new();
    let mut at = 0usize;
    while at.saturating_add(size) <= memory.len() {
        let (Some(pointer), Some(len)) = (read(at), read(at + step)) else {
            break;
        };
        let crate_name = (4..=MAX_PATH)
            .contains(&len)
            .then(|| {
                paths
                    .entry((pointer, len))
                    .or_insert_with(|| path_crate(base, memory, (pointer, len), end))
                    .clone()
            })
            .flatten();
        let Some(crate_name) = crate_name else {
            at += step;
            continue;
        };
        let location = base.saturating_add(at as u64);
        let location_end = location.saturating_add(size as u64);
        out.push((location, location_end, crate_name.clone()));
        out.push((pointer, pointer.saturating_add(len), crate_name));
        at += size;
    }
    out.sort_unstable();
    // Disjoint: a range overlapping the one before is dropped (path
    // strings are shared by many locations).
    let mut last_end = 0u64;
    out.retain(|l| {
        let keep = l.0 >= last_end;
        if keep {
            last_end = l.1;
        }
        keep
    });
    out
}

/// The crate the `.rs` path at `pointer` (`len` bytes) names.
fn path_crate(base: u64, memory: &[u8], (pointer, len): (u64, u64), end: u64) -> Option<String> {
    if pointer < base || pointer.checked_add(len)? > end {
        return None;
    }
    let from = usize::try_from(pointer - base).ok()?;
    let bytes = memory.get(from..from.checked_add(usize::try_from(len).ok()?)?)?;
    if !bytes.ends_with(b".rs") {
        return None;
    }
    let path = crate::rust::parse_source_path(std::str::from_utf8(bytes).ok()?)?;
    Some(path.crate_name)
}

#[cfg(test)]
mod tests {
    use super::locations;

    #[test]
    fn panic_locations_in_memory_name_their_crates() {
        let base = 0x10_0000u64;
        let path = b"/home/u/.cargo/registry/src/index/regex-1.11.1/src/lib.rs";
        let mut memory = vec![0u8; 64];
        let pointer = u32::try_from(base).unwrap() + 64;
        let len = u32::try_from(path.len()).unwrap();
        // A location at 16: pointer, length, line, column; a length past
        // the end at 32 is no location.
        memory[16..20].copy_from_slice(&pointer.to_le_bytes());
        memory[20..24].copy_from_slice(&len.to_le_bytes());
        memory[24..28].copy_from_slice(&7u32.to_le_bytes());
        memory[32..36].copy_from_slice(&pointer.to_le_bytes());
        memory[36..40].copy_from_slice(&u32::MAX.to_le_bytes());
        memory.extend_from_slice(path);
        let at = base + 64;
        assert_eq!(
            locations(base, &memory, 4),
            [
                (base + 16, base + 32, "regex".to_string()),
                (at, at + u64::from(len), "regex".to_string()),
            ]
        );
        // Memory at the top of the address space: nothing, no overflow.
        assert!(locations(u64::MAX - 8, &memory, 4).is_empty());
    }
}
