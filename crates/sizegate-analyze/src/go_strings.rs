//! Go string literals and other anonymous read-only data charged to the
//! packages of the functions that reference them: the code of every
//! function of the pclntab is decoded, and each address it forms that points
//! into a read-only data section starts a piece. On x86-64 (`iced-x86`)
//! those are RIP-relative memory operands (`LEA`/`MOV`); on arm64
//! (`yaxpeax-arm`) an `ADRP` page completed by the `ADD` or the load/store
//! offset that uses its register. A piece runs to the length the next
//! instruction loads as an immediate (Go passes a string's length that
//! way), else to
//! the next referenced address, capped at [`MAX_PIECE`]; it never crosses
//! bytes already owned by a package (named symbols, type data, pclntab).
//! A piece referenced by several packages is split equally between them.

use std::collections::HashMap;

use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind};
use yaxpeax_arch::{Decoder as _, U8Reader};
use yaxpeax_arm::armv8::a64::{self, Opcode, Operand, SizeCode};

use crate::demangle::Demangled;
use crate::format::Layout;
use crate::go::{self, GoFunction};
use crate::go_units::Region;
use crate::symbols::PlacedSymbol;

/// Longest piece charged from one reference without a length.
const MAX_PIECE: u64 = 4096;

/// The linker's section markers: no data of their own, but on Mach-O
/// (symbols without sizes) they seem to span the anonymous data after them.
const MARKERS: [&str; 6] = [
    "runtime.rodata",
    "runtime.erodata",
    "runtime.types",
    "runtime.etypes",
    "runtime.noptrdata",
    "runtime.enoptrdata",
];

/// Data sections where Go puts its strings, constants and package
/// variables: read-only data, and the variables without pointers
/// (`noptrdata`) and with them (`data`).
fn is_rodata(name: &str) -> bool {
    matches!(
        name,
        ".rodata" | "__rodata" | ".rdata" | ".noptrdata" | "__noptrdata" | ".data" | "__data"
    )
}

/// One reference from code: the address, the referencing package, and the
/// length loaded right after it (0 when none).
type Reference = (u64, u32, u32);

/// The instruction sets whose code is decoded for references.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    X86_64,
    Aarch64,
}

impl Isa {
    /// The decodable instruction set of an architecture, if any.
    pub(crate) fn of(architecture: object::Architecture) -> Option<Isa> {
        match architecture {
            object::Architecture::X86_64 => Some(Isa::X86_64),
            object::Architecture::Aarch64 => Some(Isa::Aarch64),
            _ => None,
        }
    }
}

/// A section's ranges, and bytes per package index.
type Pieces = (Vec<(u64, u64)>, HashMap<u32, u64>);

