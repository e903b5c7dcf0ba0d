//! Hostile binaries, built byte by byte: tables that claim huge counts,
//! point outside the file or overflow, sections that overlap, links that
//! form cycles, Go tables that lie. Each must end in a clear error or in a
//! report that keeps the invariants, and the heap used on the way must stay
//! in proportion to the file (measured by a counting allocator, so no
//! timing is involved: a count read from the file and trusted shows up as a
//! huge peak, or as an allocation failure).

#![allow(clippy::unwrap_used)]
// The counting allocator delegates to the system allocator; nothing else
// here is unsafe.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use sizegate_analyze::go::{GoSection, Target, read_build_info, read_pclntab};
use sizegate_analyze::{Error, Options, Report, analyze};

// --- a counting allocator ------------------------------------------------------

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Serializes the measured sections (`cargo test` runs tests on threads).
static MEASURING: Mutex<()> = Mutex::new(());

/// Heap the compressors need whatever the input (zstd's window and tables,
/// deflate's state), plus room for the report of a small file.
const FIXED_HEAP: usize = 48 << 20;

/// Run `f`, returning its result and the peak heap it added.
fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let _guard = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

/// The invariants of DESIGN.md, and symbols no larger than the image.
fn assert_sane(case: &str, report: &Report) {
    let sections: u64 = report.sections.iter().map(|s| s.file_size).sum();
    assert_eq!(sections, report.file.size, "{case}: sections vs file size");
    let units: u64 = report.units.iter().map(|u| u.size).sum();
    assert_eq!(units, report.sizes.shipped, "{case}: units vs shipped");
    assert!(report.sizes.shipped <= report.sizes.file, "{case}");
    for symbol in &report.symbols {
        assert!(
            symbol.size <= report.sizes.vm.max(report.sizes.file),
            "{case}: {symbol:?} is larger than the image"
        );
    }
}

/// Analyze `bytes`: a clear error or sane reports, with bounded heap.
fn survive(case: &str, bytes: &[u8]) -> Result<Vec<Report>, Error> {
    let (result, peak) = peak_heap(|| analyze(case, bytes, &Options::default()));
    let bound = FIXED_HEAP + 16 * bytes.len();
    assert!(
        peak <= bound,
        "{case}: {peak} bytes of heap for a {}-byte file (bound {bound})",
        bytes.len()
    );
    match &result {
        Ok(reports) => reports.iter().for_each(|r| assert_sane(case, r)),
        Err(e) => assert!(!e.to_string().is_empty(), "{case}: empty error"),
    }
    result
}

