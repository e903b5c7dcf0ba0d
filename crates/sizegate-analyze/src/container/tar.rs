//! A streaming reader of tar archives (ustar, GNU long names, PAX path and
//! size records): one header at a time from any [`Read`], never holding an
//! entry's data. Every length read from the archive is bounded.

use std::io::{self, BufRead, Read};

/// Tar block size.
pub(crate) const BLOCK: u64 = 512;
/// Longest entry name or link target we accept (Linux's `PATH_MAX`).
pub(crate) const MAX_NAME: usize = 4096;
/// Largest PAX extended header we read.
const MAX_PAX: u64 = 1 << 20;
/// Most consecutive metadata records (PAX, long names) before one entry.
const MAX_META_RUN: usize = 16;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A regular file (with data).
    File,
    /// A hard link to an earlier entry (no data).
    HardLink,
    /// A symbolic link.
    Symlink,
    /// A directory.
    Dir,
    /// Devices, FIFOs and anything else without data we account for.
    Other,
}

/// One entry's header, after long names and PAX records are applied.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    /// Path as written in the archive (not normalized).
    pub name: String,
    /// What the entry is.
    pub kind: Kind,
    /// Bytes of data that follow the header (before padding).
    pub size: u64,
}

/// Why a tar stream could not be read.
#[derive(Debug)]
pub(crate) enum TarError {
    /// Reading failed (includes decompression errors).
    Io(io::Error),
    /// The archive is malformed; the message says how.
    Malformed(String),
}

impl From<io::Error> for TarError {
    fn from(e: io::Error) -> Self {
        TarError::Io(e)
    }
}

impl std::fmt::Display for TarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TarError::Io(e) => write!(f, "{e}"),
            TarError::Malformed(m) => f.write_str(m),
        }
    }
}

fn malformed(message: impl Into<String>) -> TarError {
    TarError::Malformed(message.into())
}

/// Whether `block` is a tar header with a valid checksum.
pub(crate) fn is_header(block: &[u8]) -> bool {
    let Some(block) = block.get(..BLOCK as usize) else {
        return false;
    };
    if block.iter().all(|&b| b == 0) {
        return false;
    }
    match octal(&block[148..156]) {
        Some(sum) => sum == checksum(block),
        None => false,
    }
}

fn checksum(block: &[u8]) -> u64 {
    block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(b)
            }
        })
        .sum()
}

