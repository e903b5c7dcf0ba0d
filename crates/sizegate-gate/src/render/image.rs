//! The details of a container image target: which layers, files and OS
//! packages moved, and inside which binary of the image which crates or Go
//! packages grew. A binary target's diff has none of these.

use sizegate_analyze::{Change, Metric, ReportDiff};

use super::view::ChangeTable;
use crate::format::{Units, code, code_in_table, delta};

/// Whether the diff compares container images.
pub(crate) fn is_image(diff: &ReportDiff) -> bool {
    diff.new.sizes.uncompressed > 0 || diff.old.sizes.uncompressed > 0
}

/// One sentence on what made the image grow: its uncompressed change, the
/// file that grew the most and, when that file is a binary analyzed on
/// both sides, its unit that grew the most. `None` when no file grew.
pub(crate) fn headline(diff: &ReportDiff, units: Units) -> Option<String> {
    let total = diff.size_delta(Metric::Uncompressed);
    let file = diff
        .files
        .iter()
        .filter(|c| c.delta > 0)
        .max_by(|a, b| a.delta.cmp(&b.delta).then_with(|| b.name.cmp(&a.name)))?;
    let inner = diff
        .binary_units
        .iter()
        .filter(|c| c.delta > 0 && c.unit.as_deref() == Some(file.name.as_str()))
        .max_by(|a, b| a.delta.cmp(&b.delta).then_with(|| b.name.cmp(&a.name)))
        .map(|u| format!(", of which {} {}", code(&u.name), delta(u.delta, units)))
        .unwrap_or_default();
    Some(format!(
        "Image {} uncompressed: {} {}{inner}.",
        delta(total, units),
        code(&file.name),
        delta(file.delta, units)
    ))
}

/// The tables of an image: layers, files (with their owner), packages and
/// path units, and units inside its binaries.
pub(crate) fn tables(diff: &ReportDiff, top: usize, units: Units) -> Vec<ChangeTable> {
    let plain = |c: &Change| code_in_table(&c.name);
    let owned = |c: &Change| match c.unit.as_deref() {
        Some(unit) => format!("{} ({})", code_in_table(&c.name), code_in_table(unit)),
        None => code_in_table(&c.name),
    };
    let inside = |c: &Change| match c.unit.as_deref() {
        Some(binary) => format!("{} in {}", code_in_table(&c.name), code_in_table(binary)),
        None => code_in_table(&c.name),
    };
    vec![
        table("Layers", &diff.layers, top, units, plain),
        table("Files (owner)", &diff.files, top, units, owned),
        table("Packages and paths", &diff.units, top, units, plain),
        table("Units in binaries", &diff.binary_units, top, units, inside),
    ]
}

fn table(
    title: &'static str,
    changes: &[Change],
    top: usize,
    units: Units,
    name: impl Fn(&Change) -> String,
) -> ChangeTable {
    super::view::named_change_table(title, changes, top, false, units, name)
}
