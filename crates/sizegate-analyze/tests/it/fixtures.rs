//! Fixture binaries, built once per test run from the sources under
//! `tests/fixtures/` with the real toolchains (rustc, cc, g++, go), into a
//! directory under the test target dir, and analyzed once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sizegate_analyze::{Options, Report, analyze};

use crate::rust_support::{run, strip_all};

/// One built fixture and its analysis.
#[derive(Debug)]
pub struct Fixture {
    /// Where it was written.
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Reports (one per architecture).
    pub reports: Vec<Report>,
    /// Size of the file after a real `strip --strip-all` (ELF fixtures of
    /// C, C++ and Rust).
    pub strip_size: Option<u64>,
}

impl Fixture {
    /// The single report of a one-architecture fixture.
    pub fn report(&self) -> &Report {
        assert_eq!(self.reports.len(), 1, "{}", self.path.display());
        &self.reports[0]
    }
}

/// All fixtures by name.
pub fn all() -> &'static BTreeMap<&'static str, Fixture> {
    static FIXTURES: OnceLock<BTreeMap<&'static str, Fixture>> = OnceLock::new();
    FIXTURES.get_or_init(build_all)
}

/// One fixture by name.
pub fn get(name: &str) -> &'static Fixture {
    all()
        .get(name)
        .unwrap_or_else(|| panic!("no fixture named {name}"))
}

/// Source directory of the fixtures.
pub fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Build every fixture once per machine state, not once per test process:
/// nextest runs each test in a process of its own, several at once. The
/// first process to take the lock builds into a shared directory and writes a
/// manifest stamped with a fingerprint of the sources and toolchains; the
/// others wait for the lock and reuse what it built. Every process analyzes
/// the binaries itself (that is what the tests check).
fn build_all() -> BTreeMap<&'static str, Fixture> {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("analyze-fixtures");
    std::fs::create_dir_all(&out).unwrap();
    let lock = std::fs::File::create(out.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    let manifest_path = out.join("manifest");
    let stamp = fingerprint();
    let manifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) if text.lines().next() == Some(stamp.as_str()) => text,
        _ => {
            let text = build_into(&out, &stamp);
            std::fs::write(&manifest_path, &text).unwrap();
            text
        }
    };
    drop(lock);
    manifest
        .lines()
        .skip(1)
        .map(|line| {
            let mut fields = line.split('\t');
            let (name, path, strip_size) = (
                fields.next().unwrap(),
                PathBuf::from(fields.next().unwrap()),
                fields.next().unwrap(),
            );
            let name: &'static str = Box::leak(name.to_string().into_boxed_str());
            let bytes = std::fs::read(&path).unwrap();
            let reports = analyze(name, &bytes, &Options::default())
                .unwrap_or_else(|e| panic!("analyzing fixture {name}: {e}"));
            let fixture = Fixture {
                path,
                bytes,
                reports,
                strip_size: strip_size.parse().ok(),
            };
            (name, fixture)
        })
        .collect()
}

/// Build all fixtures into `out` and return the manifest: the stamp, then
/// one `name<TAB>path<TAB>size after strip --strip-all (or -)` line each.
fn build_into(out: &Path, stamp: &str) -> String {
    let (mut paths, go_paths) = std::thread::scope(|scope| {
        let go = scope.spawn(|| build_go(out));
        let mut paths = build_rust(out);
        paths.extend(build_c(out));
        (paths, go.join().unwrap())
    });
    paths.extend(go_paths);
    let mut manifest = format!("{stamp}\n");
    for (name, path) in paths {
        let strip_size = if name.starts_with("go-") {
            "-".to_string()
        } else {
            let stripped = path.with_extension("stripped");
            strip_all(&path, &stripped);
            std::fs::metadata(&stripped).unwrap().len().to_string()
        };
        manifest.push_str(&format!("{name}\t{}\t{strip_size}\n", path.display()));
    }
    manifest
}

