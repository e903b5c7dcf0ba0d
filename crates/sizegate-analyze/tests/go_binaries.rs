//! The Go readers on real binaries built during the test run from
//! `tests/fixtures/go` with the installed Go toolchain, checked against the
//! toolchain's own view: `go tool nm` for the function table, `go version -m`
//! for the build info, and the unstripped build for the stripped ones.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod go_support;

use std::collections::{BTreeMap, HashMap};

use go_support::{Binary, Variant, build, expected_layout, go_version_m, nm_text_symbols};
use sizegate_analyze::GoBuildInfo;
use sizegate_analyze::go::{
    CGO, GoSection, Pclntab, package_of, package_path, read_build_info, read_pclntab,
};

const PLAIN: Variant = Variant::native("plain", &[]);
const SMALL: Variant = Variant::native("small", &["-ldflags=-s -w -X main.version=1.2.3"]);
const STRIPPED: Variant = Variant {
    strip: true,
    ..Variant::native("stripped", &[])
};
const PIE: Variant = Variant::native("pie", &["-buildmode=pie"]);
const PIE_EXTERNAL: Variant = Variant {
    cgo: true,
    ..Variant::native(
        "pie-external",
        &["-buildmode=pie", "-ldflags=-linkmode=external"],
    )
};
const EXTERNAL: Variant = Variant {
    cgo: true,
    ..Variant::native("external", &["-ldflags=-linkmode=external"])
};
const WINDOWS: Variant = Variant::cross("windows.exe", "windows", "amd64", &[]);
// Go 1.19 records `-ldflags` only without `-trimpath` (golang/go#52372).
const WINDOWS_SMALL: Variant = Variant::cross(
    "windows-small.exe",
    "windows",
    "amd64",
    &["-trimpath", "-ldflags=-s -w"],
);
const DARWIN: Variant = Variant::cross("darwin", "darwin", "arm64", &[]);
const I386: Variant = Variant::cross("i386", "linux", "386", &[]);
const S390X: Variant = Variant::cross("s390x", "linux", "s390x", &[]);
const MIPS: Variant = Variant::cross("mips", "linux", "mips", &[]);

/// Decode the pclntab of `variant`'s binary.
fn pclntab_of(variant: Variant) -> Pclntab {
    let binary = Binary::read(&build(variant));
    let (sections, target) = binary.sections();
    read_pclntab(&sections, target)
        .unwrap_or_else(|| panic!("no pclntab found in {}", variant.name))
}

/// Check every function of the pclntab against the symbol table: same name
/// at the same address, and a size that covers the symbol's (the pclntab size
/// also counts the alignment padding up to the next function). And every
/// sized text symbol inside the table's range is in the table.
fn assert_matches_symbol_table(variant: Variant) -> Pclntab {
    let table = pclntab_of(variant);
    let go_version = go_version_m(&build(variant)).go_version;
    assert_eq!(
        table.version,
        expected_layout(&go_version),
        "{}",
        variant.name
    );
    let symbols = nm_text_symbols(&build(variant));
    let by_address: HashMap<u64, Vec<&go_support::NmSymbol>> =
        symbols.iter().fold(HashMap::new(), |mut map, symbol| {
            map.entry(symbol.address).or_default().push(symbol);
            map
        });
    assert!(
        table.functions.len() > 1000,
        "{}: {} functions",
        variant.name,
        table.functions.len()
    );
    for function in &table.functions {
        let at_entry = by_address
            .get(&function.entry)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let symbol = at_entry
            .iter()
            .find(|symbol| same_function(&symbol.name, &function.name))
            .unwrap_or_else(|| panic!("{}: {function:?} is not in the symbol table", variant.name));
        // The code size comes from the pc tables; with the padding up to
        // the next function it covers the symbol (PE symbols have no size,
        // so `go tool nm` gives them the gap to the next one).
        let span = function.size + function.padding;
        assert!(
            span >= symbol.size && span - symbol.size < 64 && function.size <= symbol.size,
            "{}: {} has size {} in the pclntab, {} in the symbol table",
            variant.name,
            function.name,
            function.size,
            symbol.size
        );
    }
    let first = table.functions[0].entry;
    let last = table.functions.last().unwrap();
    let end = last.entry + last.size + last.padding;
    let by_entry: HashMap<u64, Vec<&str>> =
        table
            .functions
            .iter()
            .fold(HashMap::new(), |mut map, function| {
                map.entry(function.entry).or_default().push(&function.name);
                map
            });
    // `runtime.text`/`runtime.etext` are markers, not functions.
    let markers = ["runtime.text", "runtime.etext"];
    for symbol in &symbols {
        if symbol.size > 0
            && (first..end).contains(&symbol.address)
            && !markers.contains(&symbol.name.as_str())
        {
            let at_address = by_entry
                .get(&symbol.address)
                .map(Vec::as_slice)
                .unwrap_or_default();
            assert!(
                at_address
                    .iter()
                    .any(|name| same_function(&symbol.name, name)),
                "{}: {symbol:?} is not in the pclntab",
                variant.name
            );
        }
    }
    table
}

