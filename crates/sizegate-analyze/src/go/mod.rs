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
    read_tables(sections, target, go_version, &mut no_seeds)?.runtime
}

/// The type descriptors the code refers to, asked for once `moduledata`
/// gives the type data's range: the functions and `[types, etypes)` in, the
/// addresses inside it that the code forms (each with the index of the
/// referencing package) and the package names out.
pub(crate) type TypeSeeds<'s> =
    dyn FnMut(&[GoFunction], (u64, u64)) -> (Vec<(u64, u32)>, Vec<String>) + 's;

fn no_seeds(_: &[GoFunction], _: (u64, u64)) -> (Vec<(u64, u32)>, Vec<String>) {
    (Vec::new(), Vec::new())
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
/// `seeds` gives the type descriptors the code refers to (see
/// [`TypeSeeds`]): the walk starts from them too, charging each to the
/// package whose code refers to it unless it names its own.
pub(crate) fn read_tables(
    sections: &[GoSection<'_>],
    target: Target,
    go_version: Option<&str>,
    seeds: &mut TypeSeeds<'_>,
) -> Option<GoTables> {
    let located = pclntab::locate(sections, target)?;
    let module = moduledata::find(sections, &located);
    // The pclntab split and the seeds (the decoding of all code) read
    // different bytes and take about as long on a large binary.
    let (split, seeded) = crate::parallel::join(
        || pcln_split::split(&located),
        || module.map(|m| seeds(&located.functions, (m.types, m.etypes))),
    );
    let runtime = module.zip(seeded).and_then(|(module, seeded)| {
        runtime_data(
            sections,
            &located,
            module,
            split.as_ref(),
            go_version,
            seeded,
        )
    });
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
    (referenced, referrers): (Vec<(u64, u32)>, Vec<String>),
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
    // Pushed last, so walked first: a type the code uses goes with that
    // code's package when it names none of its own.
    let referrers: Vec<u32> = referrers.iter().map(|p| walk.intern(p)).collect();
    for (address, referrer) in referenced {
        walk.push_referenced(address, referrers.get(referrer as usize).copied());
    }
    walk.run();
    claim_find_func_table(&mut walk, memory, module, &located.functions);
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

/// Bytes of one `findfunctab` bucket: a `uint32` index and 16 one-byte
/// sub-bucket deltas, for 4 KiB of code.
const FIND_FUNC_BUCKET: u64 = 20;

/// Where the runtime's `findfunctab` (the pc → function lookup: one
/// bucket per 4 KiB of code from `minpc` to `maxpc`) lies: its address and
/// size (the last bucket holds only the sub-buckets, 256 bytes of code
/// each, that exist). `None` when the module has none.
pub(crate) fn find_func_table(module: &ModuleData) -> Option<(u64, u64)> {
    let span = module.maxpc.checked_sub(module.minpc)?;
    let buckets = span.div_ceil(4096);
    let size = buckets.saturating_mul(4).saturating_add(span.div_ceil(256));
    (module.findfunctab != 0 && buckets > 0).then_some((module.findfunctab, size))
}

/// The buckets of the `findfunctab` (see [`find_func_table`]): (start,
/// end, index in `functions` of the function holding the bucket's first
/// pc, the code it indexes). Buckets before the first function are left
/// out.
pub(crate) fn find_func_buckets<'f>(
    module: &ModuleData,
    functions: &'f [GoFunction],
) -> impl Iterator<Item = (u64, u64, usize)> + 'f {
    let (table, size) = find_func_table(module).unwrap_or((0, 0));
    let buckets = if size == 0 {
        0
    } else {
        module.maxpc.saturating_sub(module.minpc).div_ceil(4096)
    };
    let minpc = module.minpc;
    (0..buckets).filter_map(move |bucket| {
        let pc = minpc.saturating_add(bucket * 4096);
        let index = functions
            .partition_point(|f| f.entry <= pc)
            .checked_sub(1)?;
        let at = table + bucket * FIND_FUNC_BUCKET;
        Some((at, (at + FIND_FUNC_BUCKET).min(table + size), index))
    })
}

/// Claim the runtime's `findfunctab`, each bucket to the package of the
/// code it indexes. Nothing when the table is not in loaded data outside
/// code.
fn claim_find_func_table(
    walk: &mut types::TypeWalk<'_, '_>,
    memory: moduledata::Memory<'_, '_>,
    module: moduledata::ModuleData,
    functions: &[GoFunction],
) {
    let Some((table, size)) = find_func_table(&module) else {
        return;
    };
    let fits = memory.at(table).is_some_and(|d| d.len() as u64 >= size);
    if !fits || memory.in_code(table) {
        return;
    }
    let mut owner: Option<(usize, u32)> = None;
    for (start, end, index) in find_func_buckets(&module, functions) {
        let package = match owner {
            Some((known, package)) if known == index => package,
            _ => walk.intern(package_of(&functions[index].name)),
        };
        owner = Some((index, package));
        walk.claims.push((start, end, package));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn function(name: &str, entry: u64, size: u64) -> GoFunction {
        GoFunction {
            name: name.into(),
            entry,
            size,
            padding: 0,
        }
    }

    #[test]
    fn find_func_buckets_go_to_the_package_of_the_code_they_index() {
        // 3 buckets for 12,188 bytes of text: 3 indexes of 4 bytes and 48
        // sub-bucket bytes, 60 bytes in all.
        let (text, span) = (0x10000u64, 3 * 4096 - 100);
        let table = vec![0u8; 64];
        let sections = [GoSection {
            name: ".rodata",
            address: 0x1000,
            data: &table,
        }];
        let memory = moduledata::Memory {
            sections: &sections,
        };
        let module = moduledata::ModuleData {
            types: 0x1000,
            etypes: 0x1040,
            gofunc: None,
            typelinks: (0, 0),
            itablinks: (0, 0),
            findfunctab: 0x1000,
            minpc: text,
            maxpc: text + span,
        };
        let layout = Layout {
            big_endian: false,
            ptr_size: 8,
        };
        let mut walk = types::TypeWalk::new(memory, layout, module, 22);
        let functions = [
            function("a.F", text, 5000),
            function("b.(*T).G", text + 5000, span - 5000),
        ];
        claim_find_func_table(&mut walk, memory, module, &functions);
        let (packages, claims) = walk.into_packages();
        assert_eq!(packages, ["a", "b"]);
        assert_eq!(
            claims,
            [
                (0x1000, 0x1014, 0),
                (0x1014, 0x1028, 0),
                (0x1028, 0x103c, 1)
            ]
        );
        // A table that does not fit in its section is left alone.
        let short = [GoSection {
            name: ".rodata",
            address: 0x1000,
            data: &table[..59],
        }];
        let memory = moduledata::Memory { sections: &short };
        let mut walk = types::TypeWalk::new(memory, layout, module, 22);
        claim_find_func_table(&mut walk, memory, module, &functions);
        assert!(walk.into_packages().1.is_empty());
    }
}
