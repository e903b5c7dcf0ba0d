//! Advice: the levers of the size playbook this binary has not pulled, each
//! with the bytes it would save.

use std::collections::{BTreeMap, HashMap};

use crate::demangle::{Demangled, erase_generics};
use crate::human;
use crate::report::{Advice, GoBuildInfo, Language, SectionKind, Sizes};
use crate::sections::SectionInfo;
use crate::symbols::PlacedSymbol;

/// A single data symbol at least this large is a blob worth a look.
pub(crate) const LARGE_BLOB: u64 = 64 * 1024;
/// A generic function is reported when its instantiations number at least
/// this many and their duplicated bytes reach [`GENERIC_MIN_SAVING`].
const GENERIC_MIN_COPIES: usize = 8;
const GENERIC_MIN_SAVING: u64 = 8 * 1024;
/// Advice saving less than this many bytes, or less than a thousandth of
/// the file, is left out: it does not pay for the reader's time.
pub(crate) const MIN_SAVING: u64 = 1024;
/// Most entries of one kind (blobs, generics) we report.
const MAX_PER_KIND: usize = 5;

/// What the advice is judged on.
#[derive(Debug)]
pub(crate) struct Facts<'a> {
    /// Dominant language.
    pub language: Language,
    /// Whether it is a Go binary (Go levers instead of `strip`).
    pub go_binary: bool,
    /// The headline sizes.
    pub sizes: Sizes,
    /// Sections with their shipped bytes.
    pub sections: &'a [SectionInfo<'a>],
    /// Placed symbols, parallel to `names`.
    pub symbols: &'a [PlacedSymbol],
    /// Demangled names and units, parallel to `symbols`.
    pub names: &'a [Demangled],
    /// Go build info, when found.
    pub go_build: Option<&'a GoBuildInfo>,
}

/// Every applicable piece of advice, largest saving first.
pub(crate) fn advise(facts: &Facts<'_>) -> Vec<Advice> {
    let mut out = Vec::new();
    let sizes = facts.sizes;
    if facts.go_binary {
        // What `-s -w` would save is what the strip model removes (on
        // Mach-O, Go keeps the symbol table even with `-s`).
        let saving = sizes.file.saturating_sub(sizes.shipped);
        if sizes.symbols + sizes.debug > 0 && saving > 0 {
            out.push(advice(
                "go-ldflags-s-w",
                saving,
                format!(
                    "Build with `-ldflags \"-s -w\"` to drop the symbol table and DWARF debug info: saves {} of the file.",
                    human::size(saving)
                ),
            ));
        }
    } else {
        if sizes.symbols > 0 {
            out.push(advice(
                "strip-symbols",
                sizes.symbols,
                format!(
                    "Strip the symbol table (`strip = \"symbols\"` in the Cargo profile, or `strip --strip-all`): saves {} of the file.",
                    human::size(sizes.symbols)
                ),
            ));
        }
        // A bare `.gnu_debuglink` (the name of a separate debug file) is
        // no debug info to drop, nor is rustc's `.debug_gdb_scripts` (a
        // loaded section: `strip` keeps it).
        let debug = sizes.debug.saturating_sub(
            facts
                .sections
                .iter()
                .filter(|s| {
                    matches!(
                        s.raw_name.as_str(),
                        ".gnu_debuglink" | ".gnu_debugaltlink" | ".debug_gdb_scripts"
                    )
                })
                .map(|s| s.share)
                .sum(),
        );
        if debug > 0 {
            out.push(advice(
                "strip-debug",
                debug,
                format!(
                    "Drop debug info (`debug = false` and `strip = \"debuginfo\"` in the Cargo profile, or `strip --strip-debug`): saves {} of the file.",
                    human::size(debug)
                ),
            ));
        }
    }
    if facts.language == Language::Rust || facts.language == Language::Mixed {
        panic_abort(facts, &mut out);
        duplicate_crates(facts, &mut out);
        generic_bloat(facts, &mut out);
    }
    if let Some(build) = facts.go_build {
        duplicate_go_modules(build, &mut out);
    }
    large_blobs(facts, &mut out);
    // A saving of 0 means "not estimated" (Go major versions): kept.
    let floor = MIN_SAVING.max(sizes.file / 1000);
    out.retain(|a| a.saving == 0 || a.saving >= floor);
    out.sort_by(|a, b| {
        b.saving
            .cmp(&a.saving)
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.message.cmp(&b.message))
    });
    out
}

fn advice(id: &str, saving: u64, message: String) -> Advice {
    Advice {
        id: id.to_string(),
        saving,
        message,
    }
}

/// Built with `panic = "unwind"` (the `panic_unwind` runtime is linked in):
/// `panic = "abort"` drops the landing pads of the crates compiled with it.
/// The saving given is an upper bound, the unwind tables' size: the
/// precompiled standard library keeps its own tables (on the fixture the
/// real saving is about a fifth of it).
fn panic_abort(facts: &Facts<'_>, out: &mut Vec<Advice>) {
    if !facts.names.iter().any(|n| n.unit == "panic_unwind") {
        return;
    }
    let unwind: u64 = facts
        .sections
        .iter()
        .filter(|s| s.kind == SectionKind::Unwind)
        .map(|s| s.shipped)
        .sum();
    if unwind == 0 {
        return;
    }
    out.push(advice(
        "panic-abort",
        unwind,
        format!(
            "Built with `panic = \"unwind\"`: `panic = \"abort\"` in the release profile removes landing pads and shrinks the unwind tables (`.eh_frame`, `.gcc_except_table`, {} in all; the saving is at most that).",
            human::size(unwind)
        ),
    ));
}

