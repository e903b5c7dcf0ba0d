//! Shared by the Go binary tests: building the fixture program with the
//! installed Go toolchain (once per variant per test run), reading a
//! binary's sections into `GoSection`s with the `object` crate, and parsing
//! the output of `go tool nm` and `go version -m` as the truth to compare to.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use object::{Object, ObjectSection};
use sizegate_analyze::go::{GoSection, PclntabVersion, Target};

/// One way of building the fixture program.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    /// File name of the binary, unique per variant.
    pub name: &'static str,
    /// `GOOS`.
    pub goos: &'static str,
    /// `GOARCH`.
    pub goarch: &'static str,
    /// `CGO_ENABLED`.
    pub cgo: bool,
    /// Extra `go build` arguments.
    pub args: &'static [&'static str],
    /// Run `strip` on the result.
    pub strip: bool,
}

impl Variant {
    /// A native linux/amd64 build with the given arguments.
    pub const fn native(name: &'static str, args: &'static [&'static str]) -> Self {
        Variant {
            name,
            goos: "linux",
            goarch: "amd64",
            cgo: false,
            args,
            strip: false,
        }
    }

    /// A cross build for `goos`/`goarch` with the given arguments.
    pub const fn cross(
        name: &'static str,
        goos: &'static str,
        goarch: &'static str,
        args: &'static [&'static str],
    ) -> Self {
        Variant {
            name,
            goos,
            goarch,
            cgo: false,
            args,
            strip: false,
        }
    }
}

/// The fixture sources live in the repository; builds work on a copy so that
/// the Go tool never writes next to them. The copy is per process: nextest
/// runs every test in a process of its own, several at once.
fn source_dir() -> &'static Path {
    static SOURCE: OnceLock<PathBuf> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/go");
        let to = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("go-fixture-src-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&to);
        for module in ["app", "dotted"] {
            std::fs::create_dir_all(to.join(module)).unwrap();
            for entry in std::fs::read_dir(from.join(module)).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), to.join(module).join(entry.file_name())).unwrap();
            }
        }
        to
    })
}

/// A `go` command with an offline, reproducible environment.
pub fn go_command() -> Command {
    let mut command = Command::new("go");
    command
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOWORK", "off")
        .env("GO111MODULE", "on");
    command
}

/// One slot per variant name, filled by the first test that needs it.
type BuildSlots = Mutex<HashMap<&'static str, Arc<OnceLock<PathBuf>>>>;

/// Build the fixture as `variant` (once per test run) and return the path.
pub fn build(variant: Variant) -> PathBuf {
    static BUILDS: OnceLock<BuildSlots> = OnceLock::new();
    let slot = {
        let mut builds = BUILDS.get_or_init(Default::default).lock().unwrap();
        Arc::clone(builds.entry(variant.name).or_default())
    };
    slot.get_or_init(|| build_now(variant)).clone()
}

fn build_now(variant: Variant) -> PathBuf {
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-fixture-bin");
    std::fs::create_dir_all(&out_dir).unwrap();
    let output = out_dir.join(variant.name);
    if output.is_file() {
        return output;
    }
    // Build under a name of this process's own, then rename into place:
    // concurrent test processes may build the same variant, and a reader
    // must never see a half-written binary. Go's build cache makes the
    // duplicate build cheap.
    let partial = out_dir.join(format!("{}.partial-{}", variant.name, std::process::id()));
    let status = go_command()
        .current_dir(source_dir().join("app"))
        .env("GOOS", variant.goos)
        .env("GOARCH", variant.goarch)
        .env("CGO_ENABLED", if variant.cgo { "1" } else { "0" })
        .arg("build")
        .args(variant.args)
        .arg("-o")
        .arg(&partial)
        .arg(".")
        .status()
        .expect("run go build");
    assert!(status.success(), "go build of {} failed", variant.name);
    if variant.strip {
        let status = Command::new("strip")
            .arg(&partial)
            .status()
            .expect("run strip");
        assert!(status.success(), "strip of {} failed", variant.name);
    }
    std::fs::rename(&partial, &output).unwrap();
    output
}

/// A binary's bytes with what the Go readers need from it.
#[derive(Debug)]
pub struct Binary {
    /// The whole file.
    pub bytes: Vec<u8>,
}

