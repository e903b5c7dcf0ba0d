//! The analysis of one image (one architecture): layout, symbols, units,
//! toolchain, sizes and advice, assembled into a [`Report`].

use object::{Object, ObjectSymbol};

use crate::codegen_units::CodegenUnits;
use crate::demangle::{self, Demangled};
use crate::report::{FileInfo, Language, Report, SCHEMA_VERSION, SectionKind, Sizes, UnitKind};
use crate::{
    Error, advice, anon_data, debug_file, format, functions, go_units, rust, seh_handler_data,
    sizes, symbols, toolchain, units, unwind,
};

/// Analyze one image (a whole file, or one slice of a universal Mach-O).
///
/// The gzip and zstd sizes and the sha256 dominate the time on large
/// files; they run on every core while this thread measures the rest, then
/// this thread joins them (see `sizes`). Without `compress` the gzip and
/// zstd sizes are skipped and the report says so.
pub(crate) fn analyze_image(
    name: &str,
    bytes: &[u8],
    compress: bool,
    debug: Option<&[u8]>,
) -> Result<Report, Error> {
    let kind = object::FileKind::parse(bytes).map_err(|_| unsupported())?;
    let file = object::File::parse(bytes).map_err(|e| Error::Malformed {
        format: format_name(kind),
        message: e.to_string(),
    })?;
    let layout = format::layout(&file, bytes)?;
    let debug = match debug {
        Some(debug) => Some(debug_file::open(&file, debug)?),
        None => None,
    };
    let jobs = sizes::WholeFileJobs::new(bytes, compress);
    let (mut report, whole) = sizes::with_whole_file(&jobs, sizes::threads(), || {
        measure(name, bytes, &file, layout, debug.as_ref())
    });
    report.file.sha256 = whole.sha256;
    report.sizes.gzip = whole.gzip;
    report.sizes.zstd = whole.zstd;
    report.compression_skipped = !compress;
    Ok(report)
}

/// The image being measured, with what every step reads.
struct Image<'a, 'data> {
    bytes: &'data [u8],
    file: &'a object::File<'data>,
    layout: &'a format::Layout<'data>,
    /// Byte order and pointer size.
    words: crate::go::Layout,
}

impl Image<'_, '_> {
    fn target(&self) -> crate::go::Target {
        crate::go::Target {
            big_endian: self.words.big_endian,
            ptr_size: self.words.ptr_size,
        }
    }
}

