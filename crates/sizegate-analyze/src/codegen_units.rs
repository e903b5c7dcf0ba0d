//! The DWARF compile units of a Rust build: which crate's codegen unit
//! holds the code at each address (the *instantiating* crate), read with
//! `gimli` from the file or its debug file. `debuginfo = "line-tables-only"`
//! is enough: rustc names each compile unit after its codegen unit
//! (`src/lib.rs/@/regex_syntax.5a1f…-cgu.07`) and gives it its address
//! ranges. A generic defined in crate `a` and instantiated in crate `b` is
//! in `b`'s codegen unit, so this view charges it to `b` where the symbol
//! name (the *defining* rule of `units`) says `a`.

use std::borrow::Cow;

use object::Object;

use crate::dwarf_data;

/// Most address ranges kept (bounds memory on hostile DWARF).
const MAX_RANGES: usize = 1 << 22;
/// Most compile units read.
const MAX_UNITS: usize = 1 << 20;

/// Address ranges of Rust codegen units and their crates.
#[derive(Debug, Default)]
pub(crate) struct CodegenUnits {
    /// Crate names, each once.
    crates: Vec<String>,
    /// (start, end, index into `crates`), sorted by start, disjoint.
    ranges: Vec<(u64, u64, u32)>,
    /// Compressed DWARF sections left out, and why (for the report's notes).
    pub(crate) notes: Vec<String>,
}

/// The DWARF sections the compile units, their ranges and line programs
/// need; the others (location lists, macros, type units...) are never
/// decompressed.
const READ: &[gimli::SectionId] = &[
    gimli::SectionId::DebugAbbrev,
    gimli::SectionId::DebugAddr,
    gimli::SectionId::DebugInfo,
    gimli::SectionId::DebugLine,
    gimli::SectionId::DebugLineStr,
    gimli::SectionId::DebugRanges,
    gimli::SectionId::DebugRngLists,
    gimli::SectionId::DebugStr,
    gimli::SectionId::DebugStrOffsets,
];

