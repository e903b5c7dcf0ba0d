//! Addresses that machine code forms, decoded from the instructions: the
//! references from a function to the data it uses. Shared by the Go string
//! reader (`go_strings`) and the anonymous data reader for Rust and C
//! (`anon_data`). On x86-64 (`iced-x86`) each RIP-relative memory operand
//! (`LEA`, `MOV`...); on arm64 (`yaxpeax-arm`) an `ADRP` page completed by
//! the `ADD` or the load/store offset that uses its register. With each
//! address comes the small constant the next instruction loads (0 when
//! none): Go passes a string's length that way.

use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind};
use yaxpeax_arch::{Decoder as _, U8Reader};
use yaxpeax_arm::armv8::a64::{self, Opcode, Operand, SizeCode};

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

/// A reusable decoder of one instruction set's references.
pub(crate) struct References {
    isa: Isa,
    instruction: Instruction,
}

impl References {
    pub(crate) fn new(isa: Isa) -> Self {
        References {
            isa,
            instruction: Instruction::default(),
        }
    }

    /// Push `(address, length)` for every address the code `bytes` (loaded
    /// at `entry`) forms for which `inside` holds.
    pub(crate) fn scan(
        &mut self,
        bytes: &[u8],
        entry: u64,
        inside: &impl Fn(u64) -> bool,
        push: &mut impl FnMut(u64, u32),
    ) {
        match self.isa {
            Isa::X86_64 => x86_references(bytes, entry, &mut self.instruction, inside, push),
            Isa::Aarch64 => arm64_references(bytes, entry, inside, push),
        }
    }

    /// Push the target of every direct call and jump in the code `bytes`
    /// (loaded at `entry`): `CALL`/`JMP rel` on x86-64, `BL`/`B` on arm64.
    pub(crate) fn branches(&mut self, bytes: &[u8], entry: u64, push: &mut impl FnMut(u64)) {
        match self.isa {
            Isa::X86_64 => {
                let mut decoder = Decoder::with_ip(64, bytes, entry, DecoderOptions::NONE);
                while decoder.can_decode() {
                    decoder.decode_out(&mut self.instruction);
                    if matches!(self.instruction.mnemonic(), Mnemonic::Call | Mnemonic::Jmp)
                        && matches!(
                            self.instruction.op0_kind(),
                            OpKind::NearBranch64 | OpKind::NearBranch32
                        )
                    {
                        push(self.instruction.near_branch_target());
                    }
                }
            }
            Isa::Aarch64 => {
                let decoder = a64::InstDecoder::default();
                let mut instruction = a64::Instruction::default();
                let mut pc = entry;
                for word in bytes.chunks_exact(4) {
                    let at = pc;
                    pc = pc.wrapping_add(4);
                    let mut reader = U8Reader::new(word);
                    if decoder.decode_into(&mut instruction, &mut reader).is_ok()
                        && matches!(instruction.opcode, Opcode::BL | Opcode::B)
                        && let Operand::PCOffset(offset) = instruction.operands[0]
                    {
                        push(at.wrapping_add_signed(offset));
                    }
                }
            }
        }
    }
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

/// The code sections of an image, sorted by address, to find the bytes of
/// a function in logarithmic time (a hostile file may hold many sections).
pub(crate) struct CodeSections<'d> {
    spans: Vec<(u64, &'d [u8])>,
}

impl<'d> CodeSections<'d> {
    pub(crate) fn new(layout: &crate::format::Layout<'d>) -> Self {
        let mut spans: Vec<(u64, &'d [u8])> = layout
            .sections
            .iter()
            .filter(|s| s.kind == crate::report::SectionKind::Code && !s.data.is_empty())
            .map(|s| (s.address, s.data))
            .collect();
        spans.sort_unstable_by_key(|s| s.0);
        CodeSections { spans }
    }

    /// The bytes of `[start, end)`, when one code section holds them all.
    pub(crate) fn bytes(&self, start: u64, end: u64) -> Option<&'d [u8]> {
        let i = self
            .spans
            .partition_point(|s| s.0 <= start)
            .checked_sub(1)?;
        let (address, data) = self.spans[i];
        let from = usize::try_from(start - address).ok()?;
        let len = usize::try_from(end.checked_sub(start)?).ok()?;
        data.get(from..from.checked_add(len)?)
    }

    /// The end address of the code section holding `address`.
    pub(crate) fn end_of(&self, address: u64) -> Option<u64> {
        let i = self
            .spans
            .partition_point(|s| s.0 <= address)
            .checked_sub(1)?;
        let (start, data) = self.spans[i];
        let end = start.saturating_add(data.len() as u64);
        (address < end).then_some(end)
    }
}
