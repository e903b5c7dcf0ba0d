//! Rust attribution beyond symbols, on binaries built during the test run
//! with the installed rustc: a library crate laid out as Cargo's registry
//! lays it out (`tinydep-1.2.3/src/lib.rs`), so its panic locations name a
//! crate and a version; stripped and not; with a `cargo auditable`-style
//! `.dep-v0` section; with anonymous constants. Plus real stripped Rust
//! release builds from Debian
//! (`scripts/fetch-rust-artifacts.sh`), skipped with a message when absent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sizegate_analyze::{CrateVersion, Language, Report};

mod rust_support;
use rust_support::{
    bracketed_units, build_generic_program, options, report, run, strip_all, tinydep_lib,
    write_registry_program,
};

const MAIN: &str = r#"
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let values: Vec<u32> = args.iter().map(|a| a.len() as u32).collect();
    let at = args.len().saturating_sub(1);
    println!("{}", tinydep::pick(&values, at));
    let parsed: u64 = args.get(5).map(|s| s.parse().unwrap()).unwrap_or(1);
    println!("{parsed}");
    println!("{} {}", tinydep::lookup(at), tinydep::word(at));
}
"#;

/// Built binaries: (unstripped, stripped, with `.dep-v0`).
fn built() -> &'static (PathBuf, PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "rust-attribution-{}",
            std::process::id()
        ));
        let lib = write_registry_program(&dir, &tinydep_lib(2048, 8), MAIN);
        run(Command::new("rustc")
            .args(["--edition=2021", "--crate-type=rlib", "--crate-name=tinydep", "-O"])
            .arg(&lib)
            .arg("--out-dir")
            .arg(&dir));
        let build = |name: &str, extra: &[&str], main: &Path| {
            let out = dir.join(name);
            run(Command::new("rustc")
                .args(["--edition=2021", "-O", "-C", "panic=abort"])
                .args(extra)
                .arg("--extern")
                .arg(format!("tinydep={}", dir.join("libtinydep.rlib").display()))
                .arg(main)
                .arg("-o")
                .arg(&out));
            out
        };
        let plain = build("app", &[], &dir.join("main.rs"));
        let stripped = build("app-stripped", &["-C", "strip=symbols"], &dir.join("main.rs"));
        // `cargo auditable`'s section: zlib-compressed JSON.
        let json = r#"{"packages":[{"name":"app","version":"0.1.0","source":"local","dependencies":[1,2],"root":true},{"name":"tinydep","version":"1.2.3","source":"crates.io"},{"name":"cc","version":"1.0.99","source":"crates.io","kind":"build"}]}"#;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(json.as_bytes()).unwrap();
        let z = z.finish().unwrap();
        std::fs::write(dir.join("dep.z"), &z).unwrap();
        let audited_main = format!(
            "#[used]\n#[unsafe(link_section = \".dep-v0\")]\nstatic DEPS: [u8; {}] = *include_bytes!(\"dep.z\");\n{MAIN}",
            z.len()
        );
        std::fs::write(dir.join("audited.rs"), audited_main).unwrap();
        let audited = build("app-audited", &["-C", "strip=symbols"], &dir.join("audited.rs"));
        (plain, stripped, audited)
    })
}

fn unit<'a>(report: &'a Report, name: &str) -> &'a sizegate_analyze::Unit {
    report
        .units
        .iter()
        .find(|u| u.name == name)
        .unwrap_or_else(|| panic!("no unit {name}: {:?}", report.units))
}

