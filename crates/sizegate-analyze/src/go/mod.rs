//! Go-specific readers: the pclntab (function table, present even in
//! binaries built with `-ldflags "-s -w"` or stripped), the build info
//! (`\xff Go buildinf:`), and the mapping of Go symbol names to packages.
//!
//! These functions work on plain section slices so they know nothing of the
//! container format; the format-specific code in the analyzer builds the
//! [`GoSection`] list.

mod buildinfo;
mod decode;
mod moduledata;
pub(crate) use moduledata::ModuleData;
mod names;
mod pcln_split;
mod pclntab;
mod types;

pub use names::{
    CGO, GO_LINKER, GO_STRINGS, GO_TYPE_DATA, NO_PACKAGE, package_path, unescape_package,
};

pub use pcln_split::{PCLNTAB_HEADER, PclntabSplit};

use crate::report::GoBuildInfo;

/// A section of the file as the Go readers need it.
#[derive(Debug, Clone, Copy)]
pub struct GoSection<'a> {
    /// Section name (`.gopclntab`, `__gopclntab`, `.data.rel.ro`, `.rdata`...).
    pub name: &'a str,
    /// Virtual address of the section's first byte.
    pub address: u64,
    /// The section's bytes in the file (empty for bss-like sections).
    pub data: &'a [u8],
}

/// Byte order and pointer size of the target, needed to decode the pclntab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Big-endian target.
    pub big_endian: bool,
    /// Pointer size in bytes (4 or 8).
    pub ptr_size: u8,
}

/// One function from the pclntab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoFunction {
    /// Full symbol name as the pclntab spells it, e.g.
    /// `main.(*server).handle.func1`. Go 1.18+ tables elide what is in
    /// brackets (`main.Map[...]`, `type:.eq.[...]pkg.T`), so instantiations
    /// of one generic function share a name; assembly functions lack the
    /// symbol table's `.abi0` suffix.
    pub name: String,
    /// Entry address (absolute virtual address).
    pub entry: u64,
    /// Code bytes, from the function's pc tables (Go 1.16+); where those
    /// cannot be read, the distance to the next function's entry (the last
    /// one ends at the end of the text the table covers).
    pub size: u64,
    /// Alignment padding between the end of the code and the next entry.
    pub padding: u64,
}

/// Layout generation of the pclntab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PclntabVersion {
    /// Go 1.2 to 1.15 (magic 0xfffffffb).
    Go12,
    /// Go 1.16 and 1.17 (magic 0xfffffffa).
    Go116,
    /// Go 1.18 and 1.19 (magic 0xfffffff0).
    Go118,
    /// Go 1.20 and later (magic 0xfffffff1).
    Go120,
}

/// A decoded pclntab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pclntab {
    /// Layout generation.
    pub version: PclntabVersion,
    /// Name of the section it was found in.
    pub section: String,
    /// Functions sorted by entry address.
    pub functions: Vec<GoFunction>,
}

