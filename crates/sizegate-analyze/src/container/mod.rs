//! Container images (`docker save` archives and OCI image layouts) as
//! measured artifacts. Not to be confused with `crate::image`, the
//! analysis of one object-file image.
//!
//! The image is read through a [`Source`] (a tar archive via
//! [`TarSource`], or a layout directory the caller implements): the
//! manifests say which layers make each image; each layer is streamed
//! once, decompressed, and its entries applied to the merged filesystem
//! (whiteouts included), hashing file data as it passes. Memory holds the
//! merged filesystem's entries, the package databases and one binary at a
//! time (those at or above [`ImageOptions::binary_threshold`], analyzed
//! with [`crate::analyze`]); everything is bounded by [`Limits`].

mod advice;
pub(crate) mod diff;
mod layer;
mod manifest;
mod owners;
mod pipeline;
mod source;
pub(crate) mod tar;

use std::collections::{BTreeMap, HashMap, HashSet};

pub use source::{Source, TarSource};

use crate::Error;
use crate::report::{
    FileInfo, ImageDirectory, ImageFile, Language, Layer, Report, SCHEMA_VERSION, Section,
    SectionKind, Sizes, Toolchain, Unit, UnitKind,
};
use layer::{LayerFigures, Merged, Node};
use tar::Kind;

/// Bounds on what an image may make the analyzer do.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Entries (files, links, directories, whiteouts) over all layers.
    pub max_entries: usize,
    /// Decompressed bytes per compressed byte of a layer...
    pub max_ratio: u64,
    /// ...plus this many (small layers compress better).
    pub ratio_slack: u64,
    /// Decompressed bytes of any one layer.
    pub max_uncompressed: u64,
    /// Size of a JSON file (manifest, index, config).
    pub max_json: u64,
    /// Largest binary analyzed (larger ones are measured, not analyzed).
    pub max_binary: u64,
    /// Package database bytes held at once.
    pub max_capture: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 2_000_000,
            max_ratio: 200,
            ratio_slack: 64 << 20,
            max_uncompressed: 64 << 30,
            max_json: 16 << 20,
            max_binary: 512 << 20,
            max_capture: 128 << 20,
        }
    }
}

/// Options of [`analyze_image`].
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// `os/arch[/variant]` (`linux/amd64`): the one image of a
    /// multi-platform index to report; all of them otherwise.
    pub platform: Option<String>,
    /// Analyze the binaries inside (ELF, Mach-O, PE, WebAssembly).
    pub analyze_binaries: bool,
    /// Smallest binary analyzed, in bytes.
    pub binary_threshold: u64,
    /// Bounds.
    pub limits: Limits,
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions {
            platform: None,
            analyze_binaries: true,
            binary_threshold: 1 << 20,
            limits: Limits::default(),
        }
    }
}

pub(crate) fn malformed(message: impl Into<String>) -> Error {
    Error::Malformed {
        format: "container image",
        message: message.into(),
    }
}

/// Whether `head` (the first 512 bytes or more of a file) is a tar header.
pub fn looks_like_tar(head: &[u8]) -> bool {
    tar::is_header(head)
}

/// Lower-case hex sha256 of everything `reader` yields (for the caller to
/// set `file.sha256` of an image's reports: the analysis itself never reads
/// the archive whole).
pub fn sha256_hex(reader: &mut dyn std::io::Read) -> std::io::Result<String> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The directories largest first kept in a report.
const TOP_DIRECTORIES: usize = 50;

/// `amd64` -> `x86_64` and so on, to match the architecture names of
/// binary reports.
fn arch_name(architecture: &str) -> String {
    match architecture {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "386" => "i386",
        "riscv64" => "riscv64",
        other => other,
    }
    .to_string()
}

fn platform_matches(wanted: &str, platform: &str) -> bool {
    wanted == platform || platform.starts_with(&format!("{wanted}/"))
}

/// Analyze every image of `source` (or the one `options.platform` names).
pub fn analyze_image(
    name: &str,
    source: &mut dyn Source,
    options: &ImageOptions,
) -> Result<Vec<Report>, Error> {
    let mut plans = manifest::plans(source, &options.limits)?;
    if let Some(wanted) = &options.platform {
        let available: Vec<String> = plans.iter().filter_map(|p| p.platform.clone()).collect();
        plans.retain(|p| {
            p.platform
                .as_deref()
                .is_some_and(|p| platform_matches(wanted, p))
        });
        if plans.is_empty() {
            return Err(Error::ArchNotFound {
                wanted: wanted.clone(),
                available: available.join(", "),
            });
        }
    }
    let many = plans.len() > 1;
    plans
        .iter()
        .map(|plan| {
            let shown = match (&plan.platform, many) {
                (Some(p), true) => format!("{name} ({p})"),
                _ => name.to_string(),
            };
            one_image(&shown, source, plan, options)
        })
        .collect()
}

