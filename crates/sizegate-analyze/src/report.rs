//! The analysis report: the stable, versioned JSON contract written by
//! `sizegate analyze --format json` and read back by `sizegate diff`, the
//! worker and the store. Field names are public API (see DESIGN.md).

use serde::{Deserialize, Serialize};

/// Version of the JSON layout of [`Report`]. Bump it on any incompatible
/// change; readers reject versions they do not know.
pub const SCHEMA_VERSION: u32 = 2;

/// The oldest version readers accept: version 2 only added fields (the
/// container-image ones), all optional, so a version 1 report reads as is.
pub const OLDEST_SCHEMA_VERSION: u32 = 1;

/// Everything sizegate knows about one artifact (one architecture of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`SCHEMA_VERSION`] when written by this crate.
    pub schema_version: u32,
    /// The file that was measured.
    pub file: FileInfo,
    /// Container format.
    pub format: Format,
    /// Architecture, as `object` names it in lower case (`x86_64`, `aarch64`,
    /// `arm`, `i386`, `wasm32`, ...).
    pub arch: String,
    /// Dominant source language, judged from the symbols and toolchain facts.
    pub language: Language,
    /// True when the file carries no symbol table (stripped, or Go `-s`).
    pub stripped: bool,
    /// Compiler, linker and build facts found in the file.
    pub toolchain: Toolchain,
    /// The headline figures.
    pub sizes: Sizes,
    /// Every section plus bracketed pseudo-sections; `file_size` sums to
    /// exactly `file.size`.
    pub sections: Vec<Section>,
    /// Crates, Go packages, C++ namespaces...; `size` sums to exactly
    /// `sizes.shipped`. Sorted by size, largest first.
    pub units: Vec<Unit>,
    /// The same shipped bytes under the *instantiating* rule: each function
    /// is charged to the crate whose codegen unit holds its code (read from
    /// the DWARF compile units, `debuginfo = "line-tables-only"` is enough),
    /// where `units` charges it to the crate that *defines* it (its
    /// symbol's path). A generic from crate `a` instantiated in crate `b`
    /// is `a`'s in `units` and `b`'s here. Only function bytes move; every
    /// other charge is as in `units`, and the sizes sum to `sizes.shipped`
    /// too. Present only when the file (or its debug file) has DWARF naming
    /// Rust codegen units; absent from the JSON otherwise. Sorted like
    /// `units`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units_instantiating: Vec<Unit>,
    /// Symbols, largest first. The analyzer returns all of them; writers
    /// may truncate to the top N (see [`Report::truncate_symbols`]).
    pub symbols: Vec<Symbol>,
    /// True when `symbols` was truncated to a top N.
    #[serde(default)]
    pub symbols_truncated: bool,
    /// True when the gzip and zstd sizes were not computed (`sizegate
    /// analyze --no-compress`): `sizes.gzip` and `sizes.zstd` are then 0.
    /// Absent from the JSON when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compression_skipped: bool,
    /// Levers of the size playbook this binary has not pulled.
    pub advice: Vec<Advice>,
    /// What the attribution lacks and how to get it, one line each (a
    /// stripped Rust binary without its debug file...). Absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Container images only: the layers, bottom first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Layer>,
    /// Container images only: the files of the merged filesystem, largest
    /// first (writers may truncate to the top N, see [`Report::truncate_files`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<ImageFile>,
    /// Container images only: the largest directories of the merged
    /// filesystem (each counts everything below it), largest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directories: Vec<ImageDirectory>,
}

/// One layer of a container image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// `sha256:...` of the blob (for an older `docker save` archive, which
    /// names no digest, the member path `<hex>/layer.tar`).
    pub digest: String,
    /// `gzip`, `zstd` or `none`, told by the blob's first bytes.
    pub compression: String,
    /// Bytes of the blob, as the manifest's descriptor says (and checked).
    pub compressed_size: u64,
    /// Bytes of the layer's tar stream once decompressed.
    pub uncompressed_size: u64,
    /// The instruction that made the layer, from the config history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Regular files in the layer.
    pub files: u64,
    /// Data bytes of this layer's files that later layers overwrite or
    /// delete (counted in `sizes.wasted` and the `[wasted]` unit).
    pub hidden_size: u64,
}

/// A file of a container image's merged filesystem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageFile {
    /// Absolute path in the image (`/usr/local/bin/app`).
    pub path: String,
    /// Data bytes.
    pub size: u64,
    /// Index into `layers` of the layer that wrote it.
    pub layer: u32,
    /// The unit it is charged to: an OS package or a path unit.
    pub unit: String,
    /// For a binary at or above the analysis threshold: its own report
    /// (same schema; symbols cut to the 10 largest, no gzip/zstd sizes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Box<Report>>,
}