/// Everything but the whole-file figures (sha256, gzip, zstd), once the
/// file is parsed and laid out.
fn measure(
    name: &str,
    bytes: &[u8],
    file: &object::File<'_>,
    layout: format::Layout<'_>,
    debug: Option<&debug_file::DebugFile<'_>>,
) -> Report {
    let image = Image {
        bytes,
        file,
        layout: &layout,
        words: crate::go::Layout {
            big_endian: !file.is_little_endian(),
            ptr_size: if file.is_64() { 8 } else { 4 },
        },
    };
    let mut toolchain = toolchain::read(file, &layout.sections);
    let go_binary = toolchain::is_go(&toolchain, &layout.sections, file);
    if let Some(debug) = debug {
        toolchain.debug_info |= debug.has_debug_info();
    }
    // The Go tables (pclntab, type data, the decoded code) do not need the
    // symbols: on a Go binary they are read beside them. Other binaries
    // have no second pass to run there.
    let go_version = toolchain.go.as_deref();
    let (go_tables, (placed, names, functions)) = if go_binary {
        crate::parallel::join(
            || Some(go_tables(&image, go_version)),
            || symbols_and_names(&image, debug, go_binary),
        )
    } else {
        (None, symbols_and_names(&image, debug, go_binary))
    };
    let (charges, rust_facts, linkedit) = match go_tables {
        Some(tables) => {
            let (charges, moves) = go_charges(&image, tables, &placed, &names);
            (charges, rust::RustFacts::default(), moves)
        }
        None => rust_charges(&image, &placed, &names, &functions),
    };
    // WebAssembly DWARF addresses are code-section offsets, not symbol
    // addresses: no codegen units there.
    let (charged, cgus) = match (go_binary, layout.format) {
        (true, _) => (UnitKind::Package, CodegenUnits::default()),
        (false, crate::report::Format::Wasm) => (UnitKind::Crate, CodegenUnits::default()),
        (false, _) => (
            UnitKind::Crate,
            CodegenUnits::read(debug.and_then(|d| d.object()).unwrap_or(file)),
        ),
    };
    let mut attribution = units::attribute(&layout, &placed, &names, &charges, charged, &cgus);
    crate::macho_linkedit::apply(&mut attribution.units, &linkedit, charged);
    if let Some(build) = &toolchain.go_build {
        go_units::set_modules(&mut attribution.units, build);
    }
    toolchain.rustc_commit = rust_facts.rustc_commit.clone();
    toolchain.rustc_release = rust_facts.rustc_release.clone();
    rust::set_versions(&mut attribution.units, &rust_facts, &mut toolchain);
    // Idempotent: sets the same toolchain facts again.
    rust::set_versions(&mut attribution.instantiating, &rust_facts, &mut toolchain);
    let language = toolchain::language(
        &toolchain,
        go_binary,
        rust_facts.evidence,
        &attribution.by_lang,
    );
    let facts = Facts {
        toolchain,
        language,
        go_binary,
        with_debug_file: debug.is_some(),
    };
    let mut report = assemble(name, &image, facts, attribution, &placed, names);
    report.notes.extend(cgus.notes);
    report
}

/// What `assemble` needs besides the attribution.
struct Facts {
    toolchain: crate::report::Toolchain,
    language: Language,
    go_binary: bool,
    with_debug_file: bool,
}

/// The report: sizes, advice and notes around the attribution.
fn assemble(
    name: &str,
    image: &Image<'_, '_>,
    facts: Facts,
    attribution: units::Attribution,
    placed: &[symbols::PlacedSymbol],
    names: Vec<Demangled>,
) -> Report {
    let layout = image.layout;
    let (file, bytes) = (image.file, image.bytes);
    // WebAssembly exports are symbols too; a module is stripped when its
    // `name` section is gone.
    let stripped = match layout.format {
        crate::report::Format::Wasm => !layout
            .sections
            .iter()
            .any(|s| s.kind == SectionKind::Symbols),
        _ => !file.symbols().any(|s| s.is_definition()),
    };
    let sizes = sizes_of(bytes, layout, &attribution.units);
    let advice = advice::advise(&advice::Facts {
        language: facts.language,
        go_binary: facts.go_binary,
        sizes,
        sections: &layout.sections,
        symbols: placed,
        names: &names,
        go_build: facts.toolchain.go_build.as_ref(),
    });
    let notes = if facts.with_debug_file {
        Vec::new()
    } else {
        notes(facts.language, stripped, layout)
    };
    // Last, as it takes the names over.
    let symbols = units::symbols(layout, placed, names);
    Report {
        schema_version: SCHEMA_VERSION,
        file: FileInfo {
            name: name.to_string(),
            size: bytes.len() as u64,
            sha256: String::new(),
        },
        format: layout.format,
        arch: arch_name(file.architecture()),
        language: facts.language,
        stripped,
        toolchain: facts.toolchain,
        sizes,
        sections: layout.partition.clone(),
        units: attribution.units,
        units_instantiating: attribution.instantiating,
        symbols,
        symbols_truncated: false,
        compression_skipped: false,
        advice,
        notes,
        layers: Vec::new(),
        files: Vec::new(),
        directories: Vec::new(),
    }
}

