//! Go WebAssembly: the linear-memory data no runtime table explains
//! (strings, constants, package variables) charged to the packages of the
//! functions whose code forms its addresses. Go materializes a data
//! address as an `i64.const` (or `i32.const`) immediate, so every such
//! immediate inside the data starts a piece, as the machine-code references
//! do on other formats (`go_strings`). The code is read with `wasmparser`.

use std::collections::HashMap;

use wasmparser::{KnownCustom, Name, Operator, Parser, Payload, TypeRef};

use crate::go_strings;

/// Most references read from one module (more is corrupt).
const MAX_REFERENCES: usize = 1 << 24;

/// References from code into linear memory `[start, end)`: (address,
/// package index, 0) sorted, and the packages they index. `real` maps the
/// `name` section's spelling of a function to its pclntab name. Nothing
/// without a `name` section (functions would have no package); a malformed
/// module gives the references read up to the fault.
fn references(
    module: &[u8],
    (start, end): (u64, u64),
    real: &HashMap<String, String>,
) -> (Vec<(u64, u32, u32)>, Vec<String>) {
    let mut imported = 0u32;
    let mut names: HashMap<u32, &str> = HashMap::new();
    let mut bodies = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        let Ok(payload) = payload else {
            break;
        };
        match payload {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let Ok(import) = import else {
                        break;
                    };
                    if matches!(import.ty, TypeRef::Func(_)) {
                        imported += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(body),
            Payload::CustomSection(custom) => {
                if let KnownCustom::Name(reader) = custom.as_known() {
                    for name in reader.into_iter().flatten() {
                        if let Name::Function(map) = name {
                            for naming in map.into_iter().flatten() {
                                names.insert(naming.index, naming.name);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut packages: Vec<String> = Vec::new();
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut refs = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let Some(name) = u32::try_from(i)
            .ok()
            .and_then(|i| names.get(&imported.checked_add(i)?))
        else {
            continue;
        };
        let name = real.get(*name).map_or(*name, String::as_str);
        let package = crate::go::package_of(name).to_owned();
        if package.starts_with('[') {
            continue;
        }
        let next = packages.len() as u32;
        let owner = *index.entry(package.clone()).or_insert_with(|| {
            packages.push(package);
            next
        });
        let Ok(mut operators) = body.get_operators_reader() else {
            continue;
        };
        while !operators.eof() && refs.len() < MAX_REFERENCES {
            let value = match operators.read() {
                Ok(Operator::I64Const { value }) => value as u64,
                Ok(Operator::I32Const { value }) => u64::from(value as u32),
                Ok(_) => continue,
                Err(_) => break,
            };
            if start <= value && value < end {
                refs.push((value, owner, 0));
            }
        }
    }
    refs.sort_unstable();
    (refs, packages)
}

/// The pieces of linear memory (`base`, `memory`) the code references,
/// outside `taken` (ranges already charged, in memory addresses): a region
/// of section 0 in memory addresses, charging each piece to the packages
/// referencing it in equal parts. `functions` are the pclntab's (to read
/// the `name` section's spelling back).
pub(crate) fn data_region(
    module: &[u8],
    (base, memory): (u64, &[u8]),
    taken: &[(u64, u64)],
    functions: &[crate::go::GoFunction],
) -> Option<crate::go_units::Region> {
    let end = base.saturating_add(memory.len() as u64);
    let real: HashMap<String, String> = functions
        .iter()
        .map(|f| (crate::go_units::wasm_mangled(&f.name), f.name.clone()))
        .filter(|(mangled, name)| mangled != name)
        .collect();
    let (refs, packages) = references(module, (base, end), &real);
    if refs.is_empty() {
        return None;
    }
    let mut blocked: Vec<(u64, u64)> = taken.to_vec();
    blocked.push((end, end.saturating_add(1)));
    let blocked = go_strings::merged(blocked);
    let mut pieces = go_strings::pieces(&refs, &blocked, &[0], &[(base, end)]);
    // Then what those pieces point at (a variable's string header, a table
    // of pointers), and what that points at: a few rounds, each reading
    // only the pieces the previous one added.
    let mut blocked = blocked;
    let mut added = pieces.clone();
    for _ in 0..HELD_ROUNDS {
        let held = held_references(base, memory, &added);
        if held.is_empty() {
            break;
        }
        blocked.extend(added.iter().map(|p| (p.1, p.2)));
        blocked = go_strings::merged(blocked);
        added = go_strings::pieces(&held, &blocked, &[0], &[(base, end)]);
        pieces.extend(added.iter().cloned());
    }
    pieces.sort_unstable_by_key(|p| p.1);
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    let mut bytes: HashMap<u32, u64> = HashMap::new();
    for (_, start, stop, owners) in &pieces {
        match ranges.last_mut() {
            Some(last) if last.1 == *start => last.1 = *stop,
            _ => ranges.push((*start, *stop)),
        }
        go_strings::split_between(&mut bytes, owners, stop - start);
    }
    let charges = bytes
        .into_iter()
        .filter(|&(_, n)| n > 0)
        .filter_map(|(owner, n)| Some((packages.get(owner as usize)?.clone(), n)))
        .collect();
    Some(crate::go_units::Region::new(0, ranges, charges))
}

/// Most words read from the pieces for pointers (per round).
const MAX_HELD_WORDS: usize = 1 << 24;

/// Rounds of following pointers from pieces to what they point at.
const HELD_ROUNDS: usize = 4;

/// The 8-aligned little-endian words of `pieces` that point inside linear
/// memory (`base`, `memory`), with the piece's first owner and, when the
/// next word is a plausible string length (at most 64 KiB), that length.
/// Sorted.
fn held_references(base: u64, memory: &[u8], pieces: &[go_strings::Piece]) -> Vec<(u64, u32, u32)> {
    let end = base.saturating_add(memory.len() as u64);
    let inside = |p: u64| base <= p && p < end;
    let mut refs = Vec::new();
    let mut budget = MAX_HELD_WORDS;
    for (_, start, stop, owners) in pieces {
        let Some(&owner) = owners.first() else {
            continue;
        };
        go_strings::held_words(
            (*start, *stop),
            owner,
            (memory, base),
            &inside,
            &mut budget,
            &mut refs,
        );
    }
    refs.sort_unstable();
    refs
}
