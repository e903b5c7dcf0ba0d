//! WebAssembly: the strip model. Custom sections holding names (`name`) and
//! debug info (`.debug_*`) go, with their section headers; the rest ships.

use super::{Shipped, subtractive};
use crate::report::Section;
use crate::sections::SectionInfo;

/// Bytes of an unsigned LEB128 encoding of `value`.
pub(crate) fn leb128_len(mut value: u64) -> u64 {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

/// The strip model.
pub(super) fn shipped(sections: &mut [SectionInfo<'_>], partition: &[Section]) -> Shipped {
    // Header bytes of the removed custom sections: id, payload length, name
    // length and name.
    let removed_headers: u64 = sections
        .iter()
        .filter(|s| super::is_strippable(s.kind))
        .map(|s| {
            let name_len = s.name.len() as u64;
            let payload = leb128_len(name_len) + name_len + s.share;
            1 + leb128_len(payload) + leb128_len(name_len) + name_len
        })
        .sum();
    let headers: u64 = partition
        .iter()
        .filter(|p| p.name == "[section headers]")
        .map(|p| p.file_size)
        .sum();
    subtractive(
        sections,
        partition,
        &[("[section headers]", headers.saturating_sub(removed_headers))],
    )
}

#[cfg(test)]
mod tests {
    use super::leb128_len;

    #[test]
    fn leb128_lengths() {
        assert_eq!(leb128_len(0), 1);
        assert_eq!(leb128_len(127), 1);
        assert_eq!(leb128_len(128), 2);
        assert_eq!(leb128_len(u64::MAX), 10);
    }
}
