//! The `sizegate diff` table: headline sizes old → new with delta and
//! percentage, then the section, unit and symbol changes by absolute delta,
//! then the likely causes.

use std::fmt::Write as _;

use sizegate_analyze::{Change, Metric, ReportDiff, human};

use super::labels;
use super::shown;
use super::table::{Column, Cut, Table, WIDTH, fit, wrap};

/// The note shown when symbol changes may be incomplete.
pub const PARTIAL_NOTE: &str = "Symbol changes are partial: a side lists only its top symbols \
     (written with --top) or none (stripped), so some changes are missing or show a symbol as \
     added or removed that only crossed that limit";

/// The diff as text at most [`WIDTH`] columns wide, `top` rows per list
/// (0: all).
pub fn render(diff: &ReportDiff, top: usize) -> String {
    let mut out = String::new();
    let side = |label: &str, name: &str, sha: &str| {
        let value = fit(
            &format!("{name}  (sha256 {})", short_sha(sha)),
            WIDTH - 6,
            Cut::Middle,
        );
        format!("{label:<6}{value}\n")
    };
    out.push_str(&side("old", &diff.old.name, &diff.old.sha256));
    out.push_str(&side("new", &diff.new.name, &diff.new.sha256));
    headline(&mut out, diff);
    let list = |heading, what, changes| ChangeList::new(heading, what, changes, top);
    table(&mut out, &list("SECTIONS", "section", &diff.sections));
    table(&mut out, &list("UNITS", "unit", &diff.units));
    if !diff.layers.is_empty() {
        table(&mut out, &list("LAYERS", "layer", &diff.layers));
    }
    if !diff.files.is_empty() {
        table(&mut out, &list("FILES", "file", &diff.files).with_unit());
    }
    if !diff.binary_units.is_empty() {
        let list = list("UNITS IN BINARIES", "unit", &diff.binary_units);
        table(&mut out, &list.with_unit());
    }
    table(
        &mut out,
        &list("SYMBOLS", "symbol", &diff.symbols).with_unit(),
    );
    if diff.symbols_partial {
        out.push_str(&wrap(&format!("note: {PARTIAL_NOTE}"), WIDTH, "  "));
    }
    causes(&mut out, diff);
    out
}

/// The first 12 hex digits: enough to tell builds apart at a glance.
pub fn short_sha(sha: &str) -> String {
    sha.chars().take(12).collect()
}

fn headline(out: &mut String, diff: &ReportDiff) {
    let mut table = Table::new(vec![
        Column::text("metric"),
        Column::number("old"),
        Column::number("new"),
        Column::number("delta"),
        Column::number("%"),
    ]);
    for metric in Metric::ALL {
        let (old, new) = (diff.old.sizes.get(metric), diff.new.sizes.get(metric));
        if metric.image_only() && old == 0 && new == 0 {
            continue; // two binaries: no image sizes to compare
        }
        let delta = diff.size_delta(metric);
        table.row(vec![
            metric.as_str().into(),
            human::size(old),
            human::size(new),
            human::delta(delta),
            human::percent(delta, old),
        ]);
    }
    let _ = write!(out, "\nSIZES\n{}", table.render());
}

/// Net delta of a slice of changes, saturating.
pub fn net_delta(changes: &[Change]) -> i64 {
    changes
        .iter()
        .fold(0i64, |sum, c| sum.saturating_add(c.delta))
}

/// `… 1 more change`, `… 12 more changes`.
pub fn more_changes(count: usize) -> String {
    let plural = if count == 1 { "" } else { "s" };
    format!("… {count} more change{plural}")
}

/// `SECTIONS (3 changed)` or `SYMBOLS (top 20 of 512 changed)`.
pub fn title(title: &str, count: usize, total: usize) -> String {
    if count < total {
        format!("{title} (top {count} of {total} changed)")
    } else {
        format!("{title} ({total} changed)")
    }
}

/// One list of a diff (sections, units, symbols...) as the table and the
/// markdown show it: the first `top` changes (0: all), then one line for
/// the rest.
#[derive(Debug)]
pub struct ChangeList<'a> {
    /// The list's heading.
    pub heading: &'a str,
    /// What a row names: `section`, `unit`, `symbol`...
    pub what: &'a str,
    /// All its changes, largest first.
    pub changes: &'a [Change],
    /// Rows to show (0: all).
    pub top: usize,
    /// Whether rows name their unit (a symbol's crate, a file's layer).
    pub with_unit: bool,
}

impl<'a> ChangeList<'a> {
    /// A list whose rows name no unit.
    pub fn new(heading: &'a str, what: &'a str, changes: &'a [Change], top: usize) -> Self {
        ChangeList {
            heading,
            what,
            changes,
            top,
            with_unit: false,
        }
    }

    /// The same list, its rows naming their unit.
    pub fn with_unit(self) -> Self {
        ChangeList {
            with_unit: true,
            ..self
        }
    }

    /// The changes shown one per row.
    pub fn shown(&self) -> &'a [Change] {
        &self.changes[..shown(self.changes.len(), self.top)]
    }

    /// The changes summed up in the last line.
    pub fn rest(&self) -> &'a [Change] {
        &self.changes[shown(self.changes.len(), self.top)..]
    }

    /// [`title`] of the list.
    pub fn title(&self) -> String {
        title(self.heading, self.shown().len(), self.changes.len())
    }
}

fn table(out: &mut String, list: &ChangeList<'_>) {
    let _ = write!(out, "\n{}\n", list.title());
    if list.changes.is_empty() {
        out.push_str("  (no changes)\n");
        return;
    }
    let with_unit = list.with_unit;
    let mut columns = vec![Column::name(list.what)];
    if with_unit {
        columns.push(Column::text("unit").at_most(20, Cut::Middle));
    }
    columns.extend([
        Column::text("status"),
        Column::number("old"),
        Column::number("new"),
        Column::number("delta"),
    ]);
    // A symbol's percentage says little and costs the name its width.
    if !with_unit {
        columns.push(Column::number("%"));
    }
    let mut table = Table::new(columns);
    for change in list.shown() {
        let mut row = vec![change.name.clone()];
        if with_unit {
            row.push(change.unit.clone().unwrap_or_default());
        }
        row.extend([
            labels::status(change.status).to_string(),
            human::size(change.old),
            human::size(change.new),
            human::delta(change.delta),
            human::percent(change.delta, change.old),
        ]);
        // Cells past the last column are dropped (the symbol table has no `%`).
        table.row(row);
    }
    let rest = list.rest();
    if !rest.is_empty() {
        let mut row = vec![format!("({})", more_changes(rest.len()))];
        if with_unit {
            row.push(String::new());
        }
        row.extend([
            String::new(),
            String::new(),
            String::new(),
            human::delta(net_delta(rest)),
        ]);
        table.row(row);
    }
    out.push_str(&table.render());
}

fn causes(out: &mut String, diff: &ReportDiff) {
    let _ = write!(out, "\nLIKELY CAUSES ({})\n", diff.causes.len());
    if diff.causes.is_empty() {
        out.push_str("  (no toolchain, build setting or dependency change found)\n");
        return;
    }
    let mut table = Table::new(vec![
        Column::text("kind"),
        Column::text("subject").at_most(32, Cut::Middle),
        Column::text("change").at_most(WIDTH, Cut::End),
    ]);
    for cause in &diff.causes {
        table.row(vec![
            cause.kind.clone(),
            cause.subject.clone(),
            labels::cause_change(cause),
        ]);
    }
    out.push_str(&table.render());
}
