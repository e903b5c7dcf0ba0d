//! Sanity limits on what the analyzer child reports, checked against the
//! artifact it was given. The child parses untrusted bytes; whatever it
//! writes is checked before it is stored: counts and names far beyond what
//! an artifact of that size can hold, sizes larger than the file, sums that
//! break the report's invariants, or a report of some other file are
//! refused (a permanent failure of the job).

use sizegate_analyze::{Format, Report};

/// Longest name accepted (the analyzer cuts demangled names at 4 KiB).
pub const MAX_NAME_BYTES: usize = 8 << 10;

/// Rows of one kind (sections, units, symbols) allowed for an artifact of
/// `artifact_size` bytes: every entry stands for at least two bytes of the
/// file (an ELF symbol takes 16 or 24, a Go function-table entry 8), plus a
/// few bracketed pseudo-entries.
pub fn max_entries(artifact_size: u64) -> u64 {
    artifact_size / 2 + 256
}

/// Check `report` against the artifact it claims to describe: `size` bytes
/// with this `sha256` (lower-case hex). `Err` says what is implausible.
pub fn check(report: &Report, size: u64, sha256: Option<&str>) -> Result<(), String> {
    check_file(report, size, sha256)?;
    check_sizes(report)?;
    check_counts(report, size)?;
    check_names(report)?;
    check_sums(report)
    // Symbol sizes are not bounded by the file: a `.bss` array takes none
    // of its bytes.
}

/// The report is of this artifact (or, for a universal Mach-O member, of
/// a slice of it).
fn check_file(report: &Report, size: u64, sha256: Option<&str>) -> Result<(), String> {
    let file = report.file.size;
    if file > size {
        return Err(format!(
            "the report is of a {file}-byte file, but the artifact has {size} bytes"
        ));
    }
    // A universal Mach-O member is a slice of the file; the whole file is
    // the artifact itself, so its hash must match.
    if file == size
        && let Some(expected) = sha256
        && !report.file.sha256.eq_ignore_ascii_case(expected)
    {
        return Err(format!(
            "the report is of a file with sha256 {}, not of the artifact ({expected})",
            shown(&report.file.sha256)
        ));
    }
    if report.sizes.file != file {
        return Err(format!(
            "sizes.file is {} but file.size is {file}",
            report.sizes.file
        ));
    }
    Ok(())
}

/// No headline size beyond what the file can hold.
fn check_sizes(report: &Report) -> Result<(), String> {
    let file = report.file.size;
    let sizes = &report.sizes;
    // gzip and zstd may exceed the input slightly on incompressible bytes.
    let compressed_limit = file.saturating_add(file / 8).saturating_add(1024);
    // A container image ships its layers decompressed: the analyzer stops a
    // layer past 200 times its blob plus 64 MiB (its `Limits`).
    let image = matches!(report.format, Format::DockerArchive | Format::OciLayout);
    let shipped_limit = if image {
        file.saturating_mul(200)
            .saturating_add(report.layers.len() as u64 * (64 << 20))
    } else {
        file
    };
    for (name, value, limit) in [
        ("shipped", sizes.shipped, shipped_limit),
        ("debug", sizes.debug, file),
        ("symbols", sizes.symbols, file),
        ("gzip", sizes.gzip, compressed_limit),
        ("zstd", sizes.zstd, compressed_limit),
    ] {
        if value > limit {
            return Err(format!(
                "sizes.{name} is {value} bytes, more than the {file}-byte file allows"
            ));
        }
    }
    Ok(())
}

/// No more rows of a kind than an artifact of `size` bytes can hold.
fn check_counts(report: &Report, size: u64) -> Result<(), String> {
    let most = max_entries(size);
    for (name, count) in [
        ("sections", report.sections.len()),
        ("units", report.units.len()),
        ("symbols", report.symbols.len()),
        ("advice", report.advice.len()),
    ] {
        if count as u64 > most {
            return Err(format!(
                "{count} {name} for a {size}-byte artifact (at most {most})"
            ));
        }
    }
    Ok(())
}

/// No name longer than [`MAX_NAME_BYTES`].
fn check_names(report: &Report) -> Result<(), String> {
    let names = report
        .sections
        .iter()
        .map(|s| s.name.as_str())
        .chain(report.units.iter().flat_map(|u| {
            [
                Some(u.name.as_str()),
                u.version.as_deref(),
                u.module.as_deref(),
            ]
            .into_iter()
            .flatten()
        }))
        .chain(
            report
                .advice
                .iter()
                .flat_map(|a| [a.id.as_str(), a.message.as_str()]),
        )
        .chain(
            report
                .symbols
                .iter()
                .flat_map(|s| [s.name.as_str(), s.unit.as_str(), s.section.as_str()]),
        )
        .chain([report.file.name.as_str(), report.arch.as_str()]);
    for name in names {
        if name.len() > MAX_NAME_BYTES {
            return Err(format!(
                "a name of {} bytes (at most {MAX_NAME_BYTES}): {}…",
                name.len(),
                shown(name)
            ));
        }
    }
    Ok(())
}

