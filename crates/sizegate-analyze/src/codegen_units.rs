//! The DWARF compile units of a Rust build: which crate's codegen unit
//! holds the code at each address (the *instantiating* crate), read with
//! `gimli` from the file or its debug file. `debuginfo = "line-tables-only"`
//! is enough: rustc names each compile unit after its codegen unit
//! (`src/lib.rs/@/regex_syntax.5a1f…-cgu.07`) and gives it its address
//! ranges. A generic defined in crate `a` and instantiated in crate `b` is
//! in `b`'s codegen unit, so this view charges it to `b` where the symbol
//! name (the *defining* rule of `units`) says `a`.

use std::borrow::Cow;

use object::{Object, ObjectSection};

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
}

impl CodegenUnits {
    /// The codegen units `file`'s DWARF describes; empty when it has none
    /// (or only compressed or malformed DWARF, or no Rust unit).
    pub(crate) fn read(file: &object::File<'_>) -> CodegenUnits {
        let endian = if file.is_little_endian() {
            gimli::RunTimeEndian::Little
        } else {
            gimli::RunTimeEndian::Big
        };
        let load = |id: gimli::SectionId| -> Result<Cow<'_, [u8]>, gimli::Error> {
            Ok(section_bytes(file, id.name()))
        };
        if section_bytes(file, ".debug_info").is_empty() {
            return CodegenUnits::default();
        }
        let Ok(sections) = gimli::DwarfSections::load(load) else {
            return CodegenUnits::default();
        };
        let dwarf = sections.borrow(|s| gimli::EndianSlice::new(s, endian));
        let mut out = CodegenUnits::default();
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
            let Some(name) = unit.name.and_then(|n| std::str::from_utf8(n.slice()).ok()) else {
                continue;
            };
            let Some(krate) = crate_of_codegen_unit(name) else {
                continue;
            };
            let index = out.intern(krate);
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
        let i = self.ranges.partition_point(|r| r.0 <= address).checked_sub(1)?;
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

/// The bytes of a DWARF section, empty when absent or compressed
/// (decompressing would allocate what the header claims).
fn section_bytes<'data>(file: &object::File<'data>, name: &str) -> Cow<'data, [u8]> {
    let Some(section) = file.section_by_name(name) else {
        return Cow::Borrowed(&[]);
    };
    match section.compressed_data() {
        Ok(data) if data.format == object::CompressionFormat::None => Cow::Borrowed(data.data),
        _ => Cow::Borrowed(&[]),
    }
}

/// The crate of a rustc codegen unit's compile-unit name:
/// `src/lib.rs/@/regex_syntax.5a1f0e-cgu.07` (rustc since 1.5x) or
/// `regex_syntax.5a1f0e-cgu.07` (older) give `regex_syntax`. Names that are
/// not a codegen unit's (C and C++ units: `foo.c`) give nothing.
pub(crate) fn crate_of_codegen_unit(name: &str) -> Option<&str> {
    let cgu = match name.rfind("/@/") {
        Some(at) => &name[at + 3..],
        None => name.rsplit(['/', '\\']).next()?,
    };
    let (krate, rest) = cgu.split_once('.')?;
    let valid = !krate.is_empty()
        && krate.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !krate.starts_with(|c: char| c.is_ascii_digit());
    (valid && rest.contains("-cgu.")).then_some(krate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names_of_codegen_units() {
        assert_eq!(
            crate_of_codegen_unit("src/lib.rs/@/regex_syntax.5a1f0e9c-cgu.07"),
            Some("regex_syntax")
        );
        assert_eq!(
            crate_of_codegen_unit(
                "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/lib.rs/@/std.e28293b1aa0f68bd-cgu.0"
            ),
            Some("std")
        );
        // A path with `.` in a directory name, and the older bare form.
        assert_eq!(
            crate_of_codegen_unit("/home/u/.cargo/registry/src/memchr-2.7.6/src/lib.rs/@/memchr.96-cgu.0"),
            Some("memchr")
        );
        assert_eq!(crate_of_codegen_unit("tinydep.abc123-cgu.3"), Some("tinydep"));
        assert_eq!(crate_of_codegen_unit("foo.c"), None);
        assert_eq!(crate_of_codegen_unit("../sysdeps/x86_64/start.S"), None);
        assert_eq!(crate_of_codegen_unit(""), None);
    }

    #[test]
    fn lookups_cut_overlaps() {
        let mut units = CodegenUnits {
            crates: vec!["a".into(), "b".into()],
            ranges: vec![(0x2000, 0x3000, 1), (0x1000, 0x2800, 0)],
        };
        units.finish();
        assert_eq!(units.crate_at(0x1000), Some("a"));
        assert_eq!(units.crate_at(0x27ff), Some("a"));
        assert_eq!(units.crate_at(0x2800), Some("b"));
        assert_eq!(units.crate_at(0x3000), None);
        assert_eq!(units.crate_at(0xfff), None);
    }
}
