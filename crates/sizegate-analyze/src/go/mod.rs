//! Go-specific readers: the pclntab (function table, present even in
//! binaries built with `-ldflags "-s -w"` or stripped), the build info
//! (`\xff Go buildinf:`), and the mapping of Go symbol names to packages.
//!
//! These functions work on plain section slices so they know nothing of the
//! container format; the format-specific code in the analyzer builds the
//! [`GoSection`] list.

mod buildinfo;
mod decode;
mod names;
mod pcln_split;
mod pclntab;

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

/// Find the pclntab as [`read_pclntab`] does and split its bytes between
/// the packages of its functions (see [`PclntabSplit`]). `None` when there
/// is no pclntab, or it has the Go 1.2–1.15 layout (not split).
pub fn split_pclntab(sections: &[GoSection<'_>], target: Target) -> Option<PclntabSplit> {
    pcln_split::split(&pclntab::locate(sections, target)?)
}

/// Find and decode the Go build info (`\xff Go buildinf:`), looking first in
/// `.go.buildinfo` / `__go_buildinfo` and else in the data sections.
/// The blob states its own pointer size and byte order. Lines of the module
/// information that do not parse are skipped; a blob whose Go version cannot
/// be read gives `None`.
pub fn read_build_info(sections: &[GoSection<'_>], target: Target) -> Option<GoBuildInfo> {
    buildinfo::read(sections, target)
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
