//! Attribution of the shipped bytes to units (crates, Go packages, C++
//! namespaces, C): symbol bytes in shipped sections, then per-section
//! `[<section> unattributed]` and the format's pseudo-units (`[headers]`,
//! `[padding]`...), so that units sum to exactly the shipped size.

use std::collections::HashMap;

use crate::demangle::{Demangled, Lang};
use crate::format::Layout;
use crate::go_units::GoCharges;
use crate::report::{Symbol, Unit, UnitKind};
use crate::symbols::PlacedSymbol;

/// Units of one image.
#[derive(Debug)]
pub(crate) struct Attribution {
    /// Units, largest first; sizes sum to `layout.shipped()`.
    pub units: Vec<Unit>,
    /// Shipped symbol bytes per source language.
    pub by_lang: HashMap<Lang, u64>,
}

/// Charge every shipped byte to a unit. `go` holds the Go (or Rust)
/// readers' charges: symbol bytes inside their regions go to the charged
/// units instead, and function padding to `[<section> padding]`. Charged
/// units no symbol names are of kind `charged` (Go packages, Rust crates).
pub(crate) fn attribute(
    layout: &Layout<'_>,
    placed: &[PlacedSymbol],
    names: &[Demangled],
    go: &GoCharges,
    charged: UnitKind,
) -> Attribution {
    let mut units: HashMap<&str, (UnitKind, u64, u64)> = HashMap::new();
    let mut by_lang: HashMap<Lang, u64> = HashMap::new();
    let mut per_section = vec![0u64; layout.sections.len()];
    for (symbol, name) in placed.iter().zip(names) {
        let taken_back: u64 = go
            .regions
            .iter()
            .filter(|r| r.section == symbol.section)
            .map(|r| overlap(&r.ranges, symbol.address, symbol.shipped))
            .sum();
        let shipped = symbol.shipped.saturating_sub(taken_back);
        let entry = units
            .entry(name.unit.as_str())
            .or_insert((name.unit_kind, 0, 0));
        entry.1 += shipped;
        entry.2 += 1;
        *by_lang.entry(name.lang).or_default() += symbol.shipped;
        if let Some(total) = per_section.get_mut(symbol.section) {
            *total += shipped;
        }
    }
    for region in &go.regions {
        // Never more than the section ships (a region is inside it).
        let Some(section) = layout.sections.get(region.section) else {
            continue;
        };
        let mut room = section.shipped.saturating_sub(per_section[region.section]);
        for (unit, bytes) in &region.charges {
            let bytes = (*bytes).min(room);
            room -= bytes;
            let kind = if unit.starts_with('[') {
                UnitKind::Pseudo
            } else {
                charged
            };
            units.entry(unit.as_str()).or_insert((kind, 0, 0)).1 += bytes;
            per_section[region.section] += bytes;
        }
    }
    let mut pseudo: Vec<(String, u64)> = Vec::new();
    for (i, (section, attributed)) in layout.sections.iter().zip(&per_section).enumerate() {
        let mut rest = section.shipped.saturating_sub(*attributed);
        let padding: u64 = go
            .padding
            .iter()
            .filter(|p| p.0 == i)
            .map(|p| p.1)
            .sum::<u64>()
            .min(rest);
        if padding > 0 {
            pseudo.push((format!("[{} padding]", section.name), padding));
            rest -= padding;
        }
        if rest > 0 {
            pseudo.push((format!("[{} unattributed]", section.name), rest));
        }
    }
    pseudo.extend(layout.shipped_pseudo.iter().cloned());

    let mut out: Vec<Unit> = units
        .into_iter()
        .filter(|(_, (_, size, _))| *size > 0)
        .map(|(name, (kind, size, symbols))| Unit {
            name: name.to_string(),
            kind,
            size,
            symbols,
            version: None,
            module: None,
        })
        .collect();
    // Two sections may share a name; their pseudo-units merge. (A map, as
    // a file may hold tens of thousands of sections.)
    let mut positions: HashMap<String, usize> = HashMap::new();
    for (name, size) in pseudo {
        match positions.get(&name) {
            Some(&i) => out[i].size += size,
            None => {
                positions.insert(name.clone(), out.len());
                out.push(Unit {
                    name,
                    kind: UnitKind::Pseudo,
                    size,
                    symbols: 0,
                    version: None,
                    module: None,
                });
            }
        }
    }
    out.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    Attribution {
        units: out,
        by_lang,
    }
}

/// Bytes of `[address, address + size)` inside the sorted, disjoint `ranges`.
fn overlap(ranges: &[(u64, u64)], address: u64, size: u64) -> u64 {
    let end = address.saturating_add(size);
    let first = ranges.partition_point(|r| r.1 <= address);
    ranges[first..]
        .iter()
        .take_while(|r| r.0 < end)
        .map(|r| r.1.min(end).saturating_sub(r.0.max(address)))
        .sum()
}

/// The report's symbols, largest first (ties by name, then file order),
/// taking the demangled names over rather than copying them.
pub(crate) fn symbols(
    layout: &Layout<'_>,
    placed: &[PlacedSymbol],
    names: Vec<Demangled>,
) -> Vec<Symbol> {
    // Sort small keys, not the symbols: a large binary has 100k+ of them,
    // many of one size. The position makes every key distinct, so the
    // unstable sort gives the same order as a stable one would.
    let mut order: Vec<(u64, &str, usize)> = placed
        .iter()
        .zip(&names)
        .enumerate()
        .map(|(i, (p, n))| (p.size, n.name.as_str(), i))
        .collect();
    order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)).then(a.2.cmp(&b.2)));
    let order: Vec<usize> = order.into_iter().map(|(_, _, i)| i).collect();
    let mut names: Vec<Option<Demangled>> = names.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| {
            let p = placed.get(i)?;
            let n = names.get_mut(i)?.take()?;
            Some(Symbol {
                name: n.name,
                unit: n.unit,
                section: layout
                    .sections
                    .get(p.section)
                    .map(|s| s.name.clone())
                    .unwrap_or_default(),
                size: p.size,
            })
        })
        .collect()
}