impl Binary {
    /// Read the file at `path`.
    pub fn read(path: &Path) -> Self {
        Binary {
            bytes: std::fs::read(path).unwrap(),
        }
    }

    /// The sections (name, address, file bytes) and target.
    pub fn sections(&self) -> (Vec<GoSection<'_>>, Target) {
        let file = object::File::parse(&*self.bytes).unwrap();
        let target = Target {
            big_endian: !file.is_little_endian(),
            ptr_size: if file.is_64() { 8 } else { 4 },
        };
        let sections = file
            .sections()
            .map(|section| GoSection {
                name: section.name().unwrap_or(""),
                address: section.address(),
                data: section.data().unwrap_or(&[]),
            })
            .collect();
        (sections, target)
    }
}

/// One text symbol from `go tool nm -size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NmSymbol {
    /// Address.
    pub address: u64,
    /// Size as the symbol table gives it.
    pub size: u64,
    /// Name (may hold spaces, as in `type..eq.struct { a int }`).
    pub name: String,
}

/// The text symbols (`T`/`t`) of `binary`, from `go tool nm -size`.
pub fn nm_text_symbols(binary: &Path) -> Vec<NmSymbol> {
    let output = go_command()
        .args(["tool", "nm", "-size", "-sort", "address"])
        .arg(binary)
        .output()
        .expect("run go tool nm");
    assert!(
        output.status.success(),
        "go tool nm failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    text.lines()
        .filter_map(|line| {
            let (address, rest) = line.trim_start().split_once(' ')?;
            let (size, rest) = rest.trim_start().split_once(' ')?;
            let (kind, name) = rest.split_once(' ')?;
            if !matches!(kind, "T" | "t") {
                return None;
            }
            Some(NmSymbol {
                address: u64::from_str_radix(address, 16).ok()?,
                size: size.parse().ok()?,
                name: name.to_owned(),
            })
        })
        .collect()
}

/// What `go version -m` prints, parsed on its own (independently of the
/// library's parser) for a field-by-field comparison.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GoVersionM {
    /// `go1.19.8`.
    pub go_version: String,
    /// The `path` line.
    pub path: Option<String>,
    /// `mod`, `dep` and `=>` lines, each as its tab-separated columns.
    pub modules: Vec<(String, Vec<String>)>,
    /// `build` lines as (key, unquoted value).
    pub settings: Vec<(String, String)>,
}

/// Run `go version -m` on `binary` and parse its output.
pub fn go_version_m(binary: &Path) -> GoVersionM {
    let output = go_command()
        .args(["version", "-m"])
        .arg(binary)
        .output()
        .expect("run go version -m");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines = text.lines();
    let first = lines.next().unwrap();
    let mut parsed = GoVersionM {
        go_version: first.split_once(": ").unwrap().1.to_owned(),
        ..GoVersionM::default()
    };
    for line in lines {
        let mut columns: Vec<String> = line.split('\t').skip(1).map(str::to_owned).collect();
        if columns.is_empty() {
            continue;
        }
        let kind = columns.remove(0);
        match kind.as_str() {
            "path" => parsed.path = Some(columns.join("\t")),
            "mod" | "dep" | "=>" => {
                while columns.last().is_some_and(String::is_empty) {
                    columns.pop();
                }
                parsed.modules.push((kind, columns));
            }
            "build" => {
                let (key, value) = columns[0].split_once('=').unwrap();
                parsed.settings.push((key.to_owned(), unquote(value)));
            }
            _ => {}
        }
    }
    parsed
}

/// Undo `strconv.Quote` for the simple values the fixture builds use.
fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => value.to_owned(),
    }
}

/// The pclntab layout a Go release writes: `go1.22.5`,
/// `go1.22-20231128-RC02 cl/...` → 1.20+.
pub fn expected_layout(go_version: &str) -> PclntabVersion {
    let minor: u32 = go_version
        .strip_prefix("go1.")
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|digits| digits.parse().ok())
        .expect("a go1.N version");
    match minor {
        2..=15 => PclntabVersion::Go12,
        16..=17 => PclntabVersion::Go116,
        18..=19 => PclntabVersion::Go118,
        _ => PclntabVersion::Go120,
    }
}
