//! Mach-O `__LINKEDIT` of Go binaries charged to units: each dyld rebase
//! and bind opcode to the unit owning the address it patches, each symbol
//! table entry (and its name) to the symbol's package, and the code
//! signature to `[code signature]`. What is left (the end of the opcode
//! streams, addresses no one owns, the indirect symbol table) stays
//! `[__LINKEDIT]`. A small reader of the `LC_DYLD_INFO` opcodes
//! (`<mach-o/loader.h>`): every read is bounds-checked and the work is
//! bounded by the stream's size.

use std::collections::HashMap;

use object::read::macho::{LoadCommandVariant, MachHeader, MachOFile};
use object::{Endianness, Object, ObjectSymbol};

use crate::go;

/// The pseudo-unit of the code signature (not a package's: it is as large
/// as the file makes it).
pub(crate) const CODE_SIGNATURE: &str = "[code signature]";
/// The pseudo-unit these charges come out of.
pub(crate) const LINKEDIT: &str = "[__LINKEDIT]";
/// The pseudo-units of the symbol and string tables.
const SYMBOL_TABLE: &str = "[symbol table]";
const STRING_TABLE: &str = "[string table]";

/// Most addresses one rebase or bind stream may patch (more is corrupt).
const MAX_FIXUPS: u64 = 1 << 26;

/// Bytes moved from pseudo-units to units: (from, to, bytes).
pub(crate) type Moves = Vec<(&'static str, String, u64)>;

/// The `__LINKEDIT` charges of a Go Mach-O file; `owner` says which unit
/// owns a data address.
pub(crate) fn charges<'o, Mach: MachHeader<Endian = Endianness>>(
    file: &MachOFile<'_, Mach>,
    bytes: &[u8],
    owner: &dyn Fn(u64) -> Option<&'o str>,
) -> Moves {
    let endian = file.endian();
    let word: u64 = if file.is_64() { 8 } else { 4 };
    let mut segments: Vec<u64> = Vec::new();
    let mut streams: Vec<(bool, u64, u64)> = Vec::new();
    let mut signature = 0u64;
    if let Ok(mut commands) = file.macho_load_commands() {
        while let Ok(Some(command)) = commands.next() {
            match command.variant() {
                Ok(LoadCommandVariant::Segment32(s, _)) => {
                    segments.push(s.vmaddr.get(endian).into())
                }
                Ok(LoadCommandVariant::Segment64(s, _)) => segments.push(s.vmaddr.get(endian)),
                Ok(LoadCommandVariant::DyldInfo(info)) => {
                    streams.push((
                        true,
                        info.rebase_off.get(endian).into(),
                        info.rebase_size.get(endian).into(),
                    ));
                    streams.push((
                        false,
                        info.bind_off.get(endian).into(),
                        info.bind_size.get(endian).into(),
                    ));
                }
                Ok(LoadCommandVariant::LinkeditData(data))
                    if command.cmd() == object::macho::LC_CODE_SIGNATURE =>
                {
                    signature = data.datasize.get(endian).into();
                }
                _ => {}
            }
        }
    }
    let mut linkedit: HashMap<&str, u64> = HashMap::new();
    for (rebase, offset, size) in streams {
        let Some(stream) = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(o, n)| bytes.get(o..o.checked_add(n)?))
        else {
            continue;
        };
        let mut charge = |pending: u64, run: Run| {
            // Split equally, the remainder to the first: past `pending`
            // addresses the shares are 0, so the work is bounded by the
            // stream's size.
            for i in 0..run.count.min(pending.max(1)) {
                let share = pending / run.count + u64::from(i < pending % run.count);
                let address = run.start.wrapping_add(i.wrapping_mul(run.stride));
                if share > 0
                    && let Some(unit) = owner(address)
                {
                    *linkedit.entry(unit).or_default() += share;
                }
            }
        };
        let opcodes = Opcodes {
            stream,
            segments: &segments,
            word,
        };
        if rebase {
            opcodes.rebases(&mut charge);
        } else {
            opcodes.binds(&mut charge);
        }
    }
    let mut moves: Moves = linkedit
        .into_iter()
        .filter(|(unit, _)| !unit.starts_with('['))
        .map(|(unit, n)| (LINKEDIT, unit.to_owned(), n))
        .collect();
    moves.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
    if signature > 0 {
        moves.push((LINKEDIT, CODE_SIGNATURE.to_owned(), signature));
    }
    moves.extend(symbol_moves(file));
    moves
}

