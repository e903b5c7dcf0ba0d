//! The words tables and markdown use for the contract's enums; the same
//! words as the JSON, so what a user reads is what a script matches.

use sizegate_analyze::{Cause, ChangeStatus, Format, Language, SectionKind, UnitKind};

/// `elf`, `macho`, `pe`, `wasm`.
pub fn format(format: Format) -> &'static str {
    match format {
        Format::Elf => "elf",
        Format::Macho => "macho",
        Format::Pe => "pe",
        Format::Wasm => "wasm",
        Format::DockerArchive => "docker-archive",
        Format::OciLayout => "oci-layout",
    }
}

/// `rust`, `go`, `c`, `cpp`, `mixed`, `unknown`.
pub fn language(language: Language) -> &'static str {
    match language {
        Language::Rust => "rust",
        Language::Go => "go",
        Language::C => "c",
        Language::Cpp => "cpp",
        Language::Mixed => "mixed",
        Language::Unknown => "unknown",
    }
}

/// `code`, `rodata`, `go_runtime`, ...
pub fn section_kind(kind: SectionKind) -> &'static str {
    match kind {
        SectionKind::Code => "code",
        SectionKind::Rodata => "rodata",
        SectionKind::Data => "data",
        SectionKind::Bss => "bss",
        SectionKind::Debug => "debug",
        SectionKind::Symbols => "symbols",
        SectionKind::Unwind => "unwind",
        SectionKind::Relocations => "relocations",
        SectionKind::Dynamic => "dynamic",
        SectionKind::GoRuntime => "go_runtime",
        SectionKind::Other => "other",
    }
}

/// `crate`, `package`, `namespace`, `c`, `pseudo`, `path`.
pub fn unit_kind(kind: UnitKind) -> &'static str {
    match kind {
        UnitKind::Crate => "crate",
        UnitKind::Package => "package",
        UnitKind::Namespace => "namespace",
        UnitKind::C => "c",
        UnitKind::Pseudo => "pseudo",
        UnitKind::Path => "path",
    }
}

/// `added`, `removed`, `grown`, `shrunk`.
pub fn status(status: ChangeStatus) -> &'static str {
    match status {
        ChangeStatus::Added => "added",
        ChangeStatus::Removed => "removed",
        ChangeStatus::Grown => "grown",
        ChangeStatus::Shrunk => "shrunk",
    }
}

/// `yes` / `no`.
pub fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// What a cause changed: `1.94.0 → 1.95.0`, `added: v1.8.0`, `removed: v1.0.0`.
/// With the bytes it moved where known: `v0.20.0 → v0.23.0: +41.0 KiB`.
pub fn cause_change(cause: &Cause) -> String {
    let change = match (&cause.old, &cause.new) {
        (Some(old), Some(new)) => format!("{old} → {new}"),
        (None, Some(new)) => format!("added: {new}"),
        (Some(old), None) => format!("removed: {old}"),
        (None, None) => "changed".to_string(),
    };
    match cause.delta {
        Some(delta) => format!("{change}: {}", sizegate_analyze::human::delta(delta)),
        None => change,
    }
}
