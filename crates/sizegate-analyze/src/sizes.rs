//! The figures computed over the whole file's bytes: the gzip and zstd
//! sizes and the sha256. They do not need the parse, and on a large file
//! they cost more than everything else together, so they are split into
//! jobs that all cores take from one queue while the caller attributes.
//!
//! The gzip figure is defined so that it does not depend on the number of
//! threads: the file is cut at fixed [`GZIP_CHUNK`] boundaries and each
//! chunk is compressed on its own at deflate level 6 (libdeflate) as one
//! gzip member; the figure is the size of that multi-member gzip file
//! (`gzip -d` reads it back). The same file always gives the same figure,
//! on any machine. On real binaries it is 0.06% to 1.1% smaller than
//! `gzip -6` (see README). The zstd figure is one level-3 frame of the
//! whole file, exactly as before.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

/// Bytes per gzip member. Large enough that restarting the 32 KiB deflate
/// window costs almost nothing, small enough to share out on a few cores.
pub(crate) const GZIP_CHUNK: usize = 4 << 20;

/// What is computed over the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WholeFile {
    /// Lower-case hex sha256.
    pub sha256: String,
    /// gzip size as defined in the module docs; 0 when not computed.
    pub gzip: u64,
    /// zstd level 3 size; 0 when not computed.
    pub zstd: u64,
}

/// One unit of work on the whole file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    Sha256,
    Zstd,
    /// Chunk number `n` of [`GZIP_CHUNK`] bytes.
    GzipChunk(usize),
}

/// What one thread computed.
#[derive(Debug, Default)]
struct Partial {
    sha256: Option<String>,
    zstd: Option<u64>,
    gzip: u64,
}

/// A queue of jobs that threads drain in order, each taking the next one.
#[derive(Debug)]
pub(crate) struct WholeFileJobs<'a> {
    bytes: &'a [u8],
    /// What the compressed sizes are computed over: the whole file, but
    /// for fuzzing builds (see [`compressed_part`]).
    compressed: &'a [u8],
    jobs: Vec<Job>,
    next: AtomicUsize,
}

impl<'a> WholeFileJobs<'a> {
    /// The jobs for `bytes`; without `compress`, only the sha256.
    pub(crate) fn new(bytes: &'a [u8], compress: bool) -> Self {
        // The long, indivisible jobs first, so the gzip chunks fill in
        // around them.
        let mut jobs = vec![Job::Sha256];
        if compress {
            jobs.insert(0, Job::Zstd);
            let chunks = compressed_part(bytes).len().div_ceil(GZIP_CHUNK).max(1);
            jobs.extend((0..chunks).map(Job::GzipChunk));
        }
        WholeFileJobs {
            bytes,
            compressed: compressed_part(bytes),
            jobs,
            next: AtomicUsize::new(0),
        }
    }

    /// How many jobs there are (the most threads that can help).
    pub(crate) fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Take jobs until none is left; returns what this thread computed.
    fn drain(&self) -> Partial {
        let mut partial = Partial::default();
        let mut deflate: Option<(libdeflater::Compressor, Vec<u8>)> = None;
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(&job) = self.jobs.get(i) else {
                return partial;
            };
            match job {
                Job::Sha256 => partial.sha256 = Some(hex::encode(Sha256::digest(self.bytes))),
                Job::Zstd => partial.zstd = Some(zstd(self.compressed)),
                Job::GzipChunk(n) => {
                    let bytes = self.compressed;
                    let start = n.saturating_mul(GZIP_CHUNK).min(bytes.len());
                    let end = start.saturating_add(GZIP_CHUNK).min(bytes.len());
                    let (compressor, out) = deflate.get_or_insert_with(|| {
                        let mut c = libdeflater::Compressor::new(level_6());
                        let bound = c.gzip_compress_bound(GZIP_CHUNK);
                        (c, vec![0; bound])
                    });
                    // The buffer holds the bound of a whole chunk, so this
                    // cannot run out of room.
                    partial.gzip += compressor
                        .gzip_compress(&bytes[start..end], out)
                        .map_or(0, |n| n as u64);
                }
            }
        }
    }
}

