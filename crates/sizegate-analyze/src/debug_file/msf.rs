//! A bound on what a PDB may make us read. A PDB is an MSF container: a
//! superblock, then streams made of fixed-size blocks that a stream
//! directory lists. Nothing in the format stops a crafted directory from
//! naming one block many times, so that a small file claims gigabytes of
//! streams; a real PDB gives each block to one stream. This check reads
//! only the superblock and the directory, and refuses a file whose streams
//! add up to more bytes than the file has, before the `pdb` crate reads a
//! stream.

use crate::Error;

/// The MSF 7.00 signature the superblock starts with.
const MAGIC: &[u8; 32] = b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\0\0\0";

/// A stream directory entry that marks a deleted stream.
const NIL_STREAM: u32 = u32::MAX;

fn bad(message: impl std::fmt::Display) -> Error {
    Error::DebugFile(format!("malformed PDB: {message}"))
}

fn word(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Check the MSF layout of `pdb`: the superblock is sane, the directory
/// fits in the file, and the streams it lists add up to no more than the
/// file's size.
pub(super) fn check(pdb: &[u8]) -> Result<(), Error> {
    if pdb.len() < MAGIC.len() || &pdb[..MAGIC.len()] != MAGIC {
        return Err(Error::DebugFile(
            "not a PDB file (no MSF 7.00 signature); for a PE artifact give the PDB its linker wrote (/DEBUG)".into(),
        ));
    }
    let header = |at| word(pdb, at).ok_or_else(|| bad("superblock is truncated"));
    let block_size = header(32)?;
    let num_blocks = header(40)?;
    let directory_bytes = header(44)?;
    let block_map_block = header(52)?;
    if !matches!(block_size, 512 | 1024 | 2048 | 4096 | 8192 | 16384 | 32768) {
        return Err(bad(format_args!("block size {block_size}")));
    }
    let file_len = pdb.len() as u64;
    let block_size = u64::from(block_size);
    if u64::from(num_blocks).saturating_mul(block_size) > file_len.saturating_add(block_size) {
        return Err(bad(format_args!(
            "{num_blocks} blocks of {block_size} bytes claimed, the file has {file_len} bytes"
        )));
    }
    if u64::from(directory_bytes) > file_len {
        return Err(bad("stream directory is larger than the file"));
    }
    // The directory's own blocks are listed at `block_map_block`.
    let directory_blocks = u64::from(directory_bytes).div_ceil(block_size);
    let block = |index: u32| -> Result<&[u8], Error> {
        let start = u64::from(index).saturating_mul(block_size);
        let end = start.saturating_add(block_size).min(file_len);
        usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(s, e)| pdb.get(s..e))
            .filter(|b| !b.is_empty())
            .ok_or_else(|| bad(format_args!("block {index} is past the end of the file")))
    };
    let map = block(block_map_block)?;
    let mut directory = Vec::new();
    for i in 0..directory_blocks {
        let at = usize::try_from(i.saturating_mul(4)).unwrap_or(usize::MAX);
        let index = word(map, at).ok_or_else(|| bad("stream directory map is truncated"))?;
        directory.extend_from_slice(block(index)?);
    }
    if directory.len() < directory_bytes as usize {
        return Err(bad("stream directory is truncated"));
    }
    directory.truncate(directory_bytes as usize);
    let streams = word(&directory, 0).ok_or_else(|| bad("stream directory is empty"))?;
    if u64::from(streams).saturating_mul(4) > directory.len() as u64 {
        return Err(bad(format_args!(
            "{streams} streams claimed in a {}-byte directory",
            directory.len()
        )));
    }
    let mut total = 0u64;
    for i in 0..streams as usize {
        let size =
            word(&directory, 4 + i * 4).ok_or_else(|| bad("stream directory is truncated"))?;
        if size != NIL_STREAM {
            total = total.saturating_add(u64::from(size));
        }
    }
    if total > file_len {
        return Err(bad(format_args!(
            "its streams claim {total} bytes, the file has {file_len}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-directory-block MSF image with the given stream sizes.
    fn msf(stream_sizes: &[u32], blocks: u32) -> Vec<u8> {
        let block = 512usize;
        let mut out = vec![0u8; block * blocks as usize];
        out[..32].copy_from_slice(MAGIC);
        let put = |out: &mut Vec<u8>, at: usize, v: u32| {
            out[at..at + 4].copy_from_slice(&v.to_le_bytes());
        };
        put(&mut out, 32, block as u32);
        put(&mut out, 40, blocks);
        put(&mut out, 44, 4 + 4 * stream_sizes.len() as u32);
        put(&mut out, 52, 1); // the directory map in block 1
        put(&mut out, block, 2); // the directory in block 2
        put(&mut out, 2 * block, stream_sizes.len() as u32);
        for (i, s) in stream_sizes.iter().enumerate() {
            put(&mut out, 2 * block + 4 + 4 * i, *s);
        }
        out
    }

    #[test]
    fn streams_within_the_file_pass() {
        assert!(check(&msf(&[100, NIL_STREAM, 200], 4)).is_ok());
    }

    #[test]
    fn streams_larger_than_the_file_are_refused() {
        let err = check(&msf(&[100, 1 << 30], 4)).unwrap_err().to_string();
        assert!(err.contains("claim"), "{err}");
    }

    #[test]
    fn huge_stream_counts_and_truncation_are_refused() {
        let mut huge = msf(&[1], 4);
        huge[1024..1028].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(check(&huge).is_err());
        let whole = msf(&[1], 4);
        for len in [0, 31, 40, 52, 600, 1030] {
            assert!(check(&whole[..len]).is_err(), "truncated at {len}");
        }
        assert!(check(b"Microsoft C/C++ program database 2.00\r\n").is_err());
    }
}
