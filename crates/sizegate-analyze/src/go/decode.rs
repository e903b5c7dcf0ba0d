//! Bounds-checked reads of integers and strings from untrusted bytes, in the
//! byte order and word size of the target. Every read returns `None` rather
//! than panicking when it would run past the end of the data.

/// Byte order and word size used to read one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Big-endian data.
    pub big_endian: bool,
    /// Size of a pointer / `uintptr` in bytes: 4 or 8.
    pub ptr_size: u8,
}

impl Layout {
    /// The `u32` at `offset`.
    pub fn u32(self, data: &[u8], offset: usize) -> Option<u32> {
        let bytes: [u8; 4] = data.get(offset..offset.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        })
    }

    /// The `u64` at `offset`.
    pub fn u64(self, data: &[u8], offset: usize) -> Option<u64> {
        let bytes: [u8; 8] = data.get(offset..offset.checked_add(8)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u64::from_be_bytes(bytes)
        } else {
            u64::from_le_bytes(bytes)
        })
    }

    /// The pointer-sized word at `offset`.
    pub fn word(self, data: &[u8], offset: usize) -> Option<u64> {
        self.sized(data, offset, self.ptr_size)
    }

    /// An unsigned integer of `size` bytes (4 or 8) at `offset`.
    pub fn sized(self, data: &[u8], offset: usize, size: u8) -> Option<u64> {
        match size {
            4 => self.u32(data, offset).map(u64::from),
            8 => self.u64(data, offset),
            _ => None,
        }
    }
}

/// Offset `offset` plus `index * stride`, or `None` on overflow.
pub(crate) fn offset_of(offset: usize, index: usize, stride: usize) -> Option<usize> {
    index.checked_mul(stride)?.checked_add(offset)
}

/// Convert a `u64` read from the file to an in-memory offset.
pub(crate) fn to_usize(value: u64) -> Option<usize> {
    usize::try_from(value).ok()
}

/// The NUL-terminated string at `offset`, at most `max_len` bytes long,
/// when it is valid UTF-8.
pub(crate) fn c_str(data: &[u8], offset: usize, max_len: usize) -> Option<&str> {
    let tail = data.get(offset..)?;
    let window = &tail[..tail.len().min(max_len.saturating_add(1))];
    let nul = window.iter().position(|&b| b == 0)?;
    std::str::from_utf8(&window[..nul]).ok()
}

/// Decode an unsigned LEB128 varint (Go's `binary.Uvarint`): the value and
/// the number of bytes it took. `None` when truncated or longer than 64 bits.
pub(crate) fn uvarint(data: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (index, &byte) in data.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7f);
        if index == 9 && byte > 1 {
            return None;
        }
        value |= bits << (7 * index);
        if byte & 0x80 == 0 {
            return Some((value, index + 1));
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_at_the_end_of_the_data() {
        let le = Layout {
            big_endian: false,
            ptr_size: 8,
        };
        let data = [1, 0, 0, 0, 2, 0, 0];
        assert_eq!(le.u32(&data, 0), Some(1));
        assert_eq!(le.u32(&data, 4), None);
        assert_eq!(le.word(&data, 0), None);
        assert_eq!(le.u32(&data, usize::MAX - 1), None);
        let be = Layout {
            big_endian: true,
            ptr_size: 4,
        };
        assert_eq!(be.word(&[0, 0, 1, 0], 0), Some(256));
    }

    #[test]
    fn c_strings_need_a_terminator_within_the_limit() {
        assert_eq!(c_str(b"ab\0cd", 0, 10), Some("ab"));
        assert_eq!(c_str(b"ab\0cd", 3, 10), None);
        assert_eq!(c_str(b"abcd\0", 0, 3), None);
        assert_eq!(c_str(b"\xff\0", 0, 3), None);
        assert_eq!(c_str(b"x", 7, 3), None);
    }

    #[test]
    fn varints_match_go_encoding() {
        assert_eq!(uvarint(&[0x05]), Some((5, 1)));
        assert_eq!(uvarint(&[0xac, 0x02]), Some((300, 2)));
        assert_eq!(uvarint(&[0x80]), None);
        assert_eq!(uvarint(&[0xff; 10]), None);
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(uvarint(&max), Some((u64::MAX, 10)));
    }
}