/// Each defined symbol's table entry and name to its package (Go writes
/// its symbols with a leading `_`); undefined ones (what dyld binds) stay.
fn symbol_moves<Mach: MachHeader<Endian = Endianness>>(file: &MachOFile<'_, Mach>) -> Moves {
    let entry: u64 = if file.is_64() { 16 } else { 12 };
    let mut by_package: HashMap<String, (u64, u64)> = HashMap::new();
    for symbol in file.symbols() {
        let Ok(name) = symbol.name() else {
            continue;
        };
        let plain = name.strip_prefix('_').unwrap_or(name);
        let package = go::package_of(plain);
        if symbol.is_undefined() || package.is_empty() || package.starts_with('[') {
            continue;
        }
        let sizes = by_package.entry(package.to_owned()).or_default();
        sizes.0 += entry;
        sizes.1 += name.len() as u64 + 1;
    }
    let mut moves = Moves::new();
    for (package, (symbols, strings)) in by_package {
        moves.push((SYMBOL_TABLE, package.clone(), symbols));
        moves.push((STRING_TABLE, package, strings));
    }
    moves.sort_by(|a, b| a.0.cmp(b.0).then(b.2.cmp(&a.2)).then_with(|| a.1.cmp(&b.1)));
    moves
}

/// Addresses one opcode patches: `count` of them, `stride` apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    start: u64,
    count: u64,
    stride: u64,
}

/// A rebase or bind opcode stream with the segments' addresses.
struct Opcodes<'a> {
    stream: &'a [u8],
    segments: &'a [u64],
    word: u64,
}

/// Where the reader stands: position in the stream, bytes read since the
/// last patch, the current address and the patches so far.
struct Cursor {
    at: usize,
    pending: u64,
    address: Option<u64>,
    fixups: u64,
}

impl Cursor {
    fn uleb(&mut self, stream: &[u8]) -> Option<u64> {
        let (value, used) = go::uleb128(stream.get(self.at..)?)?;
        self.at += used;
        Some(value)
    }

    /// Patch `count` addresses `stride` apart (fewer when the budget ends):
    /// the bytes read since the last patch are theirs.
    fn patch(&mut self, count: u64, stride: u64, charge: &mut dyn FnMut(u64, Run)) -> bool {
        let Some(start) = self.address else {
            return false;
        };
        let count = count.min(MAX_FIXUPS.saturating_sub(self.fixups));
        self.fixups += count;
        if count > 0 {
            let run = Run {
                start,
                count,
                stride,
            };
            charge(std::mem::take(&mut self.pending), run);
        }
        self.address = Some(start.wrapping_add(count.wrapping_mul(stride)));
        self.fixups < MAX_FIXUPS
    }

    fn add(&mut self, delta: u64) {
        self.address = self.address.map(|a| a.wrapping_add(delta));
    }
}

impl Opcodes<'_> {
    /// `REBASE_OPCODE_*`: calls `charge` with the bytes of each run of
    /// opcodes and the addresses it rebases. Stops at `DONE`, the end, an
    /// unknown opcode or a truncated operand.
    fn rebases(&self, charge: &mut dyn FnMut(u64, Run)) {
        let (stream, word) = (self.stream, self.word);
        let mut c = Cursor {
            at: 0,
            pending: 0,
            address: None,
            fixups: 0,
        };
        while let Some(&byte) = stream.get(c.at) {
            let start = c.at;
            c.at += 1;
            let imm = u64::from(byte & 0x0f);
            let go_on = match byte & 0xf0 {
                0x10 => Some(true),
                0x20 => c.uleb(stream).map(|offset| {
                    c.address = self.segment(imm).map(|s| s.wrapping_add(offset));
                    true
                }),
                0x30 => c.uleb(stream).map(|d| {
                    c.add(d);
                    true
                }),
                0x40 => {
                    c.add(imm * word);
                    Some(true)
                }
                0x50 => {
                    c.pending += (c.at - start) as u64;
                    Some(c.patch(imm, word, charge))
                }
                0x60 => c.uleb(stream).map(|n| {
                    c.pending += (c.at - start) as u64;
                    c.patch(n, word, charge)
                }),
                0x70 => c.uleb(stream).map(|skip| {
                    c.pending += (c.at - start) as u64;
                    let more = c.patch(1, word, charge);
                    c.add(skip);
                    more
                }),
                0x80 => c.uleb(stream).zip(c.uleb(stream)).map(|(n, skip)| {
                    c.pending += (c.at - start) as u64;
                    c.patch(n, skip.wrapping_add(word), charge)
                }),
                _ => None,
            };
            if go_on != Some(true) {
                break;
            }
            // Opcodes that patch nothing are paid by the next patch.
            if !matches!(byte & 0xf0, 0x50..=0x80) {
                c.pending += (c.at - start) as u64;
            }
        }
    }

    /// `BIND_OPCODE_*`, as [`Opcodes::rebases`]; threaded binds stop it.
    fn binds(&self, charge: &mut dyn FnMut(u64, Run)) {
        let (stream, word) = (self.stream, self.word);
        let mut c = Cursor {
            at: 0,
            pending: 0,
            address: None,
            fixups: 0,
        };
        while let Some(&byte) = stream.get(c.at) {
            let start = c.at;
            c.at += 1;
            let imm = u64::from(byte & 0x0f);
            let mut patched = false;
            let go_on = match byte & 0xf0 {
                0x10 | 0x30 | 0x50 => Some(true),
                0x20 | 0x60 => c.uleb(stream).map(|_| true),
                0x40 => stream.get(c.at..).and_then(|rest| {
                    let len = rest.iter().position(|&b| b == 0)?;
                    c.at += len + 1;
                    Some(true)
                }),
                0x70 => c.uleb(stream).map(|offset| {
                    c.address = self.segment(imm).map(|s| s.wrapping_add(offset));
                    true
                }),
                0x80 => c.uleb(stream).map(|d| {
                    c.add(d);
                    true
                }),
                0x90 => {
                    patched = true;
                    c.pending += (c.at - start) as u64;
                    Some(c.patch(1, word, charge))
                }
                0xa0 => c.uleb(stream).map(|d| {
                    patched = true;
                    c.pending += (c.at - start) as u64;
                    let more = c.patch(1, word, charge);
                    c.add(d);
                    more
                }),
                0xb0 => {
                    patched = true;
                    c.pending += (c.at - start) as u64;
                    let more = c.patch(1, word, charge);
                    c.add(imm * word);
                    Some(more)
                }
                0xc0 => c.uleb(stream).zip(c.uleb(stream)).map(|(n, skip)| {
                    patched = true;
                    c.pending += (c.at - start) as u64;
                    c.patch(n, skip.wrapping_add(word), charge)
                }),
                _ => None,
            };
            if go_on != Some(true) {
                break;
            }
            if !patched {
                c.pending += (c.at - start) as u64;
            }
        }
    }

    fn segment(&self, index: u64) -> Option<u64> {
        self.segments.get(usize::try_from(index).ok()?).copied()
    }
}

