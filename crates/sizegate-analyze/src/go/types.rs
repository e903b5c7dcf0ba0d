//! The runtime type data charged to packages: every type descriptor
//! reachable from `typelinks` and the itabs (through element, key, field,
//! parameter, method and pointer-to types), with its uncommon part, method
//! table and the name data it points to, charged to the package that
//! defines the type (the `pkgpath` of its uncommon part; for pointer,
//! slice, array, channel and map types that of their element; for other
//! unnamed types that of the type that refers to them). Each itab goes to
//! the package of its concrete type.
//!
//! The walk keeps a set of visited descriptors, so cyclic type data ends;
//! it reads only inside `[types, etypes)` and bounds every count by that
//! range's size.

use std::collections::{HashMap, HashSet};

use super::decode::{Layout, to_usize, uvarint};
use super::moduledata::{Memory, ModuleData};
use super::names::GO_TYPE_DATA;

/// A range of bytes charged to one owner (index into the package list).
pub(crate) type Claim = (u64, u64, u32);

/// Type kinds (the low five bits of `kind`).
const ARRAY: u8 = 17;
const CHAN: u8 = 18;
const FUNC: u8 = 19;
const INTERFACE: u8 = 20;
const MAP: u8 = 21;
const POINTER: u8 = 22;
const SLICE: u8 = 23;
const STRUCT: u8 = 25;
const TFLAG_UNCOMMON: u8 = 1;
const TFLAG_NAMED: u8 = 4;
/// In the full `kind` byte: `gcdata` is a GC program, not a bitmap.
const KIND_GC_PROG: u8 = 1 << 6;

/// Largest descriptor part believed (fields, methods...): bigger means corrupt.
const MAX_PART: u64 = 1 << 20;

/// The type walk's state.
pub(crate) struct TypeWalk<'a, 'b> {
    memory: Memory<'a, 'b>,
    layout: Layout,
    module: ModuleData,
    /// Go 1.17+ encodes name lengths as varints (big-endian u16 before).
    varint_names: bool,
    /// Go 1.24+ map descriptors (Swiss tables) are longer.
    swiss_maps: bool,
    packages: Vec<String>,
    package_index: HashMap<String, u32>,
    package_of: HashMap<u64, Option<u32>>,
    visited: HashSet<u64>,
    queue: Vec<(u64, Option<u32>)>,
    pub claims: Vec<Claim>,
    /// Reads left: a real walk reads each byte of the type data a few
    /// times at most; corrupt counts would make it read far more.
    budget: u64,
}

impl<'a, 'b> TypeWalk<'a, 'b> {
    pub fn new(memory: Memory<'a, 'b>, layout: Layout, module: ModuleData, go_minor: u32) -> Self {
        TypeWalk {
            memory,
            layout,
            module,
            varint_names: go_minor >= 17,
            swiss_maps: go_minor >= 24,
            packages: Vec::new(),
            package_index: HashMap::new(),
            package_of: HashMap::new(),
            visited: HashSet::new(),
            queue: Vec::new(),
            claims: Vec::new(),
            budget: module
                .etypes
                .saturating_sub(module.types)
                .saturating_add(1 << 16),
        }
    }

    /// Take one step of the budget; false once it is spent.
    fn spend(&mut self) -> bool {
        if self.budget == 0 {
            return false;
        }
        self.budget -= 1;
        true
    }

    /// At most `count` entries of `size` bytes from `at` that fit before `etypes`.
    fn fitting(&self, at: u64, count: u64, size: u64) -> u64 {
        count.min(self.module.etypes.saturating_sub(at) / size.max(1))
    }

    /// The package names the claims index.
    pub fn into_packages(self) -> (Vec<String>, Vec<Claim>) {
        (self.packages, self.claims)
    }

    fn ptr(&self) -> u64 {
        u64::from(self.layout.ptr_size)
    }

    fn in_types(&self, address: u64) -> bool {
        address >= self.module.types && address < self.module.etypes
    }

    fn word(&self, address: u64) -> Option<u64> {
        self.layout.word(self.memory.at(address)?, 0)
    }

    fn u32(&self, address: u64) -> Option<u32> {
        self.layout.u32(self.memory.at(address)?, 0)
    }

