//! Mach-O `__LINKEDIT` charged to units: each dyld rebase and bind opcode
//! to the unit owning the address it patches, the code signature to
//! `[code signature]`; for Go binaries each symbol table entry (and its
//! name) to the symbol's package; for others (Rust, C) each
//! `LC_FUNCTION_STARTS` entry to its function's unit and the export trie
//! to the exports' units. What is left (the end of the opcode
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

/// The `__LINKEDIT` pieces one image's load commands point at.
#[derive(Default)]
struct Commands {
    /// Segment addresses, in load command order (what opcodes index).
    segments: Vec<u64>,
    /// Address of `__TEXT` (function starts and exports are relative to it).
    text: u64,
    /// (rebase?, file offset, size) of the rebase and bind opcode streams.
    streams: Vec<(bool, u64, u64)>,
    /// (file offset, size) of `LC_FUNCTION_STARTS` and the export trie.
    function_starts: (u64, u64),
    exports: (u64, u64),
    /// Size of the code signature.
    signature: u64,
}

impl Commands {
    fn read<Mach: MachHeader<Endian = Endianness>>(file: &MachOFile<'_, Mach>) -> Commands {
        let endian = file.endian();
        let mut out = Commands::default();
        let Ok(mut commands) = file.macho_load_commands() else {
            return out;
        };
        while let Ok(Some(command)) = commands.next() {
            let (name, address) = match command.variant() {
                Ok(LoadCommandVariant::Segment32(s, _)) => (s.segname, s.vmaddr.get(endian).into()),
                Ok(LoadCommandVariant::Segment64(s, _)) => (s.segname, s.vmaddr.get(endian)),
                Ok(LoadCommandVariant::DyldInfo(info)) => {
                    let pair = |off: object::U32<Endianness>, size: object::U32<Endianness>| {
                        (u64::from(off.get(endian)), u64::from(size.get(endian)))
                    };
                    let rebase = pair(info.rebase_off, info.rebase_size);
                    let bind = pair(info.bind_off, info.bind_size);
                    out.streams.push((true, rebase.0, rebase.1));
                    out.streams.push((false, bind.0, bind.1));
                    out.exports = pair(info.export_off, info.export_size);
                    continue;
                }
                Ok(LoadCommandVariant::LinkeditData(data)) => {
                    let piece = (
                        u64::from(data.dataoff.get(endian)),
                        u64::from(data.datasize.get(endian)),
                    );
                    match command.cmd() {
                        object::macho::LC_CODE_SIGNATURE => out.signature = piece.1,
                        object::macho::LC_FUNCTION_STARTS => out.function_starts = piece,
                        object::macho::LC_DYLD_EXPORTS_TRIE => out.exports = piece,
                        _ => {}
                    }
                    continue;
                }
                _ => continue,
            };
            if name.starts_with(b"__TEXT\0") {
                out.text = address;
            }
            out.segments.push(address);
        }
        out
    }

    /// The rebase and bind opcodes' bytes by the unit owning what they
    /// patch.
    fn fixups<'o>(
        &self,
        bytes: &[u8],
        word: u64,
        owner: &dyn Fn(u64) -> Option<&'o str>,
        linkedit: &mut HashMap<&'o str, u64>,
    ) {
        for &(rebase, offset, size) in &self.streams {
            let Some(stream) = piece(bytes, (offset, size)) else {
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
                segments: &self.segments,
                word,
            };
            if rebase {
                opcodes.rebases(&mut charge);
            } else {
                opcodes.binds(&mut charge);
            }
        }
    }
}

/// The bytes of a (file offset, size) piece, when in the file.
fn piece(bytes: &[u8], (offset, size): (u64, u64)) -> Option<&[u8]> {
    let offset = usize::try_from(offset).ok()?;
    bytes.get(offset..offset.checked_add(usize::try_from(size).ok()?)?)
}

/// Moves out of `[__LINKEDIT]` to the units `linkedit` names (bracketed
/// owners stay), then the code signature's.
fn linkedit_moves(linkedit: HashMap<&str, u64>, signature: u64) -> Moves {
    let mut moves: Moves = linkedit
        .into_iter()
        .filter(|(unit, _)| !unit.starts_with('['))
        .map(|(unit, n)| (LINKEDIT, unit.to_owned(), n))
        .collect();
    moves.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
    if signature > 0 {
        moves.push((LINKEDIT, CODE_SIGNATURE.to_owned(), signature));
    }
    moves
}

/// The load commands of `file`, and its rebase and bind opcodes' bytes by
/// the unit owning what they patch.
fn fixup_charges<'o, Mach: MachHeader<Endian = Endianness>>(
    file: &MachOFile<'_, Mach>,
    bytes: &[u8],
    owner: &dyn Fn(u64) -> Option<&'o str>,
) -> (Commands, HashMap<&'o str, u64>) {
    let word: u64 = if file.is_64() { 8 } else { 4 };
    let commands = Commands::read(file);
    let mut linkedit: HashMap<&str, u64> = HashMap::new();
    commands.fixups(bytes, word, owner, &mut linkedit);
    (commands, linkedit)
}

