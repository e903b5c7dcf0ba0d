//! Go attribution beyond symbols: the Go readers' per-package splits of
//! runtime tables (the pclntab, and through `moduledata` the type data,
//! itabs and funcdata) turned into charges on address ranges of the
//! layout's sections, the alignment padding between functions, and the
//! module path and version of each package unit from the build info.

use std::collections::HashMap;

use crate::format::Layout;
use crate::go::{self, GoSection};
use crate::report::{GoBuildInfo, Unit, UnitKind};

/// Bytes of one address range charged to units. Symbol bytes inside the
/// range are taken back from their units: the charges explain all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Region {
    /// Position of the section in the layout's list.
    pub section: usize,
    /// Disjoint (start, end) address ranges, sorted.
    pub ranges: Vec<(u64, u64)>,
    /// (unit, bytes); the bytes sum to at most the ranges' length.
    pub charges: Vec<(String, u64)>,
}

/// What the Go readers add to the symbol-based attribution.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct GoCharges {
    /// Ranges explained by package charges.
    pub regions: Vec<Region>,
    /// Alignment padding between functions, per section position.
    pub padding: Vec<(usize, u64)>,
}

/// The sections as the Go readers take them.
fn go_sections<'a>(layout: &'a Layout<'_>) -> Vec<GoSection<'a>> {
    layout
        .sections
        .iter()
        .map(|s| GoSection {
            name: s.raw_name.as_str(),
            address: s.address,
            data: s.data,
        })
        .collect()
}

/// The loaded section holding `address`, with room for `size` bytes.
fn section_of(layout: &Layout<'_>, address: u64, size: u64) -> Option<usize> {
    layout.sections.iter().position(|s| {
        s.vm_size > 0
            && !s.data.is_empty()
            && s.contains(address)
            && address.saturating_add(size) <= s.address.saturating_add(s.extent())
    })
}

/// Read the Go tables of the image and turn them into charges.
pub(crate) fn charges(
    layout: &Layout<'_>,
    target: go::Target,
    go_version: Option<&str>,
) -> GoCharges {
    let sections = go_sections(layout);
    let mut out = GoCharges::default();
    if let Some(table) = go::read_pclntab(&sections, target) {
        let mut padding: HashMap<usize, u64> = HashMap::new();
        for function in &table.functions {
            if function.padding == 0 {
                continue;
            }
            let end = function.entry.saturating_add(function.size);
            if let Some(section) = section_of(layout, end, function.padding) {
                *padding.entry(section).or_default() += function.padding;
            }
        }
        out.padding = padding.into_iter().collect();
        out.padding.sort_unstable();
    }
    if let Some(split) = go::split_pclntab(&sections, target)
        && let Some(section) = section_of(layout, split.address, split.size)
    {
        out.regions.push(Region {
            section,
            ranges: vec![(split.address, split.address + split.size)],
            charges: split.by_package.clone(),
        });
    }
    if let Some(data) = go::split_runtime_data(&sections, target, go_version) {
        out.regions.extend(regions_of(layout, &data));
    }
    out
}

/// The runtime data pieces grouped by section: one region per section.
fn regions_of(layout: &Layout<'_>, data: &go::RuntimeDataSplit) -> Vec<Region> {
    let mut by_section: HashMap<usize, (Vec<(u64, u64)>, HashMap<u32, u64>)> = HashMap::new();
    let mut current: Option<usize> = None;
    for &(start, end, owner) in &data.pieces {
        let fits = |i: usize| {
            let s = &layout.sections[i];
            s.contains(start) && end <= s.address.saturating_add(s.extent())
        };
        let section = match current.filter(|&i| fits(i)) {
            Some(i) => i,
            None => match section_of(layout, start, end - start) {
                Some(i) => i,
                None => continue,
            },
        };
        current = Some(section);
        let entry = by_section.entry(section).or_default();
        match entry.0.last_mut() {
            Some(last) if last.1 == start => last.1 = end,
            _ => entry.0.push((start, end)),
        }
        *entry.1.entry(owner).or_default() += end - start;
    }
    let mut regions: Vec<Region> = by_section
        .into_iter()
        .map(|(section, (ranges, bytes))| {
            let mut charges: Vec<(String, u64)> = bytes
                .into_iter()
                .filter_map(|(owner, n)| Some((data.packages.get(owner as usize)?.clone(), n)))
                .collect();
            charges.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            Region {
                section,
                ranges,
                charges,
            }
        })
        .collect();
    regions.sort_by_key(|r| r.section);
    regions
}

/// Set each Go package unit's module path and version from the build
/// info's main module and `dep` lines (the longest module path that is the
/// package path or a prefix of it ending at a `/`). Standard library
/// packages have no module.
pub(crate) fn set_modules(units: &mut [Unit], build: &GoBuildInfo) {
    let mut modules: Vec<(&str, &str)> = build
        .deps
        .iter()
        .chain(build.main.iter())
        .map(|m| {
            // A replaced module's code comes from the replacement, but the
            // import paths stay those of the original.
            let version = m.replace.as_ref().map_or(m.version.as_str(), |r| {
                if r.version.is_empty() {
                    m.version.as_str()
                } else {
                    r.version.as_str()
                }
            });
            (m.path.as_str(), version)
        })
        .collect();
    // Longest first, so the first match is the longest.
    modules.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(b.0)));
    for unit in units.iter_mut().filter(|u| u.kind == UnitKind::Package) {
        let path = go::unescape_package(&unit.name).into_owned();
        let module = modules.iter().find(|(module, _)| {
            path == *module
                || (path.starts_with(module) && path.as_bytes().get(module.len()) == Some(&b'/'))
        });
        if let Some((module, version)) = module {
            unit.module = Some((*module).to_owned());
            unit.version = Some((*version).to_owned());
        } else if path == "main" {
            if let Some(main) = &build.main {
                unit.module = Some(main.path.clone());
                unit.version = Some(main.version.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::GoModule;

    fn package(name: &str) -> Unit {
        Unit {
            name: name.into(),
            kind: UnitKind::Package,
            size: 1,
            symbols: 1,
            version: None,
            module: None,
        }
    }

    fn module(path: &str, version: &str) -> GoModule {
        GoModule {
            path: path.into(),
            version: version.into(),
            sum: None,
            replace: None,
        }
    }

    #[test]
    fn packages_take_the_longest_module_path_that_contains_them() {
        let build = GoBuildInfo {
            go_version: "go1.22.1".into(),
            path: Some("example.com/app".into()),
            main: Some(module("example.com/app", "(devel)")),
            deps: vec![
                module("golang.org/x/net", "v0.23.0"),
                module("golang.org/x/net/http2x", "v1.0.0"),
                module("gopkg.in/yaml.v3", "v3.0.1"),
            ],
            settings: Vec::new(),
        };
        let mut units = vec![
            package("golang.org/x/net/http2"),
            package("golang.org/x/net/http2x/h"),
            package("golang.org/x/netfoo"),
            package("gopkg.in/yaml%2ev3"),
            package("main"),
            package("net/http"),
        ];
        set_modules(&mut units, &build);
        let got: Vec<(Option<&str>, Option<&str>)> = units
            .iter()
            .map(|u| (u.module.as_deref(), u.version.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (Some("golang.org/x/net"), Some("v0.23.0")),
                (Some("golang.org/x/net/http2x"), Some("v1.0.0")),
                (None, None),
                (Some("gopkg.in/yaml.v3"), Some("v3.0.1")),
                (Some("example.com/app"), Some("(devel)")),
                (None, None),
            ]
        );
    }
}
