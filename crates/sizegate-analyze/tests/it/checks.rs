//! Checks every report must pass.

use sizegate_analyze::{Report, UnitKind};

/// The two partition invariants, ordering, and sanity of the figures.
pub fn assert_invariants(report: &Report) {
    let name = &report.file.name;
    let sections: u64 = report.sections.iter().map(|s| s.file_size).sum();
    assert_eq!(
        sections, report.file.size,
        "{name}: section sizes must add up to the file size"
    );
    let units: u64 = report.units.iter().map(|u| u.size).sum();
    assert_eq!(
        units, report.sizes.shipped,
        "{name}: unit sizes must add up to the shipped size"
    );
    assert_eq!(report.sizes.file, report.file.size, "{name}");
    assert!(
        report.sizes.shipped <= report.sizes.file,
        "{name}: shipped {} > file",
        report.sizes.shipped
    );
    assert!(
        report.sizes.debug + report.sizes.symbols <= report.sizes.file,
        "{name}"
    );
    assert!(report.sizes.gzip > 0 && report.sizes.zstd > 0, "{name}");
    assert_eq!(report.file.sha256.len(), 64, "{name}");
    for pair in report.units.windows(2) {
        assert!(
            pair[0].size > pair[1].size
                || (pair[0].size == pair[1].size && pair[0].name < pair[1].name),
            "{name}: units not sorted by size then name: {:?} before {:?}",
            pair[0],
            pair[1]
        );
    }
    for pair in report.symbols.windows(2) {
        assert!(
            pair[0].size > pair[1].size
                || (pair[0].size == pair[1].size && pair[0].name <= pair[1].name),
            "{name}: symbols not sorted: {:?} before {:?}",
            pair[0],
            pair[1]
        );
    }
    for unit in &report.units {
        assert!(!unit.name.is_empty(), "{name}: unit without a name");
        assert!(unit.size > 0, "{name}: empty unit {unit:?}");
        if unit.kind == UnitKind::Pseudo {
            assert!(
                unit.name.starts_with('[') && unit.name.ends_with(']'),
                "{name}: {unit:?}"
            );
        }
    }
    for section in report.sections.iter().filter(|s| s.name.starts_with('[')) {
        assert!(
            section.name.ends_with(']') && section.file_size > 0,
            "{name}: {section:?}"
        );
    }
}