/// The symbol table's name as the pclntab spells it: assembly functions
/// carry an ABI suffix in the symbol table only (`internal/cpu.cpuid.abi0`),
/// and Go 1.18+ pclntabs elide everything in brackets (type arguments, array
/// lengths): `main.Map[go.shape.int_0]` → `main.Map[...]`,
/// `type..eq.[5]T` → `type..eq.[...]T`.
fn symbol_name_in_pclntab(name: &str) -> String {
    let name = name.strip_suffix(".abi0").unwrap_or(name);
    let mut out = String::with_capacity(name.len());
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '[' => {
                if depth == 0 {
                    out.push_str("[...]");
                }
                depth += 1;
            }
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Whether the symbol table's `symbol` names `function`; Mach-O symbol
/// tables put an underscore before names without a package (`_cmpbody`).
fn same_function(symbol: &str, function: &str) -> bool {
    // Both sides are normalized: newer toolchains keep the brackets.
    let symbol = symbol_name_in_pclntab(symbol);
    let function = symbol_name_in_pclntab(function);
    symbol == function || symbol.strip_prefix('_') == Some(&function)
}

/// Bytes per package, by `package_of`.
fn package_totals(table: &Pclntab) -> BTreeMap<String, u64> {
    let mut totals = BTreeMap::new();
    for function in &table.functions {
        *totals
            .entry(package_of(&function.name).to_owned())
            .or_insert(0) += function.size;
    }
    totals
}

#[test]
fn plain_elf_pclntab_matches_the_symbol_table() {
    let table = assert_matches_symbol_table(PLAIN);
    assert_eq!(table.section, ".gopclntab");
    let find = |name: &str| {
        let wanted = symbol_name_in_pclntab(name);
        table
            .functions
            .iter()
            .find(|f| symbol_name_in_pclntab(&f.name) == wanted)
    };
    for (name, package) in [
        ("main.(*server).handle", "main"),
        ("main.(*server).handle.func1", "main"),
        ("main.(*server).handle-fm", "main"),
        ("main.(*Pair[...]).Swap", "main"),
        ("main.Map[...]", "main"),
        (
            "example.com/dotted%2ev2.Sum[...]",
            "example.com/dotted%2ev2",
        ),
        (
            "example.com/dotted%2ev2.(*Decoder).Unmarshal",
            "example.com/dotted%2ev2",
        ),
        ("type..eq.main.Pair[...]", "main"),
        ("fmt.Fprintln", "fmt"),
    ] {
        let function = find(name).unwrap_or_else(|| panic!("{name} not in the pclntab"));
        assert!(function.size > 0);
        assert_eq!(package_of(&function.name), package);
    }
    let dotted = find("example.com/dotted%2ev2.Sum[...]").unwrap();
    assert_eq!(package_path(&dotted.name), "example.com/dotted.v2");
}

#[test]
fn pie_pclntab_is_found_in_its_relro_section() {
    let table = assert_matches_symbol_table(PIE);
    assert_eq!(table.section, ".data.rel.ro.gopclntab");
}

#[test]
fn externally_linked_pie_pclntab_is_found_inside_data_rel_ro() {
    let table = assert_matches_symbol_table(PIE_EXTERNAL);
    assert_eq!(table.section, ".data.rel.ro");
}

#[test]
fn externally_linked_pclntab_matches_the_symbol_table() {
    let table = assert_matches_symbol_table(EXTERNAL);
    assert_eq!(table.section, ".gopclntab");
    // The cgo glue written in assembly is in the table, charged to [cgo].
    for name in ["crosscall2", "_cgo_topofstack"] {
        let function = table.functions.iter().find(|f| f.name == name);
        let function = function.unwrap_or_else(|| panic!("{name} not in the pclntab"));
        assert_eq!(package_of(&function.name), CGO);
    }
}

#[test]
fn pe_pclntab_matches_the_symbol_table() {
    let table = assert_matches_symbol_table(WINDOWS);
    assert_eq!(table.section, ".rdata");
}

#[test]
fn macho_pclntab_matches_the_symbol_table() {
    let table = assert_matches_symbol_table(DARWIN);
    assert_eq!(table.section, "__gopclntab");
}

#[test]
fn thirty_two_bit_pclntab_matches_the_symbol_table() {
    let binary = Binary::read(&build(I386));
    assert_eq!(binary.sections().1.ptr_size, 4);
    assert_matches_symbol_table(I386);
}

#[test]
fn big_endian_pclntabs_match_the_symbol_table() {
    for variant in [S390X, MIPS] {
        let binary = Binary::read(&build(variant));
        assert!(binary.sections().1.big_endian, "{}", variant.name);
        assert_matches_symbol_table(variant);
    }
}

#[test]
fn stripped_binary_has_the_same_functions_as_the_unstripped_one() {
    let plain = pclntab_of(PLAIN);
    let stripped = pclntab_of(STRIPPED);
    assert_eq!(stripped.functions, plain.functions);
}

#[test]
fn s_w_build_has_the_same_package_sizes_as_the_plain_one() {
    let plain = pclntab_of(PLAIN);
    let small = pclntab_of(SMALL);
    assert!(
        nm_symbols_missing(&build(SMALL)),
        "-s -w build should have no symbol table"
    );
    assert_eq!(package_totals(&small), package_totals(&plain));
    let windows = pclntab_of(WINDOWS);
    let windows_small = pclntab_of(WINDOWS_SMALL);
    assert_eq!(package_totals(&windows_small), package_totals(&windows));
    assert!(package_totals(&plain).contains_key("example.com/dotted%2ev2"));
}

/// `go tool nm` fails on a binary without a symbol table.
fn nm_symbols_missing(path: &std::path::Path) -> bool {
    let output = go_support::go_command()
        .args(["tool", "nm"])
        .arg(path)
        .output()
        .unwrap();
    !output.status.success() || output.stdout.is_empty()
}

#[test]
fn pclntab_is_found_by_its_magic_when_its_section_has_no_name() {
    let binary = Binary::read(&build(PLAIN));
    let (sections, target) = binary.sections();
    let expected = read_pclntab(&sections, target).unwrap();
    let renamed: Vec<GoSection<'_>> = sections
        .iter()
        .map(|s| GoSection {
            name: if s.name == ".gopclntab" {
                "unnamed"
            } else {
                s.name
            },
            ..*s
        })
        .collect();
    let found = read_pclntab(&renamed, target).unwrap();
    assert_eq!(found.section, "unnamed");
    assert_eq!(found.functions, expected.functions);
}

/// The build info as `go version -m` would print it, in the same shape as
/// [`go_support::GoVersionM`].
fn as_version_m(info: &GoBuildInfo) -> go_support::GoVersionM {
    let mut modules = Vec::new();
    let main = info.main.iter().map(|m| ("mod", m));
    for (kind, module) in main.chain(info.deps.iter().map(|m| ("dep", m))) {
        let mut push = |kind: &str, m: &sizegate_analyze::GoModule| {
            let mut columns = vec![m.path.clone(), m.version.clone()];
            columns.extend(m.sum.clone());
            modules.push((kind.to_owned(), columns));
        };
        push(kind, module);
        if let Some(replacement) = &module.replace {
            push("=>", replacement);
        }
    }
    go_support::GoVersionM {
        go_version: info.go_version.clone(),
        path: info.path.clone(),
        modules,
        settings: info
            .settings
            .iter()
            .map(|s| (s.key.clone(), s.value.clone()))
            .collect(),
    }
}

#[test]
fn build_info_matches_go_version_m_for_every_build() {
    for variant in [
        PLAIN,
        SMALL,
        STRIPPED,
        PIE,
        PIE_EXTERNAL,
        EXTERNAL,
        WINDOWS,
        WINDOWS_SMALL,
        DARWIN,
        I386,
        S390X,
        MIPS,
    ] {
        let path = build(variant);
        let binary = Binary::read(&path);
        let (sections, target) = binary.sections();
        let info = read_build_info(&sections, target)
            .unwrap_or_else(|| panic!("no build info in {}", variant.name));
        assert_eq!(as_version_m(&info), go_version_m(&path), "{}", variant.name);
        let dep = &info.deps[0];
        assert_eq!(dep.path, "example.com/dotted.v2");
        assert_eq!(dep.replace.as_ref().unwrap().path, "../dotted");
        let setting = |key: &str| {
            info.settings
                .iter()
                .find(|s| s.key == key)
                .map(|s| s.value.as_str())
        };
        assert_eq!(setting("GOOS"), Some(variant.goos), "{}", variant.name);
        assert_eq!(setting("GOARCH"), Some(variant.goarch), "{}", variant.name);
    }
}

#[test]
fn build_info_carries_ldflags_and_trimpath() {
    let info_of = |variant| {
        let binary = Binary::read(&build(variant));
        let (sections, target) = binary.sections();
        read_build_info(&sections, target).unwrap()
    };
    let setting = |info: &GoBuildInfo, key: &str| {
        let found = info.settings.iter().find(|s| s.key == key);
        found.map(|s| s.value.clone())
    };
    let small = info_of(SMALL);
    assert!(small.go_version.starts_with("go1."), "{}", small.go_version);
    assert_eq!(small.path.as_deref(), Some("example.com/app"));
    assert_eq!(small.main.as_ref().unwrap().path, "example.com/app");
    assert_eq!(
        setting(&small, "-ldflags").as_deref(),
        Some("-s -w -X main.version=1.2.3")
    );
    assert_eq!(setting(&small, "CGO_ENABLED").as_deref(), Some("0"));
    let trimmed = info_of(WINDOWS_SMALL);
    assert_eq!(setting(&trimmed, "-trimpath").as_deref(), Some("true"));
    assert_eq!(setting(&trimmed, "GOOS").as_deref(), Some("windows"));
    let external = info_of(EXTERNAL);
    assert_eq!(setting(&external, "CGO_ENABLED").as_deref(), Some("1"));
    assert_eq!(
        setting(&external, "-ldflags").as_deref(),
        Some("-linkmode=external")
    );
}

/// A deterministic xorshift generator, so failures reproduce.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn corrupted_real_tables_never_panic() {
    let binary = Binary::read(&build(PLAIN));
    let (sections, target) = binary.sections();
    let pclntab = sections.iter().find(|s| s.name == ".gopclntab").unwrap();
    let buildinfo = sections.iter().find(|s| s.name == ".go.buildinfo").unwrap();
    // Truncations at many lengths: never a panic; a result only when whole.
    for cut in (0..pclntab.data.len()).step_by(pclntab.data.len() / 97) {
        let section = GoSection {
            data: &pclntab.data[..cut],
            ..*pclntab
        };
        let _ = read_pclntab(&[section], target);
    }
    for cut in 0..buildinfo.data.len() {
        let section = GoSection {
            data: &buildinfo.data[..cut],
            ..*buildinfo
        };
        let _ = read_build_info(&[section], target);
    }
    // Random byte flips in the header and functab region.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..300 {
        let mut table = pclntab.data.to_vec();
        for _ in 0..8 {
            let limit = (table.len() / 4).max(1);
            let index = usize::try_from(xorshift(&mut state)).unwrap() % limit;
            table[index] ^= u8::try_from(xorshift(&mut state) % 255 + 1).unwrap();
        }
        let section = GoSection {
            data: &table,
            ..*pclntab
        };
        if let Some(found) = read_pclntab(&[section], target) {
            assert!(found.functions.windows(2).all(|w| w[0].entry <= w[1].entry));
        }
        let mut info = buildinfo.data.to_vec();
        let index = usize::try_from(xorshift(&mut state)).unwrap() % info.len();
        info[index] ^= 0xff;
        let _ = read_build_info(
            &[GoSection {
                data: &info,
                ..*buildinfo
            }],
            target,
        );
    }
}