#[test]
fn stripped_rust_is_rust_with_crates_from_panic_locations() {
    let report = report(&built().1);
    assert!(report.stripped);
    assert_eq!(report.language, Language::Rust);
    // rustup's standard library was built at /rustc/<commit>/library/...
    let commit = report
        .toolchain
        .rustc_commit
        .as_deref()
        .expect("rustc commit");
    assert_eq!(commit.len(), 40);
    let rustc = Command::new("rustc").arg("-vV").output().unwrap();
    let rustc = String::from_utf8_lossy(&rustc.stdout);
    assert!(rustc.contains(commit), "{commit} not in {rustc}");
    let tinydep = unit(&report, "tinydep");
    assert_eq!(tinydep.version.as_deref(), Some("1.2.3"));
    assert_eq!(tinydep.kind, sizegate_analyze::UnitKind::Crate);
    // The path string plus at least one location (24 bytes) and its
    // relocation entry.
    let path_len = "registry/tinydep-1.2.3/src/lib.rs".len() as u64;
    assert!(tinydep.size >= path_len + 24, "{tinydep:?}");
    assert!(unit(&report, "core").size > 0);
    assert!(report.toolchain.crates.contains(&CrateVersion {
        name: "tinydep".into(),
        version: "1.2.3".into()
    }));
    assert_eq!(
        report.toolchain.crate_versions.as_deref(),
        Some("source-paths")
    );
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
    assert!(
        report.notes[0].contains("--debug-file"),
        "{:?}",
        report.notes
    );
    // Units still sum to the shipped size.
    assert_eq!(
        report.units.iter().map(|u| u.size).sum::<u64>(),
        report.sizes.shipped
    );
}

#[test]
fn unstripped_rust_gets_versions_and_no_note() {
    let report = report(&built().0);
    assert!(!report.stripped);
    assert_eq!(report.language, Language::Rust);
    assert_eq!(unit(&report, "tinydep").version.as_deref(), Some("1.2.3"));
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    assert_eq!(
        report.units.iter().map(|u| u.size).sum::<u64>(),
        report.sizes.shipped
    );
}

#[test]
fn auditable_section_gives_the_versions() {
    let report = report(&built().2);
    assert_eq!(
        report.toolchain.crate_versions.as_deref(),
        Some("cargo-auditable")
    );
    assert_eq!(
        report.toolchain.crates,
        vec![
            CrateVersion {
                name: "app".into(),
                version: "0.1.0".into()
            },
            CrateVersion {
                name: "tinydep".into(),
                version: "1.2.3".into()
            },
        ]
    );
    assert_eq!(unit(&report, "tinydep").version.as_deref(), Some("1.2.3"));
}

#[test]
fn no_advice_below_a_kibibyte_nor_for_a_bare_debuglink() {
    let (plain, stripped, _) = built();
    let linked = stripped.with_extension("linked");
    run(Command::new("objcopy")
        .arg(format!("--add-gnu-debuglink={}", plain.display()))
        .arg(stripped)
        .arg(&linked));
    let report = report(&linked);
    assert!(
        report.advice.iter().all(|a| a.id != "strip-debug"),
        "{:?}",
        report.advice
    );
    let floor = 1024u64.max(report.sizes.file / 1000);
    assert!(
        report
            .advice
            .iter()
            .all(|a| a.saving == 0 || a.saving >= floor),
        "{:?}",
        report.advice
    );
}

/// Debian's stripped release builds of ripgrep, fd and bat
/// (`scripts/fetch-rust-artifacts.sh`): all read as Rust, with the rustc
/// release and crate versions from their source paths.
#[test]
fn debian_stripped_rust_binaries_are_rust() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts/deb/x");
    let files = ["usr/bin/rg", "usr/lib/cargo/bin/fd", "usr/bin/batcat"];
    if !files.iter().all(|f| root.join(f).exists()) {
        eprintln!(
            "SKIP: Debian Rust binaries not found under {}; run scripts/fetch-rust-artifacts.sh (needs the network)",
            root.display()
        );
        return;
    }
    for file in files {
        let report = report(&root.join(file));
        assert!(report.stripped, "{file}");
        assert_eq!(report.language, Language::Rust, "{file}");
        assert!(report.toolchain.rustc_release.is_some(), "{file}");
        assert!(
            report.toolchain.crates.len() >= 20,
            "{file}: {:?}",
            report.toolchain.crates
        );
        assert!(
            report.advice.iter().all(|a| a.id != "strip-debug"),
            "{file}"
        );
        assert_eq!(report.notes.len(), 1, "{file}");
        for krate in ["std", "core", "alloc", "aho_corasick"] {
            assert!(unit(&report, krate).size > 0, "{file}: {krate}");
        }
        // Functions from the `.eh_frame` FDEs, crates from their panic
        // locations and callers: most code is charged (97% was bracketed
        // when only panic locations were).
        assert!(
            report.bracketed_size() * 4 < report.sizes.shipped,
            "{file}: {} of {} bytes bracketed",
            report.bracketed_size(),
            report.sizes.shipped
        );
        let regex_syntax = unit(&report, "regex_syntax").size;
        assert!(
            regex_syntax * 10 > report.sizes.shipped,
            "{file}: regex_syntax {regex_syntax}"
        );
    }
}

