//! Go WebAssembly: the linear-memory data no runtime table explains
//! (strings, constants, package variables) charged to the packages of the
//! functions whose code forms its addresses. Go materializes a data
//! address as an `i64.const` (or `i32.const`) immediate and stores 8-byte
//! pointers in memory; the reading is shared with Rust and C Wasm
//! (`wasm_data`).

use std::collections::HashMap;

use wasmparser::{ElementItems, Parser, Payload};

use crate::go::GoFunction;
use crate::go_strings;
use crate::go_units::Region;

/// Go's WebAssembly linker numbers a function's pc as `(F << 16) | B`,
/// where `F` is this offset plus the function's index among the module's
/// own (not imported) functions and `B` a resume point inside it (0 at
/// the entry).
const FUNC_VALUE_OFFSET: u64 = 0x1000;

/// The index among the module's own functions (its code body) of the Go
/// function entered at `entry`; `None` for a pc that is no entry.
fn body_index(entry: u64) -> Option<usize> {
    if entry & 0xffff != 0 {
        return None;
    }
    usize::try_from((entry >> 16).checked_sub(FUNC_VALUE_OFFSET)?).ok()
}

/// Each code body's pclntab function (by body index; `None` where no
/// function of the table enters that body).
fn body_functions(functions: &[GoFunction]) -> Vec<Option<&GoFunction>> {
    let mut out: Vec<Option<&GoFunction>> = Vec::new();
    for function in functions {
        let Some(index) = body_index(function.entry) else {
            continue;
        };
        // Entries are sorted, so a sane table grows this one by one: an
        // index far beyond the functions read is corrupt.
        if index >= functions.len().saturating_mul(2).saturating_add(64) {
            continue;
        }
        if out.len() <= index {
            out.resize(index + 1, None);
        }
        out[index].get_or_insert(function);
    }
    out
}

/// Where each code body lies in the contents of the code section
/// `code` (after its id and size): (start, length) of the body proper,
/// after its size prefix. Stops at the first malformed entry.
fn code_bodies(code: &[u8]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let Some((count, mut at)) = crate::go::uleb128(code) else {
        return out;
    };
    // Each body takes at least two bytes: the contents bound the count.
    for _ in 0..count.min(code.len() as u64 / 2) {
        let Some((len, used)) = code.get(at..).and_then(crate::go::uleb128) else {
            break;
        };
        let start = at + used;
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|len| start.checked_add(len))
            .filter(|&end| end <= code.len())
        else {
            break;
        };
        out.push((start as u64, len));
        at = end;
    }
    out
}

/// The pclntab's functions placed on the code bodies of a stripped module
/// (code section contents `code`): (name, start, length) in the section,
/// as the `name` section of an unstripped one would give them.
pub(crate) fn function_symbols(code: &[u8], functions: Vec<GoFunction>) -> Vec<(String, u64, u64)> {
    let bodies = code_bodies(code);
    functions
        .into_iter()
        .filter_map(|f| {
            let &(start, len) = bodies.get(body_index(f.entry)?)?;
            Some((f.name, start, len))
        })
        .collect()
}

/// The pieces of linear memory (`base`, `memory`) the code references,
/// outside `taken` (ranges already charged, in memory addresses): a region
/// of section 0 in memory addresses, charging each piece to the packages
/// referencing it in equal parts. `functions` are the pclntab's (the
/// code bodies' names).
pub(crate) fn data_region(
    module: &[u8],
    (base, memory): (u64, &[u8]),
    taken: &[(u64, u64)],
    functions: &[GoFunction],
) -> Option<Region> {
    // Each code body is the pclntab function whose entry names its index,
    // so a stripped module (no `name` section) reads as an unstripped one.
    let by_body = body_functions(functions);
    let mut package_of = |body: usize, _: Option<&str>| {
        let function = by_body.get(body).copied().flatten()?;
        let package = crate::go::package_of(&function.name);
        (!package.starts_with('[')).then(|| package.to_owned())
    };
    let reading = crate::wasm_data::Reading {
        word: 8,
        offsets: false,
        to_next: false,
    };
    crate::wasm_data::data_region(module, (base, memory), taken, reading, &mut package_of)
}

