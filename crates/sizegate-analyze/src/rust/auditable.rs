//! The dependency list `cargo auditable` embeds in a `.dep-v0` section:
//! zlib-compressed JSON, `{"packages": [{"name", "version", "kind"...}]}`.

use serde::Deserialize;

/// Most bytes the JSON may inflate to (the real lists are a few KiB).
const MAX_JSON: usize = 8 << 20;

#[derive(Deserialize)]
struct VersionInfo {
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    /// `build` for build dependencies, which never reach the binary.
    #[serde(default)]
    kind: Option<String>,
}

/// (name, version) of every runtime package, or `None` when the section is
/// not a dependency list we read.
pub(super) fn packages(section: &[u8]) -> Option<Vec<(String, String)>> {
    let json = inflate(section)?;
    let info: VersionInfo = serde_json::from_slice(&json).ok()?;
    Some(
        info.packages
            .into_iter()
            .filter(|p| p.kind.as_deref() != Some("build"))
            .filter(|p| p.name.len() <= 128 && p.version.len() <= 64)
            .map(|p| (p.name, p.version))
            .collect(),
    )
}

/// Inflate zlib data, growing the buffer up to [`MAX_JSON`].
fn inflate(data: &[u8]) -> Option<Vec<u8>> {
    let mut decompressor = libdeflater::Decompressor::new();
    let mut size = (data.len().saturating_mul(8)).clamp(4096, MAX_JSON);
    loop {
        let mut out = vec![0u8; size];
        match decompressor.zlib_decompress(data, &mut out) {
            Ok(n) => {
                out.truncate(n);
                return Some(out);
            }
            Err(libdeflater::DecompressionError::InsufficientSpace) if size < MAX_JSON => {
                size = size.saturating_mul(4).min(MAX_JSON);
            }
            Err(_) => return None,
        }
    }
}
