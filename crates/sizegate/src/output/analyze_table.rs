//! The `sizegate analyze` table: a header block (file, format, arch,
//! language, stripped, toolchain facts), the headline sizes, then sections,
//! units and symbols by size, then advice.

use std::fmt::Write as _;

use sizegate_analyze::{Report, Section, Unit, human};

use super::labels;
use super::table::{Column, Cut, Table, WIDTH, fit, wrap};
use super::{share, shown};

/// Width of the labels of the header block.
const LABEL_WIDTH: usize = 12;

/// Every report in turn (several for a universal Mach-O), `top` rows per
/// list (0: all).
pub fn render_reports(reports: &[Report], top: usize) -> String {
    let parts: Vec<String> = reports.iter().map(|r| render(r, top)).collect();
    parts.join("\n")
}

/// One report as text at most [`WIDTH`] columns wide.
pub fn render(report: &Report, top: usize) -> String {
    let mut out = String::new();
    header(&mut out, report);
    if report.layers.is_empty() {
        sizes(&mut out, report);
    } else {
        image_sizes(&mut out, report);
        layers(&mut out, report);
        files(&mut out, report, top);
    }
    sections(&mut out, report, top);
    units(&mut out, report, top);
    symbols(&mut out, report, top);
    advice(&mut out, report);
    out
}

fn fact(out: &mut String, label: &str, value: &str) {
    let value = fit(value, WIDTH - LABEL_WIDTH, Cut::End);
    let _ = writeln!(out, "{label:<LABEL_WIDTH$}{value}");
}

fn header(out: &mut String, report: &Report) {
    let toolchain = &report.toolchain;
    fact(out, "file", &report.file.name);
    fact(out, "sha256", &report.file.sha256);
    fact(out, "format", labels::format(report.format));
    fact(out, "arch", &report.arch);
    fact(out, "language", labels::language(report.language));
    fact(out, "stripped", labels::yes_no(report.stripped));
    fact(out, "debug info", labels::yes_no(toolchain.debug_info));
    if let Some(rustc) = &toolchain.rustc {
        fact(out, "rustc", rustc);
    }
    if let Some(commit) = &toolchain.rustc_commit {
        fact(
            out,
            "rustc",
            &format!("commit {commit} (from source paths)"),
        );
    }
    if let Some(release) = &toolchain.rustc_release {
        fact(out, "rustc", &format!("{release} (from source paths)"));
    }
    if let Some(source) = &toolchain.crate_versions {
        let crates = toolchain.crates.len();
        fact(
            out,
            "crates",
            &format!("{crates} crate versions (from {source})"),
        );
    }
    if let Some(go) = &toolchain.go {
        fact(out, "go", go);
    }
    for compiler in &toolchain.compilers {
        fact(out, "compiler", compiler);
    }
    if let Some(build) = &toolchain.go_build {
        if let Some(main) = &build.main {
            fact(out, "go module", &format!("{} {}", main.path, main.version));
        }
        if !build.deps.is_empty() {
            fact(out, "go deps", &format!("{} modules", build.deps.len()));
        }
        for setting in &build.settings {
            fact(
                out,
                "go build",
                &format!("{}={}", setting.key, setting.value),
            );
        }
    }
}

fn sizes(out: &mut String, report: &Report) {
    let s = &report.sizes;
    let rows = [
        ("file", s.file, "the file as it is"),
        (
            "shipped",
            s.shipped,
            "after strip --strip-all (Go: -s -w); what budgets use",
        ),
        ("vm", s.vm, "memory of the loaded image"),
        ("gzip", s.gzip, "whole file, gzip -6"),
        ("zstd", s.zstd, "whole file, zstd -3"),
        ("debug", s.debug, "debug information"),
        ("symbols", s.symbols, "symbol tables"),
    ];
    let mut table = Table::new(vec![
        Column::text("metric"),
        Column::number("size"),
        Column::number("bytes"),
        Column::number("of file"),
        Column::name("meaning"),
    ]);
    for (metric, bytes, meaning) in rows {
        if report.compression_skipped && matches!(metric, "gzip" | "zstd") {
            table.row(vec![
                metric.into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "not computed (--no-compress)".into(),
            ]);
            continue;
        }
        table.row(vec![
            metric.into(),
            human::size(bytes),
            bytes.to_string(),
            share(bytes, s.file),
            meaning.into(),
        ]);
    }
    let _ = write!(out, "\nSIZES\n{}", table.render());
}