/// The headline sizes but the whole-file ones (gzip, zstd).
fn sizes_of(bytes: &[u8], layout: &format::Layout<'_>, units: &[crate::report::Unit]) -> Sizes {
    let kind_bytes = |kind: SectionKind| -> u64 {
        layout
            .partition
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.file_size)
            .sum()
    };
    Sizes {
        file: bytes.len() as u64,
        vm: layout
            .sections
            .iter()
            .map(|s| s.vm_size)
            .fold(0u64, u64::saturating_add),
        shipped: units.iter().map(|u| u.size).sum(),
        gzip: 0,
        zstd: 0,
        debug: kind_bytes(SectionKind::Debug),
        symbols: layout.symbol_bytes,
        ..Sizes::default()
    }
}

/// The functions the file describes (see `functions::extents`).
fn function_extents(
    image: &Image<'_, '_>,
    placed: &[symbols::PlacedSymbol],
) -> Vec<functions::Function> {
    let code_symbols = placed.iter().any(|p| {
        p.size > 0
            && image
                .layout
                .sections
                .get(p.section)
                .is_some_and(|s| s.kind == SectionKind::Code)
    });
    functions::extents(
        image.file,
        image.bytes,
        image.layout,
        image.words,
        code_symbols,
    )
}

/// Demangled names, one per symbol. The raw names are needed only here:
/// each is freed once demangled, so the raw and demangled names of 100k+
/// symbols are not all held at once.
fn demangled_names(placed: &mut [symbols::PlacedSymbol], go_binary: bool) -> Vec<Demangled> {
    placed
        .iter_mut()
        .map(|p| {
            let demangled = demangle::demangle_as(&p.raw_name, p.undecorated, go_binary);
            p.raw_name = String::new();
            demangled
        })
        .collect()
}

/// The symbols (sized, placed), their demangled names and, but for Go,
/// the functions the file describes besides its symbols.
fn symbols_and_names(
    image: &Image<'_, '_>,
    debug: Option<&debug_file::DebugFile<'_>>,
    go_binary: bool,
) -> (
    Vec<symbols::PlacedSymbol>,
    Vec<Demangled>,
    Vec<functions::Function>,
) {
    let layout = image.layout;
    let mut placed = match debug {
        Some(debug) => debug.symbols(&layout.sections, go_binary),
        None => symbols::collect(image.file, &layout.sections, go_binary),
    };
    // Functions a stripped Mach-O or PE file still describes; a code
    // symbol (sized by the next symbol there) ends at the next of them.
    let functions = if go_binary {
        Vec::new()
    } else {
        function_extents(image, &placed)
    };
    // A PDB's procedures carry their code length, and the `.pdata` entries
    // inside them (funclets, split parts) are not functions of their own.
    if !debug.is_some_and(debug_file::DebugFile::sizes_code) {
        clip_to_functions(&mut placed, &functions, layout);
    }
    if let Some(debug) = debug {
        debug.add_unnamed_code(&mut placed, &layout.sections);
    }
    let mut names = demangled_names(&mut placed, go_binary);
    if let Some(debug) = debug {
        debug.name_c_units(&placed, &mut names);
    }
    (placed, names, functions)
}

/// What the Go tables charge by themselves (the pclntab, runtime data,
/// code the tables describe), with the decoded code for the string pass.
fn go_tables(image: &Image<'_, '_>, go_version: Option<&str>) -> go_units::GoCharges {
    let isa = crate::code_refs::Isa::of(image.file.architecture());
    go_units::charges(image.layout, image.bytes, image.target(), go_version, isa)
}