/// Sections add up to the file, units to the shipped size.
fn check_sums(report: &Report) -> Result<(), String> {
    let file = report.file.size;
    let section_sum = report
        .sections
        .iter()
        .fold(0u64, |sum, s| sum.saturating_add(s.file_size));
    if section_sum != file {
        return Err(format!(
            "sections add up to {section_sum} bytes, not the file's {file}"
        ));
    }
    let unit_sum = report
        .units
        .iter()
        .fold(0u64, |sum, u| sum.saturating_add(u.size));
    if unit_sum != report.sizes.shipped {
        return Err(format!(
            "units add up to {unit_sum} bytes, not the shipped size {}",
            report.sizes.shipped
        ));
    }
    Ok(())
}

/// The start of an untrusted string, for a message.
fn shown(text: &str) -> String {
    text.chars()
        .take(64)
        .flat_map(char::escape_default)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sizegate_analyze::{
        FileInfo, Format, Language, Section, SectionKind, Sizes, Symbol, Toolchain, Unit, UnitKind,
    };

    const SHA: &str = "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12";

    fn report(size: u64) -> Report {
        Report {
            schema_version: sizegate_analyze::SCHEMA_VERSION,
            file: FileInfo {
                name: "app".into(),
                size,
                sha256: SHA.into(),
            },
            format: Format::Elf,
            arch: "x86_64".into(),
            language: Language::Rust,
            stripped: false,
            toolchain: Toolchain::default(),
            sizes: Sizes {
                file: size,
                vm: size * 4,
                shipped: size - 100,
                gzip: size / 2,
                zstd: size / 3,
                debug: 40,
                symbols: 60,
                ..Default::default()
            },
            sections: vec![
                Section {
                    name: ".text".into(),
                    kind: SectionKind::Code,
                    file_size: size - 64,
                    vm_size: size - 64,
                },
                Section {
                    name: "[headers]".into(),
                    kind: SectionKind::Other,
                    file_size: 64,
                    vm_size: 0,
                },
            ],
            units: vec![Unit {
                name: "app".into(),
                kind: UnitKind::Crate,
                size: size - 100,
                symbols: 1,
                version: None,
                module: None,
            }],
            symbols: vec![Symbol {
                name: "app::main".into(),
                unit: "app".into(),
                section: ".text".into(),
                size: 500,
            }],
            units_instantiating: Vec::new(),
            symbols_truncated: false,
            notes: Vec::new(),
            compression_skipped: false,
            advice: vec![],
            layers: Vec::new(),
            files: Vec::new(),
            directories: Vec::new(),
        }
    }

    #[test]
    fn a_real_shaped_report_passes() {
        assert_eq!(check(&report(5000), 5000, Some(SHA)), Ok(()));
        // A universal member: a slice of the artifact, another hash.
        let mut member = report(5000);
        member.file.sha256 = "cd".repeat(32);
        assert_eq!(check(&member, 9000, Some(SHA)), Ok(()));
    }

    #[test]
    fn an_image_ships_more_than_its_compressed_archive() {
        let mut image = report(5000);
        image.sizes.shipped = 15_000;
        image.units[0].size = 15_000;
        assert!(refused(&image, 5000).contains("sizes.shipped"));
        image.format = Format::OciLayout;
        assert_eq!(check(&image, 5000, Some(SHA)), Ok(()));
        image.sizes.shipped = 5000 * 200 + 1;
        image.units[0].size = 5000 * 200 + 1;
        assert!(refused(&image, 5000).contains("sizes.shipped"));
    }

    fn refused(report: &Report, size: u64) -> String {
        match check(report, size, Some(SHA)) {
            Ok(()) => panic!("an implausible report passed: {:?}", report.file),
            Err(message) => message,
        }
    }

    #[test]
    fn made_up_sizes_are_refused() {
        let message = refused(&report(5000), 4000);
        assert!(
            message.contains("5000-byte file") && message.contains("4000"),
            "{message}"
        );
        let mut other = report(5000);
        other.file.sha256 = "00".repeat(32);
        assert!(refused(&other, 5000).contains("not of the artifact"));
        let mut shipped = report(5000);
        shipped.sizes.shipped = 50_000;
        assert!(refused(&shipped, 5000).contains("sizes.shipped"));
        let mut sums = report(5000);
        sums.sections[0].file_size += 1;
        assert!(refused(&sums, 5000).contains("sections add up"));
        let mut units = report(5000);
        units.units[0].size -= 1;
        assert!(refused(&units, 5000).contains("units add up"));
        // An 8 MiB `.bss` array in a 5000-byte file is real (it takes no
        // file bytes): not refused.
        let mut bss = report(5000);
        bss.symbols[0].size = 8 << 20;
        bss.symbols[0].section = ".bss".into();
        assert_eq!(check(&bss, 5000, Some(SHA)), Ok(()));
    }

    #[test]
    fn absurd_counts_and_names_are_refused() {
        let mut many = report(5000);
        many.symbols = vec![many.symbols[0].clone(); 2757];
        let message = refused(&many, 5000);
        assert_eq!(
            message,
            "2757 symbols for a 5000-byte artifact (at most 2756)"
        );
        many.symbols.pop();
        assert_eq!(check(&many, 5000, Some(SHA)), Ok(()));

        let mut long = report(5000);
        long.units[0].name = "u".repeat(MAX_NAME_BYTES + 1);
        assert!(refused(&long, 5000).starts_with("a name of 8193 bytes"));
        let mut control = report(5000);
        control.symbols[0].name = format!("\u{1b}[31m{}", "x".repeat(MAX_NAME_BYTES));
        let message = refused(&control, 5000);
        assert!(message.contains("\\u{1b}"), "{message}");
    }
}
