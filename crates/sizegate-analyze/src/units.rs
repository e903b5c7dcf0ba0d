//! Attribution of the shipped bytes to units (crates, Go packages, C++
//! namespaces, C): symbol bytes in shipped sections, then per-section
//! `[<section> unattributed]` and the format's pseudo-units (`[headers]`,
//! `[padding]`...), so that units sum to exactly the shipped size.

use std::collections::HashMap;

use crate::codegen_units::CodegenUnits;
use crate::demangle::{Demangled, Lang};
use crate::format::Layout;
use crate::go_units::GoCharges;
use crate::report::{SectionKind, Symbol, Unit, UnitKind};
use crate::symbols::PlacedSymbol;

/// Units of one image.
#[derive(Debug)]
pub(crate) struct Attribution {
    /// Units, largest first; sizes sum to `layout.shipped()`.
    pub units: Vec<Unit>,
    /// The same bytes with each code symbol charged to the crate whose
    /// codegen unit holds it (the instantiating rule), when the DWARF
    /// names codegen units; empty otherwise.
    pub instantiating: Vec<Unit>,
    /// Shipped symbol bytes per source language.
    pub by_lang: HashMap<Lang, u64>,
}

/// Charge every shipped byte to a unit. `go` holds the Go (or Rust)
/// readers' charges: symbol bytes inside their regions go to the charged
/// units instead, and function padding to `[<section> padding]`. Charged
/// units no symbol names are of kind `charged` (Go packages, Rust crates).
/// With codegen units (`cgus` not empty) the instantiating view is made
/// too: the same charges, but each code symbol inside a Rust codegen unit
/// goes to that unit's crate.
pub(crate) fn attribute(
    layout: &Layout<'_>,
    placed: &[PlacedSymbol],
    names: &[Demangled],
    go: &GoCharges,
    charged: UnitKind,
    cgus: &CodegenUnits,
) -> Attribution {
    let shares = symbol_shares(placed, go);
    let mut per_section = vec![0u64; layout.sections.len()];
    for (symbol, shipped) in placed.iter().zip(&shares) {
        if let Some(total) = per_section.get_mut(symbol.section) {
            *total += shipped;
        }
    }
    let regions = region_charges(layout, go, &mut per_section);
    let pseudo = pseudo_units(layout, go, &per_section);
    let defining = |i: usize| (names[i].unit.as_str(), names[i].unit_kind);
    let charges = Charges {
        shares: &shares,
        regions: &regions,
        pseudo: &pseudo,
        charged,
    };
    let units = charges.units(&defining);
    let instantiating = if cgus.is_empty() {
        Vec::new()
    } else {
        let code: Vec<bool> = layout
            .sections
            .iter()
            .map(|s| s.kind == SectionKind::Code)
            .collect();
        let by_codegen_unit = |i: usize| {
            let symbol = &placed[i];
            match code.get(symbol.section) {
                Some(true) => cgus
                    .crate_at(symbol.address)
                    .map_or_else(|| defining(i), |krate| (krate, UnitKind::Crate)),
                _ => defining(i),
            }
        };
        charges.units(&by_codegen_unit)
    };
    let mut by_lang: HashMap<Lang, u64> = HashMap::new();
    for (symbol, name) in placed.iter().zip(names) {
        *by_lang.entry(name.lang).or_default() += symbol.shipped;
    }
    Attribution {
        units,
        instantiating,
        by_lang,
    }
}

/// Each symbol's shipped bytes less those a region takes back.
fn symbol_shares(placed: &[PlacedSymbol], go: &GoCharges) -> Vec<u64> {
    placed
        .iter()
        .map(|symbol| {
            let taken_back: u64 = go
                .regions
                .iter()
                .filter(|r| r.section == symbol.section)
                .map(|r| overlap(&r.ranges, symbol.address, symbol.shipped))
                .sum();
            symbol.shipped.saturating_sub(taken_back)
        })
        .collect()
}

/// The regions' (unit, bytes), never more than a section ships beyond
/// its symbols' bytes (`per_section`, updated).
fn region_charges<'g>(
    layout: &Layout<'_>,
    go: &'g GoCharges,
    per_section: &mut [u64],
) -> Vec<(&'g str, u64)> {
    let mut out = Vec::new();
    for region in &go.regions {
        let Some(section) = layout.sections.get(region.section) else {
            continue;
        };
        let mut room = section.shipped.saturating_sub(per_section[region.section]);
        for (unit, bytes) in &region.charges {
            let bytes = (*bytes).min(room);
            room -= bytes;
            out.push((unit.as_str(), bytes));
            per_section[region.section] += bytes;
        }
    }
    out
}

/// `[<section> padding]`, `[<section> unattributed]` and the format's
/// pseudo-units: what no symbol or region explains.
fn pseudo_units(layout: &Layout<'_>, go: &GoCharges, per_section: &[u64]) -> Vec<(String, u64)> {
    let mut pseudo: Vec<(String, u64)> = Vec::new();
    for (i, (section, attributed)) in layout.sections.iter().zip(per_section).enumerate() {
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
    pseudo
}

/// Everything charged, ready to be summed per unit under one rule.
struct Charges<'a> {
    /// Per symbol: its bytes (see `symbol_shares`).
    shares: &'a [u64],
    /// The regions' charges.
    regions: &'a [(&'a str, u64)],
    /// Pseudo-units.
    pseudo: &'a [(String, u64)],
    /// Kind of the units only regions name.
    charged: UnitKind,
}

impl Charges<'_> {
    /// The units, largest first, with symbol `i` charged to `unit_of(i)`.
    fn units<'n>(&self, unit_of: &dyn Fn(usize) -> (&'n str, UnitKind)) -> Vec<Unit> {
        let mut units: HashMap<&str, (UnitKind, u64, u64)> = HashMap::new();
        for (i, shipped) in self.shares.iter().enumerate() {
            let (unit, kind) = unit_of(i);
            let entry = units.entry(unit).or_insert((kind, 0, 0));
            entry.1 += shipped;
            entry.2 += 1;
        }
        for &(unit, bytes) in self.regions {
            let kind = if unit.starts_with('[') {
                UnitKind::Pseudo
            } else {
                self.charged
            };
            units.entry(unit).or_insert((kind, 0, 0)).1 += bytes;
        }
        let mut out: Vec<Unit> = units
            .into_iter()
            .filter(|(_, (_, size, _))| *size > 0)
            .map(|(name, (kind, size, symbols))| Unit::new(name.to_string(), kind, size, symbols))
            .collect();
        // Two sections may share a name; their pseudo-units merge. (A map,
        // as a file may hold tens of thousands of sections.)
        let mut positions: HashMap<&str, usize> = HashMap::new();
        for (name, size) in self.pseudo {
            match positions.get(name.as_str()) {
                Some(&i) => out[i].size += size,
                None => {
                    positions.insert(name, out.len());
                    out.push(Unit::new(name.clone(), UnitKind::Pseudo, *size, 0));
                }
            }
        }
        Unit::sort(&mut out);
        out
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
    mut names: Vec<Demangled>,
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
    // Each name is taken once (the positions are distinct), in place: no
    // second list of the 100k+ names is made.
    order
        .into_iter()
        .filter_map(|i| {
            let p = placed.get(i)?;
            let n = names.get_mut(i)?;
            Some(Symbol {
                name: std::mem::take(&mut n.name),
                unit: std::mem::take(&mut n.unit),
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
