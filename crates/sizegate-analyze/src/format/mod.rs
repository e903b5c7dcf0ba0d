//! Format-specific layout: the structures each container format has outside
//! its sections (headers, symbol tables, link-edit data), and the strip
//! model that says which bytes survive `strip --strip-all` (Go: `-s -w`).

mod elf;
mod macho;
mod pe;
mod wasm;

pub(crate) use wasm::leb128_len;

use crate::report::{Format, Section};
use crate::sections::{self, GapNaming, PseudoRange, SectionInfo};

/// The file's bytes laid out: sections and pseudo-sections, and what ships.
#[derive(Debug)]
pub(crate) struct Layout<'data> {
    /// Container format.
    pub format: Format,
    /// Real sections, with `share` and `shipped` filled in.
    pub sections: Vec<SectionInfo<'data>>,
    /// The partition of the file (real and pseudo-sections).
    pub partition: Vec<Section>,
    /// Bytes outside real sections that survive stripping, as pseudo-units
    /// (`[headers]`, `[section headers]`, `[padding]`...).
    pub shipped_pseudo: Vec<(String, u64)>,
    /// Bytes of symbol tables (real and pseudo-sections).
    pub symbol_bytes: u64,
}

impl Layout<'_> {
    /// The shipped size: shipped section bytes plus shipped pseudo bytes.
    pub fn shipped(&self) -> u64 {
        let sections: u64 = self.sections.iter().map(|s| s.shipped).sum();
        let pseudo: u64 = self.shipped_pseudo.iter().map(|p| p.1).sum();
        sections + pseudo
    }
}

/// What a format model returns about the bytes that ship.
#[derive(Debug, Default)]
struct Shipped {
    /// Pseudo-units other than padding.
    pseudo: Vec<(String, u64)>,
    /// Total shipped size the model predicts; the difference to the parts
    /// becomes `[padding]`.
    total: u64,
}

/// Lay out the file: read sections, partition the bytes, apply the strip model.
pub(crate) fn layout<'data>(
    file: &object::File<'data>,
    bytes: &'data [u8],
) -> Result<Layout<'data>, crate::Error> {
    let file_len = bytes.len() as u64;
    let mut sections = sections::read_sections(file, file_len);
    let (format, structures, containers, gaps) = structures(file, bytes)?;
    let partition = sections::partition(bytes, &mut sections, &structures, &containers, gaps);
    let shipped = match file {
        object::File::Elf32(elf) => elf::shipped(elf, &mut sections, &partition, file_len),
        object::File::Elf64(elf) => elf::shipped(elf, &mut sections, &partition, file_len),
        object::File::MachO32(m) => macho::shipped(m, &mut sections, &partition, file_len),
        object::File::MachO64(m) => macho::shipped(m, &mut sections, &partition, file_len),
        object::File::Pe32(_) | object::File::Pe64(_) => {
            subtractive(&mut sections, &partition, &[])
        }
        _ => wasm::shipped(&mut sections, &partition),
    };
    let symbol_bytes = partition
        .iter()
        .filter(|s| s.kind == crate::report::SectionKind::Symbols)
        .map(|s| s.file_size)
        .sum();
    let mut layout = Layout {
        format,
        sections,
        partition,
        shipped_pseudo: shipped.pseudo,
        symbol_bytes,
    };
    layout.settle_shipped(shipped.total.min(file_len));
    Ok(layout)
}

/// The format, its known structures and containers, and how its gaps are
/// named.
type Structures = (Format, Vec<PseudoRange>, Vec<PseudoRange>, GapNaming);

fn structures(file: &object::File<'_>, bytes: &[u8]) -> Result<Structures, crate::Error> {
    let padding = GapNaming::ZeroIsPadding;
    Ok(match file {
        object::File::Elf32(elf) => (Format::Elf, elf::structures(elf), Vec::new(), padding),
        object::File::Elf64(elf) => (Format::Elf, elf::structures(elf), Vec::new(), padding),
        object::File::MachO32(m) => {
            let (s, c) = macho::structures(m)?;
            (Format::Macho, s, c, padding)
        }
        object::File::MachO64(m) => {
            let (s, c) = macho::structures(m)?;
            (Format::Macho, s, c, padding)
        }
        object::File::Pe32(pe) => (Format::Pe, pe::structures(pe, bytes), Vec::new(), padding),
        object::File::Pe64(pe) => (Format::Pe, pe::structures(pe, bytes), Vec::new(), padding),
        object::File::Wasm(_) => (
            Format::Wasm,
            Vec::new(),
            Vec::new(),
            GapNaming::SectionHeaders,
        ),
        _ => {
            return Err(crate::Error::Unsupported(
                "relocatable COFF and XCOFF files are not analyzed; give a linked executable or library".into(),
            ));
        }
    })
}

impl Layout<'_> {
    /// The model's total is authoritative, within what the parts allow:
    /// more becomes padding, less comes off the padding and link-edit data.
    fn settle_shipped(&mut self, total: u64) {
        let parts = self.shipped();
        if total > parts {
            let padding = total - parts;
            match self.shipped_pseudo.iter_mut().find(|p| p.0 == "[padding]") {
                Some(p) => p.1 += padding,
                None => self.shipped_pseudo.push(("[padding]".to_string(), padding)),
            }
        } else {
            let mut excess = parts - total;
            for name in [
                "[padding]",
                "[__LINKEDIT]",
                "[unmapped]",
                "[section headers]",
                "[headers]",
            ] {
                if let Some(p) = self.shipped_pseudo.iter_mut().find(|p| p.0 == name) {
                    let cut = excess.min(p.1);
                    p.1 -= cut;
                    excess -= cut;
                }
            }
        }
        self.shipped_pseudo.retain(|p| p.1 > 0);
    }
}

/// True for sections that stripping removes: debug info and symbol tables.
fn is_strippable(kind: crate::report::SectionKind) -> bool {
    matches!(
        kind,
        crate::report::SectionKind::Debug | crate::report::SectionKind::Symbols
    )
}

/// The strip model of formats that strip in place (PE, and the parts of
/// Mach-O and WebAssembly it applies to): every byte ships except debug and
/// symbol sections and pseudo-sections, less `reduced` (name, bytes kept) for
/// pseudo-sections that stripping only shrinks.
fn subtractive(
    sections: &mut [SectionInfo<'_>],
    partition: &[Section],
    reduced: &[(&str, u64)],
) -> Shipped {
    let mut total = 0;
    for s in sections.iter_mut() {
        s.shipped = if is_strippable(s.kind) { 0 } else { s.share };
        total += s.shipped;
    }
    let mut pseudo = Vec::new();
    for p in partition.iter().filter(|p| p.name.starts_with('[')) {
        let kept = match reduced.iter().find(|r| r.0 == p.name) {
            Some(r) => r.1.min(p.file_size),
            None if is_strippable(p.kind) => 0,
            None => p.file_size,
        };
        total += kept;
        pseudo.push((p.name.clone(), kept));
    }
    Shipped { pseudo, total }
}
