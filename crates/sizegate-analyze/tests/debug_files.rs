//! Separate debug files for Mach-O (dSYM) and PE (PDB), on real files
//! built during the test run from `tests/fixtures/debug/` (a freestanding
//! C + C++ program) with clang, `ld64.lld` + `dsymutil` (macOS x86-64 and
//! arm64, thin and universal) and `lld-link /DEBUG` (Windows x86-64), plus
//! a real MSVC build from npm (node-pty's `conpty.node` and its PDB, from
//! `scripts/fetch-rust-artifacts.sh npm`; skipped with a message when
//! absent). Another build (`-DVARIANT=2`) gives the mismatched pairs.
//!
//! Rust builds for macOS and Windows with their debug files are tested in
//! `rust_cross_targets.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sizegate_analyze::{Options, Report, UnitKind, analyze_with_debug_file};

mod rust_support;
use rust_support::{options, read, report as alone, run, with_debug};

/// An LLVM tool: on the PATH, else in Debian's versioned LLVM directory
/// (where `ld64.lld` and `dsymutil` live without a suffix).
fn tool(name: &str) -> PathBuf {
    let on_path = Command::new(name).arg("--version").output().is_ok();
    if on_path {
        return PathBuf::from(name);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.is_file() && p.to_string_lossy().contains("llvm-"))
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("`{name}` not found: install Debian's clang, lld and llvm (bash .ci/run does)")
    })
}

/// Run `command` when `make`, failing the test with its output when it
/// fails.
fn run_if(make: bool, command: &mut Command) {
    if make {
        run(command);
    }
}

fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/debug")
}

/// The files of one build: the stripped artifact and its debug file.
#[derive(Debug)]
struct Build {
    /// The artifact as shipped (stripped for Mach-O; a PE keeps no symbols).
    artifact: PathBuf,
    /// The unstripped Mach-O (the same as `artifact` for PE).
    unstripped: PathBuf,
    /// The dSYM's DWARF file, or the PDB.
    debug: PathBuf,
}

const CFLAGS: &[&str] = &["-g", "-O1", "-fno-stack-protector"];

/// Build the fixture for macOS on `arch` (`x86_64`, `arm64`), with its
/// dSYM, into `dir`.
fn build_macho(dir: &Path, arch: &str, variant: u32, make: bool) -> Build {
    let target = format!("--target={arch}-apple-macos11");
    let define = format!("-DVARIANT={variant}");
    let (c, cpp) = (
        dir.join(format!("app-{arch}.o")),
        dir.join(format!("shapes-{arch}.o")),
    );
    run_if(
        make,
        Command::new(tool("clang"))
            .args([&target, &define])
            .args(CFLAGS)
            .arg("-c")
            .arg(sources().join("app.c"))
            .arg("-o")
            .arg(&c),
    );
    run_if(
        make,
        Command::new(tool("clang++"))
            .args([&target, &define])
            .args(CFLAGS)
            .args(["-fno-exceptions", "-fno-rtti", "-c"])
            .arg(sources().join("shapes.cpp"))
            .arg("-o")
            .arg(&cpp),
    );
    let unstripped = dir.join(format!("app-{arch}"));
    // No SDK: a static entry point, nothing imported.
    run_if(
        make,
        Command::new(tool("ld64.lld"))
            .args(["-arch", arch, "-platform_version", "macos", "11.0", "11.0"])
            .args(["-e", "_main", "-o"])
            .arg(&unstripped)
            .arg(&c)
            .arg(&cpp),
    );
    let bundle = dir.join(format!("app-{arch}.dSYM"));
    run_if(
        make,
        Command::new(tool("dsymutil"))
            .arg(&unstripped)
            .arg("-o")
            .arg(&bundle),
    );
    let artifact = dir.join(format!("app-{arch}.stripped"));
    run_if(
        make,
        Command::new(tool("llvm-strip"))
            .arg(&unstripped)
            .arg("-o")
            .arg(&artifact),
    );
    Build {
        artifact,
        unstripped,
        debug: bundle.join(format!("Contents/Resources/DWARF/app-{arch}")),
    }
}

