//! Symbols: collected from the symbol table (else the Go pclntab, else the
//! dynamic symbols), placed in their sections, sized (a symbol without a
//! size gets the gap to the next symbol, never past its section's end;
//! except size-less ELF labels outside code, which ELF marks as such), with
//! aliases at one address counted once and overlaps counted once.

use object::{Object, ObjectSymbol, SymbolKind};

use crate::demangle::Lang;
use crate::go::{self, GoSection};
use crate::sections::SectionInfo;

/// A symbol placed in a section, with the bytes it is charged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlacedSymbol {
    /// Name as in the file (mangled; Mach-O leading underscore removed).
    pub raw_name: String,
    /// Position of its section in the layout's section list.
    pub section: usize,
    /// Address of its first byte.
    pub address: u64,
    /// Bytes charged to it (in memory; overlaps and aliases removed).
    pub size: u64,
    /// Of those, bytes that survive stripping (file-backed, shipped).
    pub shipped: u64,
    /// `Some` when the name is already demangled (a PDB's procedure and
    /// data names): the language of the code that names it.
    pub undecorated: Option<Lang>,
}

/// A symbol a debug file names by address, not by section (a PDB's).
#[derive(Debug)]
pub(crate) struct ByAddress {
    /// Mangled, or undecorated when `undecorated` says in which language.
    pub name: String,
    /// Absolute address.
    pub address: u64,
    /// Size, or 0 to size it by the gap to the next symbol.
    pub size: u64,
    /// See [`PlacedSymbol::undecorated`].
    pub undecorated: Option<Lang>,
}

/// Fewer code symbols than this in a Go binary means its symbol table is gone.
const GO_MIN_FUNCTIONS: usize = 100;

/// A symbol before placement.
#[derive(Debug)]
struct Candidate {
    name: String,
    section: usize,
    address: u64,
    size: u64,
    undecorated: Option<Lang>,
}

