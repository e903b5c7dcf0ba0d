//! One layer, streamed: the blob is decompressed (gzip, zstd or none, told
//! by its first bytes), its tar entries applied to the merged filesystem
//! one by one, each file's data hashed as it passes. Only package databases
//! and binaries worth analyzing are buffered, each within a limit.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read};

use sha2::{Digest, Sha256};

use super::pipeline;
use super::tar::{self, Kind};
use super::{ImageOptions, malformed};
use crate::report::Report;
use crate::{Error, Options};

/// A file, link or directory of the merged filesystem.
#[derive(Debug)]
pub(crate) struct Node {
    /// Index of the layer that wrote it.
    pub layer: u32,
    pub kind: Kind,
    /// Data bytes (regular files; 0 for the rest).
    pub size: u64,
    /// First 8 bytes of the data's sha256 (regular files).
    pub hash: u64,
    /// The analysis of a binary inside, when it was analyzed.
    pub report: Option<Box<Report>>,
}

/// The merged filesystem so far, and what later layers hid.
#[derive(Debug, Default)]
pub(crate) struct Merged {
    pub nodes: BTreeMap<String, Node>,
    /// Per layer: data bytes of its files hidden by a later layer
    /// (overwritten or deleted).
    pub hidden: Vec<u64>,
    /// Per layer: number of files hidden.
    pub hidden_files: Vec<u64>,
    /// Package databases: path -> contents (the latest layer's).
    pub captured: BTreeMap<String, Vec<u8>>,
    pub captured_bytes: u64,
    pub entries: usize,
}

/// Figures of one layer.
#[derive(Debug, Default, Clone)]
pub(crate) struct LayerFigures {
    /// Bytes of the blob.
    pub compressed: u64,
    /// Bytes of the decompressed tar stream.
    pub uncompressed: u64,
    /// `gzip`, `zstd` or `none`.
    pub compression: &'static str,
    /// Regular files (hard links excluded).
    pub files: u64,
    /// Data bytes of regular files.
    pub content: u64,
}

/// Whether a path is one of the package databases we read.
fn is_package_db(path: &str) -> bool {
    path == "var/lib/dpkg/status"
        || path == "lib/apk/db/installed"
        || (path.starts_with("var/lib/dpkg/info/") && path.ends_with(".list"))
        || path.starts_with("var/lib/dpkg/status.d/")
}

/// A reader that counts bytes and fails past a limit.
struct Counted<R> {
    inner: R,
    count: u64,
    limit: u64,
    what: &'static str,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.limit {
            return Err(io::Error::other(format!(
                "{} past the limit of {} bytes",
                self.what, self.limit
            )));
        }
        Ok(n)
    }
}

/// A path as the merged filesystem keys it: relative, no `.` components,
/// no trailing slash. `None` for the root itself; an error for `..`.
pub(crate) fn normalize(name: &str) -> Result<Option<String>, String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("entry `{name}` escapes the root with `..`")),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        Ok(None)
    } else {
        Ok(Some(parts.join("/")))
    }
}

/// Bytes of a file's start that tell a binary ([`binary_magic`]).
const HEAD: usize = 4;

fn binary_magic(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
        || head.starts_with(b"\0asm")
        || head.starts_with(b"MZ")
        || head.starts_with(&[0xfe, 0xed, 0xfa, 0xce])
        || head.starts_with(&[0xfe, 0xed, 0xfa, 0xcf])
        || head.starts_with(&[0xce, 0xfa, 0xed, 0xfe])
        || head.starts_with(&[0xcf, 0xfa, 0xed, 0xfe])
        || head.starts_with(&[0xca, 0xfe, 0xba, 0xbe])
}

impl Merged {
    /// Hide (remove) `path` and everything under it that a layer below
    /// `layer` wrote.
    fn hide_tree(&mut self, path: &str, layer: u32, include_self: bool) {
        let prefix = format!("{path}/");
        let mut gone: Vec<String> = self
            .nodes
            .range::<str, _>((
                std::ops::Bound::Excluded(prefix.as_str()),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, n)| n.layer < layer)
            .map(|(k, _)| k.clone())
            .collect();
        if include_self && self.nodes.get(path).is_some_and(|n| n.layer < layer) {
            gone.push(path.to_string());
        }
        for key in gone {
            self.remove(&key);
        }
        let captured: Vec<String> = self
            .captured
            .keys()
            .filter(|k| k.starts_with(&prefix) || (include_self && k.as_str() == path))
            .cloned()
            .collect();
        for key in captured {
            if let Some(bytes) = self.captured.remove(&key) {
                self.captured_bytes -= bytes.len() as u64;
            }
        }
    }

