//! The runtime's `moduledata` record, found in a stripped binary by the
//! pointer to the pclntab it starts with, and what it leads to: the type
//! descriptors (through `typelinks`, `itablinks` and the references between
//! types), the itabs, and the `funcdata` blob (`go:func.*`).
//!
//! Field positions (in words from the start; slices take three):
//! `minpc` is word 20 in every layout since Go 1.16 and must equal the first
//! function's entry; `findfunctab` and `maxpc` are words 19 and 21. `types`, `etypes`, `gofunc`, `typelinks`, `itablinks`:
//! Go 1.16–1.17 at 35, 36, –, 40, 43; Go 1.18–1.19 at 35, 36, 38, 42, 45;
//! Go 1.20+ (which added the coverage counters) at 37, 38, 40, 44, 47.

use super::GoSection;
use super::PclntabVersion;
use super::decode::{Layout, offset_of, to_usize};
use super::pclntab::Located;

/// What the type walk and the funcdata split need from `moduledata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ModuleData {
    /// Start of the type data; type offsets are relative to it.
    pub types: u64,
    /// End of the type data.
    pub etypes: u64,
    /// Go 1.18+: base of the `funcdata` offsets.
    pub gofunc: Option<u64>,
    /// Address and length of `typelinks` (`[]int32`).
    pub typelinks: (u64, u64),
    /// Address and length of `itablinks` (`[]*itab`).
    pub itablinks: (u64, u64),
    /// `findfunctab` (word 19): one 20-byte bucket per 4096 bytes of
    /// the pc range `[minpc, maxpc)` (words 20 and 21).
    pub findfunctab: u64,
    /// `minpc`: the first function's entry.
    pub minpc: u64,
    /// `maxpc`: the end of the last function.
    pub maxpc: u64,
}

/// Word indices of the fields read, per layout generation.
struct Fields {
    types: usize,
    gofunc: Option<usize>,
    typelinks: usize,
    itablinks: usize,
}

fn fields(version: PclntabVersion) -> Option<Fields> {
    match version {
        PclntabVersion::Go12 => None,
        PclntabVersion::Go116 => Some(Fields {
            types: 35,
            gofunc: None,
            typelinks: 40,
            itablinks: 43,
        }),
        PclntabVersion::Go118 => Some(Fields {
            types: 35,
            gofunc: Some(38),
            typelinks: 42,
            itablinks: 45,
        }),
        PclntabVersion::Go120 => Some(Fields {
            types: 37,
            gofunc: Some(40),
            typelinks: 44,
            itablinks: 47,
        }),
    }
}

/// Most candidate records tried, so that crafted data full of pointers to
/// the pclntab cannot make the search slow.
const MAX_CANDIDATES: usize = 64;

/// Find `moduledata` in the data sections: a word equal to the pclntab's
/// address, followed by the `funcnametab` slice pointing into the table,
/// with `minpc` equal to the first function's entry.
pub(crate) fn find(sections: &[GoSection<'_>], pclntab: &Located<'_>) -> Option<ModuleData> {
    let fields = fields(pclntab.table.version)?;
    let layout: Layout = pclntab.table.layout;
    let ptr = usize::from(layout.ptr_size);
    let first_entry = pclntab.functions.first()?.entry;
    let names = pclntab
        .address
        .checked_add(pclntab.table.funcnames as u64)?;
    let needed = (fields.itablinks + 3) * ptr;
    let mut candidates = 0;
    for section in sections {
        let data = section.data;
        if data.len() < needed || section.name.ends_with("gopclntab") {
            continue;
        }
        let misalignment = usize::try_from(section.address % ptr as u64).ok()?;
        let first = (ptr - misalignment) % ptr;
        for offset in (first..=data.len() - needed).step_by(ptr) {
            if layout.word(data, offset) != Some(pclntab.address) {
                continue;
            }
            candidates += 1;
            if candidates > MAX_CANDIDATES {
                return None;
            }
            let word = |index: usize| layout.word(data, offset_of(offset, index, ptr)?);
            if word(1) != Some(names) || word(20) != Some(first_entry) {
                continue;
            }
            let (Some(types), Some(etypes)) = (word(fields.types), word(fields.types + 1)) else {
                continue;
            };
            let slice = |index: usize| Some((word(index)?, word(index + 1)?));
            let (Some(typelinks), Some(itablinks)) =
                (slice(fields.typelinks), slice(fields.itablinks))
            else {
                continue;
            };
            if types > etypes {
                continue;
            }
            let (Some(findfunctab), Some(maxpc)) = (word(19), word(21)) else {
                continue;
            };
            return Some(ModuleData {
                findfunctab,
                minpc: first_entry,
                maxpc,
                types,
                etypes,
                gofunc: fields.gofunc.and_then(word),
                typelinks,
                itablinks,
            });
        }
    }
    None
}

/// The loaded bytes at an address, through the sections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Memory<'a, 'b> {
    pub sections: &'b [GoSection<'a>],
}

impl<'a> Memory<'a, '_> {
    /// The bytes from `address` to the end of its section.
    pub fn at(&self, address: u64) -> Option<&'a [u8]> {
        let section = self.sections.iter().find(|s| {
            !s.data.is_empty() && address >= s.address && address - s.address < s.data.len() as u64
        })?;
        section.data.get(to_usize(address - section.address)?..)
    }

    /// Whether `address` is in a code section (`.text`, `__text`).
    pub fn in_code(&self, address: u64) -> bool {
        self.sections.iter().any(|s| {
            s.name.ends_with("text")
                && address >= s.address
                && address - s.address < s.data.len() as u64
        })
    }
}
