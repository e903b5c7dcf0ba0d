//! Likely causes of a size change: what differs between the two builds
//! besides the code. Toolchain versions, container format, stripping, build
//! settings and dependency versions, in that order.

use std::collections::{BTreeMap, BTreeSet};

use super::Cause;
use crate::report::{Format, GoBuildInfo, GoModule, Report, UnitKind};

/// Go build settings that change with every commit and say nothing about
/// size (`vcs.revision`, `vcs.time`, `vcs.modified`).
const VOLATILE_SETTING_PREFIX: &str = "vcs.";

/// Every cause, in a stable order.
pub(crate) fn likely_causes(old: &Report, new: &Report) -> Vec<Cause> {
    let mut causes = Vec::new();
    toolchain(old, new, &mut causes);
    container(old, new, &mut causes);
    build_settings(old, new, &mut causes);
    dependencies(old, new, &mut causes);
    causes
}

fn push_if_changed(
    causes: &mut Vec<Cause>,
    kind: &str,
    subject: &str,
    old: Option<String>,
    new: Option<String>,
) {
    if old != new {
        causes.push(Cause {
            kind: kind.to_string(),
            subject: subject.to_string(),
            old,
            new,
            delta: None,
        });
    }
}

fn toolchain(old: &Report, new: &Report, causes: &mut Vec<Cause>) {
    let (a, b) = (&old.toolchain, &new.toolchain);
    push_if_changed(
        causes,
        "toolchain",
        "rustc",
        a.rustc.clone(),
        b.rustc.clone(),
    );
    if a.rustc.is_none() && b.rustc.is_none() {
        // Stripped of `.comment`: the source paths still name the rustc.
        push_if_changed(
            causes,
            "toolchain",
            "rustc",
            a.rustc_release.clone().or_else(|| a.rustc_commit.clone()),
            b.rustc_release.clone().or_else(|| b.rustc_commit.clone()),
        );
    }
    push_if_changed(causes, "toolchain", "go", go_version(old), go_version(new));
    let old_compilers = compilers_by_name(&a.compilers);
    let new_compilers = compilers_by_name(&b.compilers);
    let names: BTreeSet<&str> = old_compilers
        .keys()
        .chain(new_compilers.keys())
        .copied()
        .collect();
    for name in names {
        let before = old_compilers.get(name).cloned();
        let after = new_compilers.get(name).cloned();
        push_if_changed(causes, "toolchain", name, before, after);
    }
}

/// The Go version from the toolchain facts, else from the build info.
fn go_version(report: &Report) -> Option<String> {
    let toolchain = &report.toolchain;
    toolchain.go.clone().or_else(|| {
        toolchain
            .go_build
            .as_ref()
            .map(|info| info.go_version.clone())
            .filter(|v| !v.is_empty())
    })
}

/// Compiler strings keyed by the tool they name (`GCC: (Debian…) 12.2.0`
/// under `GCC`, `Linker: LLD 17` under `Linker`); several strings of one
/// tool are joined with `, `.
fn compilers_by_name(compilers: &[String]) -> BTreeMap<&str, String> {
    let mut by_name: BTreeMap<&str, String> = BTreeMap::new();
    for compiler in compilers {
        let name = match compiler.split_once(':') {
            Some((name, _)) => name.trim(),
            None => compiler.split_whitespace().next().unwrap_or(""),
        };
        by_name
            .entry(name)
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(compiler);
            })
            .or_insert_with(|| compiler.clone());
    }
    by_name
}

fn container(old: &Report, new: &Report, causes: &mut Vec<Cause>) {
    let format = |r: &Report| Some(format_name(r.format).to_string());
    push_if_changed(causes, "format", "format", format(old), format(new));
    push_if_changed(
        causes,
        "format",
        "arch",
        Some(old.arch.clone()),
        Some(new.arch.clone()),
    );
    let yes_no = |b: bool| Some(if b { "yes" } else { "no" }.to_string());
    push_if_changed(
        causes,
        "stripped",
        "symbols",
        yes_no(old.stripped),
        yes_no(new.stripped),
    );
    push_if_changed(
        causes,
        "stripped",
        "debug_info",
        yes_no(old.toolchain.debug_info),
        yes_no(new.toolchain.debug_info),
    );
}

/// The JSON name of a container format.
fn format_name(format: Format) -> &'static str {
    match format {
        Format::Elf => "elf",
        Format::Macho => "macho",
        Format::Pe => "pe",
        Format::Wasm => "wasm",
        Format::DockerArchive => "docker-archive",
        Format::OciLayout => "oci-layout",
    }
}

fn go_build(report: &Report) -> Option<&GoBuildInfo> {
    report.toolchain.go_build.as_ref()
}

