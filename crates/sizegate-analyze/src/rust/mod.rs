//! Rust attribution beyond symbols: what survives stripping.
//!
//! - Evidence that a binary is Rust without its symbol table: the standard
//!   library's source paths (`/rustc/<commit>/library/std/src/...`,
//!   `/usr/src/rustc-1.63.0/library/...`), the `gdb_load_rust_pretty_printers`
//!   script rustc puts in `.debug_gdb_scripts`, and the panic runtime's
//!   messages. The rustc commit and release are read from those paths.
//! - Panic locations (`core::panic::Location`: a `&str` file path, a line
//!   and a column, in `.data.rel.ro` or `.rodata`) and the path strings they
//!   point to, charged to the crate the path names: a Cargo registry
//!   directory (`…/regex-1.11.1/src/…`: crate `regex`, version `1.11.1`) or
//!   the standard library (`…/library/core/src/…`: crate `core`).
//! - The relocation entries that store those locations' pointers
//!   (`.rela.dyn`), charged to the same crate.
//! - Crate versions: the `.dep-v0` section `cargo auditable` embeds, else the
//!   registry paths above.

mod auditable;
mod paths;
mod wasm;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use crate::format::Layout;
use crate::go::Layout as Words;
use crate::go_units::Region;
use crate::report::{CrateVersion, Format, SectionKind, Toolchain, Unit, UnitKind};

pub(crate) use paths::parse_source_path;
pub(crate) use wasm::data_regions as wasm_data_regions;

/// Most relocation entries read from one section.
const MAX_RELOCATIONS: u64 = 1 << 24;
/// Longest source path we believe.
const MAX_PATH: u64 = 4096;
/// Most distinct path strings we keep (bounds memory on hostile input).
const MAX_PATHS: usize = 1 << 20;

/// What the Rust readers found.
#[derive(Debug, Default)]
pub(crate) struct RustFacts {
    /// Anything says rustc built this.
    pub evidence: bool,
    /// The rustc commit from `/rustc/<commit>/library/...`.
    pub rustc_commit: Option<String>,
    /// The rustc release from `rustc-<version>/library/...` (distribution
    /// builds of rustc from source).
    pub rustc_release: Option<String>,
    /// Versions by crate (unit name, `-` as `_`).
    pub versions: BTreeMap<String, BTreeSet<String>>,
    /// Whether the versions come from `.dep-v0` (else from paths).
    pub auditable: bool,
    /// Panic locations and their path strings, charged to crates.
    pub regions: Vec<Region>,
    /// Each panic location found: (start, end, crate), by address.
    pub locations: Vec<(u64, u64, String)>,
}

/// Read the Rust facts of an image. `words` gives the byte order and
/// pointer size; `crates` the crates the symbols name (a workspace
/// member's directory names a crate only when no symbol does, or when a
/// symbol names the same crate).
pub(crate) fn read(
    layout: &Layout<'_>,
    words: Words,
    crates: &BTreeSet<&str>,
    relocations: &Relocations,
) -> RustFacts {
    let mut facts = RustFacts::default();
    markers(layout, &mut facts);
    locations(layout, words, crates, relocations, &mut facts);
    if let Some(packages) = layout
        .sections
        .iter()
        .find(|s| s.raw_name == ".dep-v0" || s.raw_name == "__dep-v0" || s.raw_name == ".dep-v0\0")
        .and_then(|s| auditable::packages(s.data))
    {
        facts.evidence = true;
        facts.auditable = true;
        facts.versions.clear();
        for (name, version) in packages {
            facts
                .versions
                .entry(name.replace('-', "_"))
                .or_default()
                .insert(version);
        }
    }
    facts
}

/// Sections whose bytes may hold string constants.
fn is_data(kind: SectionKind) -> bool {
    matches!(kind, SectionKind::Rodata | SectionKind::Data)
}

