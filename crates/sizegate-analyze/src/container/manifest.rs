//! Which blobs make an image: `manifest.json` of a `docker save` archive,
//! or `index.json` and the manifests of an OCI image layout; and the image
//! config (platform, history).

use std::io::Read;

use serde::Deserialize;

use super::{Limits, Source, malformed};
use crate::Error;
use crate::report::Format;

/// Deepest nesting of OCI indexes we follow.
const MAX_INDEX_DEPTH: usize = 4;
/// Most images (platforms, tags) in one archive: each is streamed in full,
/// so a list naming the same layers many times must not multiply the work.
const MAX_IMAGES: usize = 64;
/// Most layers of one image (Docker's own limit is 127).
const MAX_LAYERS: usize = 256;

fn check_layers(count: usize) -> Result<(), Error> {
    if count > MAX_LAYERS {
        return Err(malformed(format!(
            "an image of {count} layers (the limit is {MAX_LAYERS})"
        )));
    }
    Ok(())
}

/// One layer blob of an image, as its manifest names it.
#[derive(Debug, Clone)]
pub(crate) struct LayerRef {
    /// Path of the blob in the archive or layout.
    pub path: String,
    /// `sha256:...` (OCI), or the member path (older `docker save`).
    pub digest: String,
    /// Size the manifest gives (OCI descriptors); `None` for `docker save`
    /// manifests, which give none (the member's size is used).
    pub declared_size: Option<u64>,
}

/// One image (one platform) to measure.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub format: Format,
    /// `os/arch[/variant]`, when known.
    pub platform: Option<String>,
    /// Architecture as the config gives it (`amd64`).
    pub architecture: String,
    pub config_path: String,
    /// The metadata files (index, manifests) of this image.
    pub metadata: Vec<String>,
    pub layers: Vec<LayerRef>,
    /// `created_by` of each non-empty layer, in order, from the config history.
    pub created_by: Vec<Option<String>>,
}

#[derive(Deserialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize, Default, Clone)]
struct Platform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize, Default)]
struct Config {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    history: Vec<History>,
}

#[derive(Deserialize)]
struct History {
    #[serde(default)]
    created_by: Option<String>,
    #[serde(default)]
    empty_layer: bool,
}

