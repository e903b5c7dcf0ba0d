//! Where an image's files come from: the members of a tar archive (`docker
//! save`, or an OCI layout packed as tar), or — through the same trait,
//! implemented by the caller — the files of an OCI layout directory.

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom};

use super::tar::{self, Kind};
use super::{Limits, malformed};
use crate::Error;

/// The files of an image archive or layout, read by relative path
/// (`manifest.json`, `blobs/sha256/<hex>`).
pub trait Source {
    /// Size of a file, or `None` when there is no such file.
    fn size(&self, path: &str) -> Option<u64>;
    /// Open a file for reading (streamed, never loaded whole here).
    fn open(&mut self, path: &str) -> io::Result<Box<dyn Read + '_>>;
    /// Total bytes of the archive or layout (the report's `file.size`).
    fn total_size(&self) -> u64;
}

/// The members of a tar archive read through [`Read`] + [`Seek`]: one pass
/// indexes the headers (skipping the data), then members are read in place.
#[derive(Debug)]
pub struct TarSource<R> {
    inner: R,
    members: HashMap<String, (u64, u64)>,
    total: u64,
}

impl<R: Read + Seek> TarSource<R> {
    /// Index the archive. Fails on a malformed tar or past the limits.
    pub fn new(mut inner: R, limits: &Limits) -> Result<Self, Error> {
        let total = inner
            .seek(SeekFrom::End(0))
            .and_then(|end| inner.seek(SeekFrom::Start(0)).map(|_| end))
            .map_err(|e| malformed(format!("cannot read the archive: {e}")))?;
        let mut members = HashMap::new();
        {
            let mut reader = tar::Reader::new(SeekSkip {
                inner: &mut inner,
                position: 0,
            });
            loop {
                let header = reader
                    .next()
                    .map_err(|e| malformed(format!("outer archive: {e}")))?;
                let Some(header) = header else { break };
                if members.len() >= limits.max_entries {
                    return Err(malformed(format!(
                        "outer archive has more than {} members",
                        limits.max_entries
                    )));
                }
                if header.kind == Kind::File {
                    let offset = reader.position;
                    if offset.saturating_add(header.size) > total {
                        return Err(malformed(format!(
                            "member `{}` runs past the end of the archive",
                            header.name
                        )));
                    }
                    members.insert(normalize(&header.name), (offset, header.size));
                }
                // Skip the data with a seek rather than a read.
                reader.skip_data_by_seek();
            }
        }
        Ok(TarSource {
            inner,
            members,
            total,
        })
    }
}

/// A member path without `./` or a leading `/`.
fn normalize(name: &str) -> String {
    let mut name = name;
    loop {
        if let Some(rest) = name.strip_prefix("./") {
            name = rest;
        } else if let Some(rest) = name.strip_prefix('/') {
            name = rest;
        } else {
            return name.to_string();
        }
    }
}

impl<R: Read + Seek> Source for TarSource<R> {
    fn size(&self, path: &str) -> Option<u64> {
        self.members.get(path).map(|m| m.1)
    }

    fn open(&mut self, path: &str) -> io::Result<Box<dyn Read + '_>> {
        let (offset, size) = *self
            .members
            .get(path)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, path.to_string()))?;
        self.inner.seek(SeekFrom::Start(offset))?;
        Ok(Box::new((&mut self.inner).take(size)))
    }

    fn total_size(&self) -> u64 {
        self.total
    }
}

/// A reader that can skip forward by seeking (for the index pass).
pub(crate) struct SeekSkip<'a, R> {
    inner: &'a mut R,
    position: u64,
}

impl<R: Read + Seek> Read for SeekSkip<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.position += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> tar::Reader<SeekSkip<'_, R>> {
    /// Move past the current entry's data and padding without reading it.
    fn skip_data_by_seek(&mut self) {
        let (remaining, pad) = self.pending();
        let skip = remaining + pad;
        if skip > 0 {
            let inner = self.inner_mut();
            let target = inner.position + skip;
            if inner.inner.seek(SeekFrom::Start(target)).is_ok() {
                inner.position = target;
                self.advance(skip);
            }
        }
    }
}