/// Build the fixture for Windows x86-64 with its PDB into `dir`.
fn build_pe(dir: &Path, variant: u32, make: bool) -> Build {
    let define = format!("-DVARIANT={variant}");
    let (c, cpp) = (dir.join("app.obj"), dir.join("shapes.obj"));
    let target = "--target=x86_64-pc-windows-msvc";
    run_if(
        make,
        Command::new(tool("clang"))
            .args([target, &define, "-gcodeview"])
            .args(CFLAGS)
            .arg("-c")
            .arg(sources().join("app.c"))
            .arg("-o")
            .arg(&c),
    );
    run_if(
        make,
        Command::new(tool("clang++"))
            .args([target, &define, "-gcodeview"])
            .args(CFLAGS)
            .args(["-fno-exceptions", "-fno-rtti", "-c"])
            .arg(sources().join("shapes.cpp"))
            .arg("-o")
            .arg(&cpp),
    );
    let (exe, pdb) = (dir.join("app.exe"), dir.join("app.pdb"));
    run_if(
        make,
        Command::new(tool("lld-link"))
            .args(["/nologo", "/debug", "/entry:main", "/subsystem:console"])
            .arg("/nodefaultlib")
            .arg(format!("/pdb:{}", pdb.display()))
            .arg(format!("/out:{}", exe.display()))
            .arg(&c)
            .arg(&cpp),
    );
    Build {
        artifact: exe.clone(),
        unstripped: exe,
        debug: pdb,
    }
}

/// Every build, made once: macOS x86-64 and arm64 (and the other
/// variant's x86-64), a universal file of both with a universal dSYM, and
/// Windows (and the other variant's).
struct Builds {
    mac: Build,
    mac_arm: Build,
    mac_other: Build,
    fat: PathBuf,
    fat_dsym: PathBuf,
    pe: Build,
    pe_other: Build,
}

fn builds() -> &'static Builds {
    static BUILDS: OnceLock<Builds> = OnceLock::new();
    BUILDS.get_or_init(|| {
        // Each test runs in a process of its own: one builds (under a file
        // lock) what the others then read. A stamp names the sources built.
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debug-files");
        std::fs::create_dir_all(&root).unwrap();
        let lock = std::fs::File::create(root.join(".lock")).unwrap();
        lock.lock().unwrap();
        let mut hasher = std::hash::DefaultHasher::new();
        for name in ["app.c", "shapes.cpp"] {
            std::hash::Hash::hash(&read(&sources().join(name)), &mut hasher);
        }
        let stamp = root.join(format!(
            ".built-{:016x}",
            std::hash::Hasher::finish(&hasher)
        ));
        let make = !stamp.exists();
        let dir = |name: &str| {
            let d = root.join(name);
            std::fs::create_dir_all(&d).unwrap();
            d
        };
        let (one, two) = (dir("variant-1"), dir("variant-2"));
        let mac = build_macho(&one, "x86_64", 1, make);
        let mac_arm = build_macho(&one, "arm64", 1, make);
        let mac_other = build_macho(&two, "x86_64", 2, make);
        let (fat, fat_dsym) = (one.join("app-fat"), one.join("app-fat.dwarf"));
        run_if(
            make,
            Command::new(tool("llvm-lipo"))
                .arg("-create")
                .arg(&mac.artifact)
                .arg(&mac_arm.artifact)
                .arg("-output")
                .arg(&fat),
        );
        run_if(
            make,
            Command::new(tool("llvm-lipo"))
                .arg("-create")
                .arg(&mac.debug)
                .arg(&mac_arm.debug)
                .arg("-output")
                .arg(&fat_dsym),
        );
        let pe = build_pe(&dir("pe-1"), 1, make);
        let pe_other = build_pe(&dir("pe-2"), 2, make);
        if make {
            std::fs::write(&stamp, b"").unwrap();
        }
        drop(lock);
        Builds {
            mac,
            mac_arm,
            mac_other,
            fat,
            fat_dsym,
            pe,
            pe_other,
        }
    })
}

fn unit<'r>(report: &'r Report, name: &str) -> Option<&'r sizegate_analyze::Unit> {
    report.units.iter().find(|u| u.name == name)
}

fn has_symbol(report: &Report, name: &str) -> bool {
    report.symbols.iter().any(|s| s.name == name)
}

/// Shipped bytes of pseudo-units (headers, padding, unattributed section
/// bytes): what no function or datum explains. `[C]` is not one: it is
/// the C code's unit.
fn unexplained(report: &Report) -> u64 {
    report
        .units
        .iter()
        .filter(|u| u.kind == UnitKind::Pseudo)
        .map(|u| u.size)
        .sum()
}

/// What every analysis with a debug file must keep: the shipped file's
/// sizes, units adding up to them.
fn check_sizes(with: &Report, without: &Report, artifact: &Path) {
    assert_eq!(with.sizes.file, read(artifact).len() as u64);
    assert_eq!(with.sizes.shipped, without.sizes.shipped);
    assert_eq!(with.sizes.vm, without.sizes.vm);
    assert_eq!(
        with.units.iter().map(|u| u.size).sum::<u64>(),
        with.sizes.shipped
    );
    assert!(with.toolchain.debug_info);
}