/// Collect and place the symbols of `file` in `sections`.
pub(crate) fn collect(
    file: &object::File<'_>,
    sections: &[SectionInfo<'_>],
    go_binary: bool,
) -> Vec<PlacedSymbol> {
    let strip_underscore = matches!(file, object::File::MachO32(_) | object::File::MachO64(_));
    let is_elf = matches!(file, object::File::Elf32(_) | object::File::Elf64(_));
    let is_pe = matches!(file, object::File::Pe32(_) | object::File::Pe64(_));
    let is_wasm = matches!(file, object::File::Wasm(_));
    let index_map = SectionIndexMap::new(sections);

    let from_table = |symbols: &mut dyn Iterator<Item = object::Symbol<'_, '_>>| {
        let mut out = Vec::new();
        for symbol in symbols {
            if !symbol.is_definition()
                || matches!(
                    symbol.kind(),
                    SymbolKind::Section | SymbolKind::File | SymbolKind::Label
                )
            {
                continue;
            }
            let Some(section) = symbol.section_index().and_then(|i| index_map.get(i)) else {
                continue;
            };
            let Ok(name) = symbol.name() else { continue };
            let name = if strip_underscore {
                name.strip_prefix('_').unwrap_or(name)
            } else {
                name
            };
            if name.is_empty() {
                continue;
            }
            // ELF records sizes: a size-less symbol outside code is a label
            // (`__FRAME_END__`, `__init_array_start`), not an object.
            let code = sections[section].kind == crate::report::SectionKind::Code;
            if is_elf && symbol.size() == 0 && !code {
                continue;
            }
            let Some((address, size)) = pe_wasm_extent(
                (is_pe, is_wasm && !go_binary),
                sections[section].kind,
                name,
                (symbol.address(), symbol.size()),
            ) else {
                continue;
            };
            out.push(Candidate {
                name: name.to_string(),
                section,
                address,
                size,
                undecorated: None,
            });
        }
        out
    };
    let mut candidates = from_table(&mut file.symbols());
    // A Go binary has thousands of functions; with a handful of code
    // symbols (WebAssembly exports, or none) the pclntab knows better.
    let is_code = |c: &Candidate| sections[c.section].kind == crate::report::SectionKind::Code;
    // On WebAssembly the pclntab names each code body by its index, with
    // the names the `name` section spells otherwise (`net_http.Get`): read
    // it there always, so that stripping changes nothing.
    let is_wasm = matches!(file, object::File::Wasm(_));
    if go_binary && (is_wasm || candidates.iter().filter(|c| is_code(c)).count() < GO_MIN_FUNCTIONS)
    {
        let pclntab = go_functions(file, sections);
        if pclntab.len() >= GO_MIN_FUNCTIONS {
            candidates.retain(|c| !is_code(c));
            candidates.extend(pclntab);
            candidates.extend(go_table_symbols(sections));
        } else if is_wasm {
            let mut names: Vec<String> = candidates
                .iter_mut()
                .map(|c| std::mem::take(&mut c.name))
                .collect();
            crate::go_units::restore_wasm_names(sections, go_target(file), &mut names);
            for (candidate, name) in candidates.iter_mut().zip(names) {
                candidate.name = name;
            }
        }
    }
    if candidates.is_empty() {
        candidates = from_table(&mut file.dynamic_symbols());
    }
    place(candidates, sections)
}

/// The extent of a PE or (non-Go) WebAssembly symbol, `None` for one that
/// is no object to charge; others as they are.
fn pe_wasm_extent(
    (pe, wasm): (bool, bool),
    kind: crate::report::SectionKind,
    name: &str,
    (address, size): (u64, u64),
) -> Option<(u64, u64)> {
    use crate::report::SectionKind;
    // A mingw build's COFF symbols in `.pdata` and `.xdata` are labels
    // (`GCC_except_table12`): those bytes go with the functions they
    // describe, not to the label. So are those named like sections
    // (`.text`, `.idata$6`).
    if pe && (kind == SectionKind::Unwind || name.starts_with('.')) {
        return None;
    }
    if !wasm {
        return Some((address, size));
    }
    // Rust and C WebAssembly: a function's body follows its size (a
    // LEB128), which is charged with it; exported memories and globals are
    // no data objects (Go keeps its own rules).
    if kind != SectionKind::Code {
        return None;
    }
    let prefix = crate::format::leb128_len(size);
    Some((address.saturating_sub(prefix), size.saturating_add(prefix)))
}

/// Maps `object` section indices to positions in the layout's list.
#[derive(Debug)]
struct SectionIndexMap {
    positions: Vec<Option<usize>>,
}

impl SectionIndexMap {
    fn new(sections: &[SectionInfo<'_>]) -> Self {
        // Indices come from the file's own section list, so they are bounded
        // by the number of sections actually read.
        let max = sections.iter().map(|s| s.index.0).max().unwrap_or(0);
        let mut positions = vec![
            None;
            max.saturating_add(1)
                .min(sections.len().saturating_mul(2) + 16)
        ];
        for (i, s) in sections.iter().enumerate() {
            if let Some(slot) = positions.get_mut(s.index.0) {
                *slot = Some(i);
            }
        }
        SectionIndexMap { positions }
    }

    fn get(&self, index: object::SectionIndex) -> Option<usize> {
        self.positions.get(index.0).copied().flatten()
    }
}

/// The byte order and pointer size of `file`, as the Go readers take them.
fn go_target(file: &object::File<'_>) -> go::Target {
    go::Target {
        big_endian: !file.is_little_endian(),
        ptr_size: if file.is_64() { 8 } else { 4 },
    }
}

/// Functions from the Go pclntab, placed in the code section holding them.
fn go_functions(file: &object::File<'_>, sections: &[SectionInfo<'_>]) -> Vec<Candidate> {
    let memory = crate::go_units::wasm_memory(sections);
    let go_sections: Vec<GoSection<'_>> = crate::go_units::go_sections(sections, memory.as_ref());
    let Some(table) = go::read_pclntab(&go_sections, go_target(file)) else {
        return Vec::new();
    };
    if matches!(file, object::File::Wasm(_)) {
        // Entries are function indices there: each names a code body.
        let Some(code) = sections.iter().position(|s| s.raw_name == "<code>") else {
            return Vec::new();
        };
        let base = sections[code].address;
        return crate::go_wasm::function_symbols(sections[code].data, table.functions)
            .into_iter()
            .map(|(name, start, size)| Candidate {
                name,
                section: code,
                address: base.saturating_add(start),
                size,
                undecorated: None,
            })
            .collect();
    }
    // Code sections by address, to find each function's by binary search.
    let mut code: Vec<usize> = (0..sections.len())
        .filter(|&i| sections[i].kind == crate::report::SectionKind::Code)
        .collect();
    code.sort_by_key(|&i| sections[i].address);
    table
        .functions
        .into_iter()
        .filter_map(|f| {
            let after = code.partition_point(|&i| sections[i].address <= f.entry);
            let section = code[..after]
                .last()
                .copied()
                .filter(|&i| sections[i].contains(f.entry))?;
            Some(Candidate {
                name: f.name,
                section,
                address: f.entry,
                size: f.size,
                undecorated: None,
            })
        })
        .collect()
}

/// The symbols Go's linker gives its own tables, one per section (what an
/// unstripped binary names them), so that a stripped binary charges them to
/// the same units.
fn go_table_symbols(sections: &[SectionInfo<'_>]) -> Vec<Candidate> {
    sections
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let name = match s.raw_name.as_str() {
                ".gopclntab" | "__gopclntab" => "runtime.pclntab",
                ".typelink" | "__typelink" => "runtime.typelink",
                ".itablink" | "__itablink" => "runtime.itablink",
                _ => return None,
            };
            Some(Candidate {
                name: name.to_string(),
                section: i,
                address: s.address,
                size: s.size,
                undecorated: None,
            })
        })
        .collect()
}