/// What the fixtures are built from: every source file and the versions of
/// the toolchains. A change to either rebuilds them.
fn fingerprint() -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    fn walk(dir: &Path, hasher: &mut DefaultHasher) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, hasher);
            } else {
                path.hash(hasher);
                std::fs::read(&path).unwrap().hash(hasher);
            }
        }
    }
    let mut hasher = DefaultHasher::new();
    walk(&sources(), &mut hasher);
    for (tool, arg) in [("rustc", "-vV"), ("go", "version"), ("cc", "--version")] {
        let output = Command::new(tool).arg(arg).output();
        if let Ok(output) = output {
            output.stdout.hash(&mut hasher);
        }
    }
    format!("fixtures-v1-{:016x}", hasher.finish())
}

/// Rust: a local dependency (`extra`), a crate in two versions (`dup`),
/// panic unwind and abort, LTO, stripped; legacy and v0 mangling.
fn build_rust(out: &Path) -> Vec<(&'static str, PathBuf)> {
    let src = sources().join("rust");
    let rustc = |args: &[&str]| {
        let mut c = Command::new("rustc");
        c.args(["--edition", "2021", "-O"]).args(args);
        run(&mut c);
    };
    // Two sets of dependencies: panic=unwind with legacy mangling, and
    // panic=abort with v0 mangling (which names crate disambiguators).
    let sets = [("unwind", "legacy"), ("abort", "v0")];
    for (panic, mangling) in sets {
        let dir = out.join(panic);
        std::fs::create_dir_all(&dir).unwrap();
        let dir = dir.to_str().unwrap();
        let panic_flag = format!("panic={panic}");
        let mut common = vec!["-C", &panic_flag, "--crate-type", "rlib"];
        let mangling_flag = "symbol-mangling-version=v0";
        if mangling == "v0" {
            common.extend(["-C", mangling_flag]);
        }
        let src_of = |crate_dir: &str| {
            src.join(crate_dir)
                .join("lib.rs")
                .to_str()
                .unwrap()
                .to_string()
        };
        let one = format!("{dir}/libdup-one.rlib");
        let two = format!("{dir}/libdup-two.rlib");
        let extra = format!("{dir}/libextra.rlib");
        rustc(
            &[
                &common[..],
                &[
                    "--crate-name",
                    "dup",
                    "-C",
                    "metadata=one",
                    &src_of("dup"),
                    "-o",
                    &one,
                ],
            ]
            .concat(),
        );
        rustc(
            &[
                &common[..],
                &[
                    "--crate-name",
                    "dup",
                    "-C",
                    "metadata=two",
                    "--cfg",
                    "dup_v2",
                    &src_of("dup"),
                    "-o",
                    &two,
                ],
            ]
            .concat(),
        );
        rustc(
            &[
                &common[..],
                &["--crate-name", "extra", &src_of("extra"), "-o", &extra],
            ]
            .concat(),
        );
    }
    let main = src.join("app/main.rs");
    let main = main.to_str().unwrap();
    let variants: [(&'static str, &str, &[&str]); 4] = [
        ("rust-unwind", "unwind", &["-C", "panic=unwind", "-g"]),
        (
            "rust-abort",
            "abort",
            &["-C", "panic=abort", "-C", "symbol-mangling-version=v0"],
        ),
        (
            "rust-lto",
            "abort",
            &[
                "-C",
                "panic=abort",
                "-C",
                "symbol-mangling-version=v0",
                "-C",
                "lto=fat",
                "-C",
                "codegen-units=1",
            ],
        ),
        (
            "rust-stripped",
            "abort",
            &[
                "-C",
                "panic=abort",
                "-C",
                "symbol-mangling-version=v0",
                "-C",
                "strip=symbols",
            ],
        ),
    ];
    variants
        .iter()
        .map(|(name, set, flags)| {
            let deps = out.join(set);
            let deps = deps.to_str().unwrap();
            let path = out.join(name);
            let externs = [
                format!("extra={deps}/libextra.rlib"),
                format!("dup_one={deps}/libdup-one.rlib"),
                format!("dup_two={deps}/libdup-two.rlib"),
            ];
            let mut args: Vec<&str> = vec!["--crate-name", "app"];
            for e in &externs {
                args.extend(["--extern", e.as_str()]);
            }
            args.extend(["-L", deps, main, "-o", path.to_str().unwrap()]);
            args.extend(flags.iter());
            rustc(&args);
            (*name, path)
        })
        .collect()
}

/// C with `cc -O2 -g`, C++ with `g++ -O2`.
fn build_c(out: &Path) -> Vec<(&'static str, PathBuf)> {
    let src = sources().join("c");
    let c = out.join("c-hello");
    run(Command::new("cc")
        .args(["-O2", "-g"])
        .arg(src.join("hello.c"))
        .arg("-o")
        .arg(&c));
    let cpp = out.join("cpp-shapes");
    run(Command::new("g++")
        .args(["-O2"])
        .arg(src.join("shapes.cpp"))
        .arg("-o")
        .arg(&cpp));
    vec![("c-hello", c), ("cpp-shapes", cpp)]
}

/// Go, for every format and byte order: ELF 64/32-bit little and big
/// endian, PE, Mach-O (and a universal file made from two), WebAssembly.
fn build_go(out: &Path) -> Vec<(&'static str, PathBuf)> {
    let src = sources().join("go/hello");
    let targets: [(&'static str, &str, &str, bool); 14] = [
        ("go-linux-amd64", "linux", "amd64", false),
        ("go-linux-amd64-sw", "linux", "amd64", true),
        ("go-windows-amd64", "windows", "amd64", false),
        ("go-windows-amd64-sw", "windows", "amd64", true),
        ("go-darwin-amd64", "darwin", "amd64", false),
        ("go-darwin-arm64", "darwin", "arm64", false),
        ("go-darwin-arm64-sw", "darwin", "arm64", true),
        ("go-linux-386", "linux", "386", false),
        ("go-linux-arm", "linux", "arm", false),
        ("go-linux-386-sw", "linux", "386", true),
        ("go-linux-s390x", "linux", "s390x", false),
        ("go-linux-s390x-sw", "linux", "s390x", true),
        ("go-js-wasm", "js", "wasm", false),
        ("go-js-wasm-sw", "js", "wasm", true),
    ];
    let mut built: Vec<(&'static str, PathBuf)> = targets
        .iter()
        .map(|&(name, goos, goarch, strip)| {
            let path = out.join(name);
            let mut c = Command::new("go");
            c.current_dir(&src)
                .env("GOOS", goos)
                .env("GOARCH", goarch)
                .env("CGO_ENABLED", "0")
                .env("GOFLAGS", "-mod=mod")
                .env("GOPROXY", "off")
                .env("GOWORK", "off")
                .args(["build", "-o"])
                .arg(&path);
            if strip {
                c.args(["-ldflags", "-s -w"]);
            }
            c.arg(".");
            run(&mut c);
            (name, path)
        })
        .collect();
    let universal = out.join("go-darwin-universal");
    let slices = [out.join("go-darwin-amd64"), out.join("go-darwin-arm64")];
    let slices: Vec<Vec<u8>> = slices.iter().map(|p| std::fs::read(p).unwrap()).collect();
    std::fs::write(&universal, fat_macho(&slices)).unwrap();
    built.push(("go-darwin-universal", universal));
    built
}

/// A universal (fat) Mach-O file holding `slices`: the big-endian fat
/// header, one `fat_arch` per slice, each slice aligned to 2^14.
pub fn fat_macho(slices: &[Vec<u8>]) -> Vec<u8> {
    const ALIGN_LOG2: u32 = 14;
    let mut out = Vec::new();
    out.extend(0xcafe_babe_u32.to_be_bytes());
    out.extend((slices.len() as u32).to_be_bytes());
    let mut offset = (8 + 20 * slices.len()) as u32;
    let mut placed = Vec::new();
    for slice in slices {
        offset = offset.div_ceil(1 << ALIGN_LOG2) * (1 << ALIGN_LOG2);
        // The slices are little-endian Mach-O: cputype and cpusubtype follow the magic.
        let cputype = u32::from_le_bytes(slice[4..8].try_into().unwrap());
        let cpusubtype = u32::from_le_bytes(slice[8..12].try_into().unwrap());
        for field in [cputype, cpusubtype, offset, slice.len() as u32, ALIGN_LOG2] {
            out.extend(field.to_be_bytes());
        }
        placed.push(offset);
        offset += slice.len() as u32;
    }
    for (slice, at) in slices.iter().zip(placed) {
        out.resize(at as usize, 0);
        out.extend(slice);
    }
    out
}