/// The runtime's `findfunctab` (`module`), charged bucket by bucket to the
/// package of the function whose pcs the bucket covers. A function spans
/// 65,536 pcs on WebAssembly, so the table holds 16 buckets per function
/// (1.4 MB for 4,000 functions) and, being mostly zeros, splits the data
/// into one segment per bucket. Buckets overlapping `taken` are left out;
/// nothing when the table does not lie inside linear memory
/// (`base`, `len`).
pub(crate) fn findfunctab_region(
    module: &crate::go::ModuleData,
    functions: &[GoFunction],
    (base, len): (u64, u64),
    taken: &[(u64, u64)],
) -> Option<Region> {
    let (start, size) = crate::go::find_func_table(module)?;
    let end = start.checked_add(size)?;
    if start < base || end > base.saturating_add(len) {
        return None;
    }
    let taken = go_strings::merged(taken.to_vec());
    let mut charged = Vec::new();
    for (from, to, index) in crate::go::find_func_buckets(module, functions) {
        let first = taken.partition_point(|r| r.1 <= from);
        if taken.get(first).is_some_and(|r| r.0 < to) {
            continue;
        }
        charged.push((
            0usize,
            from,
            to,
            crate::go::package_of(&functions[index].name),
        ));
    }
    Region::group(charged).into_iter().next()
}

/// Each function's entries outside its code body, as file ranges with the
/// body index: its size prefix in the code section (the first also takes
/// the count), its type index in the function section and its slot in
/// the element section's table. Keyed by the section's `object` name.
fn function_entries(module: &[u8]) -> Vec<(&'static str, usize, usize, usize)> {
    let mut out = Vec::new();
    let mut imported = 0usize;
    let mut previous_end = None;
    let mut body = 0usize;
    // Consecutive items: each runs to the next one's start, the last to
    // `end`.
    let spans = |out: &mut Vec<_>, section, offsets: Vec<(usize, usize)>, end: usize| {
        for (i, &(offset, index)) in offsets.iter().enumerate() {
            let next = offsets.get(i + 1).map_or(end, |n| n.0);
            out.push((section, offset, next, index));
        }
    };
    for payload in Parser::new(0).parse_all(module) {
        let Ok(payload) = payload else {
            break;
        };
        match payload {
            Payload::ImportSection(reader) => {
                imported = reader
                    .into_imports()
                    .map_while(Result::ok)
                    .filter(|i| matches!(i.ty, wasmparser::TypeRef::Func(_)))
                    .count();
            }
            Payload::FunctionSection(reader) => {
                let end = reader.range().end;
                let offsets = reader
                    .into_iter_with_offsets()
                    .map_while(Result::ok)
                    .enumerate()
                    .map(|(index, (offset, _))| (offset, index))
                    .collect();
                spans(&mut out, "<function>", offsets, end);
            }
            Payload::ElementSection(reader) => {
                for element in reader.into_iter().map_while(Result::ok) {
                    let ElementItems::Functions(items) = element.items else {
                        continue;
                    };
                    let offsets = items
                        .into_iter_with_offsets()
                        .map_while(Result::ok)
                        .filter_map(|(offset, f)| {
                            Some((offset, (f as usize).checked_sub(imported)?))
                        })
                        .collect();
                    spans(&mut out, "<element>", offsets, element.range.end);
                }
            }
            Payload::CodeSectionStart { range, .. } => previous_end = Some(range.start),
            Payload::CodeSectionEntry(code) => {
                let range = code.range();
                if let Some(start) = previous_end.filter(|&s| s < range.start) {
                    out.push(("<code>", start, range.start, body));
                }
                previous_end = Some(range.end);
                body += 1;
            }
            _ => {}
        }
    }
    out
}