#[test]
fn a_stripped_macho_with_its_dsym_reads_as_the_unstripped_build() {
    let b = builds();
    for build in [&b.mac, &b.mac_arm] {
        let stripped = alone(&build.artifact);
        let unstripped = alone(&build.unstripped);
        assert!(!has_symbol(&stripped, "helper_add"));
        let report = with_debug(&build.artifact, &build.debug);
        check_sizes(&report, &stripped, &build.artifact);
        for name in ["helper_add", "helper_mul", "main", "cpp_entry", "counter"] {
            assert!(has_symbol(&report, name), "{name}: {:?}", report.symbols);
        }
        // The C++ code is charged to its namespace, as in the unstripped
        // build; every unit of the unstripped build is there.
        let geometry = unit(&report, "geometry").expect("geometry unit");
        assert_eq!(geometry.kind, UnitKind::Namespace);
        for u in unstripped
            .units
            .iter()
            .filter(|u| u.kind != UnitKind::Pseudo)
        {
            assert!(unit(&report, &u.name).is_some(), "{} missing", u.name);
        }
        assert!(
            unexplained(&report) <= unexplained(&stripped),
            "{} > {}",
            unexplained(&report),
            unexplained(&stripped)
        );
        assert!(report.notes.is_empty(), "{:?}", report.notes);
    }
}

#[test]
fn a_universal_file_takes_each_slice_from_the_universal_dsym() {
    let b = builds();
    let reports =
        analyze_with_debug_file("app", &read(&b.fat), &read(&b.fat_dsym), &options()).unwrap();
    assert_eq!(reports.len(), 2);
    for r in &reports {
        assert!(has_symbol(r, "helper_add"), "{}", r.arch);
        assert!(unit(r, "geometry").is_some(), "{}", r.arch);
    }
    // One slice asked for, its thin dSYM given.
    let arm = Options {
        arch: Some("arm64".into()),
        ..options()
    };
    let reports =
        analyze_with_debug_file("app", &read(&b.fat), &read(&b.mac_arm.debug), &arm).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].arch, "aarch64");
    assert!(has_symbol(&reports[0], "helper_mul"));
    // A thin artifact finds its slice in a universal dSYM.
    let thin = analyze_with_debug_file(
        "app",
        &read(&b.mac_arm.artifact),
        &read(&b.fat_dsym),
        &options(),
    )
    .unwrap();
    assert!(has_symbol(&thin[0], "helper_mul"));
}