/// Read a small JSON file of the source, bounded by `limits.max_json`.
fn read_json<T: serde::de::DeserializeOwned>(
    source: &mut dyn Source,
    path: &str,
    limits: &Limits,
) -> Result<T, Error> {
    let size = source
        .size(path)
        .ok_or_else(|| malformed(format!("`{path}` is missing")))?;
    if size > limits.max_json {
        return Err(malformed(format!(
            "`{path}` is {size} bytes, over the limit of {} for a JSON file",
            limits.max_json
        )));
    }
    let mut bytes = Vec::new();
    source
        .open(path)
        .and_then(|r| r.take(limits.max_json).read_to_end(&mut bytes))
        .map_err(|e| malformed(format!("cannot read `{path}`: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| malformed(format!("`{path}` does not parse: {e}")))
}

/// `blobs/sha256/<hex>` for a digest, refusing anything that is not a
/// plain algorithm and hex (a digest is used as a path).
fn blob_path(digest: &str) -> Result<String, Error> {
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or_else(|| malformed(format!("bad digest `{digest}`")))?;
    let plain = |s: &str, extra: &[char]| {
        !s.is_empty()
            && s.len() <= 128
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(&c))
    };
    if !plain(algorithm, &['+', '.', '_', '-']) || !plain(hex, &[]) {
        return Err(malformed(format!("bad digest `{digest}`")));
    }
    Ok(format!("blobs/{algorithm}/{hex}"))
}

/// A member path of `manifest.json`, refusing `..` and absolute paths.
fn member_path(path: &str) -> Result<String, Error> {
    let trimmed = path.trim_start_matches("./");
    if trimmed.starts_with('/') || trimmed.split('/').any(|c| c == "..") {
        return Err(malformed(format!("path `{path}` escapes the archive")));
    }
    Ok(trimmed.to_string())
}

fn platform_string(os: &str, architecture: &str, variant: Option<&str>) -> String {
    match variant {
        Some(v) if !v.is_empty() => format!("{os}/{architecture}/{v}"),
        _ => format!("{os}/{architecture}"),
    }
}

fn history(config: &Config) -> Vec<Option<String>> {
    config
        .history
        .iter()
        .filter(|h| !h.empty_layer)
        .map(|h| h.created_by.clone())
        .collect()
}

/// Every image in the source, in the order the archive lists them.
pub(crate) fn plans(source: &mut dyn Source, limits: &Limits) -> Result<Vec<Plan>, Error> {
    if source.size("manifest.json").is_some() {
        let entries: Vec<DockerEntry> = read_json(source, "manifest.json", limits)?;
        if entries.len() > MAX_IMAGES {
            return Err(malformed(format!(
                "`manifest.json` lists {} images (the limit is {MAX_IMAGES})",
                entries.len()
            )));
        }
        let mut out = Vec::new();
        for entry in entries {
            check_layers(entry.layers.len())?;
            let config_path = member_path(&entry.config)?;
            let config: Config = read_json(source, &config_path, limits)?;
            let layers = entry
                .layers
                .iter()
                .map(|l| {
                    let path = member_path(l)?;
                    Ok(LayerRef {
                        digest: digest_of_member(&path),
                        path,
                        declared_size: None,
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?;
            out.push(Plan {
                format: Format::DockerArchive,
                platform: Some(platform_string(
                    &config.os,
                    &config.architecture,
                    config.variant.as_deref(),
                )),
                architecture: config.architecture.clone(),
                config_path,
                metadata: vec!["manifest.json".into()],
                layers,
                created_by: history(&config),
            });
        }
        if out.is_empty() {
            return Err(malformed("`manifest.json` lists no image"));
        }
        return Ok(out);
    }
    if source.size("index.json").is_some() {
        let mut out = Vec::new();
        let index: Index = read_json(source, "index.json", limits)?;
        let mut metadata = vec!["index.json".to_string()];
        if source.size("oci-layout").is_some() {
            metadata.push("oci-layout".into());
        }
        walk_index(source, limits, index, None, &metadata, 0, &mut out)?;
        if out.is_empty() {
            return Err(malformed("`index.json` lists no image manifest"));
        }
        return Ok(out);
    }
    Err(Error::Unsupported(
        "a tar archive, but neither a `docker save` archive (no manifest.json) nor an OCI \
         image layout (no index.json)"
            .into(),
    ))
}

/// Older `docker save` names layers `<hex>/layer.tar`; newer ones
/// `blobs/sha256/<hex>`: the digest when it can be told, else the path.
fn digest_of_member(path: &str) -> String {
    if let Some(hex) = path.strip_prefix("blobs/sha256/") {
        return format!("sha256:{hex}");
    }
    path.to_string()
}

fn walk_index(
    source: &mut dyn Source,
    limits: &Limits,
    index: Index,
    inherited: Option<Platform>,
    metadata: &[String],
    depth: usize,
    out: &mut Vec<Plan>,
) -> Result<(), Error> {
    if depth > MAX_INDEX_DEPTH {
        return Err(malformed("OCI indexes nested too deep"));
    }
    for descriptor in index.manifests {
        let path = blob_path(&descriptor.digest)?;
        let platform = descriptor.platform.clone().or_else(|| inherited.clone());
        let mut metadata = metadata.to_vec();
        metadata.push(path.clone());
        if descriptor.media_type.contains("image.index")
            || descriptor.media_type.contains("manifest.list")
        {
            let nested: Index = read_json(source, &path, limits)?;
            walk_index(source, limits, nested, platform, &metadata, depth + 1, out)?;
            continue;
        }
        // Attestations and signatures are manifests of unknown platform.
        if platform
            .as_ref()
            .is_some_and(|p| p.os == "unknown" || p.architecture == "unknown")
        {
            continue;
        }
        if out.len() >= MAX_IMAGES {
            return Err(malformed(format!(
                "more than {MAX_IMAGES} images in the index"
            )));
        }
        let manifest: Manifest = read_json(source, &path, limits)?;
        check_layers(manifest.layers.len())?;
        let config_path = blob_path(&manifest.config.digest)?;
        let config: Config = read_json(source, &config_path, limits).unwrap_or_default();
        let (os, architecture, variant) = match &platform {
            Some(p) => (p.os.clone(), p.architecture.clone(), p.variant.clone()),
            None => (
                config.os.clone(),
                config.architecture.clone(),
                config.variant.clone(),
            ),
        };
        let layers = manifest
            .layers
            .iter()
            .map(|l| {
                Ok(LayerRef {
                    path: blob_path(&l.digest)?,
                    digest: l.digest.clone(),
                    declared_size: Some(l.size),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        out.push(Plan {
            format: Format::OciLayout,
            platform: Some(platform_string(&os, &architecture, variant.as_deref())),
            architecture,
            config_path,
            metadata,
            layers,
            created_by: history(&config),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_checked_before_use_as_paths() {
        assert_eq!(blob_path("sha256:abc123").unwrap(), "blobs/sha256/abc123");
        assert!(blob_path("sha256:../../etc/passwd").is_err());
        assert!(blob_path("sha256:ABC").is_err());
        assert!(blob_path("nocolon").is_err());
        assert!(member_path("../x/layer.tar").is_err());
        assert!(member_path("/etc/passwd").is_err());
        assert_eq!(member_path("./abc/layer.tar").unwrap(), "abc/layer.tar");
    }
}