/// The module's per-function entries outside the code bodies (see
/// [`function_entries`]) charged to the package of each body's pclntab
/// function, in the sections of `layout`.
pub(crate) fn function_entry_regions(
    module: &[u8],
    layout: &crate::format::Layout<'_>,
    functions: &[GoFunction],
) -> Vec<Region> {
    let by_body = body_functions(functions);
    let section_of = |name: &str| {
        let (index, info) = layout
            .sections
            .iter()
            .enumerate()
            .find(|(_, s)| s.raw_name == name)?;
        Some((index, info.address, info.file_range?))
    };
    let sections: HashMap<&str, _> = ["<code>", "<function>", "<element>"]
        .into_iter()
        .filter_map(|name| Some((name, section_of(name)?)))
        .collect();
    let charged: Vec<(usize, u64, u64, &str)> = function_entries(module)
        .into_iter()
        .filter_map(|(name, start, end, body)| {
            let &(index, address, (offset, size)) = sections.get(name)?;
            let function = by_body.get(body).copied().flatten()?;
            let start = (start as u64).checked_sub(offset)?;
            let end = (end as u64)
                .min(offset.saturating_add(size))
                .checked_sub(offset)?;
            Some((
                index,
                address + start,
                address + end,
                crate::go::package_of(&function.name),
            ))
        })
        .collect();
    Region::group_shipped(charged, layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(name: &str, index: u64) -> GoFunction {
        GoFunction {
            name: name.into(),
            entry: (FUNC_VALUE_OFFSET + index) << 16,
            size: 1,
            padding: 0,
        }
    }

    #[test]
    fn entries_name_code_bodies_by_index() {
        assert_eq!(body_index(0x1000 << 16), Some(0));
        assert_eq!(body_index(0x1003 << 16), Some(3));
        // A resume point inside a function, or a pc below the first.
        assert_eq!(body_index((0x1003 << 16) | 2), None);
        assert_eq!(body_index(0x0fff << 16), None);
        let functions = [function("a.F", 0), function("b.G", 2)];
        let names: Vec<Option<&str>> = body_functions(&functions)
            .into_iter()
            .map(|f| f.map(|f| f.name.as_str()))
            .collect();
        assert_eq!(names, [Some("a.F"), None, Some("b.G")]);
        // An index far beyond the table is corrupt, not a huge vector.
        assert_eq!(body_functions(&[function("c.H", 1 << 40)]).len(), 0);
    }

    #[test]
    fn code_bodies_are_read_up_to_the_first_malformed_one() {
        // Three bodies announced: 2 bytes, 1 byte, then one running past
        // the end.
        let code = [3, 2, 0xaa, 0xbb, 1, 0xcc, 9, 0];
        assert_eq!(code_bodies(&code), [(2, 2), (5, 1)]);
        assert_eq!(code_bodies(&[]), []);
        assert_eq!(code_bodies(&[0xff]), []);
    }

    #[test]
    fn findfunctab_buckets_go_to_the_function_they_cover() {
        let functions = [function("a.F", 0), function("b.G", 1)];
        let module = crate::go::ModuleData {
            types: 0,
            etypes: 0,
            gofunc: None,
            typelinks: (0, 0),
            itablinks: (0, 0),
            findfunctab: 0x2000,
            minpc: 0x1000 << 16,
            maxpc: 0x1002 << 16,
        };
        // 32 buckets of 20 bytes, 16 per function; the first bucket taken.
        let region =
            findfunctab_region(&module, &functions, (0x1000, 0x2000), &[(0x2000, 0x2001)]).unwrap();
        assert_eq!(region.ranges, [(0x2000 + 20, 0x2000 + 32 * 20)]);
        let charges: HashMap<String, u64> = region.charges.into_iter().collect();
        assert_eq!(charges["a"], 15 * 20);
        assert_eq!(charges["b"], 16 * 20);
        // A table reaching outside memory, or pcs that run backwards.
        assert!(findfunctab_region(&module, &functions, (0x1000, 0x1200), &[]).is_none());
        let backwards = crate::go::ModuleData { maxpc: 0, ..module };
        assert!(findfunctab_region(&backwards, &functions, (0x1000, 0x2000), &[]).is_none());
    }
}