/// The headline sizes of a container image.
fn image_sizes(out: &mut String, report: &Report) {
    let s = &report.sizes;
    let rows = [
        ("file", s.file, "the archive or layout as it is"),
        (
            "compressed",
            s.compressed,
            "layer blobs, as the manifest says",
        ),
        (
            "pull",
            s.pull,
            "a cold pull: each blob once, config, manifest",
        ),
        (
            "uncompressed",
            s.uncompressed,
            "layers' tar streams; what budgets use (shipped)",
        ),
        (
            "wasted",
            s.wasted,
            "hidden by later layers, and duplicate copies",
        ),
    ];
    let mut table = Table::new(vec![
        Column::text("metric"),
        Column::number("size"),
        Column::number("bytes"),
        Column::name("meaning"),
    ]);
    for (metric, bytes, meaning) in rows {
        table.row(vec![
            metric.into(),
            human::size(bytes),
            bytes.to_string(),
            meaning.into(),
        ]);
    }
    let _ = write!(out, "\nSIZES\n{}", table.render());
}

/// The layers, bottom first.
fn layers(out: &mut String, report: &Report) {
    let mut table = Table::new(vec![
        Column::number("#"),
        Column::number("compressed"),
        Column::number("uncompressed"),
        Column::number("files"),
        Column::number("hidden"),
        Column::name("created by"),
    ]);
    for (i, layer) in report.layers.iter().enumerate() {
        table.row(vec![
            (i + 1).to_string(),
            human::size(layer.compressed_size),
            human::size(layer.uncompressed_size),
            layer.files.to_string(),
            human::size(layer.hidden_size),
            layer
                .created_by
                .clone()
                .unwrap_or_else(|| layer.digest.clone()),
        ]);
    }
    let _ = write!(
        out,
        "\nLAYERS ({})\n{}",
        report.layers.len(),
        table.render()
    );
}

/// The largest files (with the units of the binaries analyzed inside)
/// and directories.
fn files(out: &mut String, report: &Report, top: usize) {
    let count = shown(report.files.len(), top);
    let mut table = Table::new(vec![
        Column::name("file"),
        Column::number("size"),
        Column::number("layer"),
        Column::text("unit").at_most(30, Cut::End),
    ]);
    for file in &report.files[..count] {
        table.row(vec![
            file.path.clone(),
            human::size(file.size),
            (file.layer + 1).to_string(),
            file.unit.clone(),
        ]);
        if let Some(inner) = &file.report {
            for unit in inner.units.iter().take(3) {
                table.row(vec![
                    format!("  └ {}", unit.name),
                    human::size(unit.size),
                    String::new(),
                    labels::unit_kind(unit.kind).into(),
                ]);
            }
        }
    }
    let _ = write!(out, "\nFILES ({})\n{}", report.files.len(), table.render());
    let count = shown(report.directories.len(), top);
    let mut table = Table::new(vec![
        Column::name("directory"),
        Column::number("size"),
        Column::number("files"),
    ]);
    for dir in &report.directories[..count] {
        table.row(vec![
            dir.path.clone(),
            human::size(dir.size),
            dir.files.to_string(),
        ]);
    }
    let _ = write!(out, "\nDIRECTORIES\n{}", table.render());
}

/// `(… N more sections)`: the name cell of the row that stands for the
/// rows left out.
fn more_row(count: usize, what: &str) -> String {
    format!("(… {count} more {what})")
}

fn sections(out: &mut String, report: &Report, top: usize) {
    let mut sections: Vec<&Section> = report.sections.iter().collect();
    sections.sort_by(|a, b| {
        (b.file_size, b.vm_size)
            .cmp(&(a.file_size, a.vm_size))
            .then_with(|| a.name.cmp(&b.name))
    });
    let count = shown(sections.len(), top);
    let mut table = Table::new(vec![
        Column::name("section"),
        Column::text("kind"),
        Column::number("file size"),
        Column::number("vm size"),
        Column::number("of file"),
    ]);
    for section in &sections[..count] {
        table.row(vec![
            section.name.clone(),
            labels::section_kind(section.kind).into(),
            human::size(section.file_size),
            human::size(section.vm_size),
            share(section.file_size, report.file.size),
        ]);
    }
    let rest = &sections[count..];
    if !rest.is_empty() {
        let file: u64 = rest
            .iter()
            .fold(0, |sum, s| sum.saturating_add(s.file_size));
        let vm: u64 = rest.iter().fold(0, |sum, s| sum.saturating_add(s.vm_size));
        table.row(vec![
            more_row(rest.len(), "sections"),
            String::new(),
            human::size(file),
            human::size(vm),
            share(file, report.file.size),
        ]);
    }
    let _ = write!(out, "\nSECTIONS ({})\n{}", sections.len(), table.render());
}

