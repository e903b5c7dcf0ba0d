//! Universal (fat) Mach-O files: one report per architecture slice, or the
//! one `Options::arch` asks for.

use object::read::macho::{FatArch, MachOFatFile32, MachOFatFile64};

use crate::image::{analyze_image, arch_name};
use crate::{Error, Options, Report};

/// One slice of a universal file.
#[derive(Debug)]
struct Slice<'data> {
    arch: String,
    bytes: &'data [u8],
}

fn malformed(e: object::read::Error) -> Error {
    Error::Malformed {
        format: "Mach-O",
        message: format!("universal header: {e}"),
    }
}

/// The slices of a universal file. Slices must not overlap: real files
/// never share bytes between slices, and a crafted header naming the same
/// bytes many times would multiply the work out of proportion to the file.
fn slices<'data, Fat: FatArch>(
    arches: &[Fat],
    bytes: &'data [u8],
) -> Result<Vec<Slice<'data>>, Error> {
    let mut ranges: Vec<(u64, u64)> = arches.iter().map(FatArch::file_range).collect();
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        let (offset, size) = pair[0];
        if offset.saturating_add(size) > pair[1].0 {
            return Err(Error::Malformed {
                format: "Mach-O",
                message: format!(
                    "universal header: architecture slices overlap (at offsets {} and {})",
                    offset, pair[1].0
                ),
            });
        }
    }
    arches
        .iter()
        .map(|a| {
            let data = a.data(bytes).map_err(malformed)?;
            Ok(Slice {
                arch: arch_name(a.architecture()),
                bytes: data,
            })
        })
        .collect()
}

/// Whether `wanted` (as a user writes it) names `arch` (as `object` does).
fn arch_matches(wanted: &str, arch: &str) -> bool {
    let wanted = wanted.to_ascii_lowercase();
    let canonical = match wanted.as_str() {
        "arm64" => "aarch64",
        "amd64" | "x86-64" => "x86_64",
        "386" | "x86" | "i686" => "i386",
        other => other,
    };
    canonical == arch
}

/// Analyze a universal file; with a `debug` file (a dSYM, thin or
/// universal) each slice is matched to its dSYM slice by `LC_UUID`.
pub(crate) fn analyze_universal(
    name: &str,
    bytes: &[u8],
    options: &Options,
    debug: Option<&[u8]>,
) -> Result<Vec<Report>, Error> {
    let slices = match object::FileKind::parse(bytes) {
        Ok(object::FileKind::MachOFat64) => {
            let fat = MachOFatFile64::parse(bytes).map_err(malformed)?;
            slices(fat.arches(), bytes)?
        }
        _ => {
            let fat = MachOFatFile32::parse(bytes).map_err(malformed)?;
            slices(fat.arches(), bytes)?
        }
    };
    let chosen: Vec<&Slice<'_>> = match &options.arch {
        Some(wanted) => {
            let found: Vec<&Slice<'_>> = slices
                .iter()
                .filter(|s| arch_matches(wanted, &s.arch))
                .collect();
            if found.is_empty() {
                return Err(Error::ArchNotFound {
                    wanted: wanted.clone(),
                    available: slices
                        .iter()
                        .map(|s| s.arch.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            found
        }
        None => slices.iter().collect(),
    };
    chosen
        .into_iter()
        .map(|s| {
            analyze_image(
                &format!("{name} ({})", s.arch),
                s.bytes,
                !options.skip_compression,
                debug,
            )
        })
        .collect()
}