    fn u16(&self, address: u64) -> Option<u16> {
        let b = self.memory.at(address)?.get(..2)?;
        Some(if self.layout.big_endian {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        })
    }

    fn byte(&self, address: u64) -> Option<u8> {
        self.memory.at(address)?.first().copied()
    }

    /// `types + offset` for a non-zero, in-range type or name offset.
    fn offset(&self, offset: u32) -> Option<u64> {
        if offset == 0 || offset == u32::MAX {
            return None;
        }
        let address = self.module.types.checked_add(u64::from(offset))?;
        self.in_types(address).then_some(address)
    }

    pub fn intern(&mut self, package: &str) -> u32 {
        if let Some(&i) = self.package_index.get(package) {
            return i;
        }
        let i = self.packages.len() as u32;
        self.packages.push(package.to_owned());
        self.package_index.insert(package.to_owned(), i);
        i
    }

    /// Size of the common `_type` header.
    fn common(&self) -> u64 {
        if self.ptr() == 8 { 48 } else { 32 }
    }

    /// Length of the name data at `address` and its text.
    fn name(&self, address: u64) -> Option<(u64, &'a str)> {
        let data = self.memory.at(address)?;
        let flags = *data.first()?;
        let (len, mut at) = if self.varint_names {
            let (len, used) = uvarint(data.get(1..)?)?;
            (to_usize(len)?, 1 + used)
        } else {
            let b = data.get(1..3)?;
            (usize::from(u16::from_be_bytes([b[0], b[1]])), 3)
        };
        let text = std::str::from_utf8(data.get(at..at.checked_add(len)?)?).ok()?;
        at += len;
        if flags & 2 != 0 {
            let (tag, used) = if self.varint_names {
                let (tag, used) = uvarint(data.get(at..)?)?;
                (to_usize(tag)?, used)
            } else {
                let b = data.get(at..at + 2)?;
                (usize::from(u16::from_be_bytes([b[0], b[1]])), 2)
            };
            at = at.checked_add(used + tag)?;
        }
        if flags & 4 != 0 {
            at += 4;
        }
        (at <= data.len()).then_some((at as u64, text))
    }

    fn claim_name(&mut self, address: u64, owner: u32) {
        if self.in_types(address)
            && let Some((len, _)) = self.name(address)
        {
            self.claims.push((address, address + len, owner));
        }
    }

    /// Package of the type at `address`; `None` for unnamed composites.
    fn package(&mut self, address: u64, depth: u32) -> Option<u32> {
        if let Some(&known) = self.package_of.get(&address) {
            return known;
        }
        if depth > 16 {
            return None;
        }
        let common = self.common();
        let tflag = self.byte(address + 2 * self.ptr() + 4)?;
        let kind = self.byte(address + 2 * self.ptr() + 7)? & 0x1f;
        let mut found = None;
        if tflag & TFLAG_UNCOMMON != 0 {
            let uncommon = address + common + self.header_size(kind);
            if let Some(path) = self
                .u32(uncommon)
                .and_then(|o| self.offset(o))
                .and_then(|a| self.name(a))
                .map(|(_, text)| text)
                && !path.is_empty()
            {
                let symbol = symbol_prefix(path);
                found = Some(self.intern(&symbol));
            }
        }
        if found.is_none() && tflag & TFLAG_NAMED != 0 && tflag & TFLAG_UNCOMMON != 0 {
            // Predeclared types (`int`, `error`) have no package path.
            found = Some(self.intern("runtime"));
        }
        if found.is_none() && matches!(kind, ARRAY | CHAN | MAP | POINTER | SLICE) {
            let elem_at = if kind == MAP {
                address + common + self.ptr()
            } else {
                address + common
            };
            if let Some(elem) = self.word(elem_at).filter(|&e| self.in_types(e)) {
                found = self.package(elem, depth + 1);
            }
            if found.is_none()
                && kind == MAP
                && let Some(key) = self.word(address + common).filter(|&k| self.in_types(k))
            {
                found = self.package(key, depth + 1);
            }
        }
        self.package_of.insert(address, found);
        found
    }