#[test]
fn a_dsym_of_another_build_is_refused_naming_both_uuids() {
    let b = builds();
    let err = analyze_with_debug_file(
        "app",
        &read(&b.mac.artifact),
        &read(&b.mac_other.debug),
        &options(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("UUID mismatch"), "{err}");
    let uuids = err.matches("-5555-").count();
    assert_eq!(uuids, 2, "{err}");
    // The other architecture's dSYM.
    let err = analyze_with_debug_file(
        "app",
        &read(&b.mac.artifact),
        &read(&b.mac_arm.debug),
        &options(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("(aarch64)") && err.contains("(x86_64)"),
        "{err}"
    );
    // Not a Mach-O file at all: say where the DWARF file is.
    let err = analyze_with_debug_file(
        "app",
        &read(&b.mac.artifact),
        &read(&b.pe.debug),
        &options(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("Contents/Resources/DWARF"), "{err}");
}

#[test]
fn a_pe_with_its_pdb_gets_functions_units_and_data() {
    let b = builds();
    let without = alone(&b.pe.artifact);
    let report = with_debug(&b.pe.artifact, &b.pe.debug);
    check_sizes(&report, &without, &b.pe.artifact);
    for name in [
        "helper_add",
        "helper_mul",
        "main",
        "cpp_entry",
        "counter",
        "table",
    ] {
        assert!(has_symbol(&report, name), "{name}: {:?}", report.symbols);
    }
    // C++ procedures by their undecorated names, charged to the namespace.
    assert!(
        report
            .symbols
            .iter()
            .any(|s| s.name == "geometry::total" && s.unit == "geometry"),
        "{:?}",
        report.symbols
    );
    assert_eq!(
        unit(&report, "geometry").map(|u| u.kind),
        Some(UnitKind::Namespace)
    );
    // Code, once unattributed, is now the program's.
    let code = |r: &Report| {
        r.units
            .iter()
            .find(|u| u.name == "[.text unattributed]")
            .map_or(0, |u| u.size)
    };
    assert!(
        code(&report) < code(&without),
        "{} vs {}",
        code(&report),
        code(&without)
    );
    assert!(unexplained(&report) < unexplained(&without));
}

/// C code and global-scope C++ (no namespace to name a unit) are charged
/// to the object file the PDB's section contributions place them in, not
/// to `[C]`; namespaced C++ keeps its namespace.
#[test]
fn c_code_in_a_pdb_is_charged_to_its_object_file() {
    let b = builds();
    let report = with_debug(&b.pe.artifact, &b.pe.debug);
    let unit_of = |name: &str| {
        report
            .symbols
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.unit.as_str())
    };
    for name in ["helper_add", "helper_mul", "main", "counter", "table"] {
        assert_eq!(unit_of(name), Some("app.obj"), "{name}");
    }
    assert_eq!(unit_of("cpp_entry"), Some("shapes.obj"));
    assert_eq!(unit_of("geometry::total"), Some("geometry"));
    assert_eq!(unit(&report, "app.obj").map(|u| u.kind), Some(UnitKind::C));
    assert!(unit(&report, "[C]").is_none(), "{:?}", report.units);
}

#[test]
fn a_pdb_of_another_build_is_refused_naming_both_guids() {
    let b = builds();
    let err = analyze_with_debug_file(
        "app",
        &read(&b.pe.artifact),
        &read(&b.pe_other.debug),
        &options(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("GUID/age mismatch"), "{err}");
    assert!(err.contains("app.pdb"), "{err}");
    // A dSYM is no PDB.
    let err = analyze_with_debug_file(
        "app",
        &read(&b.pe.artifact),
        &read(&b.mac.debug),
        &options(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("not a PDB file"), "{err}");
}

/// Hostile PDBs: truncations and corruptions of a real one fail cleanly
/// (or, for a cut that keeps every stream the reader needs, succeed); a
/// stream directory claiming more stream bytes than the file has (what a
/// block map naming one block over and over amounts to) is refused before
/// any stream is read.
#[test]
fn truncated_and_inflated_pdbs_fail_cleanly() {
    let b = builds();
    let exe = read(&b.pe.artifact);
    let pdb = read(&b.pe.debug);
    for len in (0..pdb.len()).step_by(997) {
        let _ = analyze_with_debug_file("app", &exe, &pdb[..len], &options());
    }
    let mut flipped = pdb.clone();
    for at in (64..flipped.len()).step_by(131) {
        flipped[at] ^= 0xff;
    }
    let _ = analyze_with_debug_file("app", &exe, &flipped, &options());

    // Stream 1 (the PDB info stream) claimed to be 2 GiB.
    let word = |at: usize| u32::from_le_bytes(pdb[at..at + 4].try_into().unwrap()) as usize;
    let block_size = word(32);
    let map = word(52) * block_size;
    let directory = word(map) * block_size;
    let mut inflated = pdb.clone();
    inflated[directory + 8..directory + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let err = analyze_with_debug_file("app", &exe, &inflated, &options())
        .unwrap_err()
        .to_string();
    assert!(err.contains("streams claim"), "{err}");
}

/// node-pty's `conpty.node` (MSVC C++, from npm) with its PDB.
#[test]
fn a_real_msvc_build_with_its_pdb() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-artifacts/npm/node-pty-win32-x64-1.1.0/package");
    let (dll, pdb) = (dir.join("conpty.node"), dir.join("conpty.pdb"));
    if !dll.is_file() || !pdb.is_file() {
        eprintln!(
            "skipped: {} is missing (offline?); run scripts/fetch-rust-artifacts.sh npm",
            dll.display()
        );
        return;
    }
    let without = alone(&dll);
    let report = analyze_with_debug_file("conpty", &read(&dll), &read(&pdb), &options())
        .unwrap()
        .remove(0);
    check_sizes(&report, &without, &dll);
    assert!(report.symbols.len() > 1000, "{}", report.symbols.len());
    let shipped = report.sizes.shipped as f64;
    let share = |bytes: u64| 100.0 * bytes as f64 / shipped;
    eprintln!(
        "conpty.node: unexplained {:.1}% -> {:.1}%, bracketed {:.1}% -> {:.1}%",
        share(unexplained(&without)),
        share(unexplained(&report)),
        share(without.bracketed_size()),
        share(report.bracketed_size()),
    );
    assert!(unexplained(&report) < unexplained(&without));
    assert!(unit(&report, "std").is_some(), "{:?}", report.units);
    // The static C runtime by its library, node-pty's own C by its object
    // file (section contributions); what no symbol names, by its object.
    for name in ["libcmt.lib", "conpty.obj"] {
        assert!(
            unit(&report, name).is_some_and(|u| u.kind == UnitKind::C),
            "{name}: {:?}",
            report.units
        );
    }
    assert!(
        report
            .symbols
            .iter()
            .any(|s| s.name.starts_with("<code of "))
    );
}