fn put_u16(out: &mut [u8], at: usize, v: u16) {
    out[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_u32(out: &mut [u8], at: usize, v: u32) {
    out[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(out: &mut [u8], at: usize, v: u64) {
    out[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

// --- a little-endian ELF64 writer ----------------------------------------------

const SHT_PROGBITS: u32 = 1;
const SHT_SYMTAB: u32 = 2;
const SHT_STRTAB: u32 = 3;
const SHT_NOBITS: u32 = 8;
const SHF_ALLOC: u64 = 2;
const SHF_EXEC: u64 = 4;
const SHDR: usize = 64;
const TEXT_ADDR: u64 = 0x40_1000;

struct ElfSection {
    name: &'static str,
    kind: u32,
    flags: u64,
    addr: u64,
    data: Vec<u8>,
    /// For NOBITS: the size in memory.
    nobits: u64,
    link: u32,
    entsize: u64,
}

fn section(name: &'static str, kind: u32, flags: u64, addr: u64, data: Vec<u8>) -> ElfSection {
    ElfSection {
        name,
        kind,
        flags,
        addr,
        data,
        nobits: 0,
        link: 0,
        entsize: 0,
    }
}

/// An x86-64 executable: `.text` with two functions, `.rodata`, `.bss`,
/// `.symtab`/`.strtab` and `.shstrtab`, plus `extra` sections.
fn elf_sections(extra: Vec<ElfSection>) -> Vec<ElfSection> {
    let mut strtab = b"\0main\0helper\0".to_vec();
    strtab.push(0);
    let mut symtab = vec![0u8; 24];
    for (name, value, size) in [(1u32, TEXT_ADDR, 96u64), (6, TEXT_ADDR + 96, 160)] {
        let mut sym = [0u8; 24];
        put_u32(&mut sym, 0, name);
        sym[4] = 0x12; // global function
        put_u16(&mut sym, 6, 1); // .text
        put_u64(&mut sym, 8, value);
        put_u64(&mut sym, 16, size);
        symtab.extend_from_slice(&sym);
    }
    let mut out = vec![
        section(
            ".text",
            SHT_PROGBITS,
            SHF_ALLOC | SHF_EXEC,
            TEXT_ADDR,
            vec![0xc3; 256],
        ),
        section(
            ".rodata",
            SHT_PROGBITS,
            SHF_ALLOC,
            TEXT_ADDR + 0x1000,
            b"hello, hostile world\0".repeat(8),
        ),
        ElfSection {
            nobits: 4096,
            ..section(
                ".bss",
                SHT_NOBITS,
                SHF_ALLOC | 1,
                TEXT_ADDR + 0x2000,
                vec![],
            )
        },
        ElfSection {
            link: 5, // .strtab
            entsize: 24,
            ..section(".symtab", SHT_SYMTAB, 0, 0, symtab)
        },
        section(".strtab", SHT_STRTAB, 0, 0, strtab),
    ];
    out.extend(extra);
    out
}

/// Offsets of the written file, to patch it afterwards.
struct ElfLayout {
    shoff: usize,
    /// File offset of each section's data (index 1 is the first section).
    offsets: Vec<usize>,
}

impl ElfLayout {
    /// Offset of field `field` of section header `index`.
    fn shdr(&self, index: usize, field: usize) -> usize {
        self.shoff + index * SHDR + field
    }
}

fn write_elf(sections: &[ElfSection]) -> (Vec<u8>, ElfLayout) {
    let mut out = vec![0u8; 64 + 56];
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = 2; // 64-bit
    out[5] = 1; // little-endian
    out[6] = 1;
    put_u16(&mut out, 16, 2); // executable
    put_u16(&mut out, 18, 62); // x86-64
    put_u32(&mut out, 20, 1);
    put_u64(&mut out, 24, TEXT_ADDR);
    put_u64(&mut out, 32, 64); // e_phoff
    put_u16(&mut out, 52, 64);
    put_u16(&mut out, 54, 56);
    put_u16(&mut out, 56, 1); // one PT_LOAD
    put_u16(&mut out, 58, SHDR as u16);

    let mut shstrtab = vec![0u8];
    let mut names = Vec::new();
    for s in sections.iter().map(|s| s.name).chain([".shstrtab"]) {
        names.push(shstrtab.len() as u32);
        shstrtab.extend_from_slice(s.as_bytes());
        shstrtab.push(0);
    }
    let mut offsets = vec![0];
    for s in sections {
        while !out.len().is_multiple_of(16) {
            out.push(0);
        }
        offsets.push(out.len());
        out.extend_from_slice(&s.data);
    }
    let shstrtab_offset = out.len();
    out.extend_from_slice(&shstrtab);
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
    let shoff = out.len();
    let count = sections.len() + 2; // null + sections + .shstrtab
    out.resize(shoff + count * SHDR, 0);
    for (i, s) in sections.iter().enumerate() {
        let at = shoff + (i + 1) * SHDR;
        put_u32(&mut out, at, names[i]);
        put_u32(&mut out, at + 4, s.kind);
        put_u64(&mut out, at + 8, s.flags);
        put_u64(&mut out, at + 16, s.addr);
        put_u64(&mut out, at + 24, offsets[i + 1] as u64);
        let size = if s.kind == SHT_NOBITS {
            s.nobits
        } else {
            s.data.len() as u64
        };
        put_u64(&mut out, at + 32, size);
        put_u32(&mut out, at + 40, s.link);
        put_u64(&mut out, at + 48, 1);
        put_u64(&mut out, at + 56, s.entsize);
    }
    let at = shoff + (count - 1) * SHDR;
    put_u32(&mut out, at, names[sections.len()]);
    put_u32(&mut out, at + 4, SHT_STRTAB);
    put_u64(&mut out, at + 24, shstrtab_offset as u64);
    put_u64(&mut out, at + 32, shstrtab.len() as u64);
    offsets.push(shstrtab_offset);

    put_u64(&mut out, 40, shoff as u64);
    put_u16(&mut out, 60, count as u16);
    put_u16(&mut out, 62, (count - 1) as u16);
    // PT_LOAD covering the file up to the section headers.
    put_u32(&mut out, 64, 1);
    put_u32(&mut out, 68, 5);
    put_u64(&mut out, 64 + 16, TEXT_ADDR - offsets[1] as u64);
    put_u64(&mut out, 64 + 32, shstrtab_offset as u64);
    put_u64(&mut out, 64 + 40, shstrtab_offset as u64);
    put_u64(&mut out, 64 + 48, 0x1000);
    (out, ElfLayout { shoff, offsets })
}

fn elf() -> (Vec<u8>, ElfLayout) {
    write_elf(&elf_sections(Vec::new()))
}

#[test]
fn the_writer_makes_a_binary_the_analyzer_reads() {
    let (bytes, _) = elf();
    // The counting allocator sees the analysis (the compressors' state alone
    // outweighs this small file).
    let (_, peak) = peak_heap(|| analyze("plain", &bytes, &Options::default()));
    assert!(peak > bytes.len(), "{peak}");
    let reports = survive("plain", &bytes).unwrap();
    let report = &reports[0];
    let names: Vec<&str> = report.symbols.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"main") && names.contains(&"helper"),
        "{names:?}"
    );
    assert!(report.sections.iter().any(|s| s.name == ".rodata"));
}

/// Inputs the fuzzer once crashed on or stalled with (see the README in
/// that folder): each must now end cleanly.
#[test]
fn fuzz_regressions_end_cleanly() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz-regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let _ = survive(&path.display().to_string(), &bytes);
        seen += 1;
    }
    assert!(seen > 0, "no inputs in {}", dir.display());
}

// --- ELF -----------------------------------------------------------------------

#[test]
fn elf_tables_outside_the_file() {
    let (base, layout) = elf();
    let len = base.len() as u64;
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut patched = |name, f: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = base.clone();
        f(&mut bytes);
        cases.push((name, bytes));
    };
    patched("section headers past the end", &|b| {
        put_u64(b, 40, len + 4096)
    });
    patched("section headers at u64::MAX", &|b| {
        put_u64(b, 40, u64::MAX - 8)
    });
    patched("program headers past the end", &|b| put_u64(b, 32, len * 4));
    patched("65535 program headers", &|b| put_u16(b, 56, u16::MAX));
    patched("65535 sections, table truncated", &|b| {
        put_u16(b, 60, u16::MAX)
    });
    patched(".text data past the end", &|b| {
        put_u64(b, layout.shdr(1, 24), len + 1)
    });
    patched(".rodata of 2^40 bytes", &|b| {
        put_u64(b, layout.shdr(2, 32), 1 << 40)
    });
    patched("symbol table of 2^40 bytes", &|b| {
        put_u64(b, layout.shdr(4, 32), 1 << 40)
    });
    patched("string table past the end", &|b| {
        put_u64(b, layout.shdr(5, 24), len + 100)
    });
    patched("segment of 2^62 bytes", &|b| {
        put_u64(b, 64 + 32, 1 << 62);
        put_u64(b, 64 + 40, 1 << 62);
    });
    for (name, bytes) in cases {
        let _ = survive(name, &bytes);
    }
}

#[test]
fn elf_offsets_and_sizes_that_overflow() {
    let (base, layout) = elf();
    for (index, field, value) in [
        (1, 24, u64::MAX - 16), // .text offset + size wraps
        (1, 32, u64::MAX),      // .text size
        (2, 24, u64::MAX),      // .rodata offset
        (3, 32, u64::MAX),      // .bss memory size
        (1, 16, u64::MAX - 8),  // .text address + size wraps
        (4, 56, 0),             // symbol entry size 0
        (4, 56, u64::MAX),      // huge symbol entry size
    ] {
        let mut bytes = base.clone();
        put_u64(&mut bytes, layout.shdr(index, field), value);
        let _ = survive(
            &format!("section {index} field {field} = {value:#x}"),
            &bytes,
        );
    }
}

#[test]
fn elf_symbols_that_lie() {
    let (base, layout) = elf();
    let first_symbol = layout.offsets[4] + 24;
    for (field, value, what) in [
        (16, u64::MAX, "size u64::MAX"),
        (16, 1 << 40, "size 2^40"),
        (8, u64::MAX - 4, "address at the top of memory"),
        (8, 0, "address 0 with a size"),
        (0, 0xffff_fff0, "name offset past the string table"),
    ] {
        let mut bytes = base.clone();
        if field == 0 {
            put_u32(&mut bytes, first_symbol, value as u32);
        } else {
            put_u64(&mut bytes, first_symbol + field, value);
        }
        let _ = survive(what, &bytes);
    }
    let mut bytes = base.clone();
    put_u16(&mut bytes, first_symbol + 6, 0xfff0); // section index out of range
    let _ = survive("symbol in section 0xfff0", &bytes);
}

#[test]
fn elf_overlapping_sections_still_partition_the_file() {
    let (base, layout) = elf();
    // .rodata claims the bytes of .text and beyond; .strtab those of .symtab.
    let mut bytes = base.clone();
    put_u64(
        &mut bytes,
        layout.shdr(2, 24),
        layout.offsets[1] as u64 + 16,
    );
    put_u64(&mut bytes, layout.shdr(5, 24), layout.offsets[4] as u64);
    let reports = survive("overlapping", &bytes).unwrap();
    assert!(!reports[0].sections.is_empty());
    // Every section at one offset.
    let mut bytes = base.clone();
    for index in 1..=6 {
        put_u64(&mut bytes, layout.shdr(index, 24), 64);
    }
    let _ = survive("all at one offset", &bytes);
}

#[test]
fn elf_cyclic_and_dangling_links() {
    let (base, layout) = elf();
    for (what, index, field, value) in [
        ("symtab linked to itself", 4, 40, 4u32),
        ("symtab linked past the table", 4, 40, 999),
        ("strtab linked to the symtab", 5, 40, 4),
    ] {
        let mut bytes = base.clone();
        put_u32(&mut bytes, layout.shdr(index, field), value);
        let _ = survive(what, &bytes);
    }
    // Section names in the symbol table; the name table index out of range;
    // the extended index escape with section 0 pointing at itself.
    for (what, shstrndx, link0) in [
        ("names from the symbol table", 4u16, None),
        ("name table past the end", 200, None),
        ("SHN_XINDEX, section 0 links to 0", 0xffff, Some(0u32)),
        (
            "SHN_XINDEX, section 0 links past the end",
            0xffff,
            Some(70_000),
        ),
    ] {
        let mut bytes = base.clone();
        put_u16(&mut bytes, 62, shstrndx);
        if let Some(link) = link0 {
            put_u32(&mut bytes, layout.shdr(0, 40), link);
        }
        let _ = survive(what, &bytes);
    }
}

#[test]
fn elf_extended_section_count_is_bounded_by_the_file() {
    // e_shnum 0 means "the count is in section 0's size": claim 2^32 - 1.
    let (mut bytes, layout) = elf();
    put_u16(&mut bytes, 60, 0);
    put_u64(&mut bytes, layout.shdr(0, 32), u64::from(u32::MAX));
    assert!(survive("extended shnum", &bytes).is_err());
    put_u64(&mut bytes, layout.shdr(0, 32), u64::MAX);
    assert!(survive("extended shnum u64::MAX", &bytes).is_err());
}

#[test]
fn elf_many_symbols_at_one_address() {
    // 20 000 symbols, all called `f`, all at the start of .text with the
    // whole of it as their size: de-aliasing must keep this linear-ish and
    // charge the bytes once.
    let count = 20_000;
    let mut symtab = vec![0u8; 24];
    for _ in 0..count {
        let mut sym = [0u8; 24];
        put_u32(&mut sym, 0, 1);
        sym[4] = 0x12;
        put_u16(&mut sym, 6, 1);
        put_u64(&mut sym, 8, TEXT_ADDR);
        put_u64(&mut sym, 16, 256);
        symtab.extend_from_slice(&sym);
    }
    let mut sections = elf_sections(Vec::new());
    sections[3].data = symtab;
    sections[4].data = b"\0f\0".to_vec();
    let (bytes, _) = write_elf(&sections);
    let report = survive("20k aliases", &bytes).unwrap().remove(0);
    let text: u64 = report
        .symbols
        .iter()
        .filter(|s| s.section == ".text")
        .map(|s| s.size)
        .sum();
    assert!(text <= 256, "the aliases were charged {text} bytes");
}

#[test]
fn elf_symbol_names_built_to_exhaust_the_demanglers() {
    // Deep nesting in every mangling scheme, and a name of a megabyte.
    let names = [
        format!("_Z1f{}i", "P".repeat(3000)),
        format!("_ZN{}E", "1a".repeat(2000)),
        format!("_ZN{}17h0123456789abcdefE", "1a".repeat(1500)),
        format!("_R{}C1a", "Nv".repeat(1500)),
        format!("_Z1fI{}E", "S_".repeat(2000)),
        format!("_Z{}", "B".repeat(1 << 20)),
    ];
    let mut strtab = vec![0u8];
    let mut symtab = vec![0u8; 24];
    for (i, name) in names.iter().enumerate() {
        let mut sym = [0u8; 24];
        put_u32(&mut sym, 0, strtab.len() as u32);
        sym[4] = 0x12;
        put_u16(&mut sym, 6, 1);
        put_u64(&mut sym, 8, TEXT_ADDR + 32 * i as u64);
        put_u64(&mut sym, 16, 32);
        symtab.extend_from_slice(&sym);
        strtab.extend_from_slice(name.as_bytes());
        strtab.push(0);
    }
    let mut sections = elf_sections(Vec::new());
    sections[3].data = symtab;
    sections[4].data = strtab;
    let (bytes, _) = write_elf(&sections);
    let report = survive("deep manglings", &bytes).unwrap().remove(0);
    assert_eq!(report.symbols.len(), names.len());
    for symbol in &report.symbols {
        assert!(symbol.name.len() <= 8192, "{} bytes", symbol.name.len());
    }
}

// --- Go tables that lie, inside an ELF -----------------------------------------

/// A Go 1.18+ pclntab header claiming `nfunc` functions.
fn lying_pclntab(nfunc: u64, pcln_offset: u64) -> Vec<u8> {
    let mut table = vec![0u8; 8 + 8 * 8];
    put_u32(&mut table, 0, 0xffff_fff1);
    table[6] = 1;
    table[7] = 8;
    put_u64(&mut table, 8, nfunc);
    put_u64(&mut table, 8 + 16, TEXT_ADDR);
    put_u64(&mut table, 8 + 24, 72); // funcname offset
    put_u64(&mut table, 8 + 56, pcln_offset);
    table.extend_from_slice(b"main.main\0");
    table.resize(table.len() + 64, 0);
    table
}

#[test]
fn go_pclntab_that_lies_about_its_size() {
    let target = Target {
        big_endian: false,
        ptr_size: 8,
    };
    for (nfunc, pcln) in [
        (u64::MAX, 72),
        (1 << 60, 72),
        (u64::from(u32::MAX), 72),
        (3, u64::MAX - 4),
        (1, 1 << 40),
    ] {
        let table = lying_pclntab(nfunc, pcln);
        let sections = [GoSection {
            name: ".gopclntab",
            address: TEXT_ADDR + 0x4000,
            data: &table,
        }];
        let (found, peak) = peak_heap(|| read_pclntab(&sections, target));
        assert!(found.is_none(), "nfunc {nfunc:#x} pcln {pcln:#x}");
        assert!(peak < 1 << 20, "{peak} bytes for nfunc {nfunc:#x}");

        let extra = vec![section(
            ".gopclntab",
            SHT_PROGBITS,
            SHF_ALLOC,
            TEXT_ADDR + 0x4000,
            table,
        )];
        let (bytes, _) = write_elf(&elf_sections(extra));
        let reports = survive(&format!("ELF with nfunc {nfunc:#x}"), &bytes).unwrap();
        // Not trusted: the symbol table is used instead.
        assert!(reports[0].symbols.iter().any(|s| s.name == "main"));
    }
}

#[test]
fn go_pclntab_whose_functions_share_one_record() {
    // Ten functions all pointing at the same `_func` record: the entries
    // disagree with it, so the table is refused.
    let mut table = lying_pclntab(10, 128);
    table.resize(128, 0);
    for i in 0..=10u32 {
        table.extend_from_slice(&(i * 16).to_le_bytes());
        table.extend_from_slice(&88u32.to_le_bytes());
    }
    let sections = [GoSection {
        name: ".gopclntab",
        address: 0,
        data: &table,
    }];
    let target = Target {
        big_endian: false,
        ptr_size: 8,
    };
    assert!(read_pclntab(&sections, target).is_none());
}

fn uvarint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[test]
fn go_buildinfo_that_lies() {
    let target = Target {
        big_endian: false,
        ptr_size: 8,
    };
    let header = |flags: u8| {
        let mut blob = b"\xff Go buildinf:".to_vec();
        blob.extend_from_slice(&[8, flags]);
        blob.resize(32, 0);
        blob
    };
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    // Inline strings whose lengths run past the end.
    for length in [u64::MAX, 1 << 40, 4096] {
        let mut blob = header(2);
        uvarint(length, &mut blob);
        blob.extend_from_slice(b"go1.22.0");
        cases.push(("inline length past the end", blob));
    }
    // A varint that never ends.
    let mut blob = header(2);
    blob.extend_from_slice(&[0xff; 40]);
    cases.push(("endless varint", blob));
    // Pointers to string headers: outside every section, into the blob's own
    // header (a cycle), and to a header claiming 2^60 bytes.
    for (what, pointer, length) in [
        ("pointer outside", 0xdead_0000u64, 8u64),
        ("pointer to itself", 0x1000, 32),
        ("huge string", 0x1000 + 48, 1 << 60),
    ] {
        let mut blob = header(0);
        blob[16..24].copy_from_slice(&pointer.to_le_bytes());
        blob[24..32].copy_from_slice(&pointer.to_le_bytes());
        blob.extend_from_slice(&(0x1000u64 + 64).to_le_bytes());
        blob.extend_from_slice(&length.to_le_bytes());
        blob.extend_from_slice(b"go1.16.1");
        cases.push((what, blob));
    }
    for (what, blob) in cases {
        let sections = [GoSection {
            name: ".go.buildinfo",
            address: 0x1000,
            data: &blob,
        }];
        let (info, peak) = peak_heap(|| read_build_info(&sections, target));
        assert!(peak < 1 << 20, "{what}: {peak} bytes");
        if let Some(info) = info {
            assert!(info.go_version.len() <= blob.len(), "{what}: {info:?}");
        }
        let extra = vec![section(
            ".go.buildinfo",
            SHT_PROGBITS,
            SHF_ALLOC,
            0x1000,
            blob,
        )];
        let (bytes, _) = write_elf(&elf_sections(extra));
        let _ = survive(what, &bytes);
    }
}

// --- Mach-O --------------------------------------------------------------------

/// A 64-bit x86-64 Mach-O executable with one `__TEXT` segment holding one
/// `__text` section.
fn macho() -> Vec<u8> {
    let mut out = vec![0u8; 32 + 72 + 80];
    put_u32(&mut out, 0, 0xfeed_facf);
    put_u32(&mut out, 4, 0x0100_0007);
    put_u32(&mut out, 8, 3);
    put_u32(&mut out, 12, 2); // executable
    put_u32(&mut out, 16, 1); // ncmds
    put_u32(&mut out, 20, 72 + 80);
    let seg = 32;
    put_u32(&mut out, seg, 0x19); // LC_SEGMENT_64
    put_u32(&mut out, seg + 4, 72 + 80);
    out[seg + 8..seg + 14].copy_from_slice(b"__TEXT");
    put_u64(&mut out, seg + 24, 0x1_0000_0000);
    put_u64(&mut out, seg + 32, 0x1000);
    put_u64(&mut out, seg + 40, 0);
    put_u64(&mut out, seg + 48, 0x400);
    put_u32(&mut out, seg + 56, 5);
    put_u32(&mut out, seg + 60, 5);
    put_u32(&mut out, seg + 64, 1); // nsects
    let sect = seg + 72;
    out[sect..sect + 6].copy_from_slice(b"__text");
    out[sect + 16..sect + 22].copy_from_slice(b"__TEXT");
    put_u64(&mut out, sect + 32, 0x1_0000_0200);
    put_u64(&mut out, sect + 40, 0x200);
    put_u32(&mut out, sect + 48, 0x200);
    out.resize(0x400, 0xc3);
    out
}

#[test]
fn macho_load_commands_that_lie() {
    let base = macho();
    survive("plain Mach-O", &base).unwrap();
    let seg = 32;
    let sect = seg + 72;
    for (what, at, value, wide) in [
        ("u32::MAX load commands", 16, u64::from(u32::MAX), false),
        ("commands larger than the file", 20, 0xffff_fff0, false),
        ("command of size 0", seg + 4, 0, false),
        ("command of size 1", seg + 4, 1, false),
        ("u32::MAX sections", seg + 64, u64::from(u32::MAX), false),
        ("segment past the end", seg + 40, u64::MAX - 8, true),
        ("segment of 2^62 bytes", seg + 48, 1 << 62, true),
        ("section offset past the end", sect + 48, 0xffff_0000, false),
        ("section size u64::MAX", sect + 40, u64::MAX, true),
        ("section address wraps", sect + 32, u64::MAX - 4, true),
    ] {
        let mut bytes = base.clone();
        if wide {
            put_u64(&mut bytes, at, value);
        } else {
            put_u32(&mut bytes, at, value as u32);
        }
        let _ = survive(what, &bytes);
    }
    // A symbol table command claiming 2^32 - 1 symbols at the end of the file.
    let mut bytes = base.clone();
    put_u32(&mut bytes, 16, 2);
    put_u32(&mut bytes, 20, 72 + 80 + 24);
    let symtab = 32 + 72 + 80;
    put_u32(&mut bytes, symtab, 0x2); // LC_SYMTAB
    put_u32(&mut bytes, symtab + 4, 24);
    put_u32(&mut bytes, symtab + 8, 0x3f0);
    put_u32(&mut bytes, symtab + 12, u32::MAX);
    put_u32(&mut bytes, symtab + 16, 0x3f8);
    put_u32(&mut bytes, symtab + 20, u32::MAX);
    let _ = survive("symtab of 2^32 symbols", &bytes);
}

/// A universal file whose `slices` are (offset, size) ranges over `body`,
/// placed at 0x1000.
fn fat(slices: &[(u32, u32)], body: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 0x1000];
    out[..4].copy_from_slice(&0xcafe_babeu32.to_be_bytes());
    out[4..8].copy_from_slice(&(slices.len() as u32).to_be_bytes());
    for (i, (offset, size)) in slices.iter().enumerate() {
        let at = 8 + 20 * i;
        out[at..at + 4].copy_from_slice(&0x0100_0007u32.to_be_bytes());
        out[at + 4..at + 8].copy_from_slice(&3u32.to_be_bytes());
        out[at + 8..at + 12].copy_from_slice(&offset.to_be_bytes());
        out[at + 12..at + 16].copy_from_slice(&size.to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

#[test]
fn universal_files_that_lie() {
    let inner = macho();
    let size = inner.len() as u32;
    for (what, slices) in [
        ("slice past the end", vec![(0x1000, size + 1)]),
        ("slice offset wraps", vec![(u32::MAX - 4, 16)]),
        (
            "slice holding the universal header",
            vec![(0, 0x1000 + size)],
        ),
    ] {
        let _ = survive(what, &fat(&slices, &inner));
    }
}

#[test]
fn universal_slices_may_not_overlap() {
    // 150 slices all naming the same bytes would analyze them 150 times: the
    // work must stay in proportion to the file, so overlapping slices are
    // refused.
    let inner = macho();
    let size = inner.len() as u32;
    let bytes = fat(&vec![(0x1000, size); 150], &inner);
    match survive("150 copies of one slice", &bytes) {
        Err(Error::Malformed { message, .. }) => assert!(message.contains("overlap"), "{message}"),
        other => panic!("expected a refusal, got {:?}", other.map(|r| r.len())),
    }
    // Two distinct slices are fine.
    let mut body = inner.clone();
    body.extend_from_slice(&inner);
    let reports = survive(
        "two slices",
        &fat(&[(0x1000, size), (0x1000 + size, size)], &body),
    );
    assert_eq!(reports.unwrap().len(), 2);
}

// --- PE ------------------------------------------------------------------------

/// A PE32+ x86-64 executable with one `.text` section.
fn pe() -> Vec<u8> {
    let mut out = vec![0u8; 0x400];
    out[..2].copy_from_slice(b"MZ");
    put_u32(&mut out, 0x3c, 0x80);
    out[0x80..0x84].copy_from_slice(b"PE\0\0");
    let coff = 0x84;
    put_u16(&mut out, coff, 0x8664);
    put_u16(&mut out, coff + 2, 1); // sections
    put_u16(&mut out, coff + 16, 240); // optional header size
    put_u16(&mut out, coff + 18, 0x22);
    let opt = coff + 20;
    put_u16(&mut out, opt, 0x20b);
    put_u32(&mut out, opt + 16, 0x1000); // entry
    put_u64(&mut out, opt + 24, 0x1_4000_0000); // image base
    put_u32(&mut out, opt + 32, 0x1000); // section alignment
    put_u32(&mut out, opt + 36, 0x200); // file alignment
    put_u32(&mut out, opt + 56, 0x2000); // image size
    put_u32(&mut out, opt + 60, 0x200); // headers size
    put_u16(&mut out, opt + 68, 3); // console subsystem
    put_u32(&mut out, opt + 108, 16); // data directories
    let sect = opt + 240;
    out[sect..sect + 5].copy_from_slice(b".text");
    put_u32(&mut out, sect + 8, 0x200);
    put_u32(&mut out, sect + 12, 0x1000);
    put_u32(&mut out, sect + 16, 0x200);
    put_u32(&mut out, sect + 20, 0x200);
    put_u32(&mut out, sect + 36, 0x6000_0020);
    for b in &mut out[0x200..0x400] {
        *b = 0xc3;
    }
    out
}

#[test]
fn pe_headers_that_lie() {
    let base = pe();
    survive("plain PE", &base).unwrap();
    let coff = 0x84;
    let sect = coff + 20 + 240;
    for (what, at, value, wide) in [
        ("PE header past the end", 0x3c, 0xffff_0000u32, false),
        ("65535 sections", coff + 2, 0xffff, true),
        ("symbol table past the end", coff + 8, 0xffff_0000, false),
        ("2^31 COFF symbols", coff + 12, 0x7fff_ffff, false),
        ("section data past the end", sect + 20, 0xffff_f000, false),
        ("section of 4 GiB", sect + 16, u32::MAX, false),
        ("virtual size 4 GiB", sect + 8, u32::MAX, false),
        (
            "u32::MAX data directories",
            coff + 20 + 108,
            u32::MAX,
            false,
        ),
    ] {
        let mut bytes = base.clone();
        if wide {
            put_u16(&mut bytes, at, value as u16);
        } else {
            put_u32(&mut bytes, at, value);
        }
        let _ = survive(what, &bytes);
    }
}

// --- WebAssembly ---------------------------------------------------------------

fn leb(value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    uvarint(value, &mut out);
    out
}

#[test]
fn wasm_sections_that_lie() {
    let module = |sections: &[(u8, Vec<u8>)]| {
        let mut out = b"\0asm\x01\0\0\0".to_vec();
        for (id, payload) in sections {
            out.push(*id);
            out.extend(leb(payload.len() as u64));
            out.extend_from_slice(payload);
        }
        out
    };
    // A type section, then a function section claiming u32::MAX functions.
    let types = vec![1, 0x60, 0, 0];
    let mut functions = leb(u64::from(u32::MAX));
    functions.push(0);
    let _ = survive(
        "u32::MAX functions",
        &module(&[(1, types.clone()), (3, functions)]),
    );
    // A `name` section claiming u32::MAX function names.
    let mut names = leb(4);
    names.extend_from_slice(b"name");
    names.push(1);
    let mut sub = leb(u64::from(u32::MAX));
    sub.extend_from_slice(&[0, 1, b'f']);
    names.extend(leb(sub.len() as u64));
    names.extend(sub);
    let _ = survive("u32::MAX names", &module(&[(1, types.clone()), (0, names)]));
    // A section whose length runs past the end.
    let mut bytes = module(&[(1, types)]);
    bytes.push(1);
    bytes.extend(leb(u64::from(u32::MAX)));
    let _ = survive("section past the end", &bytes);
}