/// Move `moves` bytes from their pseudo-units to their units, never more
/// than a pseudo-unit holds (the strip model may have shrunk it). Units
/// that did not exist are added as `kind` (bracketed names as pseudo).
pub(crate) fn apply(
    units: &mut Vec<crate::report::Unit>,
    moves: &Moves,
    kind: crate::report::UnitKind,
) {
    for (from, to, bytes) in moves {
        let Some(source) = units.iter().position(|u| u.name == *from) else {
            continue;
        };
        let bytes = (*bytes).min(units[source].size);
        if bytes == 0 {
            continue;
        }
        units[source].size -= bytes;
        match units.iter_mut().find(|u| u.name == *to) {
            Some(unit) => unit.size += bytes,
            None => units.push(crate::report::Unit {
                name: to.clone(),
                kind: if to.starts_with('[') {
                    crate::report::UnitKind::Pseudo
                } else {
                    kind
                },
                size: bytes,
                symbols: 0,
                version: None,
                module: None,
            }),
        }
    }
    units.retain(|u| u.size > 0);
    units.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stream: &[u8], rebase: bool) -> Vec<(u64, Run)> {
        let segments = [0x1000, 0x10_0000];
        let opcodes = Opcodes {
            stream,
            segments: &segments,
            word: 8,
        };
        let mut out = Vec::new();
        let mut charge = |pending: u64, run: Run| out.push((pending, run));
        if rebase {
            opcodes.rebases(&mut charge);
        } else {
            opcodes.binds(&mut charge);
        }
        out
    }

    #[test]
    fn rebase_opcodes_charge_their_bytes_to_the_addresses_they_patch() {
        // type pointer; segment 1 + 0x10; rebase twice; add 0x20 (scaled 4);
        // rebase 3 times skipping 8; done.
        let stream = [0x11, 0x21, 0x10, 0x52, 0x44, 0x80, 3, 8, 0x00];
        let got = run(&stream, true);
        assert_eq!(
            got,
            [
                (
                    4,
                    Run {
                        start: 0x10_0010,
                        count: 2,
                        stride: 8
                    }
                ),
                (
                    4,
                    Run {
                        start: 0x10_0040,
                        count: 3,
                        stride: 16
                    }
                ),
            ]
        );
    }

    #[test]
    fn bind_opcodes_skip_names_and_charge_their_patches() {
        // ordinal 1; symbol "_f"; type; segment 0 + 8; bind; done.
        let stream = [0x11, 0x40, b'_', b'f', 0, 0x51, 0x70, 8, 0x90, 0x00];
        let one = Run {
            start: 0x1008,
            count: 1,
            stride: 8,
        };
        assert_eq!(run(&stream, false), [(9, one)]);
    }

    #[test]
    fn hostile_streams_end_cleanly() {
        // A patch before any segment, a truncated operand, an unknown segment.
        assert_eq!(run(&[0x51], true), []);
        assert_eq!(run(&[0x20, 0x80], true), []);
        assert_eq!(run(&[0x29, 0, 0x51], true), []);
        // A huge count is cut at the budget.
        let huge = [0x20, 0, 0x60, 0xff, 0xff, 0xff, 0xff, 0x0f];
        let got = run(&huge, true);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.count, MAX_FIXUPS);
        assert_eq!(run(&[0x40, b'x'], false), []);
    }
}