    /// Bytes of the kind-specific header that follows the common one.
    fn header_size(&self, kind: u8) -> u64 {
        let p = self.ptr();
        match kind {
            ARRAY => 3 * p,
            CHAN => 2 * p,
            FUNC => p.max(4),
            INTERFACE | STRUCT => 4 * p,
            MAP if self.swiss_maps => 7 * p + 8,
            MAP => 4 * p + 8,
            POINTER | SLICE => p,
            _ => 0,
        }
    }

    /// Queue a type, reached from a type of package `inherited`.
    pub fn push(&mut self, address: u64, inherited: Option<u32>) {
        if self.in_types(address) && !self.visited.contains(&address) {
            self.queue.push((address, inherited));
        }
    }

    /// Queue a type the code of package `referrer` refers to, when what
    /// is there looks like a type descriptor (the code also forms
    /// addresses of strings and tables that may lie in the type data's
    /// range).
    pub fn push_referenced(&mut self, address: u64, referrer: Option<u32>) {
        if self.in_types(address) && !self.visited.contains(&address) && self.plausible(address) {
            self.queue.push((address, referrer));
        }
    }

    /// Whether `address` holds something shaped like a type descriptor:
    /// aligned, pointer bytes within the size, small flags, power-of-two
    /// alignments, a known kind and a readable name.
    fn plausible(&self, address: u64) -> bool {
        let p = self.ptr();
        let at = address + 2 * p + 4;
        let (Some(size), Some(ptrdata), Some(tflag), Some(align), Some(field_align), Some(kind)) = (
            self.word(address),
            self.word(address + p),
            self.byte(at),
            self.byte(at + 1),
            self.byte(at + 2),
            self.byte(at + 3),
        ) else {
            return false;
        };
        address.is_multiple_of(p)
            && ptrdata <= size
            && tflag < 32
            && align.is_power_of_two()
            && align <= 64
            && field_align.is_power_of_two()
            && field_align <= 64
            && (1..=26).contains(&(kind & 0x1f))
            && self
                .u32(address + self.common() - 8)
                .and_then(|o| self.offset(o))
                .and_then(|a| self.name(a))
                .is_some()
    }

    /// Claim a type's pointer bitmap (`gcdata`, shared between types of one
    /// layout: the first claim by address keeps it): one bit per word of
    /// the pointer-holding prefix, or a GC program (its 4-byte length and
    /// the program). Never in code.
    fn claim_gcdata(&mut self, address: u64, kind: u8, ptrdata: u64, owner: u32) {
        if address == 0 || self.memory.in_code(address) {
            return;
        }
        let len = if kind & KIND_GC_PROG != 0 {
            match self.u32(address) {
                Some(n) => 4 + u64::from(n),
                None => return,
            }
        } else {
            (ptrdata / self.ptr()).div_ceil(8)
        };
        if len == 0 || len > MAX_PART {
            return;
        }
        if self
            .memory
            .at(address)
            .is_some_and(|d| d.len() as u64 >= len)
        {
            self.claims.push((address, address + len, owner));
        }
    }

    /// Queue the types of `typelinks`.
    pub fn push_typelinks(&mut self) {
        let (at, len) = self.module.typelinks;
        let limit = (self.module.etypes - self.module.types) / 16;
        for i in 0..len.min(limit) {
            if !self.spend() {
                break;
            }
            if let Some(offset) = self.u32(at + 4 * i)
                && let Some(address) = self.offset(offset)
            {
                self.push(address, None);
            }
        }
    }

    /// Claim the itabs (each to its concrete type's package) and queue
    /// their types.
    pub fn walk_itabs(&mut self) {
        let (at, len) = self.module.itablinks;
        let p = self.ptr();
        let limit = (self.module.etypes - self.module.types) / (2 * p + 8);
        for i in 0..len.min(limit) {
            if !self.spend() {
                break;
            }
            let Some(itab) = self.word(at + p * i).filter(|&a| self.in_types(a)) else {
                continue;
            };
            let (Some(inter), Some(concrete)) = (self.word(itab), self.word(itab + p)) else {
                continue;
            };
            if !self.in_types(inter) || !self.in_types(concrete) {
                continue;
            }
            let methods = self
                .word(inter + self.common() + 2 * p)
                .filter(|&n| n <= MAX_PART)
                .unwrap_or(1)
                .max(1);
            let owner = match self.package(concrete, 0) {
                Some(owner) => owner,
                None => self.intern(GO_TYPE_DATA),
            };
            self.claims
                .push((itab, itab + 2 * p + 8 + methods * p, owner));
            self.push(inter, None);
            self.push(concrete, Some(owner));
        }
    }