/// The Go readers' charges (runtime data, strings, relocations, `.pdata`)
/// and the Mach-O `__LINKEDIT` moves, from the tables' own charges.
fn go_charges(
    image: &Image<'_, '_>,
    mut charges: go_units::GoCharges,
    placed: &[symbols::PlacedSymbol],
    names: &[Demangled],
) -> (go_units::GoCharges, crate::macho_linkedit::Moves) {
    let (layout, target) = (image.layout, image.target());
    let base = image.file.relative_address_base();
    let isa = crate::code_refs::Isa::of(image.file.architecture());
    let functions = std::mem::take(&mut charges.functions);
    let strings = crate::go_strings::regions(
        layout,
        isa,
        (&functions, charges.code.take()),
        &charges.regions,
        placed,
        names,
    );
    // Who owns an address, once the strings are charged: relocation
    // entries, base relocations and Mach-O rebase/bind opcodes go to the
    // owner of what they patch.
    let owners = go_units::DataOwners::new(&charges, &strings, placed, names);
    let mut relocations = go_units::relocation_regions(layout, target, &owners);
    relocations.extend(go_units::base_relocation_regions(layout, &owners, base));
    let linkedit = go_units::linkedit_moves(image.file, image.bytes, &owners);
    let fill = crate::go_strings::alignment_fill(
        layout,
        &[&charges.regions, &strings.regions],
        placed,
        &|address| owners.unit(address),
    );
    charges.regions.extend(relocations);
    charges.regions.extend(strings.regions);
    charges.regions.extend(fill);
    charges
        .regions
        .extend(go_units::pdata_regions(layout, &functions, base));
    (charges, linkedit)
}

/// The Rust (and C) charges beyond symbols: panic locations, functions
/// without a symbol, unwind tables, pointer slots, anonymous data.
fn rust_charges(
    image: &Image<'_, '_>,
    placed: &[symbols::PlacedSymbol],
    names: &[Demangled],
    functions: &[functions::Function],
) -> (
    go_units::GoCharges,
    rust::RustFacts,
    crate::macho_linkedit::Moves,
) {
    let (layout, words) = (image.layout, image.words);
    let base = image.file.relative_address_base();
    // Pointers relocations store (ELF relative relocations, PE base
    // relocations), by patched address.
    let relocations = rust::relative_relocations(layout, words, base);
    let crates: std::collections::BTreeSet<&str> = names
        .iter()
        .filter(|n| n.unit_kind == UnitKind::Crate)
        .map(|n| n.unit.as_str())
        .collect();
    let rust_facts = rust::read(layout, words, &crates, &relocations);
    let mut regions = rust_facts.regions.clone();
    let isa = crate::code_refs::Isa::of(image.file.architecture());
    let mut code = unwind::Owners::new(layout, placed, names);
    // Functions without a symbol, given the crate their panic locations
    // name.
    let found = functions::crates(functions, layout, isa, &rust_facts.locations, &|address| {
        code.covers(address)
    });
    code.extend(&found);
    regions.extend(functions::regions(functions, &found, layout, base));
    // Functions a symbol covers (a PDB's, or the COFF symbol table a
    // mingw build keeps): their `.pdata` entries and `UNWIND_INFO` go to
    // the symbol's unit (an empty code range: the code is the symbol's
    // already).
    let named: std::collections::HashSet<u64> = found.iter().map(|f| f.0).collect();
    let covered: Vec<(u64, u64, &str)> = functions
        .iter()
        .filter(|f| f.pdata.is_some() && !named.contains(&f.start))
        .filter_map(|f| Some((f.start, f.start, code.unit(f.start)?)))
        .collect();
    regions.extend(functions::regions(functions, &covered, layout, base));
    regions.extend(seh_handler_data::regions(functions, layout, &|address| {
        code.unit(address)
    }));
    if layout.format == crate::report::Format::Wasm {
        regions.extend(rust::wasm_data_regions(layout, image.bytes, words.ptr_size));
    }
    regions.extend(unwind::regions(layout, words, &code));
    // Pointer slots holding a function's address (vtables...) and their
    // relocation entries, to the function's unit.
    let owner = |address: u64| code.unit(address);
    regions.extend(rust::pointer_slots(layout, words, &relocations, &owner));
    // Anonymous data to the units that use it, relocation entries to the
    // owner of what they patch, dynamic symbols to their unit.
    let anonymous = anon_data::regions(&anon_data::Inputs {
        layout,
        isa,
        words,
        placed,
        names,
        taken: &regions,
        relocations: &relocations,
        functions: &found,
    });
    regions.extend(anonymous);
    let charges = go_units::GoCharges {
        regions,
        ..go_units::GoCharges::default()
    };
    // Mach-O `__LINKEDIT`: to the owners of the code and data it describes.
    let (none, no_strings) = (
        go_units::GoCharges::default(),
        crate::go_strings::StringCharges::default(),
    );
    let data = go_units::DataOwners::new(&none, &no_strings, placed, names);
    let owner = |address: u64| code.unit(address).or_else(|| data.unit(address));
    let linkedit = match image.file {
        object::File::MachO32(m) => crate::macho_linkedit::other_charges(m, image.bytes, &owner),
        object::File::MachO64(m) => crate::macho_linkedit::other_charges(m, image.bytes, &owner),
        _ => Vec::new(),
    };
    (charges, rust_facts, linkedit)
}