/// A directory of a container image's merged filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageDirectory {
    /// Absolute path (`/usr/lib`).
    pub path: String,
    /// Data bytes of the files below it.
    pub size: u64,
    /// Number of files below it.
    pub files: u64,
}

/// Identity of the measured file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// File name as given to the analyzer (for a universal Mach-O member:
    /// `name (arch)`).
    pub name: String,
    /// Size in bytes of what was measured (for a universal Mach-O member:
    /// the size of that member's slice).
    pub size: u64,
    /// Lower-case hex sha256 of those bytes.
    pub sha256: String,
}

/// Container format of an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// ELF (Linux, BSDs, most embedded targets).
    Elf,
    /// Mach-O (macOS, iOS).
    Macho,
    /// PE/COFF (Windows).
    Pe,
    /// WebAssembly module.
    Wasm,
    /// A container image written by `docker save`.
    #[serde(rename = "docker-archive")]
    DockerArchive,
    /// A container image in the OCI image layout (directory or tar).
    #[serde(rename = "oci-layout")]
    OciLayout,
}

impl Format {
    /// Whether this is a container image (`docker-archive`, `oci-layout`).
    pub fn is_image(self) -> bool {
        matches!(self, Format::DockerArchive | Format::OciLayout)
    }
}

/// Source language of the bulk of the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Rust (rustc).
    Rust,
    /// Go (gc).
    Go,
    /// C.
    C,
    /// C++.
    Cpp,
    /// More than one of the above in significant amounts.
    Mixed,
    /// Nothing to tell.
    Unknown,
}

/// Compiler, linker and build facts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toolchain {
    /// rustc version string from `.comment`, e.g. `rustc version 1.95.0 (59807616e 2026-04-14)`.
    pub rustc: Option<String>,
    /// The rustc commit named by the standard library's source paths
    /// (`/rustc/<commit>/library/...`), which survive stripping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rustc_commit: Option<String>,
    /// The rustc release named by the standard library's source paths of a
    /// distribution's rustc (`/usr/src/rustc-1.63.0/library/...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rustc_release: Option<String>,
    /// Where the crate versions come from: `cargo-auditable` (the
    /// `.dep-v0` section) or `source-paths` (Cargo registry paths in panic
    /// locations). Absent when no version was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crate_versions: Option<String>,
    /// Every (crate, version) pair the binary names, by name then version;
    /// a crate listed twice is linked in two versions. Absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crates: Vec<CrateVersion>,
    /// Go version from the build info, e.g. `go1.19.8`.
    pub go: Option<String>,
    /// Other compiler and linker identification strings (`GCC: (Debian 12.2.0-14) 12.2.0`,
    /// `Linker: LLD 17.0.6`, ...), deduplicated, in file order.
    pub compilers: Vec<String>,
    /// Whether DWARF (or PDB reference / other) debug information is present.
    pub debug_info: bool,
    /// Go build information (`\xff Go buildinf:`), when present.
    pub go_build: Option<GoBuildInfo>,
}

/// A Rust crate and one version of it that the binary names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CrateVersion {
    /// Crate name as symbols spell it (`regex_automata`).
    pub name: String,
    /// Its version (`0.4.9`).
    pub version: String,
}

/// What `go version -m` prints: the Go version, modules and build settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoBuildInfo {
    /// Go version, e.g. `go1.19.8`.
    pub go_version: String,
    /// Import path of the main package (`path` line).
    pub path: Option<String>,
    /// The main module (`mod` line).
    pub main: Option<GoModule>,
    /// Dependency modules (`dep` lines), in the order given.
    pub deps: Vec<GoModule>,
    /// Build settings (`build` lines) in the order given: `-ldflags`,
    /// `-trimpath`, `-buildmode`, `CGO_ENABLED`, `GOOS`, `GOARCH`, `vcs.revision`, ...
    pub settings: Vec<GoBuildSetting>,
}

/// A Go module with its version and optional replacement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoModule {
    /// Module path.
    pub path: String,
    /// Version (`(devel)` for the main module built from a checkout).
    pub version: String,
    /// go.sum hash, when recorded.
    pub sum: Option<String>,
    /// The module that replaces this one (`=>` line), when any.
    pub replace: Option<Box<GoModule>>,
}

