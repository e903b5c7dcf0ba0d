//! The diff of two reports: per section, unit and symbol, plus the likely
//! causes (toolchain, build settings, dependency versions).
//!
//! Sections and units are matched by name. Symbols are matched by their
//! name without the parts that change between builds of the same code: Rust
//! legacy hashes (`::h0123456789abcdef`) and v0 crate disambiguators
//! (`mycrate[1a2b3c4d]::f`) are removed, and numbered closures of one parent
//! function (Go `main.f.func1`, Rust `{closure#0}`) or several symbols
//! sharing a name are paired by size rather than by number (module `names`
//! and `pairing`). When only one side is stripped of its symbols, symbol
//! changes are left out and marked partial.
//! Unchanged entries are omitted; every list is sorted by absolute delta,
//! largest first, then by name.

mod causes;
mod names;
mod pairing;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::report::{Report, SCHEMA_VERSION, SectionKind, Sizes};

/// The comparison of an old and a new [`Report`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportDiff {
    /// Same as [`crate::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The old side.
    pub old: DiffSide,
    /// The new side.
    pub new: DiffSide,
    /// Section changes, largest absolute delta first (unchanged ones omitted).
    pub sections: Vec<Change>,
    /// Unit (crate / package) changes, largest absolute delta first.
    pub units: Vec<Change>,
    /// Symbol changes, largest absolute delta first.
    pub symbols: Vec<Change>,
    /// True when a side's symbol list was truncated, so symbol changes are partial.
    pub symbols_partial: bool,
    /// Likely causes: toolchain, build setting and dependency changes.
    pub causes: Vec<Cause>,
    /// Container images: layer changes by position (`layer 2: RUN ...`),
    /// on the uncompressed size.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Change>,
    /// Container images: file changes by path (`unit` is the file's owner),
    /// as far as both sides list files (see `--top`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<Change>,
    /// Container images: unit changes inside the binaries both sides
    /// analyzed (`name` is the crate or package, `unit` the file's path).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binary_units: Vec<Change>,
}

/// One side of a diff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffSide {
    /// File name.
    pub name: String,
    /// sha256 of the file.
    pub sha256: String,
    /// Its sizes.
    pub sizes: Sizes,
}

/// How one named thing changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Section, unit or (normalized, demangled) symbol name.
    pub name: String,
    /// For symbols: the unit it belongs to (new side, else old).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Size before (0 when added).
    pub old: u64,
    /// Size after (0 when removed).
    pub new: u64,
    /// `new - old`.
    pub delta: i64,
    /// What happened.
    pub status: ChangeStatus,
}

/// What happened to a section, unit or symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeStatus {
    /// Only in the new side.
    Added,
    /// Only in the old side.
    Removed,
    /// Bigger in the new side.
    Grown,
    /// Smaller in the new side.
    Shrunk,
}

/// A likely cause of a size change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// `toolchain`, `build_setting`, `dependency`, `duplicate_versions`
    /// (a crate the new build links in several versions), `format`,
    /// `stripped`.
    pub kind: String,
    /// What changed: `rustc`, `go`, `-ldflags`, `golang.org/x/sys`, ...
    pub subject: String,
    /// Old value (None when it appeared).
    pub old: Option<String>,
    /// New value (None when it disappeared).
    pub new: Option<String>,
    /// Shipped bytes the units of `subject` moved, where the cause is tied
    /// to units (a crate or module version change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<i64>,
}

impl ReportDiff {
    /// Delta of one headline metric.
    pub fn size_delta(&self, metric: crate::report::Metric) -> i64 {
        signed_delta(self.old.sizes.get(metric), self.new.sizes.get(metric))
    }
}

/// Compare two reports. See the module documentation.
pub fn diff(old: &Report, new: &Report) -> ReportDiff {
    let section_sizes = |r: &Report| -> Vec<(String, u64)> {
        r.sections
            .iter()
            .map(|s| (s.name.clone(), section_size(s.kind, s.file_size, s.vm_size)))
            .collect()
    };
    let unit_sizes = |r: &Report| -> Vec<(String, u64)> {
        r.units.iter().map(|u| (u.name.clone(), u.size)).collect()
    };
    // A stripped side without symbols says nothing about them: listing every
    // symbol of the other side as added or removed would bury the real
    // change (the `stripped` cause) under noise.
    let no_symbols = |r: &Report| r.stripped && r.symbols.is_empty();
    let symbols_comparable = no_symbols(old) == no_symbols(new);
    ReportDiff {
        schema_version: SCHEMA_VERSION,
        old: side(old),
        new: side(new),
        sections: diff_by_name(section_sizes(old), section_sizes(new)),
        units: diff_by_name(unit_sizes(old), unit_sizes(new)),
        symbols: if symbols_comparable {
            diff_symbols(old, new)
        } else {
            Vec::new()
        },
        symbols_partial: !symbols_comparable || old.symbols_truncated || new.symbols_truncated,
        causes: causes::likely_causes(old, new),
        layers: crate::container::diff::layers(old, new),
        files: crate::container::diff::files(old, new),
        binary_units: crate::container::diff::binary_units(old, new),
    }
}

