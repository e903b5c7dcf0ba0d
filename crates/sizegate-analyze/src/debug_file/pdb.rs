//! PE debug files: the PDB the linker wrote (`/DEBUG`), read with the `pdb`
//! crate. The artifact's CodeView debug directory entry (`RSDS`) names the
//! PDB by GUID and age; the PDB's info stream carries the GUID and its DBI
//! stream the age. Symbols come from the module streams (procedures with
//! their code length, thunks, static data) and the public symbols (mangled
//! names, used where they say more: Rust's carry the crate), each charged
//! to a unit by the language its module was compiled from.

use std::collections::HashMap;

use object::Object;
use pdb::FallibleIterator;

use crate::Error;
use crate::demangle::Lang;
use crate::sections::SectionInfo;
use crate::symbols::{self, ByAddress, PlacedSymbol};

/// Symbols of a PDB, by relative virtual address.
#[derive(Debug)]
pub(crate) struct PdbSymbols {
    /// The artifact's image base (the section addresses are absolute).
    image_base: u64,
    /// Modules (compilands) that carried a symbol stream.
    modules: usize,
    /// Functions and data, one per address.
    entries: Vec<Entry>,
    /// The object file or library at each address (`pdb_objects`).
    objects: super::pdb_objects::ObjectMap,
}

/// One function or datum.
#[derive(Debug)]
struct Entry {
    name: String,
    rva: u32,
    /// Code length of a procedure or thunk; 0 for data and publics (sized
    /// by the gap to the next symbol).
    size: u32,
    /// `None` for a mangled name (a public symbol); else the language of
    /// the module that names it undecorated.
    lang: Option<Lang>,
}

fn malformed(e: pdb::Error) -> Error {
    Error::DebugFile(format!("malformed PDB: {e}"))
}

/// A GUID as Windows tools print it, from its on-disk (little-endian
/// fields) bytes: `B8E3EE15-146E-A1AC-4C4C-44205044422E`.
fn format_guid(bytes: &[u8; 16]) -> String {
    let d1 = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let d2 = u16::from_le_bytes([bytes[4], bytes[5]]);
    let d3 = u16::from_le_bytes([bytes[6], bytes[7]]);
    format!(
        "{d1:08X}-{d2:04X}-{d3:04X}-{}-{}",
        hex::encode_upper(&bytes[8..10]),
        hex::encode_upper(&bytes[10..16])
    )
}

/// The PDB being read, over the debug file's bytes.
type Pdb<'d> = pdb::PDB<'d, std::io::Cursor<&'d [u8]>>;

/// Parse the PDB `debug` and check that `file` names it.
pub(super) fn open(file: &object::File<'_>, debug: &[u8]) -> Result<PdbSymbols, Error> {
    let wanted = named_pdb(file)?;
    super::msf::check(debug)?;
    let mut pdb = pdb::PDB::open(std::io::Cursor::new(debug)).map_err(malformed)?;
    check_identity(&wanted, &mut pdb)?;
    let address_map = pdb.address_map().map_err(malformed)?;
    let (mut by_rva, modules) = module_symbols(&mut pdb, &address_map)?;
    add_publics(&mut pdb, &address_map, &mut by_rva)?;
    let mut entries: Vec<Entry> = by_rva.into_values().collect();
    entries.sort_unstable_by_key(|e| e.rva);
    let dbi = pdb.debug_information().map_err(malformed)?;
    let objects = super::pdb_objects::ObjectMap::read(&dbi, &address_map);
    Ok(PdbSymbols {
        image_base: file.relative_address_base(),
        modules,
        entries,
        objects,
    })
}

/// The PDB the artifact's CodeView debug directory entry names.
struct NamedPdb {
    guid: String,
    age: u32,
    path: String,
}

fn named_pdb(file: &object::File<'_>) -> Result<NamedPdb, Error> {
    let code_view = file.pdb_info().ok().flatten().ok_or_else(|| {
        Error::DebugFile(
            "the artifact names no PDB (it has no CodeView debug directory entry): link with /DEBUG"
                .into(),
        )
    })?;
    Ok(NamedPdb {
        guid: format_guid(&code_view.guid()),
        age: code_view.age(),
        path: String::from_utf8_lossy(code_view.path()).into_owned(),
    })
}

/// The GUID and age the artifact names must be the PDB's.
fn check_identity(wanted: &NamedPdb, pdb: &mut Pdb<'_>) -> Result<(), Error> {
    let info = pdb.pdb_information().map_err(malformed)?;
    let dbi = pdb.debug_information().map_err(malformed)?;
    let found = (
        info.guid.hyphenated().to_string().to_uppercase(),
        dbi.age().unwrap_or(info.age),
    );
    if found != (wanted.guid.clone(), wanted.age) {
        return Err(Error::DebugFile(format!(
            "GUID/age mismatch: the artifact names PDB {} age {} (`{}`), this PDB is {} age {}; give the PDB of this very build",
            wanted.guid, wanted.age, wanted.path, found.0, found.1
        )));
    }
    Ok(())
}