fn one_image(
    name: &str,
    source: &mut dyn Source,
    plan: &manifest::Plan,
    options: &ImageOptions,
) -> Result<Report, Error> {
    let (mut merged, figures) = read_layers(source, plan, options)?;
    let layers = layer_entries(plan, &figures, &merged);
    let hidden: u64 = merged.hidden.iter().sum();
    let hidden_files: u64 = merged.hidden_files.iter().sum();
    let metadata: u64 = figures
        .iter()
        .map(|f| f.uncompressed - f.content.min(f.uncompressed))
        .sum();
    let uncompressed: u64 = figures.iter().map(|f| f.uncompressed).sum();
    let packages = owners::package_map(&merged.captured);
    let tally = Tally::of(std::mem::take(&mut merged.nodes), &packages);
    let duplicate = tally.duplicate;
    let (files, units, directories) = tally.finish(hidden, hidden_files, metadata);
    let (sections, pull) = sections(source, plan, &figures);
    let total = source.total_size();

    let binaries: Vec<&Report> = files.iter().filter_map(|f| f.report.as_deref()).collect();
    let language = binaries
        .iter()
        .max_by_key(|r| r.file.size)
        .map_or(Language::Unknown, |r| r.language);
    let stripped = binaries.iter().all(|r| r.stripped);
    let sizes = Sizes {
        file: total,
        vm: 0,
        shipped: uncompressed,
        gzip: 0,
        zstd: 0,
        debug: 0,
        symbols: 0,
        compressed: figures.iter().map(|f| f.compressed).sum(),
        uncompressed,
        wasted: hidden + duplicate,
        pull,
    };
    let advice = advice::advise(&advice::Facts {
        files: &files,
        units: &units,
        hidden,
        hidden_files,
        duplicate,
        uncompressed,
    });
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        file: FileInfo {
            name: name.to_string(),
            size: total,
            sha256: String::new(),
        },
        format: plan.format,
        arch: arch_name(&plan.architecture),
        language,
        stripped,
        toolchain: Toolchain::default(),
        sizes,
        sections,
        units,
        symbols: Vec::new(),
        units_instantiating: Vec::new(),
        symbols_truncated: false,
        compression_skipped: false,
        advice,
        notes: Vec::new(),
        layers,
        files,
        directories,
    })
}

/// Stream the layers of `plan`, bottom first, into one merged filesystem.
fn read_layers(
    source: &mut dyn Source,
    plan: &manifest::Plan,
    options: &ImageOptions,
) -> Result<(Merged, Vec<LayerFigures>), Error> {
    let count = plan.layers.len();
    let mut merged = Merged {
        hidden: vec![0; count],
        hidden_files: vec![0; count],
        ..Merged::default()
    };
    let mut figures = Vec::with_capacity(count);
    for (i, layer_ref) in plan.layers.iter().enumerate() {
        let size = source
            .size(&layer_ref.path)
            .ok_or_else(|| malformed(format!("layer blob `{}` is missing", layer_ref.path)))?;
        if let Some(declared) = layer_ref.declared_size
            && declared != size
        {
            return Err(malformed(format!(
                "layer blob `{}` is {size} bytes; the manifest says {declared}",
                layer_ref.path
            )));
        }
        let mut blob = source
            .open(&layer_ref.path)
            .map_err(|e| malformed(format!("cannot read `{}`: {e}", layer_ref.path)))?;
        let index = u32::try_from(i).map_err(|_| malformed("too many layers"))?;
        figures.push(layer::apply(&mut blob, size, index, &mut merged, options)?);
    }
    Ok((merged, figures))
}

/// The report's layers, bottom first.
fn layer_entries(plan: &manifest::Plan, figures: &[LayerFigures], merged: &Merged) -> Vec<Layer> {
    plan.layers
        .iter()
        .zip(figures)
        .enumerate()
        .map(|(i, (r, f))| Layer {
            digest: r.digest.clone(),
            compression: f.compression.to_string(),
            compressed_size: f.compressed,
            uncompressed_size: f.uncompressed,
            created_by: plan.created_by.get(i).cloned().flatten(),
            files: f.files,
            hidden_size: merged.hidden[i],
        })
        .collect()
}

/// The merged filesystem's files summed by owner and by directory.
struct Tally {
    /// Unit name -> (kind, bytes, files).
    units: HashMap<String, (UnitKind, u64, u64)>,
    files: Vec<ImageFile>,
    /// Directory -> (bytes, files) under it.
    dirs: HashMap<String, (u64, u64)>,
    /// Bytes of files identical to a file of an earlier layer.
    duplicate: u64,
}

