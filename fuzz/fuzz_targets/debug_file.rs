//! The separate-debug-file path on arbitrary bytes: the input is split in
//! two (a 4-byte little-endian length, the artifact, then the debug file).
//! `analyze_with_debug_file` must return a clear error (mismatched
//! build-ids, UUIDs or GUIDs, truncated or hostile debug files) or reports
//! that keep the invariants: sections add up to the file, units to the
//! shipped size. The seeds (`seeds.py`) are real pairs of every kind: ELF +
//! `objcopy --only-keep-debug`, Mach-O (thin and universal) + dSYM, PE +
//! PDB; mutations of a PDB keep its GUID often enough to reach the MSF
//! bound, the module streams and the public symbols.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sizegate_analyze::{Options, analyze_with_debug_file};

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let split = (u32::from_le_bytes(*head) as usize).min(rest.len());
    let (artifact, debug) = rest.split_at(split);
    let options = Options {
        skip_compression: true,
        ..Options::default()
    };
    match analyze_with_debug_file("fuzz", artifact, debug, &options) {
        Ok(reports) => {
            for report in &reports {
                let sections: u64 = report.sections.iter().map(|s| s.file_size).sum();
                assert_eq!(sections, report.file.size, "sections must add up to the file");
                let units: u64 = report.units.iter().map(|u| u.size).sum();
                assert_eq!(units, report.sizes.shipped, "units must add up to shipped");
                assert!(report.sizes.shipped <= report.sizes.file);
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