fn units(out: &mut String, report: &Report, top: usize) {
    let both = !report.units_instantiating.is_empty();
    let title = if both {
        "UNITS, DEFINING CRATE"
    } else {
        "UNITS"
    };
    units_table(out, &report.units, report, top, title);
    if both {
        out.push_str(&wrap(
            "rule: each function is charged to the crate that defines it (its symbol's path)",
            WIDTH,
            "",
        ));
    }
    let bracketed = report.bracketed_size();
    let _ = writeln!(
        out,
        "bracketed units (no crate, package or namespace): {} ({} of shipped)",
        human::size(bracketed),
        share(bracketed, report.sizes.shipped),
    );
    if both {
        let title = "UNITS, INSTANTIATING CRATE";
        units_table(out, &report.units_instantiating, report, top, title);
        out.push_str(&wrap(
            "rule: each function is charged to the crate whose codegen unit holds its code (DWARF compile units); other bytes as above",
            WIDTH,
            "",
        ));
    }
    for note in &report.notes {
        out.push_str(&wrap(&format!("note: {note}"), WIDTH, ""));
    }
}

fn units_table(out: &mut String, units: &[Unit], report: &Report, top: usize, title: &str) {
    let mut units: Vec<_> = units.iter().collect();
    units.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    let count = shown(units.len(), top);
    let mut table = Table::new(vec![
        Column::name("unit"),
        Column::text("kind"),
        Column::number("size"),
        Column::number("of shipped"),
        Column::number("symbols"),
    ]);
    for unit in &units[..count] {
        table.row(vec![
            unit.name.clone(),
            labels::unit_kind(unit.kind).into(),
            human::size(unit.size),
            share(unit.size, report.sizes.shipped),
            unit.symbols.to_string(),
        ]);
    }
    let rest = &units[count..];
    if !rest.is_empty() {
        let size: u64 = rest.iter().fold(0, |sum, u| sum.saturating_add(u.size));
        let symbols: u64 = rest.iter().fold(0, |sum, u| sum.saturating_add(u.symbols));
        table.row(vec![
            more_row(rest.len(), "units"),
            String::new(),
            human::size(size),
            share(size, report.sizes.shipped),
            symbols.to_string(),
        ]);
    }
    let _ = write!(out, "\n{title} ({})\n{}", units.len(), table.render());
}

fn symbols(out: &mut String, report: &Report, top: usize) {
    let mut symbols: Vec<_> = report.symbols.iter().collect();
    symbols.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    let count = shown(symbols.len(), top);
    let title = match (count < symbols.len(), report.symbols_truncated) {
        (true, _) => format!("SYMBOLS (top {count} of {})", symbols.len()),
        (false, true) => format!("SYMBOLS (top {count}; the report holds no more)"),
        (false, false) => format!("SYMBOLS ({count})"),
    };
    let mut table = Table::new(vec![
        Column::name("symbol"),
        Column::text("unit").at_most(24, Cut::Middle),
        Column::text("section").at_most(16, Cut::End),
        Column::number("size"),
    ]);
    for symbol in &symbols[..count] {
        table.row(vec![
            symbol.name.clone(),
            symbol.unit.clone(),
            symbol.section.clone(),
            human::size(symbol.size),
        ]);
    }
    if report.stripped && symbols.is_empty() {
        let _ = write!(out, "\n{title}\n  (none: the file is stripped)\n");
    } else {
        let _ = write!(out, "\n{title}\n{}", table.render());
    }
}

fn advice(out: &mut String, report: &Report) {
    let _ = write!(out, "\nADVICE ({})\n", report.advice.len());
    if report.advice.is_empty() {
        out.push_str("  (nothing to suggest)\n");
    }
    for advice in &report.advice {
        let id = fit(&advice.id, 40, Cut::End);
        let _ = writeln!(out, "  {id}  saves about {}", human::size(advice.saving));
        out.push_str(&wrap(&advice.message, WIDTH, "      "));
    }
}