/// `new - old`, clamped to the range of `i64`.
fn signed_delta(old: u64, new: u64) -> i64 {
    let delta = i128::from(new) - i128::from(old);
    i64::try_from(delta).unwrap_or(if delta < 0 { i64::MIN } else { i64::MAX })
}

fn side(report: &Report) -> DiffSide {
    DiffSide {
        name: report.file.name.clone(),
        sha256: report.file.sha256.clone(),
        sizes: report.sizes,
    }
}

/// The size a section is compared by: its file bytes, except for bss-like
/// sections, which have none and are compared by their memory size.
fn section_size(kind: SectionKind, file_size: u64, vm_size: u64) -> u64 {
    if kind == SectionKind::Bss {
        vm_size
    } else {
        file_size
    }
}

/// The change between an old and a new size of one thing, or `None` when
/// the size did not change (a thing of zero bytes appearing counts as no
/// change).
fn change(
    name: String,
    unit: Option<String>,
    old: Option<u64>,
    new: Option<u64>,
) -> Option<Change> {
    let (before, after) = (old.unwrap_or(0), new.unwrap_or(0));
    let delta = signed_delta(before, after);
    if delta == 0 {
        return None;
    }
    let status = match (old, new) {
        (None, _) => ChangeStatus::Added,
        (_, None) => ChangeStatus::Removed,
        _ if delta > 0 => ChangeStatus::Grown,
        _ => ChangeStatus::Shrunk,
    };
    Some(Change {
        name,
        unit,
        old: before,
        new: after,
        delta,
        status,
    })
}

/// Matches by exact name; several entries of one name are summed.
pub(crate) fn diff_by_name(old: Vec<(String, u64)>, new: Vec<(String, u64)>) -> Vec<Change> {
    let mut sizes: BTreeMap<String, (Option<u64>, Option<u64>)> = BTreeMap::new();
    for (name, size) in old {
        let slot = &mut sizes.entry(name).or_default().0;
        *slot = Some(slot.unwrap_or(0).saturating_add(size));
    }
    for (name, size) in new {
        let slot = &mut sizes.entry(name).or_default().1;
        *slot = Some(slot.unwrap_or(0).saturating_add(size));
    }
    let mut changes: Vec<Change> = sizes
        .into_iter()
        .filter_map(|(name, (old, new))| change(name, None, old, new))
        .collect();
    sort_changes(&mut changes);
    changes
}

/// One symbol of one side, by its normalized name.
#[derive(Debug)]
struct Member<'a> {
    name: String,
    unit: &'a str,
    size: u64,
}

/// Groups both sides' symbols by family (see [`names::family_key`]) and
/// pairs each family's members by size.
fn diff_symbols(old: &Report, new: &Report) -> Vec<Change> {
    type Family<'a> = (Vec<Member<'a>>, Vec<Member<'a>>);
    // Ordered, so that which families the pairing budget covers (see
    // `pairing::Pairer`) is the same on every run.
    let mut families: BTreeMap<String, Family<'_>> = BTreeMap::new();
    for (is_new, report) in [(false, old), (true, new)] {
        for symbol in &report.symbols {
            let name = names::normalize(&symbol.name);
            let family = families.entry(names::family_key(&name)).or_default();
            let side = if is_new { &mut family.1 } else { &mut family.0 };
            side.push(Member {
                name,
                unit: &symbol.unit,
                size: symbol.size,
            });
        }
    }

    let mut changes = Vec::new();
    let mut pairer = pairing::Pairer::default();
    for (_, (mut before, mut after)) in families {
        // Input order must not matter: pairing breaks ties by position.
        let order = |a: &Member<'_>, b: &Member<'_>| {
            (&a.name, a.unit, a.size).cmp(&(&b.name, b.unit, b.size))
        };
        before.sort_by(order);
        after.sort_by(order);
        let old_sizes: Vec<u64> = before.iter().map(|m| m.size).collect();
        let new_sizes: Vec<u64> = after.iter().map(|m| m.size).collect();
        for (i, j) in pairer.pair(&old_sizes, &new_sizes) {
            let (was, is) = (i.and_then(|i| before.get(i)), j.and_then(|j| after.get(j)));
            let Some(shown) = is.or(was) else { continue };
            let found = change(
                shown.name.clone(),
                Some(shown.unit.to_string()),
                was.map(|m| m.size),
                is.map(|m| m.size),
            );
            changes.extend(found);
        }
    }
    sort_changes(&mut changes);
    changes
}

/// Largest absolute delta first; then by name, unit and sizes so the order
/// is total and does not depend on the input order.
fn sort_changes(changes: &mut [Change]) {
    changes.sort_by(|a, b| {
        b.delta
            .unsigned_abs()
            .cmp(&a.delta.unsigned_abs())
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.unit.cmp(&b.unit))
            .then_with(|| a.old.cmp(&b.old))
            .then_with(|| a.new.cmp(&b.new))
    });
}

#[cfg(test)]
mod tests;