/// A crate seen with two disambiguators is linked in two versions.
fn duplicate_crates(facts: &Facts<'_>, out: &mut Vec<Advice>) {
    let mut ids: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    for name in facts.names {
        for (krate, id) in &name.crate_ids {
            ids.entry(krate.as_str())
                .or_default()
                .entry(id.as_str())
                .or_insert(0);
        }
    }
    for (symbol, name) in facts.symbols.iter().zip(facts.names) {
        if let Some(id) = &name.disambiguator
            && let Some(bytes) = ids
                .get_mut(name.unit.as_str())
                .and_then(|m| m.get_mut(id.as_str()))
        {
            *bytes += symbol.shipped;
        }
    }
    for (krate, versions) in ids {
        if versions.len() < 2 {
            continue;
        }
        let largest = versions.values().copied().max().unwrap_or(0);
        let saving = versions.values().sum::<u64>() - largest;
        out.push(advice(
            "duplicate-dependency",
            saving,
            format!(
                "Crate `{krate}` is linked in {} versions; unify them (`cargo tree -d`) to save about {}.",
                versions.len(),
                human::size(saving)
            ),
        ));
    }
}

/// Go modules present in two major versions (`a/b` and `a/b/v2`).
fn duplicate_go_modules(build: &GoBuildInfo, out: &mut Vec<Advice>) {
    let mut by_base: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for dep in &build.deps {
        let path = dep.path.as_str();
        let base = match path.rsplit_once("/v") {
            Some((base, major))
                if !major.is_empty() && major.bytes().all(|b| b.is_ascii_digit()) =>
            {
                base
            }
            _ => path,
        };
        by_base.entry(base).or_default().push(path);
    }
    for (base, paths) in by_base {
        if paths.len() > 1 {
            out.push(advice(
                "duplicate-dependency",
                0,
                format!(
                    "Module `{base}` is linked in {} major versions ({}); move to one.",
                    paths.len(),
                    paths.join(", ")
                ),
            ));
        }
    }
}

/// Single data or read-only symbols of 64 KiB or more.
fn large_blobs(facts: &Facts<'_>, out: &mut Vec<Advice>) {
    let mut blobs: Vec<(u64, &str)> = facts
        .symbols
        .iter()
        .zip(facts.names)
        .filter(|(s, n)| {
            s.shipped >= LARGE_BLOB
                && !is_go_aggregate(facts.go_binary, &n.name)
                && facts
                    .sections
                    .get(s.section)
                    .is_some_and(|sec| matches!(sec.kind, SectionKind::Rodata | SectionKind::Data))
        })
        .map(|(s, n)| (s.shipped, n.name.as_str()))
        .collect();
    blobs.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    for (size, name) in blobs.into_iter().take(MAX_PER_KIND) {
        out.push(advice(
            "large-blob",
            size,
            format!(
                "`{name}` embeds {} of data; compress it, load it at run time, or gate it behind a feature.",
                human::size(size)
            ),
        ));
    }
}

/// Go's linker gathers runtime tables, type data and function metadata
/// under symbols such as `runtime.pclntab`, `type.*` and `go.func.*`:
/// large, but no blob anyone embedded.
fn is_go_aggregate(go_binary: bool, name: &str) -> bool {
    go_binary && (name.starts_with("runtime.") || name.contains('*'))
}

/// Generic functions instantiated many times.
fn generic_bloat(facts: &Facts<'_>, out: &mut Vec<Advice>) {
    let mut groups: HashMap<String, (usize, u64, u64)> = HashMap::new();
    for (symbol, name) in facts.symbols.iter().zip(facts.names) {
        if symbol.shipped == 0 {
            continue;
        }
        if let Some(erased) = erase_generics(&name.name) {
            let entry = groups.entry(erased).or_insert((0, 0, 0));
            entry.0 += 1;
            entry.1 += symbol.shipped;
            entry.2 = entry.2.max(symbol.shipped);
        }
    }
    let mut groups: Vec<(String, usize, u64, u64)> = groups
        .into_iter()
        .filter(|(_, (copies, total, largest))| {
            *copies >= GENERIC_MIN_COPIES && total - largest >= GENERIC_MIN_SAVING
        })
        .map(|(name, (copies, total, largest))| (name, copies, total, total - largest))
        .collect();
    groups.sort_by(|a, b| b.3.cmp(&a.3).then_with(|| a.0.cmp(&b.0)));
    for (name, copies, total, saving) in groups.into_iter().take(MAX_PER_KIND) {
        out.push(advice(
            "generic-bloat",
            saving,
            format!(
                "`{name}` is instantiated {copies} times ({} in all); a non-generic inner function or `dyn` would share most of it.",
                human::size(total)
            ),
        ));
    }
}