/// One `build KEY=VALUE` line of the Go build info.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoBuildSetting {
    /// Setting name, e.g. `-ldflags` or `CGO_ENABLED`.
    pub key: String,
    /// Its value, unquoted.
    pub value: String,
}

/// The headline sizes, all in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sizes {
    /// Size of the file.
    pub file: u64,
    /// Memory the loaded image occupies (sum of allocated sections, bss included).
    pub vm: u64,
    /// What the file would weigh after `strip --strip-all` (Go: after `-s -w`).
    /// The default metric of budgets.
    pub shipped: u64,
    /// Whole file compressed with deflate (gzip) level 6, in independent
    /// gzip members of 4 MiB each (see README: up to about 1% smaller
    /// than `gzip -6`, and the same on every machine).
    pub gzip: u64,
    /// Whole file compressed with zstd level 3.
    pub zstd: u64,
    /// Bytes of debug information (DWARF sections and the like).
    pub debug: u64,
    /// Bytes of symbol tables (`.symtab`, `.strtab`, Mach-O symtab, COFF symbols).
    pub symbols: u64,
    /// Container images: the layer blobs as the manifest gives them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub compressed: u64,
    /// Container images: the layers' tar streams once decompressed (also
    /// the image's `shipped`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub uncompressed: u64,
    /// Container images: data bytes hidden by later layers plus duplicate
    /// copies of files in later layers.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub wasted: u64,
    /// Container images: what a cold pull transfers: each distinct layer
    /// blob once, the config and the manifest(s).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pull: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if signature
fn is_zero(value: &u64) -> bool {
    *value == 0
}

impl Sizes {
    /// The size for a metric name used in `sizegate.toml` (`file`, `vm`,
    /// `shipped`, `gzip`, `zstd`, `debug`, `symbols`, and for container
    /// images `compressed`, `uncompressed`, `pull`; those are 0 for a binary).
    pub fn get(&self, metric: Metric) -> u64 {
        match metric {
            Metric::Compressed => self.compressed,
            Metric::Uncompressed => self.uncompressed,
            Metric::Pull => self.pull,
            Metric::File => self.file,
            Metric::Vm => self.vm,
            Metric::Shipped => self.shipped,
            Metric::Gzip => self.gzip,
            Metric::Zstd => self.zstd,
            Metric::Debug => self.debug,
            Metric::Symbols => self.symbols,
        }
    }
}

/// A size metric, as named in `sizegate.toml` and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Size of the file.
    File,
    /// Loaded image size.
    Vm,
    /// Size after stripping (default).
    #[default]
    Shipped,
    /// gzip -6 of the file.
    Gzip,
    /// zstd -3 of the file.
    Zstd,
    /// Debug info bytes.
    Debug,
    /// Symbol table bytes.
    Symbols,
    /// Container images: the layer blobs as the manifest gives them.
    Compressed,
    /// Container images: the layers' tar streams once decompressed.
    Uncompressed,
    /// Container images: what a cold pull transfers.
    Pull,
}

impl Metric {
    /// Every metric, in display order.
    pub const ALL: [Metric; 10] = [
        Metric::File,
        Metric::Shipped,
        Metric::Vm,
        Metric::Gzip,
        Metric::Zstd,
        Metric::Debug,
        Metric::Symbols,
        Metric::Compressed,
        Metric::Uncompressed,
        Metric::Pull,
    ];

    /// The metrics only container images have (0 for a binary).
    pub const IMAGE: [Metric; 3] = [Metric::Compressed, Metric::Uncompressed, Metric::Pull];

    /// Whether only container images have this metric.
    pub fn image_only(self) -> bool {
        Metric::IMAGE.contains(&self)
    }

    /// The lower-case name used in JSON, TOML and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::File => "file",
            Metric::Vm => "vm",
            Metric::Shipped => "shipped",
            Metric::Gzip => "gzip",
            Metric::Zstd => "zstd",
            Metric::Debug => "debug",
            Metric::Symbols => "symbols",
            Metric::Compressed => "compressed",
            Metric::Uncompressed => "uncompressed",
            Metric::Pull => "pull",
        }
    }
}

impl std::str::FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Metric::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!("unknown metric `{s}`: expected one of file, shipped, vm, gzip, zstd, debug, symbols, compressed, uncompressed, pull")
            })
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A section of the file, or a bracketed pseudo-section (`[headers]`,
/// `[padding]`, `[unmapped]`, ...) covering bytes outside any section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Section name as in the file (Mach-O: `__TEXT,__text`), or `[...]`.
    pub name: String,
    /// What the section holds.
    pub kind: SectionKind,
    /// Bytes it occupies in the file (0 for bss-like sections).
    pub file_size: u64,
    /// Bytes it occupies in memory once loaded (0 if not allocated).
    pub vm_size: u64,
}

