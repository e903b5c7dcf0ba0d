//! The `sizegate diff --format markdown` output: the same content as the
//! table, as GitHub-flavoured markdown tables to paste into a pull request.

use std::fmt::Write as _;

use sizegate_analyze::{Metric, ReportDiff, human};

use super::diff_table::{ChangeList, PARTIAL_NOTE, more_changes, net_delta, short_sha};
use super::labels;
use super::table::{Cut, fit};

/// Longest name shown in a cell; longer ones are cut in the middle.
const MAX_NAME: usize = 120;

/// The diff as markdown, `top` rows per list (0: all).
pub fn render(diff: &ReportDiff, top: usize) -> String {
    let mut out = String::new();
    let shipped = diff.size_delta(Metric::Shipped);
    let _ = writeln!(
        out,
        "### Size: {} → {} ({} shipped, {})\n",
        code(&diff.old.name),
        code(&diff.new.name),
        human::delta(shipped),
        human::percent(shipped, diff.old.sizes.shipped)
    );
    let _ = writeln!(
        out,
        "old sha256 `{}`, new sha256 `{}`\n",
        short_sha(&diff.old.sha256),
        short_sha(&diff.new.sha256)
    );
    out.push_str("| metric | old | new | delta | % |\n|---|--:|--:|--:|--:|\n");
    for metric in Metric::ALL {
        let (old, new) = (diff.old.sizes.get(metric), diff.new.sizes.get(metric));
        if metric.image_only() && old == 0 && new == 0 {
            continue; // two binaries: no image sizes to compare
        }
        let delta = diff.size_delta(metric);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            metric.as_str(),
            human::size(old),
            human::size(new),
            human::delta(delta),
            human::percent(delta, old)
        );
    }
    let list = |heading, what, changes| ChangeList::new(heading, what, changes, top);
    table(&mut out, &list("Sections", "section", &diff.sections));
    table(&mut out, &list("Units", "unit", &diff.units));
    table(
        &mut out,
        &list("Symbols", "symbol", &diff.symbols).with_unit(),
    );
    if diff.symbols_partial {
        let _ = writeln!(out, "\n> {PARTIAL_NOTE}");
    }
    causes(&mut out, diff);
    out
}

/// `name` as inline code safe in a table cell: pipes escaped, control
/// characters made visible, long names cut in the middle, and a fence long
/// enough for any backticks inside.
pub fn code(name: &str) -> String {
    let name = fit(name, MAX_NAME, Cut::Middle).replace('|', "\\|");
    if name.contains('`') {
        format!("`` {name} ``")
    } else {
        format!("`{name}`")
    }
}

fn table(out: &mut String, list: &ChangeList<'_>) {
    let _ = write!(out, "\n#### {}\n\n", list.title());
    if list.changes.is_empty() {
        out.push_str("No changes.\n");
        return;
    }
    let (what, with_unit) = (list.what, list.with_unit);
    let unit_header = if with_unit { " unit |" } else { "" };
    let unit_rule = if with_unit { "---|" } else { "" };
    let _ = writeln!(
        out,
        "| {what} |{unit_header} status | old | new | delta | % |"
    );
    let _ = writeln!(out, "|---|{unit_rule}---|--:|--:|--:|--:|");
    for change in list.shown() {
        let unit = if with_unit {
            format!(
                " {} |",
                change.unit.as_deref().map(code).unwrap_or_default()
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {} |{unit} {} | {} | {} | {} | {} |",
            code(&change.name),
            labels::status(change.status),
            human::size(change.old),
            human::size(change.new),
            human::delta(change.delta),
            human::percent(change.delta, change.old)
        );
    }
    let rest = list.rest();
    if !rest.is_empty() {
        let unit = if with_unit { " |" } else { "" };
        let _ = writeln!(
            out,
            "| {} |{unit} | | | {} | |",
            more_changes(rest.len()),
            human::delta(net_delta(rest))
        );
    }
}

fn causes(out: &mut String, diff: &ReportDiff) {
    let _ = write!(out, "\n#### Likely causes ({})\n\n", diff.causes.len());
    if diff.causes.is_empty() {
        out.push_str("No toolchain, build setting or dependency change found.\n");
        return;
    }
    out.push_str("| kind | subject | change |\n|---|---|---|\n");
    for cause in &diff.causes {
        let change = fit(&labels::cause_change(cause), 2 * MAX_NAME, Cut::End).replace('|', "\\|");
        let _ = writeln!(
            out,
            "| {} | {} | {change} |",
            cause.kind,
            code(&cause.subject)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_in_cells() {
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("x`y"), "`` x`y ``");
        assert_eq!(code("line\nbreak"), "`line?break`");
        assert_eq!(code(&"n".repeat(500)).chars().count(), MAX_NAME + 2);
    }
}