/// Place symbols given by absolute address in the section holding each
/// (loaded sections only); those in no section are dropped.
pub(crate) fn place_by_address(
    named: Vec<ByAddress>,
    sections: &[SectionInfo<'_>],
) -> Vec<PlacedSymbol> {
    let mut loaded: Vec<usize> = (0..sections.len())
        .filter(|&i| sections[i].vm_size > 0)
        .collect();
    loaded.sort_by_key(|&i| sections[i].address);
    let candidates = named
        .into_iter()
        .filter_map(|n| {
            let after = loaded.partition_point(|&i| sections[i].address <= n.address);
            let section = loaded[..after]
                .last()
                .copied()
                .filter(|&i| sections[i].contains(n.address))?;
            Some(Candidate {
                name: n.name,
                section,
                address: n.address,
                size: n.size,
                undecorated: n.undecorated,
            })
        })
        .collect();
    place(candidates, sections)
}

/// Size and de-duplicate symbols section by section.
fn place(mut candidates: Vec<Candidate>, sections: &[SectionInfo<'_>]) -> Vec<PlacedSymbol> {
    // By section, then address; at one address the largest, then the first
    // name, is the one kept.
    candidates.sort_by(|a, b| {
        (a.section, a.address, std::cmp::Reverse(a.size), &a.name).cmp(&(
            b.section,
            b.address,
            std::cmp::Reverse(b.size),
            &b.name,
        ))
    });
    candidates
        .dedup_by(|later, kept| later.section == kept.section && later.address == kept.address);

    let mut out = Vec::with_capacity(candidates.len());
    let mut i = 0;
    while i < candidates.len() {
        let section_pos = candidates[i].section;
        let section = &sections[section_pos];
        let start_of_section = section.address;
        let end_of_section = section.address.saturating_add(section.extent());
        let shipped_end = section.address.saturating_add(section.shipped_extent());
        let mut j = i;
        while j < candidates.len() && candidates[j].section == section_pos {
            j += 1;
        }
        let mut cursor = start_of_section;
        for k in i..j {
            let (address, size) = (candidates[k].address, candidates[k].size);
            let declared_end = if size > 0 {
                address.saturating_add(size)
            } else {
                candidates
                    .get(k + 1)
                    .filter(|n| n.section == section_pos)
                    .map_or(end_of_section, |n| n.address)
            };
            let start = address.max(cursor);
            let end = declared_end.min(end_of_section);
            if end <= start {
                continue;
            }
            let shipped = end.min(shipped_end).saturating_sub(start);
            cursor = end;
            // Names of anonymous data bound their neighbours, but the bytes
            // are charged as anonymous data: to the units that use them.
            if names_no_owner(&candidates[k].name) {
                continue;
            }
            out.push(PlacedSymbol {
                // Each candidate is placed at most once: take its name.
                raw_name: std::mem::take(&mut candidates[k].name),
                section: section_pos,
                address,
                size: end - start,
                shipped,
                undecorated: candidates[k].undecorated,
            });
        }
        i = j;
    }
    out
}

/// Whether `name` names data that no source names, so that the symbol says
/// nothing about which unit the bytes belong to:
/// - LLVM's anonymous constants (`anon.<module hash>.<n>`, after ThinLTO
///   `anon.<hash>.<n>.llvm.<n>`), listed in a dSYM's symbol table and in a
///   Mach-O build that is not stripped;
/// - COFF constant-pool entries named by their contents (`__xmm@<hex>`,
///   `__ymm@`, `__zmm@`, `__real@`), merged across the whole program;
/// - COFF import address slots (`__imp_<function>`), used by the code that
///   calls the import;
/// - Rust vtables as a PDB names them (`impl$<Type, Trait>::vtable$`,
///   without a size: the gap to the next symbol would take in unrelated
///   constants); their function pointers go to the functions' units and
///   the rest to the code that uses the vtable, as on ELF where vtables
///   are anonymous.
pub(crate) fn names_no_owner(name: &str) -> bool {
    if name.ends_with("::vtable$") {
        return true;
    }
    const POOLS: [&str; 4] = ["__xmm@", "__ymm@", "__zmm@", "__real@"];
    if let Some(pool) = POOLS.iter().find_map(|p| name.strip_prefix(p)) {
        return !pool.is_empty() && pool.bytes().all(|b| b.is_ascii_hexdigit());
    }
    if name.strip_prefix("__imp_").is_some_and(|f| !f.is_empty()) {
        return true;
    }
    let Some(rest) = name.strip_prefix("anon.") else {
        return false;
    };
    let mut parts = rest.split('.');
    let hash = parts.next().unwrap_or_default();
    let index = parts.next().unwrap_or_default();
    let all = |s: &str, f: fn(&u8) -> bool| !s.is_empty() && s.as_bytes().iter().all(f);
    all(hash, u8::is_ascii_hexdigit)
        && all(index, u8::is_ascii_digit)
        && match (parts.next(), parts.next(), parts.next()) {
            (None, _, _) => true,
            (Some("llvm"), Some(n), None) => all(n, u8::is_ascii_digit),
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::SectionKind;

    fn section(address: u64, size: u64) -> SectionInfo<'static> {
        SectionInfo {
            name: ".text".into(),
            raw_name: ".text".into(),
            size,
            kind: SectionKind::Code,
            index: object::SectionIndex(1),
            address,
            vm_size: size,
            file_range: Some((0, size)),
            align: 1,
            data: &[],
            share: size,
            shipped: size,
        }
    }

    fn candidate(name: &str, address: u64, size: u64) -> Candidate {
        Candidate {
            name: name.into(),
            section: 0,
            address,
            size,
            undecorated: None,
        }
    }

    fn sized(placed: &[PlacedSymbol]) -> Vec<(&str, u64)> {
        placed
            .iter()
            .map(|p| (p.raw_name.as_str(), p.size))
            .collect()
    }

    #[test]
    fn sizeless_symbols_get_the_gap_to_the_next_but_not_past_the_section() {
        let sections = [section(0x1000, 0x100)];
        let placed = place(
            vec![
                candidate("a", 0x1000, 0),
                candidate("b", 0x1040, 0),
                candidate("c", 0x10f0, 0),
            ],
            &sections,
        );
        assert_eq!(sized(&placed), [("a", 0x40), ("b", 0xb0), ("c", 0x10)]);
    }

    #[test]
    fn names_of_anonymous_data_bound_their_neighbours_and_are_left_out() {
        for anonymous in [
            "anon.ad1bb2eb6a09041b7351be9a34c3521e.2970",
            "anon.ad1bb2eb6a09041b7351be9a34c3521e.2970.llvm.7613713457348788043",
            "__xmm@01010101010101010101010101010101",
            "__real@3ff0000000000000",
            "__imp_GetLastError",
            "impl$<core::fmt::Error, core::fmt::Debug>::vtable$",
        ] {
            assert!(names_no_owner(anonymous), "{anonymous}");
        }
        for other in [
            "anon",
            "anon.x1.2",
            "anon.ab.",
            "anon.ab.1.llvm.",
            "anon.ab.1.cold",
            "anonymous",
            "__xmm@",
            "__xmm@zz",
            "__imp_",
        ] {
            assert!(!names_no_owner(other), "{other}");
        }
        let sections = [section(0x1000, 0x100)];
        let placed = place(
            vec![
                candidate("a", 0x1000, 0),
                candidate("anon.0f49a08d.14", 0x1040, 0),
                candidate("c", 0x10f0, 0),
            ],
            &sections,
        );
        assert_eq!(sized(&placed), [("a", 0x40), ("c", 0x10)]);
    }

    #[test]
    fn aliases_and_overlaps_are_counted_once() {
        let sections = [section(0x1000, 0x100)];
        let placed = place(
            vec![
                candidate("alias_b", 0x1000, 0x20),
                candidate("alias_a", 0x1000, 0x20),
                candidate("inner", 0x1010, 0x8),
                candidate("tail", 0x1018, 0x100),
            ],
            &sections,
        );
        // One alias kept (first name), the nested symbol adds nothing, the
        // tail starts after what is counted already and stops at the
        // section's end.
        assert_eq!(sized(&placed), [("alias_a", 0x20), ("tail", 0xe0)]);
        let total: u64 = placed.iter().map(|p| p.shipped).sum();
        assert!(total <= 0x100);
    }
}
