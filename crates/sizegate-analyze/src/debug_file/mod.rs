//! Separate debug files, one reader per format: ELF (`objcopy
//! --only-keep-debug` output, matched by build-id), Mach-O (the DWARF file
//! of a `.dSYM` bundle, matched by `LC_UUID`, slice by slice) and PE (a PDB,
//! matched by the GUID and age of the artifact's CodeView entry). Each is
//! checked against the artifact, then gives the symbols that the analysis
//! places in the artifact's own sections: sizes always stay the artifact's.

mod dsym;
mod elf;
mod msf;
mod pdb;
mod pdb_objects;

use crate::Error;
use crate::demangle::Demangled;
use crate::report::UnitKind;
use crate::sections::SectionInfo;
use crate::symbols::{self, PlacedSymbol};

/// A debug file that belongs to the artifact being analyzed.
#[derive(Debug)]
pub(crate) enum DebugFile<'d> {
    /// An ELF debug file or a dSYM's DWARF file: an object file whose
    /// section headers mirror the artifact's (boxed: `object::File` is
    /// large, and one is made per analysis).
    Object(Box<object::File<'d>>),
    /// The functions and data a PDB names.
    Pdb(pdb::PdbSymbols),
}

/// Parse `debug` and check that it is the debug file of `file` (one image:
/// a whole file, or one slice of a universal Mach-O file).
pub(crate) fn open<'d>(file: &object::File<'_>, debug: &'d [u8]) -> Result<DebugFile<'d>, Error> {
    match file {
        object::File::Elf32(_) | object::File::Elf64(_) => {
            elf::open(file, debug).map(|f| DebugFile::Object(Box::new(f)))
        }
        object::File::MachO32(_) | object::File::MachO64(_) => {
            dsym::open(file, debug).map(|f| DebugFile::Object(Box::new(f)))
        }
        object::File::Pe32(_) | object::File::Pe64(_) => pdb::open(file, debug).map(DebugFile::Pdb),
        _ => Err(Error::DebugFile(
            "separate debug files are read for ELF (objcopy --only-keep-debug), Mach-O (dSYM) and PE (PDB) artifacts only".into(),
        )),
    }
}

impl<'d> DebugFile<'d> {
    /// The debug file as an object file (ELF debug file, dSYM DWARF file);
    /// `None` for a PDB.
    pub(crate) fn object(&self) -> Option<&object::File<'d>> {
        match self {
            DebugFile::Object(debug) => Some(debug),
            DebugFile::Pdb(_) => None,
        }
    }

    /// Whether its code symbols carry their sizes (a PDB's procedures):
    /// then they are not cut at the next function start the artifact
    /// lists.
    pub(crate) fn sizes_code(&self) -> bool {
        matches!(self, DebugFile::Pdb(_))
    }

    /// Whether it carries debug information beyond symbols (DWARF, or a
    /// PDB's module streams).
    pub(crate) fn has_debug_info(&self) -> bool {
        match self {
            DebugFile::Object(debug) => elf::has_dwarf(debug),
            DebugFile::Pdb(pdb) => pdb.has_modules(),
        }
    }

    /// Its symbols, placed in the artifact's `sections`.
    pub(crate) fn symbols(
        &self,
        sections: &[SectionInfo<'_>],
        go_binary: bool,
    ) -> Vec<PlacedSymbol> {
        match self {
            DebugFile::Object(debug) => {
                symbols::collect(debug, &elf::sections_in(debug, sections), go_binary)
            }
            DebugFile::Pdb(pdb) => pdb.place(sections),
        }
    }

    /// With a PDB, add a symbol for each stretch of code in an object
    /// file's contribution that the (sized) `placed` symbols leave unnamed;
    /// `placed` stays sorted by section and address.
    pub(crate) fn add_unnamed_code(
        &self,
        placed: &mut Vec<PlacedSymbol>,
        sections: &[SectionInfo<'_>],
    ) {
        let DebugFile::Pdb(pdb) = self else {
            return;
        };
        let more = pdb.unnamed_code(placed, sections);
        if !more.is_empty() {
            placed.extend(more);
            placed.sort_by_key(|p| (p.section, p.address));
        }
    }

    /// With a PDB, the C code's unit (`[C]`: C, and C++ at global scope)
    /// becomes the library or object file that holds each symbol
    /// (`libcmt.lib`, `conpty.obj`), from the PDB's section contributions.
    pub(crate) fn name_c_units(&self, placed: &[PlacedSymbol], names: &mut [Demangled]) {
        let DebugFile::Pdb(pdb) = self else {
            return;
        };
        for (symbol, name) in placed.iter().zip(names) {
            if name.unit_kind == UnitKind::C
                && let Some(unit) = pdb.object_unit_at(symbol.address)
            {
                name.unit = unit.to_string();
            }
        }
    }
}
