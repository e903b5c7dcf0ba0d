//! Shared by the analyzer's integration tests that build Rust (and other)
//! programs during the test run: running a build command, the fixture
//! crate laid out as Cargo's registry lays it out (`tinydep-1.2.3`), the
//! two-crate generic program, and analyzing a file into its report.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sizegate_analyze::{Options, Report, Unit, analyze, analyze_with_debug_file};

/// Run a command, failing the test with its output when it fails.
pub fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `strip --strip-all -o output input`.
pub fn strip_all(input: &Path, output: &Path) {
    run(Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(output)
        .arg(input));
}

/// The library crate's source, with `TABLE_*` and `WORD_*` filled in by
/// [`tinydep_lib`].
const TINYDEP_LIB: &str = r#"
#[inline(never)]
pub fn pick(values: &[u32], at: usize) -> u32 {
    let value = values.get(at).copied().expect("index in range");
    if value == 7 { panic!("seven is not allowed at {at}"); }
    value.checked_mul(3).unwrap()
}

const fn table() -> [u64; TABLE_LEN] {
    let mut t = [0u64; TABLE_LEN];
    let mut i = 0;
    while i < TABLE_LEN {
        t[i] = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5bd1_e995;
        i += 1;
    }
    t
}

/// A TABLE_KIB KiB anonymous constant, used by this crate only.
#[inline(never)]
pub fn lookup(at: usize) -> u64 {
    const TABLE: &[u64; TABLE_LEN] = &table();
    TABLE[at % TABLE_LEN]
}

/// A table of string slices (pointers to the strings' bytes).
#[inline(never)]
pub fn word(at: usize) -> &'static str {
    const WORDS: [&str; WORD_COUNT] = [
WORD_LIST    ];
    WORDS[at % WORD_COUNT]
}
"#;

/// The source of `tinydep`: `pick` (three panic locations), `lookup` over
/// an anonymous table of `table_len` `u64`s and `word` over `words` (at
/// most 8) string slices, all used by this crate only.
pub fn tinydep_lib(table_len: usize, words: usize) -> String {
    const NAMES: [&str; 8] = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    ];
    let list: String = NAMES[..words.min(NAMES.len())]
        .iter()
        .map(|name| format!("        \"tinydep-{name}-constant-used-only-here\",\n"))
        .collect();
    TINYDEP_LIB
        .replace("TABLE_KIB", &(table_len * 8 / 1024).to_string())
        .replace("TABLE_LEN", &table_len.to_string())
        .replace("WORD_COUNT", &words.to_string())
        .replace("WORD_LIST", &list)
}

/// Where Cargo's registry puts `tinydep`'s source, relative to the build
/// directory: its panic locations name the crate and its version.
pub const TINYDEP_LIB_PATH: &str = "registry/tinydep-1.2.3/src/lib.rs";

/// Write `lib` as `dir/registry/tinydep-1.2.3/src/lib.rs` and `main` as
/// `dir/main.rs`; return the library's source path.
pub fn write_registry_program(dir: &Path, lib: &str, main: &str) -> PathBuf {
    let lib_path = dir.join(TINYDEP_LIB_PATH);
    std::fs::create_dir_all(lib_path.parent().unwrap()).unwrap();
    std::fs::write(&lib_path, lib).unwrap();
    std::fs::write(dir.join("main.rs"), main).unwrap();
    lib_path
}

/// A crate of generics only: every instance of `spread` is made in the
/// crate that calls it.
const GENERIC_LIB: &str = r#"
#[inline(never)]
pub fn spread<T: Copy + Into<u64>>(values: &[T]) -> u64 {
    let mut acc = 0x9e37_79b9_7f4a_7c15u64;
    for v in values {
        let x: u64 = (*v).into();
        acc = acc.rotate_left(5) ^ x.wrapping_mul(0x100_0000_01b3);
    }
    acc
}
"#;

/// The program instantiating `LIB_CRATE::spread` for two types.
const GENERIC_MAIN: &str = r#"
#[derive(Clone, Copy)]
struct Point { x: u32, y: u32 }
impl From<Point> for u64 {
    fn from(p: Point) -> u64 { (u64::from(p.x) << 32) | u64::from(p.y) }
}
fn main() {
    let points: Vec<Point> = std::env::args().map(|a| Point { x: a.len() as u32, y: 7 }).collect();
    let lengths: Vec<u32> = std::env::args().map(|a| a.len() as u32).collect();
    println!("{} {}", LIB_CRATE::spread(&points), LIB_CRATE::spread(&lengths));
}
"#;

/// Build the generic program with DWARF line tables into `dir`: crates
/// `[library, program]` from the source files `[library, program]` of
/// `files`, linked into `files[2]`; return the program's path.
pub fn build_generic_program(dir: &Path, crates: [&str; 2], files: [&str; 3]) -> PathBuf {
    let [lib, app] = crates;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(files[0]), GENERIC_LIB).unwrap();
    std::fs::write(dir.join(files[1]), GENERIC_MAIN.replace("LIB_CRATE", lib)).unwrap();
    let flags = ["--edition=2021", "-O", "-C", "debuginfo=line-tables-only"];
    run(Command::new("rustc")
        .args(flags)
        .args(["--crate-type=rlib", &format!("--crate-name={lib}")])
        .arg(dir.join(files[0]))
        .arg("--out-dir")
        .arg(dir));
    let out = dir.join(files[2]);
    run(Command::new("rustc")
        .args(flags)
        .args([
            "-C",
            "panic=abort",
            &format!("--crate-name={app}"),
            "--extern",
        ])
        .arg(format!(
            "{lib}={}",
            dir.join(format!("lib{lib}.rlib")).display()
        ))
        .arg(dir.join(files[1]))
        .arg("-o")
        .arg(&out));
    out
}

/// The options of these tests: no compression measured.
pub fn options() -> Options {
    Options {
        skip_compression: true,
        ..Options::default()
    }
}

/// The bytes of `path`, failing the test with its name.
pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The report of the file `path`, analyzed as `name`.
pub fn report_named(name: &str, path: &Path) -> Report {
    analyze(name, &read(path), &options()).unwrap().remove(0)
}

/// The report of the file `path`, analyzed as `app`.
pub fn report(path: &Path) -> Report {
    report_named("app", path)
}

/// The report of `artifact` read with its separate debug file `debug`.
pub fn with_debug(artifact: &Path, debug: &Path) -> Report {
    analyze_with_debug_file("app", &read(artifact), &read(debug), &options())
        .unwrap()
        .remove(0)
}

/// The size of the unit named `unit`, 0 when there is none.
pub fn size(report: &Report, unit: &str) -> u64 {
    report
        .units
        .iter()
        .find(|u| u.name == unit)
        .map_or(0, |u| u.size)
}

/// The pseudo-units (`[…]`) of `report`, for failure messages.
pub fn bracketed_units(report: &Report) -> Vec<&Unit> {
    report
        .units
        .iter()
        .filter(|u| u.name.starts_with('['))
        .collect()
}
