//! Attribution of the shipped bytes to units (crates, Go packages, C++
//! namespaces, C): symbol bytes in shipped sections, then per-section
//! `[<section> unattributed]` and the format's pseudo-units (`[headers]`,
//! `[padding]`...), so that units sum to exactly the shipped size.

use std::collections::HashMap;

use crate::demangle::{Demangled, Lang};
use crate::format::Layout;
use crate::report::{Symbol, Unit, UnitKind};
use crate::symbols::PlacedSymbol;

/// Units and symbols of one image.
#[derive(Debug)]
pub(crate) struct Attribution {
    /// Units, largest first; sizes sum to `layout.shipped()`.
    pub units: Vec<Unit>,
    /// Symbols, largest first.
    pub symbols: Vec<Symbol>,
    /// Shipped symbol bytes per source language.
    pub by_lang: HashMap<Lang, u64>,
}

/// Charge every shipped byte to a unit.
pub(crate) fn attribute(
    layout: &Layout<'_>,
    placed: &[PlacedSymbol],
    names: &[Demangled],
) -> Attribution {
    let mut units: HashMap<&str, (UnitKind, u64, u64)> = HashMap::new();
    let mut by_lang: HashMap<Lang, u64> = HashMap::new();
    let mut per_section = vec![0u64; layout.sections.len()];
    for (symbol, name) in placed.iter().zip(names) {
        let entry = units
            .entry(name.unit.as_str())
            .or_insert((name.unit_kind, 0, 0));
        entry.1 += symbol.shipped;
        entry.2 += 1;
        *by_lang.entry(name.lang).or_default() += symbol.shipped;
        if let Some(total) = per_section.get_mut(symbol.section) {
            *total += symbol.shipped;
        }
    }
    let mut pseudo: Vec<(String, u64)> = Vec::new();
    for (section, attributed) in layout.sections.iter().zip(&per_section) {
        let rest = section.shipped.saturating_sub(*attributed);
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
                });
            }
        }
    }
    out.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));

    let mut symbols: Vec<Symbol> = placed
        .iter()
        .zip(names)
        .map(|(p, n)| Symbol {
            name: n.name.clone(),
            unit: n.unit.clone(),
            section: layout
                .sections
                .get(p.section)
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            size: p.size,
        })
        .collect();
    symbols.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    Attribution {
        units: out,
        symbols,
        by_lang,
    }
}