/// Run `jobs` on `threads` threads, the calling one included once
/// `meanwhile` returns: `meanwhile` runs on the calling thread while the
/// others start on the jobs. Falls back to fewer threads (down to the
/// calling one alone) when threads cannot be started.
pub(crate) fn with_whole_file<T>(
    jobs: &WholeFileJobs<'_>,
    threads: usize,
    meanwhile: impl FnOnce() -> T,
) -> (T, WholeFile) {
    std::thread::scope(|scope| {
        // This thread joins in only once `meanwhile` returns: a job
        // alone (the sha256 without compression) goes to a helper too.
        let helpers: Vec<_> = (1..threads.min(jobs.len() + 1))
            .filter_map(|i| {
                std::thread::Builder::new()
                    .name(format!("sizegate-sizes-{i}"))
                    .spawn_scoped(scope, || jobs.drain())
                    .ok()
            })
            .collect();
        let value = meanwhile();
        let mut parts = vec![jobs.drain()];
        // A helper that panicked (it cannot: nothing in `drain` panics)
        // would leave its jobs undone; the figures would then read 0.
        parts.extend(helpers.into_iter().filter_map(|h| h.join().ok()));
        let mut whole = WholeFile {
            sha256: String::new(),
            gzip: 0,
            zstd: 0,
        };
        for part in parts {
            whole.gzip += part.gzip;
            if let Some(sha) = part.sha256 {
                whole.sha256 = sha;
            }
            if let Some(z) = part.zstd {
                whole.zstd = z;
            }
        }
        (value, whole)
    })
}

/// Threads to use: every core the process may run on.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The bytes the compressed sizes are computed over: all of them, except in
/// fuzzing builds (`--cfg fuzzing`, set by cargo-fuzz), where every
/// comparison is instrumented and compressing took ~90% of each run. The
/// compressed sizes are pure functions of the bytes, computed by libraries
/// fuzzed on their own, so there only a bounded prefix is compressed.
/// Normal builds never see this.
fn compressed_part(bytes: &[u8]) -> &[u8] {
    #[cfg(fuzzing)]
    let bytes = &bytes[..bytes.len().min(4096)];
    bytes
}

fn level_6() -> libdeflater::CompressionLvl {
    libdeflater::CompressionLvl::new(6).unwrap_or_default()
}

/// A writer that only counts what it is given.
#[derive(Debug, Default)]
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Size of `bytes` as a zstd frame at level 3 (streamed, so no buffer of
/// the file's size is needed).
fn zstd(bytes: &[u8]) -> u64 {
    let Ok(mut encoder) = zstd::stream::write::Encoder::new(Counter::default(), 3) else {
        return 0;
    };
    if encoder.write_all(bytes).is_err() {
        return 0;
    }
    encoder.finish().map_or(0, |c| c.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn whole(bytes: &[u8], threads: usize, compress: bool) -> WholeFile {
        let jobs = WholeFileJobs::new(bytes, compress);
        with_whole_file(&jobs, threads, || ()).1
    }

    /// Deterministic bytes that compress somewhat, like code.
    fn sample(len: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if i % 3 == 0 {
                    (state % 251) as u8
                } else {
                    (i % 64) as u8
                }
            })
            .collect()
    }

    #[test]
    fn figures_do_not_depend_on_the_number_of_threads() {
        let data = sample(GZIP_CHUNK * 2 + 12_345);
        let one = whole(&data, 1, true);
        for threads in [2, 3, 8] {
            assert_eq!(whole(&data, threads, true), one, "{threads} threads");
        }
        assert_eq!(one.sha256, hex::encode(Sha256::digest(&data)));
    }

    #[test]
    fn gzip_is_the_sum_of_independent_members_and_reads_back() {
        let data = sample(GZIP_CHUNK + 1000);
        let figures = whole(&data, 2, true);
        let mut c = libdeflater::Compressor::new(level_6());
        let mut file = Vec::new();
        for chunk in data.chunks(GZIP_CHUNK) {
            let mut out = vec![0; c.gzip_compress_bound(chunk.len())];
            let n = c.gzip_compress(chunk, &mut out).unwrap();
            file.extend_from_slice(&out[..n]);
        }
        assert_eq!(figures.gzip, file.len() as u64);
        // A multi-member gzip file: any gzip reader returns the input.
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&file[..]), &mut back)
            .unwrap();
        assert_eq!(back, data);
        assert_eq!(
            figures.zstd,
            ::zstd::stream::encode_all(&data[..], 3).unwrap().len() as u64
        );
    }

    #[test]
    fn compressed_sizes_are_smaller_for_redundant_data() {
        let data = vec![7u8; 1 << 20];
        let figures = whole(&data, 2, true);
        assert!(figures.gzip > 18 && figures.gzip < 4096, "{figures:?}");
        assert!(figures.zstd > 0 && figures.zstd < 4096, "{figures:?}");
    }

    #[test]
    fn an_empty_file_is_one_empty_member_and_skipping_leaves_zeros() {
        let empty = whole(&[], 2, true);
        assert!(empty.gzip >= 18, "{empty:?}");
        let skipped = whole(&sample(1000), 2, false);
        assert_eq!((skipped.gzip, skipped.zstd), (0, 0));
        assert_eq!(skipped.sha256.len(), 64);
    }
}
