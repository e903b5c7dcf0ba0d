//! Go WebAssembly: the linear-memory data no runtime table explains
//! (strings, constants, package variables) charged to the packages of the
//! functions whose code forms its addresses. Go materializes a data
//! address as an `i64.const` (or `i32.const`) immediate and stores 8-byte
//! pointers in memory; the reading is shared with Rust and C Wasm
//! (`wasm_data`).

use std::collections::HashMap;

/// The pieces of linear memory (`base`, `memory`) the code references,
/// outside `taken` (ranges already charged, in memory addresses): a region
/// of section 0 in memory addresses, charging each piece to the packages
/// referencing it in equal parts. `functions` are the pclntab's (to read
/// the `name` section's spelling back).
pub(crate) fn data_region(
    module: &[u8],
    (base, memory): (u64, &[u8]),
    taken: &[(u64, u64)],
    functions: &[crate::go::GoFunction],
) -> Option<crate::go_units::Region> {
    let real: HashMap<String, String> = functions
        .iter()
        .map(|f| (crate::go_units::wasm_mangled(&f.name), f.name.clone()))
        .filter(|(mangled, name)| mangled != name)
        .collect();
    let mut package_of = |_, name: Option<&str>| {
        let name = name?;
        let name = real.get(name).map_or(name, String::as_str);
        let package = crate::go::package_of(name);
        (!package.starts_with('[')).then(|| package.to_owned())
    };
    let reading = crate::wasm_data::Reading {
        word: 8,
        offsets: false,
        to_next: false,
    };
    crate::wasm_data::data_region(module, (base, memory), taken, reading, &mut package_of)
}