    /// Walk every queued type and what it refers to.
    pub fn run(&mut self) {
        let limit = ((self.module.etypes - self.module.types) / 16) as usize;
        while let Some((address, inherited)) = self.queue.pop() {
            if !self.spend() || self.visited.len() > limit || !self.visited.insert(address) {
                continue;
            }
            let owner = match self.package(address, 0).or(inherited) {
                Some(owner) => owner,
                None => self.intern(GO_TYPE_DATA),
            };
            self.walk_type(address, owner);
        }
    }

    fn walk_type(&mut self, address: u64, owner: u32) -> Option<()> {
        let p = self.ptr();
        let common = self.common();
        let tflag = self.byte(address + 2 * p + 4)?;
        let kind = self.byte(address + 2 * p + 7)? & 0x1f;
        if let (Some(ptrdata), Some(gcdata), Some(kind)) = (
            self.word(address + p),
            self.word(address + 3 * p + 8),
            self.byte(address + 2 * p + 7),
        ) {
            self.claim_gcdata(gcdata, kind, ptrdata, owner);
        }
        let str_off = self.u32(address + common - 8)?;
        let ptr_to_this = self.u32(address + common - 4)?;
        if let Some(name) = self.offset(str_off) {
            self.claim_name(name, owner);
        }
        if let Some(ptr) = self.offset(ptr_to_this) {
            self.push(ptr, Some(owner));
        }
        let body = address + common;
        let uncommon = body + self.header_size(kind);
        let mut end = uncommon;
        if tflag & TFLAG_UNCOMMON != 0 {
            end = self.walk_uncommon(uncommon, owner)?;
        }
        let end = self.walk_elements(kind, address, body, end, owner)?;
        if end - address <= MAX_PART && end <= self.module.etypes {
            self.claims.push((address, end, owner));
        }
        Some(())
    }

    /// The uncommon type at `uncommon`: the package path and the methods'
    /// names and types. The end of what it spans.
    fn walk_uncommon(&mut self, uncommon: u64, owner: u32) -> Option<u64> {
        let mut end = uncommon + 16;
        if let Some(path) = self.u32(uncommon).and_then(|o| self.offset(o)) {
            self.claim_name(path, owner);
        }
        let mcount = u64::from(self.u16(uncommon + 4)?);
        let moff = u64::from(self.u32(uncommon + 8)?);
        if moff <= MAX_PART {
            let methods = uncommon + moff;
            let mcount = self.fitting(methods, mcount, 16);
            for m in 0..mcount {
                if !self.spend() {
                    break;
                }
                let at = methods + 16 * m;
                if let Some(name) = self.u32(at).and_then(|o| self.offset(o)) {
                    self.claim_name(name, owner);
                }
                if let Some(mtyp) = self.u32(at + 4).and_then(|o| self.offset(o)) {
                    self.push(mtyp, Some(owner));
                }
            }
            end = end.max(methods + 16 * mcount);
        }
        Some(end)
    }

    /// The types a `kind` type's body (at `body`) refers to; the end of
    /// what the type spans, at least `end`.
    fn walk_elements(
        &mut self,
        kind: u8,
        address: u64,
        body: u64,
        end: u64,
        owner: u32,
    ) -> Option<u64> {
        let p = self.ptr();
        match kind {
            ARRAY | CHAN | POINTER | SLICE => {
                let refs = if kind == ARRAY { 2 } else { 1 };
                for r in 0..refs {
                    if let Some(elem) = self.word(body + r * p) {
                        self.push(elem, Some(owner));
                    }
                }
                Some(end)
            }
            MAP => {
                for r in 0..3 {
                    if let Some(t) = self.word(body + r * p) {
                        self.push(t, Some(owner));
                    }
                }
                Some(end)
            }
            FUNC => {
                let inputs = u64::from(self.u16(body)?);
                let outputs = u64::from(self.u16(body + 2)? & 0x7fff);
                let params = end;
                let count = self.fitting(params, inputs + outputs, p);
                for i in 0..count {
                    if !self.spend() {
                        break;
                    }
                    if let Some(t) = self.word(params + i * p) {
                        self.push(t, Some(owner));
                    }
                }
                Some(params + count * p)
            }
            STRUCT => self.walk_struct(address, body, end, owner),
            INTERFACE => self.walk_interface(address, body, end, owner),
            _ => Some(end),
        }
    }

