//! Container images on arbitrary bytes: the bytes are read as the tar of a
//! `docker save` archive or OCI layout, and the analysis must end in a
//! clear error or in reports whose sections add up to the archive and
//! units to the uncompressed size, within small limits (so that a
//! decompression bomb or a flood of entries ends quickly).

#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use sizegate_analyze::container::{ImageOptions, Limits, TarSource, analyze_image};

fuzz_target!(|data: &[u8]| {
    let options = ImageOptions {
        analyze_binaries: data.first().is_some_and(|b| b & 1 == 1),
        binary_threshold: 64,
        limits: Limits {
            max_entries: 10_000,
            max_ratio: 50,
            ratio_slack: 1 << 20,
            max_uncompressed: 16 << 20,
            max_json: 1 << 20,
            max_binary: 4 << 20,
            max_capture: 4 << 20,
        },
        ..ImageOptions::default()
    };
    let mut source = match TarSource::new(Cursor::new(data), &options.limits) {
        Ok(s) => s,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    match analyze_image("fuzz.tar", &mut source, &options) {
        Ok(reports) => {
            for r in &reports {
                let sections: u64 = r.sections.iter().map(|s| s.file_size).sum();
                assert_eq!(sections, r.file.size, "sections add up to the archive");
                let units: u64 = r.units.iter().map(|u| u.size).sum();
                assert_eq!(units, r.sizes.uncompressed, "units add up to uncompressed");
                assert_eq!(r.sizes.shipped, r.sizes.uncompressed);
                assert!(r.sizes.wasted <= r.sizes.uncompressed);
                serde_json::to_string(r).unwrap();
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