/// Find and decode the pclntab: through `.gopclntab` / `__gopclntab` when
/// present, else by its magic plus header sanity checks inside the given
/// sections (PIE and externally linked ELF put it in `.data.rel.ro`; PE in
/// `.rdata`/`.text`). `None` when there is no (valid) pclntab.
///
/// Every function is checked against its `_func` record, entries must be
/// sorted, and the table must fit in its section, so a corrupt table gives
/// `None`. When a Go 1.18+ header holds an unrelocated text start of 0, the
/// address of the `.text`/`__text` section (if given) is used instead; sizes
/// do not depend on it.
pub fn read_pclntab(sections: &[GoSection<'_>], target: Target) -> Option<Pclntab> {
    pclntab::read(sections, target)
}

pub(crate) use decode::Layout;

/// Decode an unsigned LEB128 number: its value and the bytes it took.
pub(crate) fn uleb128(data: &[u8]) -> Option<(u64, usize)> {
    decode::uvarint(data)
}

/// Find the pclntab as [`read_pclntab`] does and split its bytes between
/// the packages of its functions (see [`PclntabSplit`]). `None` when there
/// is no pclntab, or it has the Go 1.2–1.15 layout (not split).
pub fn split_pclntab(sections: &[GoSection<'_>], target: Target) -> Option<PclntabSplit> {
    pcln_split::split(&pclntab::locate(sections, target)?)
}

/// The runtime data that `moduledata` leads to, charged to packages: type
/// descriptors with their uncommon parts, method tables and name data
/// (to the package defining the type), itabs (to the package of the
/// concrete type) and Go 1.16+ `funcdata` (to the package of the function;
/// data shared by several functions to the first package by address).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeDataSplit {
    /// Disjoint address ranges, sorted, each with an index into `packages`.
    pub pieces: Vec<(u64, u64, u32)>,
    /// Package names as symbol names spell them (`gopkg.in/yaml%2ev3`), or
    /// [`GO_TYPE_DATA`] for unnamed types no package refers to.
    pub packages: Vec<String>,
}

/// Find `moduledata` (by its pointer to the pclntab, so also in stripped
/// binaries), walk the type data from `typelinks` and `itablinks`, and
/// split the funcdata. `go_version` (from the build info) picks the name
/// and map layouts; without it Go 1.18+ tables are read as Go 1.20.
/// `None` without a Go 1.16+ pclntab or `moduledata`.
pub fn split_runtime_data(
    sections: &[GoSection<'_>],
    target: Target,
    go_version: Option<&str>,
) -> Option<RuntimeDataSplit> {
    let located = pclntab::locate(sections, target)?;
    let split = pcln_split::split(&located);
    let module = moduledata::find(sections, &located)?;
    runtime_data(sections, &located, module, split.as_ref(), go_version)
}

/// Everything the analyzer takes from the Go tables, decoding the pclntab
/// once: the functions, the pclntab split and the runtime data split.
#[derive(Debug, Clone, Default)]
pub(crate) struct GoTables {
    /// Functions of the pclntab, sorted by entry.
    pub functions: Vec<GoFunction>,
    /// See [`split_pclntab`].
    pub pclntab: Option<PclntabSplit>,
    /// See [`split_runtime_data`].
    pub runtime: Option<RuntimeDataSplit>,
    /// `moduledata`, when found.
    pub module: Option<moduledata::ModuleData>,
}

/// Read every Go table once; `None` without a pclntab.
pub(crate) fn read_tables(
    sections: &[GoSection<'_>],
    target: Target,
    go_version: Option<&str>,
) -> Option<GoTables> {
    let located = pclntab::locate(sections, target)?;
    let split = pcln_split::split(&located);
    let module = moduledata::find(sections, &located);
    let runtime = module
        .and_then(|module| runtime_data(sections, &located, module, split.as_ref(), go_version));
    Some(GoTables {
        functions: located.functions,
        pclntab: split,
        runtime,
        module,
    })
}

fn runtime_data(
    sections: &[GoSection<'_>],
    located: &pclntab::Located<'_>,
    module: moduledata::ModuleData,
    split: Option<&PclntabSplit>,
    go_version: Option<&str>,
) -> Option<RuntimeDataSplit> {
    let minor = go_version
        .and_then(|v| v.strip_prefix("go1."))
        .and_then(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u32>().ok()
        })
        .unwrap_or(match located.table.version {
            PclntabVersion::Go12 | PclntabVersion::Go116 => 17,
            PclntabVersion::Go118 => 18,
            PclntabVersion::Go120 => 20,
        });
    let memory = moduledata::Memory { sections };
    let mut walk = types::TypeWalk::new(memory, located.table.layout, module, minor);
    walk.walk_itabs();
    walk.push_typelinks();
    walk.run();
    // Funcdata: each item to the next one's start (the last one, of
    // unknown length, stays unexplained).
    if let Some(split) = split {
        let base = if split.funcdata_relative {
            module.gofunc
        } else {
            Some(0)
        };
        if let Some(base) = base {
            let owners: Vec<u32> = split.packages.iter().map(|p| walk.intern(p)).collect();
            let mut items: Vec<(u64, u32)> = split
                .funcdata
                .iter()
                .filter_map(|&(offset, owner)| {
                    Some((base.checked_add(offset)?, *owners.get(owner as usize)?))
                })
                .filter(|&(address, _)| memory.at(address).is_some())
                .collect();
            items.sort_unstable();
            items.dedup_by_key(|item| item.0);
            for pair in items.windows(2) {
                let ((start, owner), (next, _)) = (pair[0], pair[1]);
                // A long gap is not one funcdata item: something else sits there.
                if next - start <= 1 << 16 {
                    walk.claims.push((start, next, owner));
                }
            }
        }
    }
    let (packages, claims) = walk.into_packages();
    Some(RuntimeDataSplit {
        pieces: types::settle(claims),
        packages,
    })
}

/// Find and decode the Go build info (`\xff Go buildinf:`), looking first in
/// `.go.buildinfo` / `__go_buildinfo` and else in the data sections.
/// The blob states its own pointer size and byte order. Lines of the module
/// information that do not parse are skipped; a blob whose Go version cannot
/// be read gives `None`.
pub fn read_build_info(sections: &[GoSection<'_>], target: Target) -> Option<GoBuildInfo> {
    buildinfo::read(sections, target)
}

/// The Go version of a module without build info (Go WebAssembly before
/// 1.21 writes none): the string `runtime.buildVersion` in its linear
/// `memory` starting at `base` (see [`buildinfo`]).
pub(crate) fn version_from_memory(memory: &[u8], base: u64) -> Option<String> {
    buildinfo::version_from_string_header(memory, base)
}

/// The module information of a module without build info (Go WebAssembly
/// before 1.21): the `runtime.modinfo` string in its linear `memory`
/// starting at `base`, with `go_version` as the Go version.
pub(crate) fn modinfo_from_memory(
    memory: &[u8],
    base: u64,
    go_version: &str,
) -> Option<GoBuildInfo> {
    let mut info = buildinfo::modinfo_from_string_header(memory, base)?;
    go_version.clone_into(&mut info.go_version);
    Some(info)
}

/// The package (full import path) a Go symbol belongs to:
/// `github.com/a/b.(*T).M` → `github.com/a/b`, `main.main.func1` → `main`,
/// `fmt.Println[...]` → `fmt`, `type:*foo.Bar` and `go:string.*` → the
/// pseudo-packages `type:`/`go:` resolve to ([`GO_TYPE_DATA`],
/// [`GO_STRINGS`], [`GO_LINKER`]; cgo glue is [`CGO`], names without a
/// package [`NO_PACKAGE`]). Escapes in the path are kept
/// (`gopkg.in/yaml%2ev3`): [`package_path`] decodes them.
pub fn package_of(symbol: &str) -> &str {
    names::package_of(symbol)
}