impl CodegenUnits {
    /// The codegen units `file`'s DWARF describes (plain or compressed,
    /// see `dwarf_data`); empty when it has none (or malformed DWARF, or
    /// no Rust unit), with a note for each compressed section left out.
    pub(crate) fn read(file: &object::File<'_>) -> CodegenUnits {
        let endian = if file.is_little_endian() {
            gimli::RunTimeEndian::Little
        } else {
            gimli::RunTimeEndian::Big
        };
        if !dwarf_data::has_section(file, ".debug_info") {
            return CodegenUnits::default();
        }
        let mut budget = dwarf_data::Budget::default();
        let load = |id: gimli::SectionId| -> Result<Cow<'_, [u8]>, gimli::Error> {
            Ok(if READ.contains(&id) {
                dwarf_data::section_bytes(file, id.name(), &mut budget)
            } else {
                Cow::Borrowed(&[])
            })
        };
        let Ok(sections) = gimli::DwarfSections::load(load) else {
            return CodegenUnits::default();
        };
        let mut out = CodegenUnits {
            notes: budget.notes,
            ..CodegenUnits::default()
        };
        let dwarf = sections.borrow(|s| gimli::EndianSlice::new(s, endian));
        if gimli::Section::reader(&dwarf.debug_info).is_empty() {
            return out;
        }
        let mut headers = dwarf.units();
        let mut seen = 0;
        while let Ok(Some(header)) = headers.next() {
            seen += 1;
            if seen > MAX_UNITS || out.ranges.len() >= MAX_RANGES {
                break;
            }
            let Ok(unit) = dwarf.unit(header) else {
                continue;
            };
            let Some(name) = text(unit.name) else {
                continue;
            };
            let Some(krate) = crate_of_codegen_unit(name, text(unit.comp_dir).unwrap_or("")) else {
                continue;
            };
            let index = out.intern(&krate);
            out.add_unit_ranges(&dwarf, &unit, index);
        }
        out.finish();
        out
    }

    /// Whether no Rust codegen unit was found.
    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The crate whose codegen unit holds `address`.
    pub(crate) fn crate_at(&self, address: u64) -> Option<&str> {
        let i = self
            .ranges
            .partition_point(|r| r.0 <= address)
            .checked_sub(1)?;
        let range = self.ranges.get(i).filter(|r| address < r.1)?;
        self.crates.get(range.2 as usize).map(String::as_str)
    }

    fn intern(&mut self, krate: &str) -> u32 {
        match self.crates.iter().position(|c| c == krate) {
            Some(i) => i as u32,
            None => {
                self.crates.push(krate.to_string());
                (self.crates.len() - 1) as u32
            }
        }
    }

    /// The unit's `DW_AT_low_pc`/`DW_AT_high_pc` or `DW_AT_ranges`, else
    /// the sequences of its line program.
    fn add_unit_ranges(
        &mut self,
        dwarf: &gimli::Dwarf<gimli::EndianSlice<'_, gimli::RunTimeEndian>>,
        unit: &gimli::Unit<gimli::EndianSlice<'_, gimli::RunTimeEndian>>,
        index: u32,
    ) {
        let before = self.ranges.len();
        if let Ok(mut ranges) = dwarf.unit_ranges(unit) {
            while let Ok(Some(range)) = ranges.next() {
                if self.ranges.len() >= MAX_RANGES {
                    return;
                }
                // A range at 0 is code the linker dropped.
                if range.begin != 0 && range.end > range.begin {
                    self.ranges.push((range.begin, range.end, index));
                }
            }
        }
        if self.ranges.len() > before {
            return;
        }
        let Some(program) = unit.line_program.clone() else {
            return;
        };
        let Ok((_, sequences)) = program.sequences() else {
            return;
        };
        for sequence in sequences {
            if self.ranges.len() >= MAX_RANGES {
                return;
            }
            if sequence.start != 0 && sequence.end > sequence.start {
                self.ranges.push((sequence.start, sequence.end, index));
            }
        }
    }

    /// Sort the ranges and cut overlaps (the earlier start keeps the bytes).
    fn finish(&mut self) {
        self.ranges.sort_unstable();
        let mut end = 0;
        self.ranges.retain_mut(|r| {
            r.0 = r.0.max(end);
            end = end.max(r.1);
            r.1 > r.0
        });
    }
}

/// A DWARF string attribute as UTF-8.
fn text<'d>(value: Option<gimli::EndianSlice<'d, gimli::RunTimeEndian>>) -> Option<&'d str> {
    value.and_then(|n| std::str::from_utf8(n.slice()).ok())
}

/// The crate of a rustc codegen unit, from its compile unit's name and
/// compilation directory. rustc 1.95 writes `<crate root>/@/<cgu>`, where
/// `<cgu>` is `<crate>.<hash>-cgu.<n>` (`src/lib.rs/@/regex_syntax.5a1f0e-cgu.07`,
/// older releases without the root) or, in incremental builds (Cargo's
/// `dev` profile), a bare hash (`src/lib.rs/@/eo8xeqgjqogbcoca8gfy7r5cq`).
/// For the latter the crate comes from the crate root's path: a registry,
/// standard library or workspace member path as panic locations name them
/// (`crates/sizegate-server/src/lib.rs`), `examples/<name>.rs`,
/// `tests/<name>.rs`, `benches/<name>.rs`, `src/bin/<name>.rs`, else the
/// package directory (`src/main.rs` in `comp_dir`). Names that are not a
/// codegen unit's (C and C++ units: `foo.c`) give nothing.
pub(crate) fn crate_of_codegen_unit(name: &str, comp_dir: &str) -> Option<String> {
    let (root, cgu) = match name.rfind("/@/") {
        Some(at) => (Some(&name[..at]), &name[at + 3..]),
        None => (None, name.rsplit(['/', '\\']).next()?),
    };
    if let Some((krate, rest)) = cgu.split_once('.')
        && is_crate_name(krate)
        && rest.contains("-cgu.")
    {
        return Some(krate.to_string());
    }
    crate_of_root(root?, comp_dir)
}