    /// Apply `path` when it is a whiteout (`.wh.NAME` deletes `NAME`
    /// below `layer`, `.wh..wh..opq` empties its directory). `false` when
    /// it is an ordinary entry.
    fn whiteout(&mut self, path: &str, layer: u32) -> bool {
        let (dir, base) = path.rsplit_once('/').unwrap_or(("", path));
        let Some(target) = base.strip_prefix(".wh.") else {
            return false;
        };
        if target == ".wh..opq" {
            if dir.is_empty() {
                // An opaque root: every lower entry goes.
                let all: Vec<String> = self
                    .nodes
                    .iter()
                    .filter(|(_, n)| n.layer < layer)
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in all {
                    self.remove(&key);
                }
                self.captured.clear();
                self.captured_bytes = 0;
            } else {
                self.hide_tree(dir, layer, false);
            }
        } else if !target.is_empty() && !target.starts_with(".wh.") {
            let target = if dir.is_empty() {
                target.to_string()
            } else {
                format!("{dir}/{target}")
            };
            self.hide_tree(&target, layer, true);
        }
        true
    }

    /// Hold a package database's contents, within `limit` bytes for all.
    fn capture(&mut self, path: &str, bytes: Vec<u8>, limit: u64) -> Result<(), Error> {
        if self.captured_bytes + bytes.len() as u64 > limit {
            return Err(malformed(format!(
                "package databases larger than {limit} bytes"
            )));
        }
        self.captured_bytes += bytes.len() as u64;
        self.captured.insert(path.to_string(), bytes);
        Ok(())
    }

    fn remove(&mut self, key: &str) {
        if let Some(node) = self.nodes.remove(key)
            && node.kind == Kind::File
        {
            if let Some(h) = self.hidden.get_mut(node.layer as usize) {
                *h += node.size;
            }
            if let Some(h) = self.hidden_files.get_mut(node.layer as usize) {
                *h += 1;
            }
        }
    }

    /// Make room for an entry at `path` written by `layer`: what it
    /// replaces is hidden (a file, or a directory's tree when the entry is
    /// not a directory), and so is any non-directory on its way.
    fn replace(&mut self, path: &str, kind: Kind) {
        let mut start = 0;
        while let Some(i) = path[start..].find('/') {
            let ancestor = &path[..start + i];
            if self
                .nodes
                .get(ancestor)
                .is_some_and(|n| n.kind != Kind::Dir)
            {
                self.remove(ancestor);
            }
            start += i + 1;
        }
        match self.nodes.get(path).map(|n| n.kind) {
            None => {}
            Some(Kind::Dir) if kind == Kind::Dir => {}
            Some(Kind::Dir) => {
                self.hide_tree(path, u32::MAX, false);
                self.nodes.remove(path);
            }
            Some(_) => self.remove(path),
        }
        if let Some(bytes) = self.captured.remove(path) {
            self.captured_bytes -= bytes.len() as u64;
        }
    }
}

/// Stream one layer blob into `merged`: this thread decompresses, a
/// second one (see [`pipeline`]) walks the tar entries and hashes their
/// data.
pub(crate) fn apply(
    blob: &mut dyn Read,
    blob_size: u64,
    layer: u32,
    merged: &mut Merged,
    options: &ImageOptions,
) -> Result<LayerFigures, Error> {
    let limits = &options.limits;
    let counted_blob = Counted {
        inner: blob,
        count: 0,
        limit: blob_size,
        what: "blob",
    };
    let (compression, decoder) = decoder(counted_blob, layer)?;
    let limit = blob_size
        .saturating_mul(limits.max_ratio)
        .saturating_add(limits.ratio_slack)
        .min(limits.max_uncompressed);
    let mut stream = Counted {
        inner: decoder,
        count: 0,
        limit,
        what: "decompressed layer",
    };
    let mut figures = pipeline::run(&mut stream, |reader| walk(reader, layer, merged, options))
        .unwrap_or_else(|| Err(malformed(format!("layer {}: not read", layer + 1))))?;
    figures.compression = compression;
    figures.uncompressed = stream.count;
    figures.compressed = blob_size;
    Ok(figures)
}

/// The decompressed stream of a blob: gzip, zstd or none, told by its
/// first bytes.
fn decoder<'a>(
    blob: impl Read + 'a,
    layer: u32,
) -> Result<(&'static str, Box<dyn Read + 'a>), Error> {
    let mut buffered = BufReader::with_capacity(256 << 10, blob);
    let head = buffered
        .fill_buf()
        .map_err(|e| malformed(format!("layer {}: {e}", layer + 1)))?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        (
            "gzip",
            Box::new(flate2::read::MultiGzDecoder::new(buffered)),
        )
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = zstd::stream::read::Decoder::with_buffer(buffered)
            .map_err(|e| malformed(format!("layer {}: zstd: {e}", layer + 1)))?;
        ("zstd", Box::new(decoder))
    } else {
        ("none", Box::new(buffered))
    })
}

