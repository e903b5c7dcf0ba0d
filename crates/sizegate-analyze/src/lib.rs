//! `sizegate-analyze`: measure one artifact and attribute every byte.
//!
//! Pure: bytes in, [`Report`] out. No I/O beyond the slice it is given, no
//! async, no database. Never panics on any input, and never allocates in
//! proportion to a count read from the file without bounding it by the
//! file's size.
//!
//! How one image is measured ([`analyze`] splits universal Mach-O files
//! into their slices first):
//! 1. `format`: read the sections, partition every byte of the file into
//!    sections and bracketed pseudo-sections (`[headers]`, `[padding]`,
//!    `[symbol table]`...), and apply the format's strip model to find the
//!    bytes that ship (ELF: what `strip --strip-all` writes, or for Go's
//!    own linker what `-s -w` writes; Mach-O, PE, WebAssembly likewise).
//! 2. `symbols`: symbols from the symbol table, else the Go pclntab, else
//!    the dynamic symbols; sized, de-aliased and without overlaps.
//! 3. `demangle` and `units`: names demangled, each charged to a unit (the
//!    Rust crate that defines the function, the Go package, the C++
//!    namespace, `[C]`), and the shipped bytes no symbol explains charged to
//!    `[<section> unattributed]` and the strip model's pseudo-units.
//! 4. `toolchain`, `sizes` (gzip, zstd, sha256: on every core, alongside
//!    steps 2 and 3) and `advice`.

#![forbid(unsafe_code)]

mod advice;
mod anon_data;
mod code_refs;
mod codegen_units;
pub mod container;
mod debug_file;
mod demangle;
pub mod diff;
mod dwarf_data;
mod format;
mod functions;
pub mod go;
mod go_strings;
mod go_units;
mod go_wasm;
pub mod human;
mod image;
mod macho_linkedit;
mod parallel;
pub mod report;
mod rust;
mod sections;
mod seh_handler_data;
mod sizes;
mod symbols;
mod toolchain;
mod units;
mod universal;
mod unwind;
mod wasm_data;

pub use diff::{Cause, Change, ChangeStatus, DiffSide, ReportDiff, diff};
pub use report::*;

/// Why an artifact could not be analyzed. The message says what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not a format we read (ELF, Mach-O, PE/COFF, WebAssembly).
    #[error("unsupported file format: {0}")]
    Unsupported(String),
    /// The file is truncated or corrupt.
    #[error("malformed {format} file: {message}")]
    Malformed {
        /// Format that was being read.
        format: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The debug file given with the artifact is not its debug file, or
    /// not one we read.
    #[error("debug file: {0}")]
    DebugFile(String),
    /// `--arch` names an architecture the universal binary does not hold.
    #[error("architecture `{wanted}` not found; the file holds: {available}")]
    ArchNotFound {
        /// The requested architecture.
        wanted: String,
        /// The ones present, comma-separated.
        available: String,
    },
}

/// Options of [`analyze`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// For universal (fat) Mach-O files: the one architecture to report.
    pub arch: Option<String>,
    /// Skip the gzip and zstd sizes (the costliest part on large files):
    /// `sizes.gzip` and `sizes.zstd` are then 0 and
    /// [`Report::compression_skipped`] is set. Everything else is the same.
    pub skip_compression: bool,
}

/// Analyze an artifact. Returns one report per architecture (more than one
/// only for a universal Mach-O file without [`Options::arch`]). Symbols are
/// all returned; callers truncate for display.
pub fn analyze(name: &str, bytes: &[u8], options: &Options) -> Result<Vec<Report>, Error> {
    match object::FileKind::parse(bytes) {
        Ok(object::FileKind::MachOFat32 | object::FileKind::MachOFat64) => {
            universal::analyze_universal(name, bytes, options, None)
        }
        Ok(_) => Ok(vec![image::analyze_image(
            name,
            bytes,
            !options.skip_compression,
            None,
        )?]),
        Err(_) => Err(image::unsupported()),
    }
}

/// Analyze a stripped artifact with its separate debug file: sizes,
/// sections and what ships come from `bytes`; symbols, units and debug
/// facts from `debug`. Per format:
/// - ELF: the output of `objcopy --only-keep-debug`, or a `.debug` file
///   matched by build-id; the GNU build-ids must agree (when the artifact
///   has one).
/// - Mach-O: the DWARF file of a `.dSYM` bundle
///   (`APP.dSYM/Contents/Resources/DWARF/APP`), thin or universal; each
///   image is matched to the dSYM slice with its `LC_UUID`.
/// - PE: the PDB; its GUID and age must be those the artifact's CodeView
///   debug directory entry names.
///
/// A mismatch, or a file of another kind, is [`Error::DebugFile`].
pub fn analyze_with_debug_file(
    name: &str,
    bytes: &[u8],
    debug: &[u8],
    options: &Options,
) -> Result<Vec<Report>, Error> {
    match object::FileKind::parse(bytes) {
        Ok(object::FileKind::MachOFat32 | object::FileKind::MachOFat64) => {
            universal::analyze_universal(name, bytes, options, Some(debug))
        }
        Ok(
            object::FileKind::Elf32
            | object::FileKind::Elf64
            | object::FileKind::MachO32
            | object::FileKind::MachO64
            | object::FileKind::Pe32
            | object::FileKind::Pe64,
        ) => Ok(vec![image::analyze_image(
            name,
            bytes,
            !options.skip_compression,
            Some(debug),
        )?]),
        Ok(_) => Err(Error::DebugFile(
            "separate debug files are read for ELF, Mach-O (dSYM) and PE (PDB) artifacts only"
                .into(),
        )),
        Err(_) => Err(image::unsupported()),
    }
}
