//! PE/COFF: DOS and PE headers with the section table, and the COFF symbol
//! and string tables that `strip` (and Go's `-s`) remove.

use object::LittleEndian as LE;
use object::read::pe::{ImageNtHeaders, PeFile};

use crate::report::SectionKind;
use crate::sections::PseudoRange;

/// Size of one COFF symbol table record.
const COFF_SYMBOL_SIZE: u64 = 18;

/// Headers and the COFF symbol and string tables.
pub(super) fn structures<Pe: ImageNtHeaders>(
    pe: &PeFile<'_, Pe>,
    bytes: &[u8],
) -> Vec<PseudoRange> {
    use object::read::pe::ImageOptionalHeader;
    let headers = pe.nt_headers();
    let mut out = vec![PseudoRange {
        name: "[headers]",
        kind: SectionKind::Other,
        offset: 0,
        size: headers.optional_header().size_of_headers().into(),
    }];
    let file_header = headers.file_header();
    let symoff = u64::from(file_header.pointer_to_symbol_table.get(LE));
    let nsyms = u64::from(file_header.number_of_symbols.get(LE));
    if symoff != 0 {
        let symtab_size = nsyms.saturating_mul(COFF_SYMBOL_SIZE);
        out.push(PseudoRange {
            name: "[symbol table]",
            kind: SectionKind::Symbols,
            offset: symoff,
            size: symtab_size,
        });
        let stroff = symoff.saturating_add(symtab_size);
        // The string table starts with its own length, that length included.
        let strsize = usize::try_from(stroff)
            .ok()
            .and_then(|o| bytes.get(o..o.checked_add(4)?))
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, |b| u64::from(u32::from_le_bytes(b)));
        out.push(PseudoRange {
            name: "[string table]",
            kind: SectionKind::Symbols,
            offset: stroff,
            size: strsize,
        });
    }
    out
}
