//! The analyzer's entry point on arbitrary bytes: `analyze` must return a
//! clear error or reports that keep the invariants of DESIGN.md (sections
//! add up to the file, units add up to the shipped size).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sizegate_analyze::{Options, Report, analyze};

fuzz_target!(|data: &[u8]| {
    match analyze("fuzz", data, &Options::default()) {
        Ok(reports) => {
            assert!(!reports.is_empty());
            for report in &reports {
                check(report);
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});

fn check(report: &Report) {
    let sections: u64 = report.sections.iter().map(|s| s.file_size).sum();
    assert_eq!(
        sections, report.file.size,
        "sections must add up to the file"
    );
    let units: u64 = report.units.iter().map(|u| u.size).sum();
    assert_eq!(units, report.sizes.shipped, "units must add up to shipped");
    assert_eq!(report.sizes.file, report.file.size);
    assert!(report.sizes.shipped <= report.sizes.file, "shipped > file");
    assert!(report.sizes.debug.saturating_add(report.sizes.symbols) <= report.sizes.file);
    for symbol in &report.symbols {
        assert!(
            symbol.size <= report.sizes.vm.max(report.sizes.file),
            "{symbol:?}"
        );
    }
    // The report must serialize: the worker stores it as JSON.
    let json = serde_json::to_vec(report).expect("report serializes");
    let back: Report = serde_json::from_slice(&json).expect("report reads back");
    assert_eq!(&back, report);
}