/// The crate whose root source file is `root` (see `crate_of_codegen_unit`).
fn crate_of_root(root: &str, comp_dir: &str) -> Option<String> {
    if let Some(path) = crate::rust::parse_source_path(root) {
        return Some(path.crate_name);
    }
    let parts: Vec<&str> = root.split(['/', '\\']).collect();
    let file = parts.last()?.strip_suffix(".rs")?;
    let dir = parts.len().checked_sub(2).and_then(|i| parts.get(i));
    let target = matches!(dir, Some(&("examples" | "tests" | "benches" | "bin")));
    let name = if target && file != "main" {
        file
    } else {
        // `src/main.rs` or `src/lib.rs` of the package at `comp_dir`.
        let package = parts.len().checked_sub(3).and_then(|i| parts.get(i));
        match package {
            Some(package) if !package.is_empty() => package,
            _ => comp_dir.rsplit(['/', '\\']).next()?,
        }
    };
    let name = name.replace('-', "_");
    is_crate_name(&name).then_some(name)
}

fn is_crate_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names_of_codegen_units() {
        let of = |name: &str, dir: &str| crate_of_codegen_unit(name, dir);
        assert_eq!(
            of("src/lib.rs/@/regex_syntax.5a1f0e9c-cgu.07", "/x").as_deref(),
            Some("regex_syntax")
        );
        assert_eq!(
            of(
                "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/lib.rs/@/std.e28293b1aa0f68bd-cgu.0",
                "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860"
            )
            .as_deref(),
            Some("std")
        );
        // A path with `.` in a directory name, and the older bare form.
        assert_eq!(
            of(
                "/home/u/.cargo/registry/src/memchr-2.7.6/src/lib.rs/@/memchr.96-cgu.0",
                "/"
            )
            .as_deref(),
            Some("memchr")
        );
        assert_eq!(of("tinydep.abc123-cgu.3", "/x").as_deref(), Some("tinydep"));
        // Incremental builds: the codegen unit is a bare hash.
        let hash = "eo8xeqgjqogbcoca8gfy7r5cq";
        let ws = "/work/sizegate";
        let incremental = |root: &str| of(&format!("{root}/@/{hash}"), ws);
        assert_eq!(
            incremental("crates/sizegate-server/src/lib.rs").as_deref(),
            Some("sizegate_server")
        );
        assert_eq!(
            incremental("crates/sizegate-server/examples/pull_page.rs").as_deref(),
            Some("pull_page")
        );
        assert_eq!(
            incremental("src/bin/fetch-all.rs").as_deref(),
            Some("fetch_all")
        );
        assert_eq!(incremental("src/main.rs").as_deref(), Some("sizegate"));
        assert_eq!(
            incremental(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/h2-0.4.12/src/lib.rs"
            )
            .as_deref(),
            Some("h2")
        );
        assert_eq!(of("foo.c", ws), None);
        assert_eq!(of("../sysdeps/x86_64/start.S", ws), None);
        assert_eq!(of("", ws), None);
    }

    #[test]
    fn lookups_cut_overlaps() {
        let mut units = CodegenUnits {
            crates: vec!["a".into(), "b".into()],
            ranges: vec![(0x2000, 0x3000, 1), (0x1000, 0x2800, 0)],
            notes: Vec::new(),
        };
        units.finish();
        assert_eq!(units.crate_at(0x1000), Some("a"));
        assert_eq!(units.crate_at(0x27ff), Some("a"));
        assert_eq!(units.crate_at(0x2800), Some("b"));
        assert_eq!(units.crate_at(0x3000), None);
        assert_eq!(units.crate_at(0xfff), None);
    }
}
