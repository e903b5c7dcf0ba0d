//! Toolchain facts: compiler and linker strings from `.comment`, the rustc
//! version, Go build info, debug info presence, and the dominant language.

use std::collections::HashMap;

use object::Object;

use crate::demangle::Lang;
use crate::go::{self, GoSection};
use crate::report::{Language, SectionKind, Toolchain};
use crate::sections::SectionInfo;

/// Most `.comment` strings we keep; the section is attacker-controlled.
const MAX_COMPILER_STRINGS: usize = 64;

/// Read the toolchain facts.
pub(crate) fn read(file: &object::File<'_>, sections: &[SectionInfo<'_>]) -> Toolchain {
    let mut toolchain = Toolchain::default();
    for section in sections
        .iter()
        .filter(|s| s.raw_name == ".comment" || s.raw_name == "__comment")
    {
        for entry in section.data.split(|&b| b == 0) {
            let text = String::from_utf8_lossy(entry);
            let text = text.trim();
            if text.is_empty() || text.len() > 256 {
                continue;
            }
            if text.starts_with("rustc version") {
                toolchain.rustc.get_or_insert_with(|| text.to_string());
            } else if !toolchain.compilers.iter().any(|c| c == text)
                && toolchain.compilers.len() < MAX_COMPILER_STRINGS
            {
                toolchain.compilers.push(text.to_string());
            }
        }
    }
    toolchain.debug_info = sections
        .iter()
        .any(|s| s.kind == SectionKind::Debug && s.share > 0)
        || file.pdb_info().ok().flatten().is_some();
    let memory = crate::go_units::wasm_memory(sections);
    let go_sections: Vec<GoSection<'_>> = crate::go_units::go_sections(sections, memory.as_ref());
    let target = go::Target {
        big_endian: !file.is_little_endian(),
        ptr_size: if file.is_64() { 8 } else { 4 },
    };
    toolchain.go_build = go::read_build_info(&go_sections, target);
    toolchain.go = toolchain.go_build.as_ref().map(|b| b.go_version.clone());
    if toolchain.go.is_none()
        && let Some((base, data)) = &memory
    {
        toolchain.go = go::version_from_memory(data, *base);
        toolchain.go_build = toolchain
            .go
            .as_deref()
            .and_then(|version| go::modinfo_from_memory(data, *base, version));
    }
    toolchain
}

/// Whether the image is a Go binary: build info, a pclntab section, or the
/// Go runtime's symbols.
pub(crate) fn is_go(
    toolchain: &Toolchain,
    sections: &[SectionInfo<'_>],
    file: &object::File<'_>,
) -> bool {
    use object::ObjectSymbol;
    toolchain.go_build.is_some()
        || sections.iter().any(|s| {
            matches!(
                s.raw_name.as_str(),
                ".gopclntab"
                    | "__gopclntab"
                    | ".go.buildinfo"
                    | "__go_buildinfo"
                    | ".note.go.buildid"
                    | "go.buildid"
            )
        })
        || file.symbols().take(100_000).any(|s| {
            let name = s.name_bytes().unwrap_or(&[]);
            name == b"runtime.main" || name == b"_runtime.main"
        })
}

/// The dominant language, from the shipped bytes each language's symbols hold.
pub(crate) fn language(
    toolchain: &Toolchain,
    go_binary: bool,
    rust_evidence: bool,
    by_lang: &HashMap<Lang, u64>,
) -> Language {
    let bytes = |lang| by_lang.get(&lang).copied().unwrap_or(0);
    let (rust, cpp, c) = (bytes(Lang::Rust), bytes(Lang::Cpp), bytes(Lang::C));
    if go_binary {
        let go = bytes(Lang::Go);
        return if rust + cpp > go / 2 && rust + cpp > 0 {
            Language::Mixed
        } else {
            Language::Go
        };
    }
    if toolchain.rustc.is_some() || rust > 0 || rust_evidence {
        return if cpp > rust / 2 && cpp > 0 {
            Language::Mixed
        } else {
            Language::Rust
        };
    }
    if cpp > 0 && cpp * 5 >= cpp + c {
        return Language::Cpp;
    }
    if c > 0 || !toolchain.compilers.is_empty() {
        return if cpp > 0 { Language::Cpp } else { Language::C };
    }
    Language::Unknown
}
