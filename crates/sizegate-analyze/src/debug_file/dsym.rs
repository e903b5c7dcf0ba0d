//! Mach-O debug files: the DWARF file inside a `.dSYM` bundle
//! (`APP.dSYM/Contents/Resources/DWARF/APP`, what `dsymutil` writes). It is
//! a Mach-O file of type `MH_DSYM`, thin or universal, whose slices carry
//! the `LC_UUID` of the image they describe, the full symbol table, every
//! section header of the image (without the bytes) and the `__DWARF`
//! segment. The slice whose UUID is the artifact's is the one read.

use object::Object;
use object::read::macho::{FatArch, MachOFatFile32, MachOFatFile64};

use crate::Error;

/// How to point at the DWARF file when given something else.
const WHERE: &str = "give the DWARF file inside the bundle (APP.dSYM/Contents/Resources/DWARF/APP) or the bundle directory";

/// The dSYM slice that belongs to `file`: the same `LC_UUID` when the
/// artifact has one (universal dSYMs are searched slice by slice), else
/// the same architecture.
pub(super) fn open<'d>(
    file: &object::File<'_>,
    debug: &'d [u8],
) -> Result<object::File<'d>, Error> {
    let slices = slices(debug)?;
    let arch = crate::image::arch_name(file.architecture());
    let wanted = file.mach_uuid().ok().flatten();
    let chosen = match wanted {
        Some(uuid) => {
            let found = slices
                .iter()
                .position(|s| s.mach_uuid().ok().flatten() == Some(uuid));
            match found {
                Some(i) => i,
                None => {
                    let theirs: Vec<String> = slices
                        .iter()
                        .map(|s| {
                            let id = s
                                .mach_uuid()
                                .ok()
                                .flatten()
                                .map_or_else(|| "no UUID".to_string(), |u| format_uuid(&u));
                            format!("{id} ({})", crate::image::arch_name(s.architecture()))
                        })
                        .collect();
                    return Err(Error::DebugFile(format!(
                        "UUID mismatch: the artifact ({arch}) has {}, the dSYM {}; give the dSYM of this very build",
                        format_uuid(&uuid),
                        theirs.join(", ")
                    )));
                }
            }
        }
        None => slices
            .iter()
            .position(|s| s.architecture() == file.architecture() && s.is_64() == file.is_64())
            .ok_or_else(|| Error::DebugFile(format!("the dSYM holds no {arch} slice")))?,
    };
    let parsed = slices
        .into_iter()
        .nth(chosen)
        .ok_or_else(|| Error::DebugFile("the dSYM slice vanished".into()))?;
    if parsed.symbols().next().is_none() && !super::elf::has_dwarf(&parsed) {
        return Err(Error::DebugFile(
            "the dSYM holds neither a symbol table nor DWARF (is it the stripped artifact?)".into(),
        ));
    }
    Ok(parsed)
}

/// The Mach-O images of `debug`: itself, or each slice of a universal file.
fn slices(debug: &[u8]) -> Result<Vec<object::File<'_>>, Error> {
    let malformed = |e: object::read::Error| Error::DebugFile(format!("malformed dSYM: {e}"));
    let datas: Vec<&[u8]> = match object::FileKind::parse(debug) {
        Ok(object::FileKind::MachO32 | object::FileKind::MachO64) => vec![debug],
        Ok(object::FileKind::MachOFat32) => {
            let fat = MachOFatFile32::parse(debug).map_err(malformed)?;
            fat.arches()
                .iter()
                .map(|a| a.data(debug).map_err(malformed))
                .collect::<Result<_, _>>()?
        }
        Ok(object::FileKind::MachOFat64) => {
            let fat = MachOFatFile64::parse(debug).map_err(malformed)?;
            fat.arches()
                .iter()
                .map(|a| a.data(debug).map_err(malformed))
                .collect::<Result<_, _>>()?
        }
        _ => {
            return Err(Error::DebugFile(format!(
                "not a Mach-O file; for a Mach-O artifact {WHERE}"
            )));
        }
    };
    datas
        .into_iter()
        .map(|d| object::File::parse(d).map_err(malformed))
        .collect()
}

/// A UUID as Apple's tools print it: `4C4C4404-5555-3144-A16F-15F8040DCE39`.
pub(super) fn format_uuid(uuid: &[u8; 16]) -> String {
    let hex = hex::encode_upper(uuid);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_read_as_apple_prints_them() {
        let uuid = [
            0x4c, 0x4c, 0x44, 0x04, 0x55, 0x55, 0x31, 0x44, 0xa1, 0x6f, 0x15, 0xf8, 0x04, 0x0d,
            0xce, 0x39,
        ];
        assert_eq!(format_uuid(&uuid), "4C4C4404-5555-3144-A16F-15F8040DCE39");
    }

    #[test]
    fn other_files_are_refused_with_the_way_to_the_dwarf_file() {
        let err = slices(b"not a mach-o file at all").unwrap_err().to_string();
        assert!(err.contains("Contents/Resources/DWARF"), "{err}");
    }
}
