//! Every container format and byte order gives a report.

use sizegate_analyze::{Error, Format, Options, SectionKind, analyze};

use crate::checks::assert_invariants;
use crate::fixtures;

#[test]
fn formats_and_architectures_are_recognized() {
    let expected = [
        ("rust-unwind", Format::Elf, "x86_64"),
        ("c-hello", Format::Elf, "x86_64"),
        ("go-linux-amd64", Format::Elf, "x86_64"),
        ("go-linux-386", Format::Elf, "i386"),
        ("go-linux-arm", Format::Elf, "arm"),
        ("go-linux-s390x", Format::Elf, "s390x"),
        ("go-windows-amd64", Format::Pe, "x86_64"),
        ("go-darwin-amd64", Format::Macho, "x86_64"),
        ("go-darwin-arm64", Format::Macho, "aarch64"),
        ("go-js-wasm", Format::Wasm, "wasm32"),
    ];
    for (name, format, arch) in expected {
        let report = fixtures::get(name).report();
        assert_eq!(
            (report.format, report.arch.as_str()),
            (format, arch),
            "{name}"
        );
        let code: u64 = report
            .sections
            .iter()
            .filter(|s| s.kind == SectionKind::Code)
            .map(|s| s.file_size)
            .sum();
        let least = if name == "c-hello" { 100 } else { 100_000 };
        assert!(code > least, "{name}: {code} bytes of code");
    }
}

#[test]
fn big_endian_elf_is_read_like_little_endian() {
    let s390x = fixtures::get("go-linux-s390x").report();
    let amd64 = fixtures::get("go-linux-amd64").report();
    // Same program: same sections, and symbols found through the symbol table.
    for name in [".text", ".rodata", ".gopclntab", ".go.buildinfo"] {
        assert!(
            s390x.sections.iter().any(|s| s.name == name),
            "s390x lacks {name}"
        );
        assert!(
            amd64.sections.iter().any(|s| s.name == name),
            "amd64 lacks {name}"
        );
    }
    assert!(
        s390x.symbols.len() > 1000,
        "{} symbols",
        s390x.symbols.len()
    );
    assert!(s390x.symbols.iter().any(|s| s.name == "main.main"));
}

#[test]
fn macho_symbols_and_linkedit_are_accounted() {
    let report = fixtures::get("go-darwin-arm64").report();
    assert!(
        report.symbols.iter().any(|s| s.name == "main.main"),
        "Mach-O leading underscores are removed"
    );
    for pseudo in ["[headers]", "[symbol table]", "[string table]"] {
        assert!(
            report.sections.iter().any(|s| s.name == pseudo),
            "missing {pseudo}"
        );
    }
    assert!(
        report
            .sections
            .iter()
            .any(|s| s.name == "__TEXT,__text" && s.kind == SectionKind::Code)
    );
}

#[test]
fn universal_macho_gives_one_report_per_architecture() {
    let fixture = fixtures::get("go-darwin-universal");
    assert_eq!(fixture.reports.len(), 2);
    let arches: Vec<&str> = fixture.reports.iter().map(|r| r.arch.as_str()).collect();
    assert_eq!(arches, ["x86_64", "aarch64"]);
    for (report, single) in fixture
        .reports
        .iter()
        .zip(["go-darwin-amd64", "go-darwin-arm64"])
    {
        assert_invariants(report);
        let single = fixtures::get(single).report();
        // Each slice is the whole thin file: same measurements.
        assert_eq!(report.file.size, single.file.size);
        assert_eq!(report.file.sha256, single.file.sha256);
        assert_eq!(report.sizes, single.sizes);
        assert!(report.file.name.ends_with(&format!("({})", report.arch)));
    }
}

#[test]
fn universal_macho_arch_option_chooses_one() {
    let fixture = fixtures::get("go-darwin-universal");
    let options = Options {
        arch: Some("arm64".into()),
        ..Options::default()
    };
    let reports = analyze("universal", &fixture.bytes, &options).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].arch, "aarch64");
    let options = Options {
        arch: Some("x86_64".into()),
        ..Options::default()
    };
    assert_eq!(
        analyze("universal", &fixture.bytes, &options).unwrap()[0].arch,
        "x86_64"
    );
    let options = Options {
        arch: Some("ppc".into()),
        ..Options::default()
    };
    match analyze("universal", &fixture.bytes, &options) {
        Err(Error::ArchNotFound { wanted, available }) => {
            assert_eq!(wanted, "ppc");
            assert_eq!(available, "x86_64, aarch64");
        }
        other => panic!("expected ArchNotFound, got {other:?}"),
    }
}

#[test]
fn pe_symbol_table_and_debug_are_found() {
    let report = fixtures::get("go-windows-amd64").report();
    assert!(report.sizes.debug > 0);
    assert!(report.sizes.symbols > 0);
    assert!(report.symbols.iter().any(|s| s.name == "main.main"));
    let stripped = fixtures::get("go-windows-amd64-sw").report();
    assert!(stripped.stripped);
}

#[test]
fn wasm_sections_are_named_and_partitioned() {
    let report = fixtures::get("go-js-wasm").report();
    for name in ["<code>", "<data>", "<type>"] {
        assert!(
            report.sections.iter().any(|s| s.name == name),
            "missing {name}"
        );
    }
    assert!(
        report
            .sections
            .iter()
            .any(|s| s.name == "[section headers]")
    );
    assert!(
        report.symbols.iter().any(|s| s.name == "main.main"),
        "function names from the name section"
    );
}