    /// A struct type's package path and fields (name, type, offset).
    fn walk_struct(&mut self, address: u64, body: u64, end: u64, owner: u32) -> Option<u64> {
        let p = self.ptr();
        if let Some(path) = self.word(body) {
            self.claim_name(path, owner);
        }
        let fields = self.word(body + p)?;
        let count = self.word(body + 2 * p)?.min(MAX_PART);
        if fields < address || fields - address > MAX_PART {
            return Some(end);
        }
        let count = self.fitting(fields, count, 3 * p);
        for f in 0..count {
            if !self.spend() {
                break;
            }
            let at = fields + f * 3 * p;
            if let Some(name) = self.word(at) {
                self.claim_name(name, owner);
            }
            if let Some(t) = self.word(at + p) {
                self.push(t, Some(owner));
            }
        }
        Some(end.max(fields + count * 3 * p))
    }

    /// An interface type's package path and methods (name and type offsets).
    fn walk_interface(&mut self, address: u64, body: u64, end: u64, owner: u32) -> Option<u64> {
        let p = self.ptr();
        if let Some(path) = self.word(body) {
            self.claim_name(path, owner);
        }
        let methods = self.word(body + p)?;
        let count = self.word(body + 2 * p)?.min(MAX_PART);
        if methods < address || methods - address > MAX_PART {
            return Some(end);
        }
        let count = self.fitting(methods, count, 8);
        for m in 0..count {
            if !self.spend() {
                break;
            }
            let at = methods + 8 * m;
            if let Some(name) = self.u32(at).and_then(|o| self.offset(o)) {
                self.claim_name(name, owner);
            }
            if let Some(t) = self.u32(at + 4).and_then(|o| self.offset(o)) {
                self.push(t, Some(owner));
            }
        }
        Some(end.max(methods + 8 * count))
    }
}

/// An import path as symbol names spell it: `.` in the last element, `%`,
/// `"` and control characters escaped as `%xx` (`gopkg.in/yaml.v3` →
/// `gopkg.in/yaml%2ev3`), so type data lands in the same unit as code.
pub(crate) fn symbol_prefix(path: &str) -> String {
    let last_slash = path.rfind('/').map_or(0, |i| i + 1);
    let mut out = String::with_capacity(path.len());
    for (i, c) in path.char_indices() {
        let escape = c == '%' || c == '"' || c.is_ascii_control() || (c == '.' && i >= last_slash);
        if escape {
            out.push_str(&format!("%{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Turn overlapping claims into disjoint ones, sorted (the first by
/// address keeps a contested byte; adjacent pieces of one owner merge).
pub(crate) fn settle(mut claims: Vec<Claim>) -> Vec<Claim> {
    claims.sort_unstable();
    let mut out: Vec<Claim> = Vec::new();
    let mut covered = 0u64;
    for (start, end, owner) in claims {
        let start = start.max(covered);
        if end <= start {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.1 == start && last.2 == owner => last.1 = end,
            _ => out.push((start, end, owner)),
        }
        covered = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_paths_are_escaped_as_in_symbol_names() {
        assert_eq!(symbol_prefix("gopkg.in/yaml.v3"), "gopkg.in/yaml%2ev3");
        assert_eq!(symbol_prefix("net/http"), "net/http");
        assert_eq!(symbol_prefix("main"), "main");
    }

    #[test]
    fn overlapping_claims_are_counted_once() {
        let pieces = settle(vec![(10, 20, 0), (15, 30, 1), (30, 35, 1), (12, 14, 1)]);
        assert_eq!(pieces, [(10, 20, 0), (20, 35, 1)]);
    }
}
