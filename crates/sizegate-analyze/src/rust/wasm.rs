//! Rust (and C) WebAssembly: the data segments' bytes (string literals,
//! constants, panic locations and their file names, vtables) charged to the
//! crates whose functions form their addresses, as `wasm_data` reads them;
//! the `name` section's function names, demangled, give each function its
//! crate. Pointers in memory are 4 bytes on wasm32, 8 on wasm64.

use crate::format::Layout;
use crate::go_units::Region;

/// The regions charging the data segments to crates; none without a
/// `name` section or data.
pub(crate) fn data_regions(layout: &Layout<'_>, module: &[u8], ptr_size: u8) -> Vec<Region> {
    let Some((base, memory)) = crate::go_units::wasm_memory(&layout.sections) else {
        return Vec::new();
    };
    let mut crate_of = |name: &str| {
        let demangled = crate::demangle::demangle(name, false);
        (!demangled.unit.starts_with('[')).then_some(demangled.unit)
    };
    let reading = crate::wasm_data::Reading {
        word: if ptr_size == 8 { 8 } else { 4 },
        offsets: true,
        to_next: true,
    };
    let Some(region) =
        crate::wasm_data::data_region(module, (base, &memory), &[], reading, &mut crate_of)
    else {
        return Vec::new();
    };
    let mut regions = vec![region];
    crate::go_units::wasm_to_section(layout, &mut regions);
    regions
}