/// Evidence from strings and `.debug_gdb_scripts`; the rustc commit and
/// release from the standard library's paths.
fn markers(layout: &Layout<'_>, facts: &mut RustFacts) {
    use memchr::memmem;
    for section in &layout.sections {
        if section.raw_name == ".debug_gdb_scripts"
            && memmem::find(section.data, b"gdb_load_rust_pretty_printers").is_some()
        {
            facts.evidence = true;
        }
        if !is_data(section.kind) {
            continue;
        }
        let data = section.data;
        // Windows builds of the standard library write
        // `/rustc/<commit>/library\core\src\…`.
        let unix = memmem::find_iter(data, b"/library/");
        for at in unix.chain(memmem::find_iter(data, b"/library\\")) {
            let before = &data[..at];
            // `/rustc/<40 hex>` right before.
            if before.len() >= 47 && before[before.len() - 47..].starts_with(b"/rustc/") {
                let hash = &before[before.len() - 40..];
                if hash.iter().all(u8::is_ascii_hexdigit) {
                    facts.evidence = true;
                    if facts.rustc_commit.is_none() {
                        facts.rustc_commit = Some(String::from_utf8_lossy(hash).into_owned());
                    }
                    continue;
                }
            }
            // `rustc-<version>` right before (distribution builds).
            let start = before.iter().rposition(|&b| b == b'/').map_or(0, |p| p + 1);
            if let Some(version) = before[start..].strip_prefix(b"rustc-")
                && !version.is_empty()
                && version.len() <= 32
                && version
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
                && paths::library_crate(&data[at + 9..]).is_some()
            {
                facts.evidence = true;
                if facts.rustc_release.is_none() {
                    facts.rustc_release = Some(String::from_utf8_lossy(version).into_owned());
                }
            }
        }
        if !facts.evidence
            && (memmem::find(data, b"called `Option::unwrap()` on a `None` value").is_some()
                || memmem::find(data, b"library/std/src/panicking.rs").is_some()
                || memmem::find(data, b"library/core/src/panicking.rs").is_some())
        {
            facts.evidence = true;
        }
    }
}

/// A pointer stored by a relocation entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Relative {
    /// The address patched.
    pub slot: u64,
    /// The pointer's value.
    pub value: u64,
    /// Section position, address and size of the entry.
    pub section: usize,
    pub entry: u64,
    pub entry_size: u64,
}

/// The pointers relocation entries store, sorted by patched address (one
/// entry per address: the last one read). A sorted list sized once, not a
/// hash map: on a large binary the map was among the analysis's largest
/// allocations.
#[derive(Debug, Default)]
pub(crate) struct Relocations(Vec<Relative>);

impl Relocations {
    fn with_capacity(n: u64) -> Self {
        Relocations(Vec::with_capacity(
            usize::try_from(n.min(MAX_RELOCATIONS)).unwrap_or(0),
        ))
    }

    fn insert(&mut self, relative: Relative) {
        self.0.push(relative);
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    /// Sort by patched address, keeping the last entry read for each.
    fn finish(mut self) -> Self {
        self.0.reverse();
        self.0.sort_by_key(|r| r.slot);
        self.0.dedup_by_key(|r| r.slot);
        self.0.shrink_to_fit();
        self
    }

    /// The entry patching `slot`, if any.
    pub(crate) fn get(&self, slot: u64) -> Option<&Relative> {
        let i = self.0.partition_point(|r| r.slot < slot);
        self.0.get(i).filter(|r| r.slot == slot)
    }

    /// Every entry, by patched address.
    pub(crate) fn values(&self) -> std::slice::Iter<'_, Relative> {
        self.0.iter()
    }
}

