//! WebAssembly linear-memory data (strings, constants, tables, variables)
//! charged to the units of the functions whose code forms its addresses.
//! Code materializes a data address as an `i32.const` (Rust, C, and Go's
//! 32-bit offsets) or `i64.const` (Go) immediate, so every such immediate
//! inside the data starts a piece, as the machine-code references do on
//! other formats (`go_strings`). Then what those pieces hold: pointers into
//! memory (a string slice's pointer and length, a panic location's file
//! name, a table of pointers) charge what they point at to the piece's
//! owners, for a few rounds. Shared by Go (`go_wasm`) and Rust/C Wasm; the
//! code is read with `wasmparser`.

use std::collections::HashMap;

use wasmparser::{KnownCustom, Name, Operator, Parser, Payload, TypeRef};

use crate::go_strings::{self, Reference};
use crate::go_units::Region;

/// Most references read from one module (more is corrupt).
const MAX_REFERENCES: usize = 1 << 24;
/// Most words read from the pieces for pointers (per round).
const MAX_HELD_WORDS: usize = 1 << 24;
/// Rounds of following pointers from pieces to what they point at.
const HELD_ROUNDS: usize = 4;

/// The unit of a function, from its position among the module's function
/// bodies and its name in the `name` section, if any (`None`: charge
/// nothing for its references).
pub(crate) type UnitOf<'a> = dyn FnMut(usize, Option<&str>) -> Option<String> + 'a;

/// How a toolchain's code and data refer to memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reading {
    /// Bytes of a pointer in memory: 8 (Go) or 4 (wasm32).
    pub word: u64,
    /// LLVM folds a constant address into a load's or store's offset
    /// (`i32.const 0` then `i32.load offset=1049000`): such offsets inside
    /// the data are references too.
    pub offsets: bool,
    /// Without a length, a piece runs to the next reference (LLVM's data
    /// has no lengths to go by), not at most `go_strings`' cap.
    pub to_next: bool,
}

/// Function bodies and their names (by function index, imports counted)
/// of a module; what is read up to the first fault.
fn bodies_and_names(module: &[u8]) -> (u32, Vec<wasmparser::FunctionBody<'_>>, HashMap<u32, &str>) {
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
    (imported, bodies, names)
}

/// The file range of each function body with the size before it, in
/// order (what is read up to the first fault).
pub(crate) fn body_ranges(module: &[u8]) -> Vec<(u64, u64)> {
    let (_, bodies, _) = bodies_and_names(module);
    bodies
        .iter()
        .map(|b| {
            let range = b.range();
            let (start, end) = (range.start as u64, range.end as u64);
            let prefix = crate::format::leb128_len(end - start);
            (start.saturating_sub(prefix), end)
        })
        .collect()
}

/// References from code into linear memory `[start, end)`: (address, unit
/// index, length) sorted, and the units they index. A malformed module
/// gives the references read up to the fault.
pub(crate) fn references(
    module: &[u8],
    (start, end): (u64, u64),
    reading: Reading,
    unit_of: &mut UnitOf<'_>,
) -> (Vec<Reference>, Vec<String>) {
    // A reference's length: none, or "to the next reference".
    let length = if reading.to_next { u32::MAX } else { 0 };
    let (imported, bodies, names) = bodies_and_names(module);
    let mut units: Vec<String> = Vec::new();
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut refs = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let name = u32::try_from(i)
            .ok()
            .and_then(|i| names.get(&imported.checked_add(i)?));
        let Some(unit) = unit_of(i, name.copied()) else {
            continue;
        };
        let next = units.len() as u32;
        let owner = *index.entry(unit.clone()).or_insert_with(|| {
            units.push(unit);
            next
        });
        let Ok(mut operators) = body.get_operators_reader() else {
            continue;
        };
        while !operators.eof() && refs.len() < MAX_REFERENCES {
            let value = match operators.read() {
                Ok(Operator::I64Const { value }) => value as u64,
                Ok(Operator::I32Const { value }) => u64::from(value as u32),
                Ok(operator) if reading.offsets => match memory_offset(&operator) {
                    Some(offset) => offset,
                    None => continue,
                },
                Ok(_) => continue,
                Err(_) => break,
            };
            if start <= value && value < end {
                refs.push((value, owner, length));
            }
        }
    }
    refs.sort_unstable();
    (refs, units)
}

/// The constant offset of a load or store.
fn memory_offset(operator: &Operator<'_>) -> Option<u64> {
    use Operator as O;
    match operator {
        O::I32Load { memarg }
        | O::I64Load { memarg }
        | O::F32Load { memarg }
        | O::F64Load { memarg }
        | O::I32Load8S { memarg }
        | O::I32Load8U { memarg }
        | O::I32Load16S { memarg }
        | O::I32Load16U { memarg }
        | O::I64Load8S { memarg }
        | O::I64Load8U { memarg }
        | O::I64Load16S { memarg }
        | O::I64Load16U { memarg }
        | O::I64Load32S { memarg }
        | O::I64Load32U { memarg }
        | O::I32Store { memarg }
        | O::I64Store { memarg }
        | O::F32Store { memarg }
        | O::F64Store { memarg }
        | O::I32Store8 { memarg }
        | O::I32Store16 { memarg }
        | O::I64Store8 { memarg }
        | O::I64Store16 { memarg }
        | O::I64Store32 { memarg } => Some(memarg.offset),
        _ => None,
    }
}

/// The pieces of linear memory (`base`, `memory`) the code references,
/// outside `taken` (ranges already charged, in memory addresses), and what
/// they point at: a region of section 0 in memory addresses, charging each
/// piece to the units referencing it in equal parts.
pub(crate) fn data_region(
    module: &[u8],
    (base, memory): (u64, &[u8]),
    taken: &[(u64, u64)],
    reading: Reading,
    unit_of: &mut UnitOf<'_>,
) -> Option<Region> {
    let end = base.saturating_add(memory.len() as u64);
    let word = reading.word;
    let (refs, units) = references(module, (base, end), reading, unit_of);
    if refs.is_empty() {
        return None;
    }
    let mut blocked: Vec<(u64, u64)> = taken.to_vec();
    blocked.push((end, end.saturating_add(1)));
    let blocked = go_strings::merged(blocked);
    let mut pieces = go_strings::pieces(&refs, &blocked, &[0], &[(base, end)]);
    // Then what those pieces point at (a string slice, a table of
    // pointers), and what that points at: a few rounds, each reading only
    // the pieces the previous one added.
    let mut blocked = blocked;
    let mut added = pieces.clone();
    for _ in 0..HELD_ROUNDS {
        let held = held_references(base, memory, &added, word);
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
        .filter_map(|(owner, n)| Some((units.get(owner as usize)?.clone(), n)))
        .collect();
    Some(Region::new(0, ranges, charges))
}

/// The `word`-aligned little-endian words of `pieces` that point inside
/// linear memory (`base`, `memory`), with the piece's first owner and,
/// when the next word is a plausible string length (at most 64 KiB), that
/// length. Sorted.
fn held_references(
    base: u64,
    memory: &[u8],
    pieces: &[go_strings::Piece],
    word: u64,
) -> Vec<Reference> {
    let end = base.saturating_add(memory.len() as u64);
    let inside = |p: u64| base <= p && p < end;
    let mut refs = Vec::new();
    let mut budget = MAX_HELD_WORDS;
    for (_, start, stop, owners) in pieces {
        let Some(&owner) = owners.first() else {
            continue;
        };
        go_strings::held_words_of(
            word,
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
