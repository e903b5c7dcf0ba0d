//! Compressed sizes of the whole file: gzip (deflate level 6) and zstd
//! (level 3), counted without keeping the compressed bytes.

use std::io::Write;

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

/// In fuzzing builds (`--cfg fuzzing`, set by cargo-fuzz) every comparison
/// is instrumented, and compressing took ~90% of each run. The compressed
/// sizes are pure functions of the bytes, computed by libraries fuzzed on
/// their own, so there only a bounded prefix is compressed. Normal builds
/// never see this.
#[cfg(fuzzing)]
fn fuzzing_prefix(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len().min(4096)]
}

/// Size of `bytes` as a gzip stream at level 6 (header and trailer included).
pub(crate) fn gzip(bytes: &[u8]) -> u64 {
    #[cfg(fuzzing)]
    let bytes = fuzzing_prefix(bytes);
    let mut encoder =
        flate2::write::GzEncoder::new(Counter::default(), flate2::Compression::new(6));
    // Writing to a counter cannot fail.
    if encoder.write_all(bytes).is_err() {
        return 0;
    }
    encoder.finish().map_or(0, |c| c.0)
}

/// Size of `bytes` as a zstd frame at level 3.
pub(crate) fn zstd(bytes: &[u8]) -> u64 {
    #[cfg(fuzzing)]
    let bytes = fuzzing_prefix(bytes);
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

    #[test]
    fn compressed_sizes_are_smaller_for_redundant_data() {
        let data = vec![7u8; 1 << 20];
        let (g, z) = (gzip(&data), zstd(&data));
        assert!(g > 18 && g < 4096, "gzip {g}");
        assert!(z > 0 && z < 4096, "zstd {z}");
        // And they match what the libraries produce into memory.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        e.write_all(&data).unwrap();
        assert_eq!(e.finish().unwrap().len() as u64, g);
        assert_eq!(
            ::zstd::stream::encode_all(&data[..], 3).unwrap().len() as u64,
            z
        );
    }
}
