//! Attribution to Rust crates, C/C++ namespaces and Go packages; toolchain
//! facts; advice.

use object::{Object, ObjectSection};
use sizegate_analyze::go::{self, GoSection};
use sizegate_analyze::{Language, Report, UnitKind};

use crate::fixtures;

fn unit<'a>(report: &'a Report, name: &str) -> Option<&'a sizegate_analyze::Unit> {
    report.units.iter().find(|u| u.name == name)
}

fn advice_ids(report: &Report) -> Vec<&str> {
    report.advice.iter().map(|a| a.id.as_str()).collect()
}

#[test]
fn rust_crates_are_reported_separately() {
    for name in ["rust-unwind", "rust-abort", "rust-lto"] {
        let report = fixtures::get(name).report();
        assert_eq!(report.language, Language::Rust, "{name}");
        for krate in ["std", "core", "alloc", "app", "extra"] {
            let u = unit(report, krate)
                .unwrap_or_else(|| panic!("{name}: no unit {krate}: {:?}", report.units));
            assert_eq!(u.kind, UnitKind::Crate, "{name}: {krate}");
        }
        // The 72 KiB table and the generic instantiations are extra's.
        assert!(unit(report, "extra").unwrap().size > 72 * 1024, "{name}");
        let table = report
            .symbols
            .iter()
            .find(|s| s.name == "extra::TABLE")
            .expect("extra::TABLE");
        assert_eq!((table.unit.as_str(), table.size), ("extra", 73_728));
    }
}

#[test]
fn generic_instantiations_are_charged_to_the_defining_crate() {
    for name in ["rust-abort", "rust-unwind"] {
        let report = fixtures::get(name).report();
        let summarize: Vec<_> = report
            .symbols
            .iter()
            .filter(|s| s.name.starts_with("extra::summarize"))
            .collect();
        assert!(
            summarize.len() >= 15,
            "{name}: {} instantiations",
            summarize.len()
        );
        assert!(summarize.iter().all(|s| s.unit == "extra"));
        // drop_in_place of the app's own types is still core's function.
        let drops: Vec<_> = report
            .symbols
            .iter()
            .filter(|s| s.name.starts_with("core::ptr::drop_in_place"))
            .collect();
        assert!(!drops.is_empty(), "{name}");
        assert!(drops.iter().all(|s| s.unit == "core"), "{name}: {drops:?}");
        // Vec<T> methods are alloc's.
        let vec_methods: Vec<_> = report
            .symbols
            .iter()
            .filter(|s| s.name.starts_with("<alloc::vec::Vec<") && !s.name.contains(" as "))
            .collect();
        assert!(
            vec_methods.iter().all(|s| s.unit == "alloc"),
            "{name}: {vec_methods:?}"
        );
    }
    // v0 names keep their type arguments: one symbol per instantiation.
    let abort = fixtures::get("rust-abort").report();
    assert!(
        abort
            .symbols
            .iter()
            .any(|s| s.name == "extra::summarize::<u8>")
    );
}