/// Procedures, thunks and data from each module's stream: undecorated
/// names, in the module's language; and how many modules had a stream.
fn module_symbols(
    pdb: &mut Pdb<'_>,
    address_map: &pdb::AddressMap<'_>,
) -> Result<(HashMap<u32, Entry>, usize), Error> {
    let dbi = pdb.debug_information().map_err(malformed)?;
    let mut by_rva: HashMap<u32, Entry> = HashMap::new();
    let mut modules = 0usize;
    let mut list = dbi.modules().map_err(malformed)?;
    while let Some(module) = list.next().map_err(malformed)? {
        let Some(info) = pdb.module_info(&module).map_err(malformed)? else {
            continue;
        };
        modules += 1;
        let mut lang = Lang::C;
        let mut symbols = info.symbols().map_err(malformed)?;
        // A record the crate cannot read ends this module's list; the
        // others still count.
        while let Ok(Some(symbol)) = symbols.next() {
            let (name, offset, size) = match symbol.parse() {
                Ok(pdb::SymbolData::CompileFlags(flags)) => {
                    lang = language(&flags);
                    continue;
                }
                Ok(pdb::SymbolData::Procedure(p)) => (p.name, p.offset, p.len),
                Ok(pdb::SymbolData::Thunk(t)) => (t.name, t.offset, u32::from(t.len)),
                Ok(pdb::SymbolData::Data(d)) => (d.name, d.offset, 0),
                _ => continue,
            };
            let Some(at) = offset.to_rva(address_map).map(|r| r.0) else {
                continue;
            };
            if name.as_bytes().is_empty() {
                continue;
            }
            by_rva.entry(at).or_insert_with(|| Entry {
                name: name.to_string().into_owned(),
                rva: at,
                size,
                lang: Some(lang),
            });
        }
    }
    Ok((by_rva, modules))
}

/// Public symbols: mangled names. A Rust one replaces the undecorated name
/// (it names the crate the same way as on other platforms); others fill
/// addresses no module named.
fn add_publics(
    pdb: &mut Pdb<'_>,
    address_map: &pdb::AddressMap<'_>,
    by_rva: &mut HashMap<u32, Entry>,
) -> Result<(), Error> {
    let globals = pdb.global_symbols().map_err(malformed)?;
    let mut publics = globals.iter();
    while let Ok(Some(symbol)) = publics.next() {
        let Ok(pdb::SymbolData::Public(public)) = symbol.parse() else {
            continue;
        };
        let Some(at) = public.offset.to_rva(address_map).map(|r| r.0) else {
            continue;
        };
        let name = public.name.to_string();
        if name.is_empty() {
            continue;
        }
        match by_rva.get_mut(&at) {
            Some(entry) if is_rust_mangled(&name) => {
                entry.name = name.into_owned();
                entry.lang = None;
            }
            Some(_) => {}
            None => {
                by_rva.insert(
                    at,
                    Entry {
                        name: name.into_owned(),
                        rva: at,
                        size: 0,
                        lang: None,
                    },
                );
            }
        }
    }
    Ok(())
}

/// Whether a public symbol's name is Rust's mangling (legacy or v0).
fn is_rust_mangled(name: &str) -> bool {
    name.starts_with("_ZN") || name.starts_with("_R")
}

/// The language a module was compiled from. The `pdb` crate knows no Rust
/// language code (CodeView's 0x15, read as `Masm`): rustc's modules say
/// so in their compiler version string (`clang LLVM (rustc version …)`).
fn language(flags: &pdb::CompileFlagsSymbol<'_>) -> Lang {
    if flags.version_string.to_string().contains("rustc version") {
        return Lang::Rust;
    }
    match flags.language {
        pdb::SourceLanguage::Cpp => Lang::Cpp,
        _ => Lang::C,
    }
}

impl PdbSymbols {
    /// Whether any module carried a symbol stream (debug information
    /// beyond the public symbols).
    pub(super) fn has_modules(&self) -> bool {
        self.modules > 0
    }

    /// The symbols placed in the artifact's sections.
    pub(super) fn place(&self, sections: &[SectionInfo<'_>]) -> Vec<PlacedSymbol> {
        let named = self
            .entries
            .iter()
            .map(|e| ByAddress {
                name: e.name.clone(),
                address: self.image_base.saturating_add(u64::from(e.rva)),
                size: u64::from(e.size),
                undecorated: e.lang,
            })
            .collect();
        symbols::place_by_address(named, sections)
    }

    /// Symbols for the code `placed` (sized) leaves unnamed in the PDB's
    /// code contributions, named after their object files (see
    /// `pdb_objects`), placed in `sections`.
    pub(super) fn unnamed_code(
        &self,
        placed: &[PlacedSymbol],
        sections: &[SectionInfo<'_>],
    ) -> Vec<PlacedSymbol> {
        let rva = |address: u64| u32::try_from(address.checked_sub(self.image_base)?).ok();
        let mut extents: Vec<(u32, u32)> = placed
            .iter()
            .filter_map(|p| Some((rva(p.address)?, u32::try_from(p.size).unwrap_or(u32::MAX))))
            .collect();
        extents.sort_unstable();
        let named = self
            .objects
            .fillers(&extents)
            .into_iter()
            .map(|(rva, size, name)| ByAddress {
                name,
                address: self.image_base.saturating_add(u64::from(rva)),
                size: u64::from(size),
                undecorated: Some(Lang::C),
            })
            .collect();
        symbols::place_by_address(named, sections)
    }

    /// The library or object file (`libcmt.lib`, `conpty.obj`) whose code
    /// or data lies at `address`.
    pub(super) fn object_unit_at(&self, address: u64) -> Option<&str> {
        let rva = u32::try_from(address.checked_sub(self.image_base)?).ok()?;
        self.objects.unit_at(rva)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_read_as_windows_prints_them() {
        let bytes = [
            0x15, 0xee, 0xe3, 0xb8, 0x6e, 0x14, 0xac, 0xa1, 0x4c, 0x4c, 0x44, 0x20, 0x50, 0x44,
            0x42, 0x2e,
        ];
        assert_eq!(format_guid(&bytes), "B8E3EE15-146E-A1AC-4C4C-44205044422E");
    }
}
