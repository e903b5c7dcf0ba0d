//! The diff of two reports. Reports reach `diff` from JSON files given to
//! `sizegate diff` and from the store, so both sides are untrusted.
//!
//! Input: either a JSON array `[old, new]` of two reports (the seeds are the
//! CLI's JSON fixtures), or, when it does not parse as that, raw bytes that
//! build two reports whose names are drawn from a small vocabulary of the
//! shapes the symbol normalization and pairing care about (Rust hashes and
//! disambiguators, numbered closures, Go `funcN`), so that names collide.
//! The diff must be consistent with its inputs and serialize.

#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use sizegate_analyze::{
    ChangeStatus, FileInfo, Format, GoBuildInfo, GoBuildSetting, GoModule, Language, Report,
    SCHEMA_VERSION, Section, SectionKind, Sizes, Symbol, Toolchain, Unit, UnitKind, diff,
};

const PARTS: [&str; 16] = [
    "main.main",
    "main.f.func1",
    "main.f.func2",
    "app::run",
    "app::run::{{closure}}",
    "app::run::{closure#0}",
    "app::run::{closure#1}",
    "std::rt::lang_start",
    "core::fmt::write",
    "::h0123456789abcdef",
    "::h0000000000000001",
    "dup[1a2b3c4d]::f",
    "dup[5e6f7a8b]::f",
    "_ZN4core3fmt5write17h0123456789abcdefE",
    "type:.eq.main.T",
    "<T as core::fmt::Debug>::fmt",
];

fuzz_target!(|data: &[u8]| {
    let (old, new) = match serde_json::from_slice::<[Report; 2]>(data) {
        Ok([old, new]) => (old, new),
        Err(_) => {
            let mut u = Unstructured::new(data);
            let (Ok(old), Ok(new)) = (report(&mut u), report(&mut u)) else {
                return;
            };
            (old, new)
        }
    };
    let result = diff(&old, &new);
    for change in result
        .sections
        .iter()
        .chain(&result.units)
        .chain(&result.symbols)
    {
        let delta = i128::from(change.new) - i128::from(change.old);
        assert_ne!(change.delta, 0, "{change:?}");
        if let Ok(exact) = i64::try_from(delta) {
            assert_eq!(change.delta, exact, "{change:?}");
        }
        match change.status {
            ChangeStatus::Added => assert_eq!(change.old, 0),
            ChangeStatus::Removed => assert_eq!(change.new, 0),
            ChangeStatus::Grown => assert!(change.new > change.old),
            ChangeStatus::Shrunk => assert!(change.new < change.old),
        }
    }
    let symbols = old.symbols.len() + new.symbols.len();
    assert!(
        result.symbols.len() <= symbols,
        "more symbol changes than symbols"
    );
    serde_json::to_string(&result).expect("the diff serializes");
});

fn name(u: &mut Unstructured<'_>) -> Result<String> {
    let mut name = String::new();
    for _ in 0..u.int_in_range(1..=3)? {
        if u.ratio(1, 4)? {
            name.push_str(u.arbitrary::<&str>()?);
        } else {
            name.push_str(u.choose(&PARTS)?);
        }
    }
    Ok(name)
}

fn size(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0..=3)? {
        0 => u.int_in_range(0..=64)?,
        1 => u.int_in_range(0..=1 << 20)?,
        2 => u64::MAX - u.int_in_range(0..=2)?,
        _ => u.arbitrary()?,
    })
}

fn module(u: &mut Unstructured<'_>) -> Result<GoModule> {
    Ok(GoModule {
        path: u
            .choose(&["golang.org/x/text", "example.com/a", "main"])?
            .to_string(),
        version: u.choose(&["v0.1.0", "v0.2.0", "(devel)", ""])?.to_string(),
        sum: None,
        replace: None,
    })
}

fn report(u: &mut Unstructured<'_>) -> Result<Report> {
    let mut sections = Vec::new();
    for _ in 0..u.int_in_range(0..=8)? {
        sections.push(Section {
            name: u
                .choose(&[".text", ".rodata", ".bss", "[headers]", ".data"])?
                .to_string(),
            kind: *u.choose(&[SectionKind::Code, SectionKind::Bss, SectionKind::Rodata])?,
            file_size: size(u)?,
            vm_size: size(u)?,
        });
    }
    let mut units = Vec::new();
    for _ in 0..u.int_in_range(0..=8)? {
        units.push(Unit {
            name: u
                .choose(&["app", "std", "core", "main", "dup", "[C]"])?
                .to_string(),
            kind: UnitKind::Crate,
            size: size(u)?,
            symbols: u.arbitrary()?,
            version: None,
            module: None,
        });
    }
    let mut symbols = Vec::new();
    for _ in 0..u.int_in_range(0..=512)? {
        symbols.push(Symbol {
            name: name(u)?,
            unit: u.choose(&["app", "std", "main"])?.to_string(),
            section: ".text".to_string(),
            size: size(u)?,
        });
    }
    let go_build = if u.arbitrary()? {
        Some(GoBuildInfo {
            go_version: u.choose(&["go1.21.0", "go1.22.1"])?.to_string(),
            path: None,
            main: Some(module(u)?),
            deps: (0..u.int_in_range(0..=4)?)
                .map(|_| module(u))
                .collect::<Result<_>>()?,
            settings: vec![GoBuildSetting {
                key: u.choose(&["-ldflags", "CGO_ENABLED"])?.to_string(),
                value: u.choose(&["-s -w", "0", "1", ""])?.to_string(),
            }],
        })
    } else {
        None
    };
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        file: FileInfo {
            name: "fuzz".into(),
            size: size(u)?,
            sha256: String::new(),
        },
        format: Format::Elf,
        arch: "x86_64".into(),
        language: *u.choose(&[Language::Rust, Language::Go, Language::C])?,
        stripped: u.arbitrary()?,
        toolchain: Toolchain {
            rustc: u
                .choose(&[None, Some("rustc 1.80.0"), Some("rustc 1.81.0")])?
                .map(Into::into),
            go: None,
            compilers: Vec::new(),
            debug_info: u.arbitrary()?,
            go_build,
            ..Toolchain::default()
        },
        sizes: Sizes {
            file: size(u)?,
            vm: size(u)?,
            shipped: size(u)?,
            gzip: size(u)?,
            zstd: size(u)?,
            debug: size(u)?,
            symbols: size(u)?,
            ..Sizes::default()
        },
        sections,
        units,
        units_instantiating: Vec::new(),
        symbols,
        symbols_truncated: u.arbitrary()?,
        compression_skipped: u.arbitrary()?,
        advice: Vec::new(),
        notes: Vec::new(),
        layers: Vec::new(),
        files: Vec::new(),
        directories: Vec::new(),
    })
}