/// Every FDE, LSDA and search-table entry of the unwind tables goes to the
/// unit of the function it describes; what stays bracketed is the CIEs and
/// the entries of code no symbol names (the C runtime's start files).
#[test]
fn unwind_tables_are_charged_to_their_functions() {
    let report = report(&built().0);
    for section in [".eh_frame", ".eh_frame_hdr", ".gcc_except_table"] {
        let size = report
            .sections
            .iter()
            .find(|s| s.name == section)
            .unwrap_or_else(|| panic!("no {section}"))
            .file_size;
        let left = report
            .units
            .iter()
            .find(|u| u.name == format!("[{section} unattributed]"))
            .map_or(0, |u| u.size);
        assert!(
            left * 10 < size,
            "{section}: {left} of {size} bytes left unattributed"
        );
    }
    assert_eq!(
        report.units.iter().map(|u| u.size).sum::<u64>(),
        report.sizes.shipped
    );
}

/// A stripped build with its `objcopy --only-keep-debug` file reads as the
/// unstripped build does: the same units and symbols. Another build's debug
/// file, or the stripped file itself, is a clear error.
#[test]
fn stripped_build_with_its_debug_file_matches_the_unstripped_build() {
    let (plain, _, _) = built();
    let debug = plain.with_extension("debug");
    let stripped = plain.with_extension("strip-all");
    run(Command::new("objcopy")
        .arg("--only-keep-debug")
        .arg(plain)
        .arg(&debug));
    strip_all(plain, &stripped);
    let options = options();
    let (bytes, debug_bytes) = (
        std::fs::read(&stripped).unwrap(),
        std::fs::read(&debug).unwrap(),
    );
    let with_debug =
        sizegate_analyze::analyze_with_debug_file("app", &bytes, &debug_bytes, &options)
            .unwrap()
            .remove(0);
    let unstripped = report(plain);
    assert!(with_debug.stripped);
    assert!(with_debug.notes.is_empty(), "{:?}", with_debug.notes);
    assert_eq!(with_debug.sizes.shipped, bytes.len() as u64);
    let shipped_gap = unstripped.sizes.shipped.abs_diff(with_debug.sizes.shipped);
    assert!(
        shipped_gap * 100 <= unstripped.sizes.shipped,
        "{shipped_gap}"
    );
    assert_eq!(with_debug.symbols.len(), unstripped.symbols.len());
    for unit in unstripped.units.iter().filter(|u| u.size >= 1024) {
        let other = with_debug
            .units
            .iter()
            .find(|u2| u2.name == unit.name)
            .map_or(0, |u2| u2.size);
        assert!(
            unit.size.abs_diff(other) * 100 <= unit.size,
            "{}: {} unstripped, {other} with the debug file",
            unit.name,
            unit.size
        );
    }
    // The stripped file itself holds no symbols.
    let err =
        sizegate_analyze::analyze_with_debug_file("app", &bytes, &bytes, &options).unwrap_err();
    assert!(
        err.to_string().contains("neither a symbol table nor DWARF"),
        "{err}"
    );
    // A debug file of another build: a different build-id.
    let c = plain.with_extension("c");
    std::fs::write(&c, "int main(void) { return 0; }\n").unwrap();
    let other = plain.with_extension("other");
    run(Command::new("cc")
        .arg("-Wl,--build-id")
        .arg(&c)
        .arg("-o")
        .arg(&other));
    let err = sizegate_analyze::analyze_with_debug_file(
        "app",
        &bytes,
        &std::fs::read(&other).unwrap(),
        &options,
    )
    .unwrap_err();
    assert!(err.to_string().contains("build-id mismatch"), "{err}");
}

