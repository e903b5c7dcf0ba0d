//! What `analyze` and `diff` read: a binary, analyzed on the spot, or a JSON
//! report written earlier by `sizegate analyze --format json`. JSON is told
//! apart by content (first non-space byte `{` or `[`); binary formats never
//! start that way.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sizegate_analyze::{OLDEST_SCHEMA_VERSION, Options, Report, SCHEMA_VERSION, human};

/// Largest file we read: the analyzer holds the whole file in memory.
pub const MAX_INPUT_BYTES: u64 = 4 << 30;

/// Largest JSON report we parse. Real reports are a few MiB at most (even
/// with every symbol); the parsed form takes several times the text.
pub const MAX_REPORT_BYTES: u64 = 512 << 20;

/// Files from this size on are mapped rather than read (see [`Bytes`]).
const MAP_FROM_BYTES: u64 = 1 << 20;

/// A file's bytes: a large regular file mapped read-only, anything else
/// (small files, pipes, a file that cannot be mapped) read into memory.
///
/// Mapping spares copying the whole file into fresh pages: on a 74 MB Go
/// binary that copy was a fifth of the attribution's wall time. The pages
/// are the page cache's, counted in the process's RSS as they are touched,
/// like the copy was.
pub enum Bytes {
    /// The file mapped read-only.
    Mapped(memmap2::Mmap),
    /// The file read into memory.
    Read(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(map) => map,
            Bytes::Read(bytes) => bytes,
        }
    }
}

/// The file's bytes, refusing files over `limit`, directories and anything
/// else that cannot be read, with a message that names the file.
pub fn read_bounded(path: &Path, limit: u64) -> anyhow::Result<Bytes> {
    let cannot_read = || format!("cannot read `{}`", path.display());
    let file = File::open(path).with_context(cannot_read)?;
    let metadata = file.metadata().with_context(cannot_read)?;
    if metadata.is_dir() {
        bail!("cannot read `{}`: it is a directory", path.display());
    }
    if metadata.len() > limit {
        bail!(
            "cannot read `{}`: it is {} and the limit is {}",
            path.display(),
            human::size(metadata.len()),
            human::size(limit)
        );
    }
    if metadata.is_file()
        && metadata.len() >= MAP_FROM_BYTES
        && let Some(map) = mapped(&file, metadata.len())
    {
        return Ok(Bytes::Mapped(map));
    }
    // `len` is bounded by `limit` above; `take` guards a file that grows
    // while we read it.
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(cannot_read)?;
    if bytes.len() as u64 > limit {
        bail!(
            "cannot read `{}`: it grew past the limit of {} while being read",
            path.display(),
            human::size(limit)
        );
    }
    Ok(Bytes::Read(bytes))
}

/// `file` (a regular file of `len` bytes, `len` within the limit) mapped
/// read-only and private; `None` when it cannot be mapped or its length
/// changed, and the caller reads it instead.
#[allow(unsafe_code)]
fn mapped(file: &File, len: u64) -> Option<memmap2::Mmap> {
    // SAFETY: the map is only read, and only while this process runs the
    // one command it was started for. A mapped file that another process
    // changes while it is measured is read as it is at each access (the
    // analyzer bounds every read by the slice's length and accepts any
    // bytes); one truncated meanwhile ends the process with SIGBUS, as
    // any program reading a mapped file would. The files measured are the
    // user's own build outputs, and the worker's are files it wrote itself
    // and hands to no one else.
    let map = unsafe { memmap2::MmapOptions::new().map_copy_read_only(file) }.ok()?;
    (map.len() as u64 == len).then_some(map)
}

/// The report(s) of one input: one per architecture for a universal
/// Mach-O without `arch`, else exactly one. Symbols are all kept.
pub fn load_reports(path: &Path, arch: Option<&str>) -> anyhow::Result<Vec<Report>> {
    let options = Options {
        arch: arch.map(str::to_string),
        ..Options::default()
    };
    load_reports_with(path, &options, Json::Accept)
}

/// Whether a JSON report is accepted in place of a binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Json {
    /// Read a report written by `analyze --format json` back as it is.
    Accept,
    /// Binaries only (`analyze --binary-only`, what the worker runs).
    Refuse,
}