/// Classification of a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionKind {
    /// Executable code.
    Code,
    /// Read-only data.
    Rodata,
    /// Writable initialized data.
    Data,
    /// Zero-initialized data (no file bytes).
    Bss,
    /// Debug information (DWARF...).
    Debug,
    /// Symbol and string tables.
    Symbols,
    /// Unwind tables (`.eh_frame`, `.gcc_except_table`, `.pdata`...).
    Unwind,
    /// Relocations.
    Relocations,
    /// Dynamic linking (`.dynsym`, `.dynstr`, `.plt`, `.got`, imports...).
    Dynamic,
    /// Go runtime metadata (`.gopclntab`, `.typelink`, `.itablink`, `.go.buildinfo`...).
    GoRuntime,
    /// Headers, padding and anything else.
    Other,
}

/// A unit of attribution: a Rust crate, a Go package, a C++ namespace, C
/// code, or a bracketed pseudo-unit for bytes no symbol explains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// `serde_json`, `github.com/spf13/cobra`, `std`, `[C]`,
    /// `[.rodata unattributed]`, ...
    pub name: String,
    /// What kind of unit this is.
    pub kind: UnitKind,
    /// Shipped bytes charged to it.
    pub size: u64,
    /// Number of symbols charged to it.
    pub symbols: u64,
    /// The version of the crate or Go module this unit belongs to, where the
    /// binary says so (`1.11.1`, `v0.23.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// For a Go package: the path of the module that provides it
    /// (`golang.org/x/net` for `golang.org/x/net/http2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

impl Unit {
    /// A unit without a version or module.
    pub fn new(name: String, kind: UnitKind, size: u64, symbols: u64) -> Unit {
        Unit {
            name,
            kind,
            size,
            symbols,
            version: None,
            module: None,
        }
    }

    /// The report's order of units: the largest first, then by name.
    pub fn sort(units: &mut [Unit]) {
        units.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    }
}

/// Classification of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// A Rust crate.
    Crate,
    /// A Go package (full import path), or in a container image an OS
    /// package (dpkg, apk).
    Package,
    /// A C++ namespace.
    Namespace,
    /// C code (or C++ at global scope).
    C,
    /// Bytes no symbol explains: headers, padding, unattributed section bytes.
    Pseudo,
    /// Container images: files no package owns, grouped by path
    /// (`/usr/local/bin/app`, `/app/node_modules/x`).
    Path,
}

/// One symbol with its attributed size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbol {
    /// Demangled name (Rust without the `::h…` hash).
    pub name: String,
    /// The unit it is charged to.
    pub unit: String,
    /// The section it lives in.
    pub section: String,
    /// Bytes.
    pub size: u64,
}

/// A lever of the size playbook that this binary has not pulled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advice {
    /// Stable identifier: `strip-symbols`, `strip-debug`, `go-ldflags-s-w`,
    /// `panic-abort`, `duplicate-dependency`, `large-blob`, `generic-bloat`.
    pub id: String,
    /// Estimated bytes saved (shipped or file size, as the message says).
    pub saving: u64,
    /// What to do, in one or two sentences.
    pub message: String,
}

impl Report {
    /// Shipped bytes charged to bracketed pseudo-units (`[.rodata
    /// unattributed]`, `[.text padding]`, `[go type data]`, `[headers]`...):
    /// what no crate, package or namespace explains.
    pub fn bracketed_size(&self) -> u64 {
        self.units
            .iter()
            .filter(|u| u.name.starts_with('['))
            .map(|u| u.size)
            .sum()
    }

    /// Keep only the `n` largest files of a container image (`n == 0`
    /// keeps all), and any other file that carries an embedded report.
    pub fn truncate_files(&mut self, n: usize) {
        if n == 0 || self.files.len() <= n {
            return;
        }
        let mut index = 0;
        self.files.retain(|f| {
            index += 1;
            index <= n || f.report.is_some()
        });
    }

    /// Keep only the `n` largest symbols (`n == 0` keeps all).
    pub fn truncate_symbols(&mut self, n: usize) {
        if n != 0 && self.symbols.len() > n {
            self.symbols.truncate(n);
            self.symbols_truncated = true;
        }
    }
}