fn build_settings(old: &Report, new: &Report, causes: &mut Vec<Cause>) {
    let settings = |r: &Report| -> Vec<(String, String)> {
        go_build(r)
            .map(|info| {
                info.settings
                    .iter()
                    .filter(|s| !s.key.starts_with(VOLATILE_SETTING_PREFIX))
                    .map(|s| (s.key.clone(), s.value.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (before, after) = (settings(old), settings(new));
    // New-side order first, then keys only the old side has.
    let mut keys: Vec<&str> = Vec::new();
    for (key, _) in after.iter().chain(&before) {
        if !keys.contains(&key.as_str()) {
            keys.push(key);
        }
    }
    let lookup = |list: &[(String, String)], key: &str| {
        list.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    };
    for key in keys {
        push_if_changed(
            causes,
            "build_setting",
            key,
            lookup(&before, key),
            lookup(&after, key),
        );
    }
}

fn dependencies(old: &Report, new: &Report, causes: &mut Vec<Cause>) {
    if let (Some(a), Some(b)) = (go_build(old), go_build(new)) {
        let versions = |info: &GoBuildInfo| -> BTreeMap<String, String> {
            info.deps
                .iter()
                .map(|m| (m.path.clone(), module_version(m)))
                .collect()
        };
        let (before, after) = (versions(a), versions(b));
        let paths: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        for path in paths {
            let first = causes.len();
            push_if_changed(
                causes,
                "dependency",
                path,
                before.get(path).cloned(),
                after.get(path).cloned(),
            );
            // The bytes the module's package units moved, when the reports
            // say which units a module provides.
            if let Some(cause) = causes.get_mut(first) {
                let (was, is) = (module_bytes(old, path), module_bytes(new, path));
                if was.is_some() || is.is_some() {
                    let delta = i128::from(is.unwrap_or(0)) - i128::from(was.unwrap_or(0));
                    cause.delta = i64::try_from(delta).ok();
                }
            }
        }
        return;
    }
    let versioned = !old.toolchain.crates.is_empty() && !new.toolchain.crates.is_empty();
    if versioned {
        crate_versions(old, new, causes);
    }
    // For crates without versions (path dependencies, or builds without
    // `.dep-v0` or registry paths), a crate that appears or disappears is
    // the next best evidence of a dependency change.
    let crates = |r: &Report| -> BTreeSet<String> {
        r.units
            .iter()
            .filter(|u| u.kind == UnitKind::Crate)
            .map(|u| u.name.clone())
            .collect()
    };
    let (before, after) = (crates(old), crates(new));
    let named = |name: &str| {
        versioned
            && (old.toolchain.crates.iter().any(|c| c.name == name)
                || new.toolchain.crates.iter().any(|c| c.name == name))
    };
    for name in before.symmetric_difference(&after) {
        if named(name) {
            continue;
        }
        let linked = |set: &BTreeSet<String>| set.contains(name).then(|| "linked".to_string());
        push_if_changed(causes, "dependency", name, linked(&before), linked(&after));
    }
}

/// Versions by crate, from the toolchain's list (`1.0.109, 2.0.87` when
/// several).
fn versions_by_crate(report: &Report) -> BTreeMap<&str, Vec<&str>> {
    let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for krate in &report.toolchain.crates {
        out.entry(krate.name.as_str())
            .or_default()
            .push(krate.version.as_str());
    }
    out
}

/// Crate version changes (`regex`: `1.10.6` → `1.11.1`, with the bytes the
/// crate's unit moved), crates linked or dropped, and crates the new build
/// links in more than one version (`duplicate_versions`) when the old one
/// did not, or in other versions.
fn crate_versions(old: &Report, new: &Report, causes: &mut Vec<Cause>) {
    let (before, after) = (versions_by_crate(old), versions_by_crate(new));
    let names: BTreeSet<&str> = before.keys().chain(after.keys()).copied().collect();
    let unit_bytes = |r: &Report, name: &str| {
        r.units
            .iter()
            .find(|u| u.kind == UnitKind::Crate && u.name == name)
            .map(|u| u.size)
    };
    for name in names {
        let (was, is) = (before.get(name), after.get(name));
        if was == is {
            continue;
        }
        let joined = |v: Option<&Vec<&str>>| v.map(|v| v.join(", "));
        let (a, b) = (unit_bytes(old, name), unit_bytes(new, name));
        let delta = (a.is_some() || b.is_some())
            .then(|| i128::from(b.unwrap_or(0)) - i128::from(a.unwrap_or(0)))
            .and_then(|d| i64::try_from(d).ok());
        let several = |v: Option<&Vec<&str>>| v.is_some_and(|v| v.len() > 1);
        let kind = if several(is) {
            "duplicate_versions"
        } else {
            "dependency"
        };
        causes.push(Cause {
            kind: kind.to_string(),
            subject: name.to_string(),
            old: joined(was),
            new: joined(is),
            delta,
        });
    }
}

/// Shipped bytes of the package units that module `path` provides;
/// `None` when no unit names its module.
fn module_bytes(report: &Report, path: &str) -> Option<u64> {
    let mut units = report
        .units
        .iter()
        .filter(|u| u.module.as_deref() == Some(path))
        .peekable();
    units.peek()?;
    Some(units.map(|u| u.size).sum())
}

/// `v1.2.3`, or `v1.2.3 => example.com/fork v1.2.4` when replaced.
fn module_version(module: &GoModule) -> String {
    match &module.replace {
        Some(replacement) if replacement.version.is_empty() => {
            format!("{} => {}", module.version, replacement.path)
        }
        Some(replacement) => format!(
            "{} => {} {}",
            module.version, replacement.path, replacement.version
        ),
        None => module.version.clone(),
    }
}
