//! Separate ELF debug files (`objcopy --only-keep-debug` output, or the
//! `.debug` file a `.gnu_debuglink` or build-id names): checked against the
//! artifact. Their sections, like a dSYM's, mirror the artifact's
//! (`sections_in`).

use object::{Object, ObjectSection};

use crate::Error;
use crate::sections::SectionInfo;

/// Parse `debug` and check that it belongs to `file`: the same GNU
/// build-id when the artifact has one, the same architecture always.
pub(super) fn open<'d>(
    file: &object::File<'_>,
    debug: &'d [u8],
) -> Result<object::File<'d>, Error> {
    let parsed = object::File::parse(debug)
        .map_err(|e| Error::DebugFile(format!("not an object file we read: {e}")))?;
    if !matches!(parsed, object::File::Elf32(_) | object::File::Elf64(_)) {
        return Err(Error::DebugFile("not an ELF file".into()));
    }
    if parsed.architecture() != file.architecture() || parsed.is_64() != file.is_64() {
        return Err(Error::DebugFile(format!(
            "it is for {:?}, the artifact for {:?}",
            parsed.architecture(),
            file.architecture()
        )));
    }
    if parsed.symbols().next().is_none() && !has_dwarf(&parsed) {
        return Err(Error::DebugFile(
            "it holds neither a symbol table nor DWARF (is it the stripped artifact?)".into(),
        ));
    }
    let id = |f: &object::File<'_>| f.build_id().ok().flatten().map(hex::encode);
    match (id(file), id(&parsed)) {
        (Some(a), Some(b)) if a != b => Err(Error::DebugFile(format!(
            "build-id mismatch: the artifact has {a}, the debug file {b}; give the debug file of this very build"
        ))),
        (Some(a), None) => Err(Error::DebugFile(format!(
            "the artifact has build-id {a}, the debug file none; give the debug file of this very build"
        ))),
        _ => Ok(parsed),
    }
}

/// Whether the debug file carries DWARF (ELF `.debug_info`, compressed or
/// not, or `.zdebug_info`; Mach-O `__debug_info`).
pub(super) fn has_dwarf(debug: &object::File<'_>) -> bool {
    crate::dwarf_data::has_section(debug, ".debug_info")
        || debug
            .section_by_name("__debug_info")
            .is_some_and(|s| s.size() > 0)
}

/// The artifact's sections, each with the index of the debug file's
/// section of the same name and address (the debug file keeps every
/// section header, its loaded sections as `NOBITS`; a dSYM keeps every
/// section header of every segment, without their bytes). Sections the debug
/// file lacks get an index no symbol uses.
pub(super) fn sections_in<'a>(
    debug: &object::File<'_>,
    sections: &[SectionInfo<'a>],
) -> Vec<SectionInfo<'a>> {
    let by_name: std::collections::HashMap<(&[u8], u64), object::SectionIndex> = debug
        .sections()
        .filter_map(|s| Some(((s.name_bytes().ok()?, s.address()), s.index())))
        .collect();
    sections
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.index = by_name
                .get(&(s.raw_name.as_bytes(), s.address))
                .copied()
                .unwrap_or(object::SectionIndex(usize::MAX));
            s
        })
        .collect()
}