/// The regions charging referenced read-only data to packages; nothing
/// without a decodable instruction set. `taken` are the regions already
/// charged.
pub(crate) fn regions(
    layout: &Layout<'_>,
    isa: Option<Isa>,
    functions: &[GoFunction],
    taken: &[Region],
    placed: &[PlacedSymbol],
    names: &[Demangled],
) -> Vec<Region> {
    let Some(isa) = isa else {
        return Vec::new();
    };
    if functions.is_empty() {
        return Vec::new();
    }
    let targets: Vec<usize> = layout
        .sections
        .iter()
        .enumerate()
        .filter(|(_, s)| is_rodata(&s.raw_name) && s.shipped > 0 && !s.data.is_empty())
        .map(|(i, _)| i)
        .collect();
    if targets.is_empty() {
        return Vec::new();
    }
    let bounds: Vec<(u64, u64)> = targets
        .iter()
        .map(|&i| {
            let s = &layout.sections[i];
            (s.address, s.address.saturating_add(s.shipped))
        })
        .collect();
    let inside = |address: u64| bounds.iter().any(|&(a, b)| a <= address && address < b);

    // Packages of the functions, interned.
    let mut packages: Vec<&str> = Vec::new();
    let mut index: HashMap<&str, u32> = HashMap::new();
    let mut refs: Vec<Reference> = Vec::new();
    let mut code: Option<(u64, &[u8])> = None;
    let mut instruction = Instruction::default();
    for function in functions {
        if function.size == 0 {
            continue;
        }
        let fits = |(start, data): (u64, &[u8])| {
            function.entry >= start
                && function.entry.saturating_add(function.size) <= start + data.len() as u64
        };
        if !code.is_some_and(fits) {
            code = layout
                .sections
                .iter()
                .map(|s| (s.address, s.data))
                .find(|&c| fits(c));
        }
        let Some((start, data)) = code else {
            continue;
        };
        let Ok(from) = usize::try_from(function.entry - start) else {
            continue;
        };
        let Some(bytes) = usize::try_from(function.size)
            .ok()
            .and_then(|n| data.get(from..from.checked_add(n)?))
        else {
            continue;
        };
        let package = go::package_of(&function.name);
        let owner = *index.entry(package).or_insert_with(|| {
            packages.push(package);
            (packages.len() - 1) as u32
        });
        let mut push = |address: u64, length: u32| refs.push((address, owner, length));
        match isa {
            Isa::X86_64 => {
                x86_references(bytes, function.entry, &mut instruction, &inside, &mut push)
            }
            Isa::Aarch64 => arm64_references(bytes, function.entry, &inside, &mut push),
        }
    }
    if refs.is_empty() {
        return Vec::new();
    }
    refs.sort_unstable();

    // Bytes no reference may take: the other regions, and symbols of real
    // packages.
    let mut blocked: Vec<(u64, u64)> = taken
        .iter()
        .filter(|r| targets.contains(&r.section))
        .flat_map(|r| r.ranges.iter().copied())
        .collect();
    blocked.extend(
        placed
            .iter()
            .zip(names)
            .filter(|(p, n)| {
                p.size > 0
                    && !n.unit.starts_with('[')
                    && !MARKERS.contains(&n.name.as_str())
                    && targets.contains(&p.section)
            })
            .map(|(p, _)| (p.address, p.address.saturating_add(p.size))),
    );
    blocked.extend(bounds.iter().map(|&(_, end)| (end, end.saturating_add(1))));
    blocked.sort_unstable();
    // Disjoint, so that a binary search finds the range holding an address.
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(blocked.len());
    for (start, end) in blocked {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    let blocked = merged;

    let mut by_section: HashMap<usize, Pieces> = HashMap::new();
    let mut owners: Vec<u32> = Vec::new();
    let mut at = 0usize;
    while at < refs.len() {
        let address = refs[at].0;
        let mut next = at;
        let mut length = 0u32;
        owners.clear();
        while next < refs.len() && refs[next].0 == address {
            owners.push(refs[next].1);
            length = length.max(refs[next].2);
            next += 1;
        }
        owners.dedup();
        let following = refs.get(next).map_or(u64::MAX, |r| r.0);
        at = next;
        // Inside blocked bytes: not ours. Else up to the next blocked start.
        let b = blocked.partition_point(|r| r.1 <= address);
        let Some(&(block_start, _)) = blocked.get(b) else {
            continue;
        };
        if block_start <= address {
            continue;
        }
        let want = if length > 0 {
            u64::from(length)
        } else {
            MAX_PIECE
        };
        let end = following.min(block_start).min(address.saturating_add(want));
        let Some(section) = targets
            .iter()
            .zip(&bounds)
            .find(|(_, (a, b))| *a <= address && address < *b)
            .map(|(&i, _)| i)
        else {
            continue;
        };
        let bytes = end - address;
        let entry = by_section.entry(section).or_default();
        match entry.0.last_mut() {
            Some(last) if last.1 == address => last.1 = end,
            _ => entry.0.push((address, end)),
        }
        // Split equally; the remainder to the first owners.
        let count = owners.len() as u64;
        for (i, &owner) in owners.iter().enumerate() {
            let share = bytes / count + u64::from((i as u64) < bytes % count);
            *entry.1.entry(owner).or_default() += share;
        }
    }
    let mut out: Vec<Region> = by_section
        .into_iter()
        .map(|(section, (ranges, bytes))| {
            let charges: Vec<(String, u64)> = bytes
                .into_iter()
                .filter(|&(_, n)| n > 0)
                .map(|(owner, n)| (packages[owner as usize].to_owned(), n))
                .collect();
            Region::new(section, ranges, charges)
        })
        .collect();
    out.sort_by_key(|r| r.section);
    out
}

/// The read-only data references of one function's x86-64 code: each
/// RIP-relative memory operand inside, with the length the next instruction
/// loads.
fn x86_references(
    bytes: &[u8],
    entry: u64,
    instruction: &mut Instruction,
    inside: &impl Fn(u64) -> bool,
    push: &mut impl FnMut(u64, u32),
) {
    let mut decoder = Decoder::with_ip(64, bytes, entry, DecoderOptions::NONE);
    // The reference waiting for a length in the next instruction.
    let mut pending: Option<u64> = None;
    while decoder.can_decode() {
        decoder.decode_out(instruction);
        if let Some(address) = pending.take() {
            push(address, immediate_of(instruction).unwrap_or(0));
        }
        if instruction.is_ip_rel_memory_operand() {
            let address = instruction.ip_rel_memory_address();
            if inside(address) {
                pending = Some(address);
            }
        }
    }
    if let Some(address) = pending {
        push(address, 0);
    }
}

/// The read-only data references of one function's arm64 code. An `ADRP`
/// leaves a 4 KiB page in its register; the `ADD` (immediate) or the
/// load/store with an immediate offset that uses that register completes
/// the address. A register's page is forgotten when anything else writes
/// the register, and at an undecodable word.
fn arm64_references(
    bytes: &[u8],
    entry: u64,
    inside: &impl Fn(u64) -> bool,
    push: &mut impl FnMut(u64, u32),
) {
    let decoder = a64::InstDecoder::default();
    let mut instruction = a64::Instruction::default();
    let mut pages: [Option<u64>; 32] = [None; 32];
    let mut pending: Option<u64> = None;
    let mut pc = entry;
    for word in bytes.chunks_exact(4) {
        let at = pc;
        pc = pc.wrapping_add(4);
        let mut reader = U8Reader::new(word);
        if decoder.decode_into(&mut instruction, &mut reader).is_err() {
            pages = [None; 32];
            if let Some(address) = pending.take() {
                push(address, 0);
            }
            continue;
        }
        if let Some(address) = pending.take() {
            push(address, arm64_immediate(&instruction).unwrap_or(0));
        }
        let operands = instruction.operands;
        let page_of = |register: u16| pages.get(usize::from(register)).copied().flatten();
        let address = match (instruction.opcode, operands) {
            (Opcode::ADRP, [Operand::Register(_, d), Operand::PCOffset(offset), ..]) => {
                if let Some(slot) = pages.get_mut(usize::from(d)) {
                    *slot = Some((at & !0xfff).wrapping_add_signed(offset));
                }
                continue;
            }
            (
                Opcode::ADD,
                [
                    _,
                    Operand::RegisterOrSP(SizeCode::X, n),
                    Operand::Immediate(imm),
                    _,
                ],
            ) => page_of(n).map(|page| page.wrapping_add(u64::from(imm))),
            (
                Opcode::ADD,
                [
                    _,
                    Operand::RegisterOrSP(SizeCode::X, n),
                    Operand::ImmShift(imm, shift),
                    _,
                ],
            ) => page_of(n).map(|page| page.wrapping_add(u64::from(imm) << shift)),
            _ => operands.iter().find_map(|operand| match *operand {
                Operand::RegPreIndex(n, offset, false) => {
                    page_of(n).map(|page| page.wrapping_add_signed(i64::from(offset)))
                }
                _ => None,
            }),
        };
        // The destination no longer holds a page (a store's first operand
        // is its source: forgetting it only loses a later reference).
        if let Operand::Register(_, d) | Operand::RegisterOrSP(_, d) = operands[0]
            && let Some(slot) = pages.get_mut(usize::from(d))
        {
            *slot = None;
        }
        if let Some(address) = address.filter(|&a| inside(a)) {
            pending = Some(address);
        }
    }
    if let Some(address) = pending {
        push(address, 0);
    }
}

/// The small positive constant an arm64 instruction loads into a register
/// (`MOVZ`, or `ORR` from the zero register), as Go loads a string's length.
fn arm64_immediate(instruction: &a64::Instruction) -> Option<u32> {
    let value = match (instruction.opcode, instruction.operands) {
        (Opcode::MOVZ, [Operand::Register(_, _), Operand::ImmShift(imm, shift), ..]) => {
            u64::from(imm) << shift
        }
        (
            Opcode::ORR,
            [
                Operand::Register(_, _) | Operand::RegisterOrSP(_, _),
                Operand::Register(_, 31),
                Operand::Imm64(imm),
                _,
            ],
        ) => imm,
        (
            Opcode::ORR,
            [
                Operand::Register(_, _) | Operand::RegisterOrSP(_, _),
                Operand::Register(_, 31),
                Operand::Immediate(imm),
                _,
            ],
        ) => u64::from(imm),
        _ => return None,
    };
    u32::try_from(value)
        .ok()
        .filter(|&value| value > 0 && value < 1 << 20)
}

/// The immediate a `MOV` loads (a register or memory from a constant), as
/// Go loads a string's length right after its address.
fn immediate_of(instruction: &Instruction) -> Option<u32> {
    if instruction.mnemonic() != Mnemonic::Mov || instruction.op_count() != 2 {
        return None;
    }
    match instruction.op1_kind() {
        OpKind::Immediate8
        | OpKind::Immediate16
        | OpKind::Immediate32
        | OpKind::Immediate32to64
        | OpKind::Immediate64 => {
            // Lengths are positive and small; anything else is not one.
            u32::try_from(instruction.immediate(1))
                .ok()
                .filter(|&value| value > 0 && value < 1 << 20)
        }
        _ => None,
    }
}