impl Tally {
    fn of(nodes: BTreeMap<String, Node>, packages: &HashMap<String, String>) -> Tally {
        // (hash, size) -> the lowest layer holding such a file.
        let mut groups: HashMap<(u64, u64), u32> = HashMap::new();
        for node in nodes.values() {
            if node.kind == Kind::File && node.size > 0 {
                let first = groups.entry((node.hash, node.size)).or_insert(node.layer);
                *first = (*first).min(node.layer);
            }
        }
        let mut tally = Tally {
            units: HashMap::new(),
            files: Vec::new(),
            dirs: HashMap::new(),
            duplicate: 0,
        };
        for (path, node) in nodes {
            if node.kind != Kind::File {
                continue;
            }
            if node.size > 0
                && groups
                    .get(&(node.hash, node.size))
                    .is_some_and(|&l| l < node.layer)
            {
                tally.duplicate += node.size;
            }
            let (unit, kind) = match packages.get(&path) {
                Some(p) => (p.clone(), UnitKind::Package),
                None => (owners::path_unit(&path), UnitKind::Path),
            };
            let entry = tally.units.entry(unit.clone()).or_insert((kind, 0, 0));
            entry.1 += node.size;
            entry.2 += 1;
            let mut end = path.len();
            while let Some(i) = path[..end].rfind('/') {
                let d = tally.dirs.entry(format!("/{}", &path[..i])).or_default();
                d.0 += node.size;
                d.1 += 1;
                end = i;
            }
            tally.files.push(ImageFile {
                path: format!("/{path}"),
                size: node.size,
                layer: node.layer,
                unit,
                report: node.report,
            });
        }
        tally
    }

    /// Files, units (with the `[wasted]` and `[tar metadata]` pseudo
    /// units) and the largest directories, each sorted largest first.
    fn finish(
        self,
        hidden: u64,
        hidden_files: u64,
        metadata: u64,
    ) -> (Vec<ImageFile>, Vec<Unit>, Vec<ImageDirectory>) {
        let Tally {
            mut units,
            mut files,
            dirs,
            ..
        } = self;
        if hidden > 0 {
            units.insert("[wasted]".into(), (UnitKind::Pseudo, hidden, hidden_files));
        }
        if metadata > 0 {
            units.insert("[tar metadata]".into(), (UnitKind::Pseudo, metadata, 0));
        }
        let mut units: Vec<Unit> = units
            .into_iter()
            .filter(|(_, u)| u.1 > 0)
            .map(|(name, (kind, size, symbols))| Unit::new(name, kind, size, symbols))
            .collect();
        Unit::sort(&mut units);
        files.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
        let mut directories: Vec<ImageDirectory> = dirs
            .into_iter()
            .map(|(path, (size, files))| ImageDirectory { path, size, files })
            .collect();
        directories.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
        directories.truncate(TOP_DIRECTORIES);
        (files, units, directories)
    }
}

/// Sections: the layer blobs (each once), config, manifests, and the rest
/// of the archive, summing to its size; and the bytes a pull downloads.
fn sections(
    source: &dyn Source,
    plan: &manifest::Plan,
    figures: &[LayerFigures],
) -> (Vec<Section>, u64) {
    let total = source.total_size();
    let mut sections = Vec::new();
    let mut seen = HashSet::new();
    let mut pull = 0u64;
    for (i, (r, f)) in plan.layers.iter().zip(figures).enumerate() {
        if seen.insert(r.path.clone()) {
            pull += f.compressed;
            sections.push(Section {
                name: format!("layer {}", i + 1),
                kind: SectionKind::Data,
                file_size: f.compressed,
                vm_size: 0,
            });
        }
    }
    let config_size = source.size(&plan.config_path).unwrap_or(0);
    let mut meta_size = 0u64;
    for path in &plan.metadata {
        if seen.insert(path.clone()) {
            let size = source.size(path).unwrap_or(0);
            meta_size += size;
            if path.starts_with("blobs/") {
                pull += size;
            }
        }
    }
    pull += config_size;
    let other = |name: &str, file_size| Section {
        name: name.into(),
        kind: SectionKind::Other,
        file_size,
        vm_size: 0,
    };
    sections.push(other("[config]", config_size));
    sections.push(other("[manifest]", meta_size));
    let listed: u64 = sections.iter().map(|s| s.file_size).sum();
    sections.push(other("[archive overhead]", total.saturating_sub(listed)));
    sections.retain(|s| s.file_size > 0 || s.name.starts_with("layer"));
    (sections, pull)
}