#[test]
fn rust_names_are_demangled_without_hashes() {
    let report = fixtures::get("rust-unwind").report();
    let hashed = report.symbols.iter().find(|s| {
        s.name
            .rsplit_once("::h")
            .is_some_and(|(_, h)| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    assert!(hashed.is_none(), "{hashed:?}");
    assert!(
        report
            .symbols
            .iter()
            .any(|s| s.name == "app::main" && s.unit == "app")
    );
    assert!(
        !report
            .symbols
            .iter()
            .any(|s| s.name.starts_with("_ZN") || s.name.starts_with("_R"))
    );
}

#[test]
fn rustc_version_comes_from_the_comment_section() {
    let output = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8(output.stdout).unwrap();
    let number = version.split_whitespace().nth(1).unwrap();
    for name in ["rust-unwind", "rust-stripped"] {
        let report = fixtures::get(name).report();
        let rustc = report
            .toolchain
            .rustc
            .as_deref()
            .unwrap_or_else(|| panic!("{name}: no rustc"));
        assert!(
            rustc.starts_with("rustc version ") && rustc.contains(number),
            "{name}: {rustc}"
        );
        assert!(report.toolchain.go.is_none());
    }
}

#[test]
fn stripped_rust_binary_is_partitioned_without_symbols() {
    let report = fixtures::get("rust-stripped").report();
    assert!(report.stripped);
    assert_eq!(report.language, Language::Rust);
    // No symbols: the functions come from the `.eh_frame` FDEs and their
    // crates from the panic locations they use (docs/analysis-rust.md);
    // every byte is still charged once.
    let crates: u64 = report
        .units
        .iter()
        .filter(|u| u.kind == sizegate_analyze::UnitKind::Crate)
        .map(|u| u.size)
        .sum();
    let text = report
        .sections
        .iter()
        .find(|s| s.name == ".text")
        .unwrap()
        .file_size;
    assert!(crates * 2 > text, "{crates} of {text}: {:?}", report.units);
    assert!(unit(report, "std").is_some_and(|u| u.size > 10_000));
    assert_eq!(
        report.units.iter().map(|u| u.size).sum::<u64>(),
        report.sizes.shipped
    );
    assert!(!advice_ids(report).contains(&"strip-symbols"));
    assert!(!advice_ids(report).contains(&"strip-debug"));
}

#[test]
fn rust_advice_matches_the_build() {
    let unwind = fixtures::get("rust-unwind").report();
    let ids = advice_ids(unwind);
    for id in ["strip-symbols", "strip-debug", "panic-abort", "large-blob"] {
        assert!(
            ids.contains(&id),
            "rust-unwind lacks {id}: {:?}",
            unwind.advice
        );
    }
    let panic = unwind
        .advice
        .iter()
        .find(|a| a.id == "panic-abort")
        .unwrap();
    let eh_frame = unwind
        .sections
        .iter()
        .find(|s| s.name == ".eh_frame")
        .unwrap()
        .file_size;
    assert!(panic.saving >= eh_frame, "{panic:?}");
    let blob = unwind.advice.iter().find(|a| a.id == "large-blob").unwrap();
    assert!(
        blob.message.contains("extra::TABLE") && blob.saving == 73_728,
        "{blob:?}"
    );
    let strip = unwind
        .advice
        .iter()
        .find(|a| a.id == "strip-symbols")
        .unwrap();
    assert_eq!(strip.saving, unwind.sizes.symbols);

    let abort = fixtures::get("rust-abort").report();
    let ids = advice_ids(abort);
    assert!(!ids.contains(&"panic-abort"), "{:?}", abort.advice);
    // std's own line tables come along even without `-g`.
    assert!(
        ids.contains(&"strip-symbols") && ids.contains(&"strip-debug"),
        "{:?}",
        abort.advice
    );
    // Two versions of `dup` show in v0 names as two crate disambiguators,
    // but unifying them saves less than 1 KiB: advice that does not pay
    // is left out.
    assert!(
        abort
            .advice
            .iter()
            .all(|a| a.saving == 0 || a.saving >= 1024.max(abort.sizes.file / 1000)),
        "{:?}",
        abort.advice
    );
    assert!(!ids.contains(&"duplicate-dependency"), "{:?}", abort.advice);
    let generic = abort
        .advice
        .iter()
        .find(|a| a.id == "generic-bloat")
        .expect("generic-bloat");
    assert!(
        generic.message.contains("extra::summarize::<_>"),
        "{generic:?}"
    );
    // Largest saving first.
    assert!(abort.advice.windows(2).all(|w| w[0].saving >= w[1].saving));
}

#[test]
fn c_program_is_c_with_its_compiler() {
    let report = fixtures::get("c-hello").report();
    assert_eq!(report.language, Language::C);
    assert!(
        report
            .toolchain
            .compilers
            .iter()
            .any(|c| c.starts_with("GCC: ")),
        "{:?}",
        report.toolchain
    );
    assert!(report.toolchain.debug_info);
    assert!(
        report
            .symbols
            .iter()
            .any(|s| s.name == "main" && s.unit == "[C]")
    );
    assert!(unit(report, "[C]").is_some_and(|u| u.kind == UnitKind::C));
    // Size-less labels (`__FRAME_END__`, `__init_array_start`) are no symbols.
    assert!(
        !report
            .symbols
            .iter()
            .any(|s| s.name == "__FRAME_END__" || s.name == "__init_array_start")
    );
    assert!(report.symbols.iter().all(|s| s.size > 0));
    let ids = advice_ids(report);
    assert!(
        ids.contains(&"strip-debug") && ids.contains(&"strip-symbols"),
        "{ids:?}"
    );
}

#[test]
fn cpp_symbols_go_to_their_namespace() {
    let report = fixtures::get("cpp-shapes").report();
    assert_eq!(report.language, Language::Cpp);
    let geometry = unit(report, "geometry").expect("geometry namespace");
    assert_eq!(geometry.kind, UnitKind::Namespace);
    assert!(
        report
            .symbols
            .iter()
            .any(|s| s.name.starts_with("geometry::total_area(") && s.unit == "geometry")
    );
}

#[test]
fn go_binaries_are_go() {
    for name in [
        "go-linux-amd64",
        "go-windows-amd64",
        "go-darwin-arm64",
        "go-linux-s390x",
        "go-js-wasm",
    ] {
        let report = fixtures::get(name).report();
        assert_eq!(report.language, Language::Go, "{name}");
        let main = report
            .symbols
            .iter()
            .find(|s| s.name == "main.main")
            .unwrap_or_else(|| panic!("{name}: main.main"));
        assert_eq!(main.unit, go::package_of("main.main"), "{name}");
    }
    let go = fixtures::get("go-linux-amd64").report();
    let advice = go
        .advice
        .iter()
        .find(|a| a.id == "go-ldflags-s-w")
        .expect("go-ldflags-s-w advice");
    assert_eq!(advice.saving, go.sizes.file - go.sizes.shipped);
    assert!(advice.saving >= go.sizes.debug);
    assert!(!advice_ids(go).contains(&"strip-symbols"));
    // The linker's aggregates (runtime.pclntab, go.func.*) are no blobs.
    assert!(
        go.advice
            .iter()
            .filter(|a| a.id == "large-blob")
            .all(|a| !a.message.contains("`runtime.") && !a.message.contains('*')),
        "{:?}",
        go.advice
    );
    let sw = fixtures::get("go-linux-amd64-sw").report();
    assert!(
        !advice_ids(sw).contains(&"go-ldflags-s-w"),
        "{:?}",
        sw.advice
    );
}

/// The Go sections of an ELF file as the Go readers take them.
fn go_sections(file: &object::File<'_>) -> Vec<(String, u64, Vec<u8>)> {
    file.sections()
        .map(|s| {
            (
                s.name().unwrap().to_string(),
                s.address(),
                s.data().unwrap_or(&[]).to_vec(),
            )
        })
        .collect()
}

#[test]
fn stripped_go_binary_takes_its_functions_from_the_pclntab() {
    let fixture = fixtures::get("go-linux-amd64-sw");
    let report = fixture.report();
    let file = object::File::parse(&fixture.bytes[..]).unwrap();
    let owned = go_sections(&file);
    let sections: Vec<GoSection<'_>> = owned
        .iter()
        .map(|(name, address, data)| GoSection {
            name,
            address: *address,
            data,
        })
        .collect();
    let target = go::Target {
        big_endian: false,
        ptr_size: 8,
    };
    let text = report
        .sections
        .iter()
        .find(|s| s.name == ".text")
        .unwrap()
        .file_size;
    match go::read_pclntab(&sections, target) {
        Some(table) => {
            // Every function in .text becomes a symbol, charged to its package.
            let names: std::collections::HashSet<&str> =
                table.functions.iter().map(|f| f.name.as_str()).collect();
            let code: Vec<_> = report
                .symbols
                .iter()
                .filter(|s| s.section == ".text")
                .collect();
            assert!(code.iter().all(|s| names.contains(s.name.as_str())));
            assert!(!code.is_empty() && code.len() <= table.functions.len());
            assert!(code.len() * 10 >= table.functions.len() * 9);
            assert!(code.iter().map(|s| s.size).sum::<u64>() <= text);
            // The Go tables get the names an unstripped binary gives them.
            let pclntab = report
                .sections
                .iter()
                .find(|s| s.name == ".gopclntab")
                .unwrap();
            let symbol = report
                .symbols
                .iter()
                .find(|s| s.name == "runtime.pclntab")
                .expect("runtime.pclntab");
            assert_eq!(symbol.size, pclntab.file_size);
            assert_eq!(
                report.symbols.len(),
                code.len() + 3,
                "pclntab, typelink, itablink"
            );
        }
        None => {
            // Without a pclntab reader the code stays unattributed, in full.
            assert!(report.symbols.is_empty());
            assert_eq!(
                unit(report, "[.text unattributed]").map(|u| u.size),
                Some(text)
            );
        }
    }
    assert_eq!(report.language, Language::Go);
}