/// [`load_reports`] with every analyzer option (a JSON report is read back
/// as it is: `skip_compression` only applies to a binary).
pub fn load_reports_with(
    path: &Path,
    options: &Options,
    json: Json,
) -> anyhow::Result<Vec<Report>> {
    load_reports_on_platform(path, options, json, None)
}

/// [`load_reports_with`], and for a container image (`docker save`
/// archive, OCI layout) the one platform to report.
pub fn load_reports_on_platform(
    path: &Path,
    options: &Options,
    json: Json,
    platform: Option<&str>,
) -> anyhow::Result<Vec<Report>> {
    if let Some(reports) = crate::container_input::image_reports(path, platform)? {
        return Ok(reports);
    }
    let bytes = read_bounded(path, MAX_INPUT_BYTES)?;
    if looks_like_json(&bytes) {
        if json == Json::Refuse {
            bail!(
                "`{}` is not a binary: it starts like JSON, and only binaries are \
                 analyzed here (--binary-only)",
                path.display()
            );
        }
        let reports = parse_reports(path, &bytes)?;
        return select_arch(path, reports, options.arch.as_deref());
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    sizegate_analyze::analyze(&name, &bytes, options)
        .with_context(|| format!("cannot analyze `{}`", path.display()))
}

/// The reports of the binary at `path`, analyzed with its separate debug
/// file at `debug` (never a JSON report: a report carries no symbols to
/// replace).
pub fn load_reports_with_debug_file(
    path: &Path,
    debug: &Path,
    options: &Options,
) -> anyhow::Result<Vec<Report>> {
    let bytes = read_bounded(path, MAX_INPUT_BYTES)?;
    if looks_like_json(&bytes) {
        bail!(
            "`{}` is a JSON report; --debug-file goes with a binary",
            path.display()
        );
    }
    let debug = &debug_file_in(debug)?;
    let debug_bytes = read_bounded(debug, MAX_INPUT_BYTES)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    sizegate_analyze::analyze_with_debug_file(&name, &bytes, &debug_bytes, options).with_context(
        || {
            format!(
                "cannot analyze `{}` with debug file `{}`",
                path.display(),
                debug.display()
            )
        },
    )
}

/// The debug file `debug` names: itself, or for a `.dSYM` bundle directory
/// the one DWARF file in its `Contents/Resources/DWARF/`.
fn debug_file_in(debug: &Path) -> anyhow::Result<PathBuf> {
    if !debug.is_dir() {
        return Ok(debug.to_path_buf());
    }
    let dwarf = debug.join("Contents/Resources/DWARF");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dwarf)
        .with_context(|| {
            format!(
                "`{}` is a directory but no .dSYM bundle (no Contents/Resources/DWARF/): give the debug file itself",
                debug.display()
            )
        })?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    match files.len() {
        1 => Ok(files.remove(0)),
        0 => bail!("`{}` holds no DWARF file", dwarf.display()),
        _ => bail!(
            "`{}` holds {} DWARF files: give the one of this artifact",
            dwarf.display(),
            files.len()
        ),
    }
}

/// Exactly one report for `path`, asking for `--arch` when a universal
/// binary holds several.
pub fn load_one_report(path: &Path, arch: Option<&str>) -> anyhow::Result<Report> {
    let mut reports = load_reports(path, arch)?;
    if reports.len() > 1 {
        bail!(
            "`{}` holds {} architectures ({}); choose one with --arch",
            path.display(),
            reports.len(),
            arch_list(&reports)
        );
    }
    reports
        .pop()
        .with_context(|| format!("`{}` holds no report", path.display()))
}

fn arch_list(reports: &[Report]) -> String {
    let archs: Vec<&str> = reports.iter().map(|r| r.arch.as_str()).collect();
    archs.join(", ")
}

fn looks_like_json(bytes: &[u8]) -> bool {
    matches!(
        bytes.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// Only the version, so that an unknown version is reported as such rather
/// than as whatever field it renamed.
#[derive(Deserialize)]
struct VersionProbe {
    #[serde(default)]
    schema_version: Option<serde_json::Value>,
}

/// One JSON object, or an array of them (the reports of a universal
/// binary), as told by the first non-space byte.
fn parse_one_or_many<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<Vec<T>> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        serde_json::from_slice(bytes)
    } else {
        serde_json::from_slice(bytes).map(|one| vec![one])
    }
}

