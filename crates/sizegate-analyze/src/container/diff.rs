//! What the diff of two container image reports adds: layers by position,
//! files by path (with their owner), and the units of the binaries inside
//! that both sides analyzed. Empty for binaries.

use std::collections::HashMap;

use crate::diff::{Change, diff_by_name};
use crate::report::Report;

/// Layers by position, named `layer N: <created_by>` (the new side's
/// instruction, else the old side's).
pub(crate) fn layers(old: &Report, new: &Report) -> Vec<Change> {
    let name = |i: usize| {
        let by = new
            .layers
            .get(i)
            .and_then(|l| l.created_by.as_deref())
            .or_else(|| old.layers.get(i).and_then(|l| l.created_by.as_deref()));
        match by {
            Some(by) => format!("layer {}: {by}", i + 1),
            None => format!("layer {}", i + 1),
        }
    };
    let sizes = |r: &Report| -> Vec<(String, u64)> {
        r.layers
            .iter()
            .enumerate()
            .map(|(i, l)| (name(i), l.uncompressed_size))
            .collect()
    };
    diff_by_name(sizes(old), sizes(new))
}

/// Files by path; each change names the file's owner (new side, else old).
pub(crate) fn files(old: &Report, new: &Report) -> Vec<Change> {
    let owners: HashMap<&str, &str> = old
        .files
        .iter()
        .chain(&new.files)
        .map(|f| (f.path.as_str(), f.unit.as_str()))
        .collect();
    let sizes = |r: &Report| -> Vec<(String, u64)> {
        r.files.iter().map(|f| (f.path.clone(), f.size)).collect()
    };
    let mut changes = diff_by_name(sizes(old), sizes(new));
    for change in &mut changes {
        change.unit = owners.get(change.name.as_str()).map(|u| (*u).to_string());
    }
    changes
}

/// Unit changes inside each binary analyzed on both sides.
pub(crate) fn binary_units(old: &Report, new: &Report) -> Vec<Change> {
    let old_reports: HashMap<&str, &Report> = old
        .files
        .iter()
        .filter_map(|f| Some((f.path.as_str(), f.report.as_deref()?)))
        .collect();
    let mut out = Vec::new();
    for file in &new.files {
        let (Some(after), Some(before)) =
            (file.report.as_deref(), old_reports.get(file.path.as_str()))
        else {
            continue;
        };
        let units = |r: &Report| -> Vec<(String, u64)> {
            r.units.iter().map(|u| (u.name.clone(), u.size)).collect()
        };
        for mut change in diff_by_name(units(before), units(after)) {
            change.unit = Some(file.path.clone());
            out.push(change);
        }
    }
    out.sort_by(|a, b| {
        b.delta
            .unsigned_abs()
            .cmp(&a.delta.unsigned_abs())
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}
