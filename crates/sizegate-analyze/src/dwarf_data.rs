//! DWARF section bytes as `gimli` reads them: borrowed from the file when
//! stored plainly, decompressed when compressed: ELF `SHF_COMPRESSED`
//! sections (zlib or zstd: `gcc -gz`, `objcopy --compress-debug-sections`,
//! rustc's `-Z debuginfo-compression`, Debian's `-dbgsym` files) and the
//! older GNU `.zdebug_*` sections (zlib).
//!
//! The uncompressed size comes from the section's header, which a hostile
//! file chooses: it is believed only up to `MAX_RATIO` times the compressed
//! bytes and within what is left of a budget for the whole analysis
//! (`MAX_TOTAL`), and the output never grows past it. A section refused or
//! undecodable is left out (as if absent) and a note says which and why.

use std::borrow::Cow;
use std::io::Read;

use object::{Object, ObjectSection};

/// The most a compressed section may claim to grow: real DWARF compresses
/// 3–10× (zlib) and up to ~30× (zstd on string tables).
const MAX_RATIO: u64 = 128;
/// The most bytes decompressed in one analysis, all sections together.
const MAX_TOTAL: u64 = 1 << 30;

/// What decompression may still allocate, and what it left out.
#[derive(Debug)]
pub(crate) struct Budget {
    left: u64,
    /// One line per section left out.
    pub(crate) notes: Vec<String>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            left: MAX_TOTAL,
            notes: Vec::new(),
        }
    }
}

/// Whether `file` has a section `name` (`.debug_info`), plainly or as the
/// GNU `.zdebug_*` form, with bytes in it.
pub(crate) fn has_section(file: &object::File<'_>, name: &str) -> bool {
    find(file, name).is_some_and(|s| s.size() > 0)
}

fn find<'data, 'file>(
    file: &'file object::File<'data>,
    name: &str,
) -> Option<object::Section<'data, 'file>> {
    file.section_by_name(name).or_else(|| {
        let rest = name.strip_prefix(".debug_")?;
        file.section_by_name(&format!(".zdebug_{rest}"))
    })
}

/// The bytes of DWARF section `name` (`.debug_info`; Mach-O's `__debug_*`
/// names are found by object), decompressed within `budget`; empty when
/// absent, or left out with a note in `budget`.
pub(crate) fn section_bytes<'data>(
    file: &object::File<'data>,
    name: &str,
    budget: &mut Budget,
) -> Cow<'data, [u8]> {
    let Some(section) = find(file, name) else {
        return Cow::Borrowed(&[]);
    };
    let shown = section.name().unwrap_or(name).to_string();
    let compressed = match section.compressed_data() {
        Ok(data) => data,
        Err(e) => {
            budget.skip(&shown, &e.to_string());
            return Cow::Borrowed(&[]);
        }
    };
    match decompress(&compressed, budget) {
        Ok(bytes) => bytes,
        Err(why) => {
            budget.skip(&shown, &why);
            Cow::Borrowed(&[])
        }
    }
}

impl Budget {
    fn skip(&mut self, section: &str, why: &str) {
        // One note per section; a hostile file has few DWARF sections.
        self.notes.push(format!(
            "DWARF section {section} left out (compressed): {why}"
        ));
    }
}

/// The section's bytes, decompressed when compressed, within `budget`.
fn decompress<'data>(
    data: &object::CompressedData<'data>,
    budget: &mut Budget,
) -> Result<Cow<'data, [u8]>, String> {
    let claimed = data.uncompressed_size;
    let input = data.data;
    let reader: Box<dyn Read + '_> = match data.format {
        object::CompressionFormat::None => return Ok(Cow::Borrowed(input)),
        object::CompressionFormat::Zlib => Box::new(flate2::read::ZlibDecoder::new(input)),
        object::CompressionFormat::Zstandard => Box::new(
            zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| format!("zstd decoder: {e}"))?,
        ),
        other => return Err(format!("{other:?} compression is not read")),
    };
    let ratio_cap = (input.len() as u64).saturating_mul(MAX_RATIO);
    if claimed > ratio_cap || claimed > budget.left {
        return Err(format!(
            "its header claims {claimed} bytes from {} compressed, more than the bound of {} ({MAX_RATIO}x, and {} in all)",
            input.len(),
            ratio_cap.min(budget.left),
            MAX_TOTAL
        ));
    }
    let capacity = usize::try_from(claimed).map_err(|_| "too large for this machine")?;
    let mut out = Vec::with_capacity(capacity);
    reader
        .take(claimed.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot decompress: {e}"))?;
    let got = out.len() as u64;
    if got > claimed {
        return Err(format!(
            "it decompresses to more than the {claimed} bytes its header claims"
        ));
    }
    if got < claimed {
        return Err(format!(
            "it decompresses to {got} bytes, its header claims {claimed}"
        ));
    }
    budget.left -= claimed;
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zlib(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(bytes).unwrap();
        z.finish().unwrap()
    }

    fn compressed(
        format: object::CompressionFormat,
        data: &[u8],
        uncompressed_size: u64,
    ) -> object::CompressedData<'_> {
        object::CompressedData {
            format,
            data,
            uncompressed_size,
        }
    }

    #[test]
    fn decompresses_zlib_and_zstd_within_the_bounds() {
        let plain: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let z = zlib(&plain);
        let zs = zstd::stream::encode_all(&plain[..], 3).unwrap();
        let mut budget = Budget::default();
        for (format, data) in [
            (object::CompressionFormat::Zlib, &z),
            (object::CompressionFormat::Zstandard, &zs),
        ] {
            let out = decompress(&compressed(format, data, plain.len() as u64), &mut budget);
            assert_eq!(out.unwrap().as_ref(), &plain[..]);
        }
        assert_eq!(budget.left, MAX_TOTAL - 2 * plain.len() as u64);
    }

    #[test]
    fn refuses_hostile_and_wrong_sizes() {
        // Bytes that compress a little (a run of one byte compresses
        // past the ratio bound).
        let plain: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 28) as u8)
            .collect();
        let z = zlib(&plain);
        let mut budget = Budget::default();
        let zlib = object::CompressionFormat::Zlib;
        // 4 GiB claimed from a few bytes: refused before any allocation.
        let err = decompress(&compressed(zlib, &z, 4 << 30), &mut budget).unwrap_err();
        assert!(err.contains("more than the bound"), "{err}");
        // Too small a claim: the output stops one byte past it.
        let err = decompress(&compressed(zlib, &z, 100), &mut budget).unwrap_err();
        assert!(err.contains("decompresses to more"), "{err}");
        let err = decompress(&compressed(zlib, &z, 5000), &mut budget).unwrap_err();
        assert!(err.contains("decompresses to 4096"), "{err}");
        let err = decompress(&compressed(zlib, b"not zlib", 100), &mut budget).unwrap_err();
        assert!(err.contains("cannot decompress"), "{err}");
        // The budget for the whole analysis.
        budget.left = 1000;
        let err = decompress(&compressed(zlib, &z, 4096), &mut budget).unwrap_err();
        assert!(err.contains("more than the bound"), "{err}");
        assert_eq!(budget.left, 1000);
    }
}