fn parse_reports(path: &Path, bytes: &[u8]) -> anyhow::Result<Vec<Report>> {
    let shown = path.display();
    if bytes.len() as u64 > MAX_REPORT_BYTES {
        bail!(
            "cannot read `{shown}`: a JSON report of {} is over the limit of {}",
            human::size(bytes.len() as u64),
            human::size(MAX_REPORT_BYTES)
        );
    }
    let probes: Vec<VersionProbe> = parse_one_or_many(bytes).map_err(|e| {
        anyhow::anyhow!(
            "`{shown}` starts like JSON but is not a sizegate report (does not parse: {e})"
        )
    })?;
    if probes.is_empty() {
        bail!("`{shown}` is an empty JSON array, not a sizegate report");
    }
    for probe in &probes {
        match &probe.schema_version {
            None => {
                bail!("`{shown}` is JSON but not a sizegate report: it has no `schema_version`")
            }
            Some(v)
                if v.as_u64().is_some_and(|v| {
                    (u64::from(OLDEST_SCHEMA_VERSION)..=u64::from(SCHEMA_VERSION)).contains(&v)
                }) => {}
            Some(v) => bail!(
                "`{shown}` is a sizegate report with schema_version {v}, which this sizegate {} \
                 does not read (it reads schema_version {OLDEST_SCHEMA_VERSION} to \
                 {SCHEMA_VERSION}); write the report \
                 again with this version's `sizegate analyze --format json`",
                env!("CARGO_PKG_VERSION")
            ),
        }
    }
    parse_one_or_many(bytes)
        .map_err(|e| anyhow::anyhow!("`{shown}` is not a valid sizegate report: {e}"))
}

fn select_arch(
    path: &Path,
    reports: Vec<Report>,
    arch: Option<&str>,
) -> anyhow::Result<Vec<Report>> {
    let Some(wanted) = arch else {
        return Ok(reports);
    };
    let available = arch_list(&reports);
    let selected: Vec<Report> = reports.into_iter().filter(|r| r.arch == wanted).collect();
    if selected.is_empty() {
        bail!(
            "architecture `{wanted}` not found in `{}`; it holds: {available}",
            path.display()
        );
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_over_the_limit_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("big.bin");
        std::fs::write(&path, vec![0u8; 2048]).unwrap_or_else(|e| panic!("{e}"));
        let err = match read_bounded(&path, 1024) {
            Ok(_) => panic!("a file over the limit was read"),
            Err(err) => err,
        };
        assert_eq!(
            format!("{err:#}"),
            format!(
                "cannot read `{}`: it is 2.0 KiB and the limit is 1.0 KiB",
                path.display()
            )
        );
        assert_eq!(read_bounded(&path, 2048).map(|b| b.len()).ok(), Some(2048));
    }

    #[test]
    fn large_files_are_mapped_and_read_the_same() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("large.bin");
        let content: Vec<u8> = (0..MAP_FROM_BYTES + 4097)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &content).unwrap_or_else(|e| panic!("{e}"));
        let bytes = read_bounded(&path, MAX_INPUT_BYTES).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(matches!(bytes, Bytes::Mapped(_)), "a large file is mapped");
        assert!(*bytes == content[..]);
        let small = dir.path().join("small.bin");
        std::fs::write(&small, &content[..100]).unwrap_or_else(|e| panic!("{e}"));
        let bytes = read_bounded(&small, MAX_INPUT_BYTES).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(matches!(bytes, Bytes::Read(_)), "a small file is read");
        assert!(*bytes == content[..100]);
    }

    #[test]
    fn json_is_told_apart_by_its_first_byte() {
        assert!(looks_like_json(b"  \n{\"schema_version\": 1}"));
        assert!(looks_like_json(b"[{}]"));
        assert!(!looks_like_json(b"\x7fELF\x02\x01"));
        assert!(!looks_like_json(b"MZ\x90\x00"));
        assert!(!looks_like_json(b"\0asm"));
        assert!(!looks_like_json(b""));
    }
}