/// Pointers stored by `R_*_RELATIVE`-like entries (no symbol, an addend)
/// of the loaded `.rela` sections, by patched address; on PE the
/// `IMAGE_REL_BASED_DIR64` entries of `.reloc` (the pointer is the word at
/// the patched address).
pub(crate) fn relative_relocations(
    layout: &Layout<'_>,
    words: Words,
    image_base: u64,
) -> Relocations {
    if layout.format == Format::Pe {
        return base_relocations(layout, words, image_base).finish();
    }
    if layout.format != Format::Elf {
        return Relocations::default();
    }
    let word = u64::from(words.ptr_size);
    let rela =
        |s: &&crate::sections::SectionInfo<'_>| s.raw_name.starts_with(".rela") && s.vm_size > 0;
    let most: u64 = layout
        .sections
        .iter()
        .filter(rela)
        .map(|s| s.data.len() as u64 / (3 * word))
        .sum();
    let mut out = Relocations::with_capacity(most);
    for (index, section) in layout.sections.iter().enumerate() {
        if !section.raw_name.starts_with(".rela") || section.vm_size == 0 {
            continue;
        }
        let entry = 3 * word;
        let count = (section.data.len() as u64 / entry).min(MAX_RELOCATIONS);
        for i in 0..count {
            let Ok(at) = usize::try_from(i * entry) else {
                break;
            };
            let (Some(offset), Some(info), Some(addend)) = (
                words.word(section.data, at),
                words.word(section.data, at + word as usize),
                words.word(section.data, at + 2 * word as usize),
            ) else {
                break;
            };
            let symbol = if word == 8 { info >> 32 } else { info >> 8 };
            if symbol == 0 && info != 0 {
                out.insert(Relative {
                    slot: offset,
                    value: addend,
                    section: index,
                    entry: section.address.saturating_add(i * entry),
                    entry_size: entry,
                });
            }
        }
    }
    out.finish()
}

/// PE base relocations: blocks of a page RVA, the block's size, then 2-byte
/// entries (type in the top 4 bits, offset in the page below).
fn base_relocations(layout: &Layout<'_>, words: Words, base: u64) -> Relocations {
    const DIR64: u16 = 10;
    let most: u64 = layout
        .sections
        .iter()
        .filter(|s| s.raw_name == ".reloc")
        .map(|s| s.data.len() as u64 / 2)
        .sum();
    let mut out = Relocations::with_capacity(most);
    if words.ptr_size != 8 {
        return out;
    }
    let mut loaded: Vec<(u64, u64, usize)> = layout
        .sections
        .iter()
        .enumerate()
        .filter(|(_, s)| s.vm_size > 0 && !s.data.is_empty())
        .map(|(i, s)| (s.address, s.address.saturating_add(s.data.len() as u64), i))
        .collect();
    loaded.sort_unstable();
    let word_at = |address: u64| -> Option<u64> {
        let i = loaded.partition_point(|s| s.0 <= address).checked_sub(1)?;
        let &(start, end, index) = loaded.get(i)?;
        if address.checked_add(8)? > end {
            return None;
        }
        words.word(
            layout.sections[index].data,
            usize::try_from(address - start).ok()?,
        )
    };
    for (index, section) in layout.sections.iter().enumerate() {
        if section.raw_name != ".reloc" {
            continue;
        }
        let data = section.data;
        let le32 = |at: usize| -> Option<u64> {
            let b: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
            Some(u64::from(u32::from_le_bytes(b)))
        };
        let mut at = 0usize;
        while let (Some(page), Some(size)) = (le32(at), le32(at + 4)) {
            let Some(size) = usize::try_from(size).ok().filter(|&n| n >= 8) else {
                break;
            };
            let end = at.saturating_add(size).min(data.len());
            let mut e = at + 8;
            while e + 2 <= end && (out.len() as u64) < MAX_RELOCATIONS {
                let entry = u16::from_le_bytes([data[e], data[e + 1]]);
                if entry >> 12 == DIR64 {
                    let slot = base
                        .saturating_add(page)
                        .saturating_add(u64::from(entry & 0xfff));
                    if let Some(value) = word_at(slot) {
                        out.insert(Relative {
                            slot,
                            value,
                            section: index,
                            entry: section.address.saturating_add(e as u64),
                            entry_size: 2,
                        });
                    }
                }
                e += 2;
            }
            at = end;
        }
    }
    out
}

/// One path string and the locations pointing at it.
#[derive(Debug)]
struct PathString {
    crate_name: Rc<str>,
    version: Option<String>,
}

