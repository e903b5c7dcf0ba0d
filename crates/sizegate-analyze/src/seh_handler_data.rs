//! The handler data after an x86-64 `UNWIND_INFO` (PE `.xdata`): a
//! function with an exception or termination handler has, right after the
//! handler's RVA, data of the handler's own. GNU SEH builds (mingw, Rust's
//! `*-windows-gnu`) put the function's LSDA there (the `GCC_except_table`
//! of ELF); MSVC builds their scope tables or `FuncInfo` RVA. It runs to
//! the next `UNWIND_INFO` (or the section's end) and is charged with the
//! function, as its `UNWIND_INFO` is (`functions::regions`).

use std::collections::HashSet;

use crate::format::Layout;
use crate::functions::{Function, unwind_info_size};
use crate::go_units::Region;

/// Longest handler data we believe.
const MAX_HANDLER_DATA: u64 = 1 << 20;

/// Regions charging each function's handler data to the unit `unit_of`
/// gives its start (none: left unattributed).
pub(crate) fn regions<'a>(
    functions: &[Function],
    layout: &Layout<'_>,
    unit_of: &dyn Fn(u64) -> Option<&'a str>,
) -> Vec<Region> {
    let mut starts: Vec<u64> = functions.iter().filter_map(|f| f.unwind).collect();
    starts.sort_unstable();
    starts.dedup();
    // `.xdata` sections by address: (start, end of data, position).
    let mut xdata: Vec<(u64, u64, usize)> = layout
        .sections
        .iter()
        .enumerate()
        .filter(|(_, s)| s.raw_name == ".xdata" && !s.data.is_empty())
        .map(|(i, s)| (s.address, s.address.saturating_add(s.data.len() as u64), i))
        .collect();
    xdata.sort_unstable();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut charged: Vec<(usize, u64, u64, &'a str)> = Vec::new();
    for f in functions {
        let Some(unwind) = f.unwind else {
            continue;
        };
        if !seen.insert(unwind) {
            continue;
        }
        let i = xdata.partition_point(|x| x.1 <= unwind);
        let Some(&(_, section_end, section)) = xdata.get(i).filter(|x| x.0 <= unwind) else {
            continue;
        };
        let info = &layout.sections[section];
        // Only with a handler: flags (top 5 bits of byte 0) EHANDLER or
        // UHANDLER, whose RVA ends what `unwind_info_size` counts.
        let has_handler = usize::try_from(unwind - info.address)
            .ok()
            .and_then(|at| info.data.get(at))
            .is_some_and(|&b| (b >> 3) & 0b011 != 0);
        let (true, Some(size), Some(unit)) = (
            has_handler,
            unwind_info_size(layout, section, unwind),
            unit_of(f.start),
        ) else {
            continue;
        };
        let start = unwind.saturating_add(size);
        let next = starts[starts.partition_point(|&s| s <= unwind)..]
            .first()
            .copied()
            .unwrap_or(u64::MAX);
        let end = next
            .min(section_end)
            .min(start.saturating_add(MAX_HANDLER_DATA));
        if start < end {
            charged.push((section, start, end, unit));
        }
    }
    Region::group_shipped(charged, layout)
}