/// Apply the tar entries of a decompressed layer to `merged`, then read
/// what follows the end-of-archive blocks (tar pads to a record size, and
/// those bytes count too, within the same limit).
fn walk(
    reader: &mut dyn BufRead,
    layer: u32,
    merged: &mut Merged,
    options: &ImageOptions,
) -> Result<LayerFigures, Error> {
    let limits = &options.limits;
    let fail = |e: tar::TarError| malformed(format!("layer {}: {e}", layer + 1));
    let mut reader = tar::Reader::new(reader);
    let mut figures = LayerFigures::default();
    while let Some(header) = reader.next().map_err(fail)? {
        merged.entries += 1;
        if merged.entries > limits.max_entries {
            return Err(malformed(format!(
                "the image has more than {} entries",
                limits.max_entries
            )));
        }
        let path = match normalize(&header.name) {
            Ok(Some(p)) => p,
            Ok(None) => continue,
            Err(e) => return Err(malformed(format!("layer {}: {e}", layer + 1))),
        };
        if merged.whiteout(&path, layer) {
            continue;
        }
        merged.replace(&path, header.kind);
        let mut node = Node {
            layer,
            kind: header.kind,
            size: 0,
            hash: 0,
            report: None,
        };
        if header.kind == Kind::File {
            figures.files += 1;
            figures.content += header.size;
            node.size = header.size;
            let capture = is_package_db(&path) && header.size <= limits.max_capture;
            let binary = options.analyze_binaries
                && header.size >= options.binary_threshold
                && header.size <= limits.max_binary;
            let (hash, kept) = file_data(&mut reader, header.size, |head| {
                capture || (binary && binary_magic(head))
            })
            .map_err(fail)?;
            node.hash = hash;
            if let Some(bytes) = kept {
                if capture {
                    merged.capture(&path, bytes, limits.max_capture)?;
                } else {
                    node.report = analyze_binary(&path, &bytes);
                }
            }
        }
        merged.nodes.insert(path, node);
    }
    let rest = reader.into_inner();
    loop {
        let n = rest
            .fill_buf()
            .map_err(|e| malformed(format!("layer {}: {e}", layer + 1)))?
            .len();
        if n == 0 {
            break;
        }
        rest.consume(n);
    }
    Ok(figures)
}

/// Hash the current entry's data as it passes (first 8 bytes of its
/// sha256), and keep it whole when `keep` says so of its first bytes
/// (up to [`HEAD`]; fewer only for a shorter file).
fn file_data<R: BufRead>(
    reader: &mut tar::Reader<R>,
    size: u64,
    keep: impl Fn(&[u8]) -> bool,
) -> Result<(u64, Option<Vec<u8>>), tar::TarError> {
    let mut hasher = Sha256::new();
    let mut head = [0u8; HEAD];
    let wanted = size.min(HEAD as u64) as usize;
    let mut seen = 0;
    let mut kept: Option<Vec<u8>> = None;
    loop {
        let chunk = reader.data_buf()?;
        if chunk.is_empty() {
            break;
        }
        hasher.update(chunk);
        if seen < wanted {
            let before = seen;
            let take = (wanted - seen).min(chunk.len());
            head[seen..seen + take].copy_from_slice(&chunk[..take]);
            seen += take;
            if seen == wanted && keep(&head[..seen]) {
                let mut bytes = Vec::with_capacity(size as usize);
                bytes.extend_from_slice(&head[..before]);
                kept = Some(bytes);
            }
        }
        if let Some(bytes) = kept.as_mut() {
            bytes.extend_from_slice(chunk);
        }
        let n = chunk.len();
        reader.consume_data(n);
    }
    let digest = hasher.finalize();
    let mut first8 = [0u8; 8];
    first8.copy_from_slice(&digest[..8]);
    Ok((u64::from_le_bytes(first8), kept))
}

/// The analysis of a binary inside the image: its units and sections,
/// and only the largest symbols (the image report embeds it).
fn analyze_binary(path: &str, bytes: &[u8]) -> Option<Box<Report>> {
    let options = Options {
        arch: None,
        skip_compression: true,
    };
    let mut reports = crate::analyze(&format!("/{path}"), bytes, &options).ok()?;
    let mut report = reports.drain(..).next()?;
    report.truncate_symbols(10);
    Some(Box::new(report))
}