/// Find the panic locations: a pointer-sized word pointing into a data
/// section, followed by a length, where the bytes pointed to are a `.rs`
/// path. Charge the path string and the location to the path's crate.
fn locations(
    layout: &Layout<'_>,
    words: Words,
    crates: &BTreeSet<&str>,
    relocations: &Relocations,
    facts: &mut RustFacts,
) {
    let mut paths = PathStrings::new(layout, crates);
    // (section, start, end, crate) of every charged range.
    let mut charged: Vec<(usize, u64, u64, Rc<str>)> = Vec::new();
    for (index, section) in layout.sections.iter().enumerate() {
        if !is_data(section.kind) || section.vm_size == 0 || section.shipped == 0 {
            continue;
        }
        let scan = SectionScan {
            index,
            section,
            words,
            relocations,
        };
        scan.run(&mut paths, &mut charged, facts);
    }
    for path in paths.strings.values().flatten() {
        if let Some(version) = &path.version {
            facts
                .versions
                .entry(path.crate_name.to_string())
                .or_default()
                .insert(version.clone());
        }
    }
    facts.locations.sort_unstable();
    facts.regions = Region::group_shipped(charged, layout);
}

/// The path strings found, by (address, length), and where to read them.
struct PathStrings<'l, 'd, 'c> {
    layout: &'l Layout<'d>,
    crates: &'l BTreeSet<&'c str>,
    /// (start, end, section position) of data sections, by address.
    targets: Vec<(u64, u64, usize)>,
    /// `None` for a string that names no crate.
    strings: HashMap<(u64, u64), Option<PathString>>,
}

impl<'l, 'd, 'c> PathStrings<'l, 'd, 'c> {
    fn new(layout: &'l Layout<'d>, crates: &'l BTreeSet<&'c str>) -> Self {
        let mut targets: Vec<(u64, u64, usize)> = layout
            .sections
            .iter()
            .enumerate()
            .filter(|(_, s)| is_data(s.kind) && !s.data.is_empty() && s.vm_size > 0)
            .map(|(i, s)| (s.address, s.address.saturating_add(s.data.len() as u64), i))
            .collect();
        targets.sort_unstable();
        PathStrings {
            layout,
            crates,
            targets,
            strings: HashMap::new(),
        }
    }

    /// The section and bytes of `[address, address + len)`.
    fn string_at(&self, address: u64, len: u64) -> Option<(usize, &'d [u8])> {
        let i = self.targets.partition_point(|t| t.1 <= address);
        let &(start, end, section) = self.targets.get(i)?;
        if address < start || address.checked_add(len)? > end {
            return None;
        }
        let from = usize::try_from(address - start).ok()?;
        let data: &'d [u8] = self.layout.sections[section].data;
        let bytes = data.get(from..from.checked_add(usize::try_from(len).ok()?)?)?;
        Some((section, bytes))
    }

    /// The `.rs` path naming a crate at `pointer` (`len` bytes), and the
    /// section holding it.
    fn path(&mut self, pointer: u64, len: u64) -> Option<(usize, &PathString)> {
        let (target, bytes) = self.string_at(pointer, len)?;
        if !bytes.ends_with(b".rs") {
            return None;
        }
        if self.strings.len() >= MAX_PATHS && !self.strings.contains_key(&(pointer, len)) {
            return None;
        }
        let crates = self.crates;
        let entry = self.strings.entry((pointer, len)).or_insert_with(|| {
            let path = std::str::from_utf8(bytes).ok()?;
            let parsed = parse_source_path(path)?;
            if parsed.workspace
                && !crates.is_empty()
                && !crates.contains(parsed.crate_name.as_str())
            {
                return None;
            }
            Some(PathString {
                crate_name: parsed.crate_name.into(),
                version: parsed.version,
            })
        });
        entry.as_ref().map(|path| (target, path))
    }
}

/// One data section scanned for panic locations.
struct SectionScan<'a, 'd> {
    index: usize,
    section: &'a crate::sections::SectionInfo<'d>,
    words: Words,
    relocations: &'a Relocations,
}