/// End each code symbol at the next function start after it (Mach-O
/// symbols have no sizes: without this an export would run to the next
/// export, over every function the strip left nameless).
fn clip_to_functions(
    placed: &mut [symbols::PlacedSymbol],
    functions: &[functions::Function],
    layout: &format::Layout<'_>,
) {
    if functions.is_empty() {
        return;
    }
    for p in placed.iter_mut() {
        if !layout
            .sections
            .get(p.section)
            .is_some_and(|s| s.kind == SectionKind::Code)
        {
            continue;
        }
        let i = functions.partition_point(|f| f.start <= p.address);
        if let Some(next) = functions.get(i)
            && next.start < p.address.saturating_add(p.size)
        {
            p.size = next.start - p.address;
            p.shipped = p.shipped.min(p.size);
        }
    }
}

/// What the attribution lacks and how to get it.
fn notes(language: Language, stripped: bool, layout: &format::Layout<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let dwarf = layout.sections.iter().any(|s| {
        matches!(
            s.raw_name.as_str(),
            ".debug_info" | ".zdebug_info" | "__debug_info"
        )
    });
    if stripped && !dwarf && matches!(language, Language::Rust | Language::Mixed) {
        let how = match layout.format {
            crate::report::Format::Elf => {
                "give the debug file (`--debug-file`, from `objcopy --only-keep-debug`) or build with `strip = false` (`shipped` models the strip)"
            }
            crate::report::Format::Macho => {
                "give the dSYM (`--debug-file APP.dSYM`) or build with `strip = false` (`shipped` models the strip)"
            }
            crate::report::Format::Pe => {
                "give the PDB (`--debug-file APP.pdb`) or build with `strip = false` (`shipped` models the strip)"
            }
            _ => "build with `strip = false` (`shipped` models the strip)",
        };
        out.push(format!(
            "stripped: crates are inferred from panic locations and calls, without symbols; for symbols and exact units {how}."
        ));
    }
    out
}

/// The error for bytes that are no object file we read.
pub(crate) fn unsupported() -> Error {
    Error::Unsupported("not an ELF, Mach-O, PE or WebAssembly file".into())
}

/// Human name of a container format, for error messages.
pub(crate) fn format_name(kind: object::FileKind) -> &'static str {
    use object::FileKind as K;
    match kind {
        K::Elf32 | K::Elf64 => "ELF",
        K::MachO32 | K::MachO64 | K::MachOFat32 | K::MachOFat64 => "Mach-O",
        K::Pe32 | K::Pe64 | K::Coff | K::CoffBig | K::CoffImport => "PE/COFF",
        K::Wasm => "WebAssembly",
        _ => "object",
    }
}

/// Architecture as `object` names it, in lower case (`x86_64`, `aarch64`).
pub(crate) fn arch_name(arch: object::Architecture) -> String {
    format!("{arch:?}").to_lowercase()
}