/// The `__LINKEDIT` charges of a Go Mach-O file; `owner` says which unit
/// owns a data address.
pub(crate) fn charges<'o, Mach: MachHeader<Endian = Endianness>>(
    file: &MachOFile<'_, Mach>,
    bytes: &[u8],
    owner: &dyn Fn(u64) -> Option<&'o str>,
) -> Moves {
    let (commands, linkedit) = fixup_charges(file, bytes, owner);
    let mut moves = linkedit_moves(linkedit, commands.signature);
    moves.extend(symbol_moves(file));
    moves
}

/// The `__LINKEDIT` charges of a Mach-O file of other languages (Rust, C):
/// rebase and bind opcodes to the owner of what they patch, each
/// `LC_FUNCTION_STARTS` entry (a ULEB128 delta) to the owner of the
/// function it starts, the export trie split equally among the exports'
/// owners, the code signature to `[code signature]`. `owner` says which
/// unit owns an address (code or data).
pub(crate) fn other_charges<'o, Mach: MachHeader<Endian = Endianness>>(
    file: &MachOFile<'_, Mach>,
    bytes: &[u8],
    owner: &dyn Fn(u64) -> Option<&'o str>,
) -> Moves {
    let (commands, mut linkedit) = fixup_charges(file, bytes, owner);
    if let Some(starts) = piece(bytes, commands.function_starts) {
        let mut at = 0usize;
        let mut address = commands.text;
        while let Some((delta, used)) = starts.get(at..).and_then(go::uleb128) {
            at += used;
            if delta == 0 {
                break;
            }
            address = address.wrapping_add(delta);
            if let Some(unit) = owner(address) {
                *linkedit.entry(unit).or_default() += used as u64;
            }
        }
    }
    if let Some(trie) = piece(bytes, commands.exports) {
        let exports = export_addresses(trie);
        let count = exports.len() as u64;
        for (i, offset) in exports.iter().enumerate() {
            let share =
                trie.len() as u64 / count + u64::from((i as u64) < trie.len() as u64 % count);
            if let Some(unit) = owner(commands.text.wrapping_add(*offset)) {
                *linkedit.entry(unit).or_default() += share;
            }
        }
    }
    linkedit_moves(linkedit, commands.signature)
}

/// The addresses (offsets from `__TEXT`) of the exports in an export trie
/// (`<mach-o/loader.h>`: a node is a ULEB128 terminal size, the terminal's
/// flags and address, a child count and the children's edge strings and
/// node offsets). Each node is read once; re-exports carry no address.
fn export_addresses(trie: &[u8]) -> Vec<u64> {
    const REEXPORT: u64 = 0x08;
    let mut out = Vec::new();
    let mut seen = vec![false; trie.len()];
    let mut stack = vec![0usize];
    while let Some(node) = stack.pop() {
        if seen.get(node).copied().unwrap_or(true) {
            continue;
        }
        seen[node] = true;
        let mut c = Cursor {
            at: node,
            pending: 0,
            address: None,
            fixups: 0,
        };
        let Some(terminal) = c.uleb(trie) else {
            continue;
        };
        let children_at =
            c.at.saturating_add(usize::try_from(terminal).unwrap_or(usize::MAX));
        if terminal > 0
            && let Some(flags) = c.uleb(trie)
            && flags & REEXPORT == 0
            && let Some(address) = c.uleb(trie)
        {
            out.push(address);
        }
        c.at = children_at;
        let Some(&children) = trie.get(c.at) else {
            continue;
        };
        c.at += 1;
        for _ in 0..children {
            let Some(len) = trie
                .get(c.at..)
                .and_then(|r| r.iter().position(|&b| b == 0))
            else {
                break;
            };
            c.at += len + 1;
            match c.uleb(trie).and_then(|o| usize::try_from(o).ok()) {
                Some(child) => stack.push(child),
                None => break,
            }
        }
    }
    out
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
#[derive(Default)]
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
        let mut c = Cursor::default();
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
        let mut c = Cursor::default();
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
            None => {
                let kind = if to.starts_with('[') {
                    crate::report::UnitKind::Pseudo
                } else {
                    kind
                };
                units.push(crate::report::Unit::new(to.clone(), kind, bytes, 0));
            }
        }
    }
    units.retain(|u| u.size > 0);
    crate::report::Unit::sort(units);
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
    fn export_tries_give_their_exports_and_end_on_cycles() {
        // Root: no terminal, one edge "_main" to the node at 9: a terminal
        // (flags 0, address 0x10), no children.
        let mut trie = vec![0x00, 0x01];
        trie.extend_from_slice(b"_main\0");
        trie.push(9);
        trie.extend_from_slice(&[0x02, 0x00, 0x10, 0x00]);
        assert_eq!(export_addresses(&trie), [0x10]);
        // A child pointing back at the root, and one past the end.
        let cyclic = [0x00, 0x02, b'a', 0, 0, b'b', 0, 0x7f];
        assert!(export_addresses(&cyclic).is_empty());
        // A re-export has no address.
        let mut reexport = vec![0x00, 0x01, b'x', 0, 5];
        reexport.extend_from_slice(&[0x03, 0x08, 0x01, 0x00, 0x00]);
        assert!(export_addresses(&reexport).is_empty());
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