impl SectionScan<'_, '_> {
    /// Every pointer-sized slot followed by a length that points at a path
    /// string: the location, its string and its relocation entry charged.
    fn run(
        &self,
        paths: &mut PathStrings<'_, '_, '_>,
        charged: &mut Vec<(usize, u64, u64, Rc<str>)>,
        facts: &mut RustFacts,
    ) {
        let (words, section) = (self.words, self.section);
        let word = u64::from(words.ptr_size);
        let data = section.data;
        let slots = data.len() as u64 / word;
        let mut i = 0u64;
        while i + 1 < slots {
            let at = i * word;
            let address = section.address.saturating_add(at);
            let (Some(raw), Some(len)) = (
                words.word(data, at as usize),
                words.word(data, (at + word) as usize),
            ) else {
                break;
            };
            i += 1;
            if !(4..=MAX_PATH).contains(&len) {
                continue;
            }
            let relocation = self.relocations.get(address).copied();
            let pointer = relocation.map_or(raw, |r| r.value);
            if pointer == 0 {
                continue;
            }
            let Some((target, path)) = paths.path(pointer, len) else {
                continue;
            };
            facts.evidence = true;
            // The location: pointer, length, line and column (two u32).
            let size = 2 * word + 8;
            let name = &path.crate_name;
            charged.push((self.index, address, address + size, name.clone()));
            facts
                .locations
                .push((address, address + size, name.to_string()));
            charged.push((target, pointer, pointer + len, name.clone()));
            if let Some(r) = relocation {
                charged.push((r.section, r.entry, r.entry + r.entry_size, name.clone()));
            }
            i += size / word - 1;
        }
    }
}

/// Pointer slots that relocations fill with the address of a function
/// (vtables, `.init_array`, function tables in `.data.rel.ro`): the slot
/// and its relocation entry are charged to the unit of the function.
/// `owner` names the unit of a code address.
pub(crate) fn pointer_slots<'a>(
    layout: &Layout<'_>,
    words: Words,
    relocations: &Relocations,
    owner: &dyn Fn(u64) -> Option<&'a str>,
) -> Vec<Region> {
    let word = u64::from(words.ptr_size);
    let mut sections: Vec<(u64, u64, usize)> = layout
        .sections
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind != SectionKind::Code && s.vm_size > 0)
        .map(|(i, s)| (s.address, s.address.saturating_add(s.vm_size), i))
        .collect();
    sections.sort_unstable();
    let section_of = |address: u64| {
        let i = sections.partition_point(|s| s.1 <= address);
        sections.get(i).filter(|s| s.0 <= address).map(|s| s.2)
    };
    // Sized before it is filled (two entries per owned slot at most),
    // with the units borrowed: on a large binary this list was the peak of
    // the analysis's memory, grown by doubling with a `String` per entry.
    let owned = relocations
        .values()
        .filter(|r| owner(r.value).is_some())
        .count();
    let mut charged: Vec<(usize, u64, u64, &str)> = Vec::with_capacity(2 * owned);
    for relocation in relocations.values() {
        let slot = relocation.slot;
        let Some(unit) = owner(relocation.value) else {
            continue;
        };
        if let Some(section) = section_of(slot) {
            charged.push((section, slot, slot.saturating_add(word), unit));
        }
        charged.push((
            relocation.section,
            relocation.entry,
            relocation.entry.saturating_add(relocation.entry_size),
            unit,
        ));
    }
    Region::group_shipped(charged, layout)
}

/// Set each crate unit's version (the newest, when the binary names
/// several), and the toolchain's list of every (crate, version) pair.
pub(crate) fn set_versions(units: &mut [Unit], facts: &RustFacts, toolchain: &mut Toolchain) {
    for unit in units.iter_mut().filter(|u| u.kind == UnitKind::Crate) {
        let Some(versions) = facts.versions.get(&unit.name) else {
            continue;
        };
        unit.version = versions
            .iter()
            .max_by(|a, b| paths::compare_versions(a, b))
            .cloned();
    }
    toolchain.crates = facts
        .versions
        .iter()
        .flat_map(|(name, versions)| {
            let mut versions: Vec<&String> = versions.iter().collect();
            versions.sort_by(|a, b| paths::compare_versions(a, b));
            versions.into_iter().map(move |v| CrateVersion {
                name: name.clone(),
                version: v.clone(),
            })
        })
        .collect();
    if !toolchain.crates.is_empty() {
        toolchain.crate_versions = Some(
            if facts.auditable {
                "cargo-auditable"
            } else {
                "source-paths"
            }
            .to_string(),
        );
    }
}