/// Pointer slots filled by relative relocations with a function's address
/// (vtables) go to the function's crate, with their `.rela.dyn` entries.
#[test]
fn function_pointer_slots_and_their_relocations_are_charged() {
    let report = report(&built().0);
    for section in [".data.rel.ro", ".rela.dyn"] {
        let size = report
            .sections
            .iter()
            .find(|s| s.name == section)
            .unwrap_or_else(|| panic!("no {section}"))
            .file_size;
        let left = report
            .units
            .iter()
            .find(|u| u.name == format!("[{section} unattributed]"))
            .map_or(0, |u| u.size);
        assert!(
            left * 10 < size * 9,
            "{section}: {left} of {size} bytes left unattributed"
        );
    }
}

/// Anonymous constants (a 16 KiB table in `.rodata`, a table of string
/// slices in `.data.rel.ro` and the strings it points to) go to the crate
/// whose code uses them, found by decoding its instructions and following
/// the relative relocations; the relocation entries go along.
#[test]
fn anonymous_data_is_charged_to_the_crate_that_uses_it() {
    let report = report(&built().0);
    let tinydep = unit(&report, "tinydep");
    let code: u64 = report
        .symbols
        .iter()
        .filter(|s| s.unit == "tinydep" && s.section == ".text")
        .map(|s| s.size)
        .sum();
    // The table, the eight slices, their strings and relocation entries.
    let data = 2048 * 8 + 8 * 16 + 8 * 36 + 8 * 24;
    assert!(
        tinydep.size >= code + data,
        "tinydep: {} bytes, {code} of them code",
        tinydep.size
    );
    for section in [".rodata", ".data.rel.ro", ".rela.dyn"] {
        let size = report
            .sections
            .iter()
            .find(|s| s.name == section)
            .unwrap_or_else(|| panic!("no {section}"))
            .file_size;
        let left = report
            .units
            .iter()
            .find(|u| u.name == format!("[{section} unattributed]"))
            .map_or(0, |u| u.size);
        assert!(
            left * 10 < size,
            "{section}: {left} of {size} bytes left unattributed"
        );
    }
    assert_eq!(
        report.units.iter().map(|u| u.size).sum::<u64>(),
        report.sizes.shipped
    );
    let bracketed = report.bracketed_size();
    assert!(
        bracketed * 100 < report.sizes.shipped * 5,
        "{bracketed} of {} bytes bracketed: {:?}",
        report.sizes.shipped,
        bracketed_units(&report)
    );
}

/// With DWARF line tables, a generic defined in `genlib` and instantiated
/// in the binary's crate is `genlib`'s by the defining rule (`units`) and
/// the binary's by the instantiating rule (`units_instantiating`).
#[test]
fn line_tables_move_a_generic_to_its_instantiating_crate() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("rust-instantiating-{}", std::process::id()));
    let app = build_generic_program(
        &dir,
        ["genlib", "genapp"],
        ["genlib.rs", "genapp.rs", "genapp"],
    );
    let report = report(&app);
    assert!(
        !report.units_instantiating.is_empty(),
        "no instantiating view"
    );
    let total: u64 = report.units_instantiating.iter().map(|u| u.size).sum();
    assert_eq!(total, report.sizes.shipped);
    let spread: u64 = report
        .symbols
        .iter()
        .filter(|s| s.name.starts_with("genlib::spread"))
        .map(|s| s.size)
        .sum();
    assert!(spread > 0, "no instance of genlib::spread");
    let size = |units: &[sizegate_analyze::Unit], name: &str| {
        units.iter().find(|u| u.name == name).map_or(0, |u| u.size)
    };
    let defining = (size(&report.units, "genlib"), size(&report.units, "genapp"));
    let instantiating = (
        size(&report.units_instantiating, "genlib"),
        size(&report.units_instantiating, "genapp"),
    );
    // Both instances leave `genlib` for `genapp`.
    assert!(defining.0 >= spread, "genlib {defining:?}, spread {spread}");
    assert!(
        instantiating.0 + spread <= defining.0,
        "genlib: {} defining, {} instantiating, spread {spread}",
        defining.0,
        instantiating.0
    );
    assert!(
        instantiating.1 >= defining.1 + spread,
        "genapp: {} defining, {} instantiating, spread {spread}",
        defining.1,
        instantiating.1
    );
}

/// Without DWARF (stripped: `-C strip=symbols` drops it too) there is no
/// instantiating view.
#[test]
fn no_instantiating_view_without_dwarf() {
    let report = report(&built().1);
    assert!(report.units_instantiating.is_empty());
}