/// A numeric field: octal text, or GNU base-256 (high bit set).
fn octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut value: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            value = value.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(value);
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| *b != 0 && *b != b' ')
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    let mut value: u64 = 0;
    for b in text {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        value = value.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

fn text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Padding after `size` bytes of data.
pub(crate) fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

/// A reader of tar entries. Call [`Reader::next`] for a header, then read
/// its data with [`Reader::data`] (or not: the rest is skipped).
pub(crate) struct Reader<R> {
    inner: R,
    /// Bytes consumed from `inner` so far.
    pub position: u64,
    /// Data bytes of the current entry not yet consumed.
    remaining: u64,
    /// Padding after the current entry's data.
    pad: u64,
    done: bool,
}

impl<R: Read> Reader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Reader {
            inner,
            position: 0,
            remaining: 0,
            pad: 0,
            done: false,
        }
    }

    /// The underlying reader (e.g. to drain what follows the archive).
    pub(crate) fn into_inner(self) -> R {
        self.inner
    }

    /// The underlying reader, to skip data by other means.
    pub(crate) fn inner_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Data and padding bytes of the current entry not yet consumed.
    pub(crate) fn pending(&self) -> (u64, u64) {
        (self.remaining, self.pad)
    }

    /// Record that the current entry's data and padding (`n` bytes) were
    /// skipped through [`Reader::inner_mut`].
    pub(crate) fn advance(&mut self, n: u64) {
        self.position += n;
        self.remaining = 0;
        self.pad = 0;
    }

    /// Read exactly `buf.len()` bytes, or report how many were read at EOF.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, TarError> {
        let mut done = 0;
        while done < buf.len() {
            match self.inner.read(&mut buf[done..]) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.position += done as u64;
        Ok(done)
    }

    fn skip(&mut self, mut n: u64) -> Result<(), TarError> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let want = n.min(buf.len() as u64) as usize;
            let got = self.fill(&mut buf[..want])?;
            if got < want {
                return Err(malformed("archive truncated inside an entry's data"));
            }
            n -= got as u64;
        }
        Ok(())
    }

    fn read_small(&mut self, size: u64, limit: u64, what: &str) -> Result<Vec<u8>, TarError> {
        if size > limit {
            return Err(malformed(format!(
                "{what} of {size} bytes (the limit is {limit})"
            )));
        }
        let mut buf = vec![0u8; size as usize];
        if self.fill(&mut buf)? < buf.len() {
            return Err(malformed(format!("archive truncated inside a {what}")));
        }
        self.skip(padding(size))?;
        Ok(buf)
    }

    /// The next entry, or `None` at the end of the archive.
    pub(crate) fn next(&mut self) -> Result<Option<Header>, TarError> {
        if self.done {
            return Ok(None);
        }
        self.skip(self.remaining + self.pad)?;
        self.remaining = 0;
        self.pad = 0;
        let mut pending = Pending::default();
        for _ in 0..MAX_META_RUN {
            let Some(block) = self.header_block()? else {
                self.done = true;
                return Ok(None);
            };
            let size = octal(&block[124..136])
                .ok_or_else(|| malformed("bad size field in a tar header"))?;
            let flag = block[156];
            if self.read_metadata(flag, size, &mut pending)? {
                continue;
            }
            let header = entry_header(&block, flag, size, pending)?;
            // Only regular files carry data we measure; others may still
            // declare a size (skipped as data all the same).
            self.remaining = header.size;
            self.pad = padding(header.size);
            return Ok(Some(header));
        }
        Err(malformed(format!(
            "more than {MAX_META_RUN} metadata records before one entry"
        )))
    }

    /// The next header block, checked; `None` at the end of the archive
    /// (a zero block, or no more bytes: accepted, as GNU tar does).
    fn header_block(&mut self) -> Result<Option<[u8; BLOCK as usize]>, TarError> {
        let mut block = [0u8; BLOCK as usize];
        let got = self.fill(&mut block)?;
        if got == 0 {
            return Ok(None);
        }
        if got < block.len() {
            return Err(malformed("archive truncated inside a header"));
        }
        if block.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        if !is_header(&block) {
            return Err(malformed(format!(
                "bad tar header checksum at offset {}",
                self.position - BLOCK
            )));
        }
        Ok(Some(block))
    }

    /// Read a metadata record (GNU long name or link, PAX header) into
    /// `pending`. `false` when the block is an entry of its own.
    fn read_metadata(
        &mut self,
        flag: u8,
        size: u64,
        pending: &mut Pending,
    ) -> Result<bool, TarError> {
        match flag {
            b'L' | b'K' => {
                let bytes = self.read_small(size, MAX_NAME as u64 + 1, "long name")?;
                let name = text(&bytes);
                if flag == b'L' {
                    pending.name = Some(name);
                } else {
                    pending.link = Some(name);
                }
            }
            b'x' => {
                let bytes = self.read_small(size, MAX_PAX, "PAX header")?;
                for (key, value) in pax_records(&bytes)? {
                    match key.as_str() {
                        "path" => pending.name = Some(value),
                        "linkpath" => pending.link = Some(value),
                        "size" => {
                            pending.size = Some(
                                value
                                    .parse()
                                    .map_err(|_| malformed(format!("bad PAX size `{value}`")))?,
                            )
                        }
                        _ => {}
                    }
                }
            }
            b'g' => {
                self.read_small(size, MAX_PAX, "PAX global header")?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl<R: BufRead> Reader<R> {
    /// The current entry's next data bytes, straight from the underlying
    /// reader's buffer (empty at the entry's end): no copy. Mark them read
    /// with [`Reader::consume_data`].
    pub(crate) fn data_buf(&mut self) -> Result<&[u8], TarError> {
        if self.remaining == 0 {
            return Ok(&[]);
        }
        let remaining = self.remaining;
        let buf = self.inner.fill_buf()?;
        if buf.is_empty() {
            return Err(malformed("archive truncated inside an entry's data"));
        }
        let n = (buf.len() as u64).min(remaining) as usize;
        Ok(&buf[..n])
    }

    /// Mark `n` bytes of what [`Reader::data_buf`] returned as read.
    pub(crate) fn consume_data(&mut self, n: usize) {
        self.inner.consume(n);
        self.remaining -= n as u64;
        self.position += n as u64;
    }
}

/// What metadata records (long names, PAX) said about the entry that
/// follows them.
#[derive(Debug, Default)]
struct Pending {
    name: Option<String>,
    link: Option<String>,
    size: Option<u64>,
}

/// The header of an entry from its block and the metadata before it.
fn entry_header(
    block: &[u8; BLOCK as usize],
    flag: u8,
    size: u64,
    pending: Pending,
) -> Result<Header, TarError> {
    let name = pending.name.unwrap_or_else(|| {
        let base = text(&block[0..100]);
        let prefix = if &block[257..262] == b"ustar" {
            text(&block[345..500])
        } else {
            String::new()
        };
        if prefix.is_empty() {
            base
        } else {
            format!("{prefix}/{base}")
        }
    });
    let link = pending.link.unwrap_or_else(|| text(&block[157..257]));
    if name.len() > MAX_NAME || link.len() > MAX_NAME {
        return Err(malformed(format!(
            "entry name longer than {MAX_NAME} bytes"
        )));
    }
    let kind = match flag {
        b'0' | 0 | b'7' => Kind::File,
        b'1' => Kind::HardLink,
        b'2' => Kind::Symlink,
        b'5' => Kind::Dir,
        _ => Kind::Other,
    };
    Ok(Header {
        name,
        kind,
        size: pending.size.unwrap_or(size),
    })
}

/// `LEN KEY=VALUE\n` records of a PAX header.
fn pax_records(mut bytes: &[u8]) -> Result<Vec<(String, String)>, TarError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let space = bytes
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| malformed("bad PAX record"))?;
        let len: usize = std::str::from_utf8(&bytes[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&l| l > space + 1 && l <= bytes.len())
            .ok_or_else(|| malformed("bad PAX record length"))?;
        let record = &bytes[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            out.push((
                String::from_utf8_lossy(&record[..eq]).into_owned(),
                String::from_utf8_lossy(&record[eq + 1..]).into_owned(),
            ));
        }
        bytes = &bytes[len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(octal(b"0000644\0"), Some(0o644));
        assert_eq!(octal(b"  17 \0"), Some(0o17));
        assert_eq!(octal(b"\x80\0\0\0\0\0\0\x01\0\0\0\0"), Some(1 << 32));
        assert_eq!(octal(b"12a"), None);
    }

    #[test]
    fn pax() {
        let records = pax_records(b"28 path=some/very/long/name\n11 size=42\n").unwrap();
        assert_eq!(records[0], ("path".into(), "some/very/long/name".into()));
        assert_eq!(records[1], ("size".into(), "42".into()));
        assert!(pax_records(b"99 path=x\n").is_err());
    }
}
