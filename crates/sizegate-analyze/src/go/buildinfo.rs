//! Reading the Go build info blob (`\xff Go buildinf:`): the Go version and
//! the module information that `go version -m` prints.
//!
//! The blob is a 32-byte header, 16-byte aligned: the 14-byte magic, the
//! pointer size, and a flags byte. Go 1.18+ sets flag bit 2 and follows the
//! header with two varint-length-prefixed strings (version, modinfo). Older
//! toolchains put two pointers to Go string headers there instead (bit 1 of
//! the flags telling big-endian). The modinfo string is wrapped in 16-byte
//! sentinels and holds tab-separated lines `path`, `mod`, `dep`, `=>` and
//! `build`.

use super::decode::{Layout, to_usize, uvarint};
use super::{GoSection, Target};
use crate::report::{GoBuildInfo, GoBuildSetting, GoModule};

const MAGIC: &[u8; 14] = b"\xff Go buildinf:";
const HEADER_SIZE: usize = 32;
const ALIGN: u64 = 16;
/// Length of each sentinel around the modinfo string.
const SENTINEL_LEN: usize = 16;
/// The sentinel the Go toolchain puts before the modinfo string.
const MODINFO_OPENING: &[u8; SENTINEL_LEN] =
    b"\x30\x77\xaf\x0c\x92\x74\x08\x02\x41\xe1\xc1\x07\xe6\xd6\x18\xe6";

/// Find and decode the build info; see [`super::read_build_info`].
pub(crate) fn read(sections: &[GoSection<'_>], _target: Target) -> Option<GoBuildInfo> {
    let dedicated = |s: &&GoSection<'_>| s.name == ".go.buildinfo" || s.name == "__go_buildinfo";
    let ordered = sections
        .iter()
        .filter(dedicated)
        .chain(sections.iter().filter(|s| !dedicated(s)));
    for section in ordered {
        for offset in magic_offsets(section) {
            if let Some(info) = decode_blob(&section.data[offset..], sections) {
                return Some(info);
            }
        }
    }
    None
}

/// Offsets of 16-byte aligned (in memory) copies of the magic in `section`.
fn magic_offsets<'a>(section: &'a GoSection<'a>) -> impl Iterator<Item = usize> + 'a {
    let misalignment = section.address % ALIGN;
    let first = usize::try_from((ALIGN - misalignment) % ALIGN).unwrap_or(0);
    let data = section.data;
    (first..data.len().saturating_sub(HEADER_SIZE - 1))
        .step_by(16)
        .filter(move |&offset| data[offset..].starts_with(MAGIC))
}

/// Decode the blob starting at `blob` (which holds at least the header).
fn decode_blob(blob: &[u8], sections: &[GoSection<'_>]) -> Option<GoBuildInfo> {
    let ptr_size = *blob.get(14)?;
    let flags = *blob.get(15)?;
    let (version, modinfo) = if flags & 2 != 0 {
        let (version, rest) = varint_string(blob.get(HEADER_SIZE..)?)?;
        let modinfo = varint_string(rest).map_or(&[][..], |(modinfo, _)| modinfo);
        (version, modinfo)
    } else {
        if !matches!(ptr_size, 4 | 8) {
            return None;
        }
        let layout = Layout {
            big_endian: flags & 1 != 0,
            ptr_size,
        };
        let version = pointed_string(blob, 16, layout, sections)?;
        let modinfo =
            pointed_string(blob, 16 + usize::from(ptr_size), layout, sections).unwrap_or_default();
        (version, modinfo)
    };
    // Released toolchains say `go1.N...`, development ones `devel ...`;
    // anything else is not a build info blob (e.g. the magic string itself
    // in the rodata of a program that searches for it).
    let version = std::str::from_utf8(version).ok()?;
    if !version.starts_with("go") && !version.starts_with("devel") {
        return None;
    }
    let modinfo = strip_sentinels(modinfo);
    let mut info = parse_modinfo(&String::from_utf8_lossy(modinfo));
    info.go_version = version.to_owned();
    Some(info)
}

/// A varint-length-prefixed string and what follows it.
fn varint_string(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, used) = uvarint(data)?;
    let rest = data.get(used..)?;
    let len = to_usize(len)?;
    (len <= rest.len()).then(|| rest.split_at(len))
}

/// The bytes of the Go string whose header (data pointer, length) is at the
/// address stored at `blob[offset]`. Old (pre-1.18) blobs only.
fn pointed_string<'a>(
    blob: &[u8],
    offset: usize,
    layout: Layout,
    sections: &[GoSection<'a>],
) -> Option<&'a [u8]> {
    let header_address = layout.word(blob, offset)?;
    let header = bytes_at(sections, header_address, 2 * usize::from(layout.ptr_size))?;
    let data_address = layout.word(header, 0)?;
    let len = to_usize(layout.word(header, usize::from(layout.ptr_size))?)?;
    bytes_at(sections, data_address, len)
}

/// `len` bytes at virtual address `address`, when one section holds them all.
fn bytes_at<'a>(sections: &[GoSection<'a>], address: u64, len: usize) -> Option<&'a [u8]> {
    sections.iter().find_map(|section| {
        let start = to_usize(address.checked_sub(section.address)?)?;
        section.data.get(start..start.checked_add(len)?)
    })
}

/// Remove the 16-byte sentinels around modinfo, as the Go toolchain does;
/// anything not framed that way is not modinfo.
fn strip_sentinels(modinfo: &[u8]) -> &[u8] {
    let framed = modinfo.len() > 2 * SENTINEL_LEN
        && modinfo.get(modinfo.len() - SENTINEL_LEN - 1) == Some(&b'\n');
    if framed {
        &modinfo[SENTINEL_LEN..modinfo.len() - SENTINEL_LEN]
    } else {
        &[]
    }
}

/// Parse the modinfo lines. Lines that do not parse are skipped: the result
/// holds what could be read.
pub(crate) fn parse_modinfo(modinfo: &str) -> GoBuildInfo {
    let mut info = GoBuildInfo::default();
    // Where a `=>` line attaches: the module of the line before.
    enum Last {
        None,
        Main,
        Dep,
    }
    let mut last = Last::None;
    for line in modinfo.lines() {
        let (kind, rest) = line.split_once('\t').unwrap_or((line, ""));
        match kind {
            "path" => {
                info.path = Some(rest.to_owned());
                last = Last::None;
            }
            "mod" => {
                info.main = module_line(rest);
                last = if info.main.is_some() {
                    Last::Main
                } else {
                    Last::None
                };
            }
            "dep" => match module_line(rest) {
                Some(module) => {
                    info.deps.push(module);
                    last = Last::Dep;
                }
                None => last = Last::None,
            },
            "=>" => {
                let target = match last {
                    Last::Main => info.main.as_mut(),
                    Last::Dep => info.deps.last_mut(),
                    Last::None => None,
                };
                if let (Some(module), Some(replacement)) = (target, module_line(rest)) {
                    module.replace = Some(Box::new(replacement));
                }
                last = Last::None;
            }
            "build" => {
                if let Some(setting) = build_line(rest) {
                    info.settings.push(setting);
                }
            }
            _ => {}
        }
    }
    info
}

/// `path \t version [\t sum]`.
fn module_line(columns: &str) -> Option<GoModule> {
    let mut parts = columns.split('\t');
    let path = parts.next().filter(|p| !p.is_empty())?;
    let version = parts.next()?;
    let sum = parts.next().filter(|s| !s.is_empty());
    if parts.next().is_some() {
        return None;
    }
    Some(GoModule {
        path: path.to_owned(),
        version: version.to_owned(),
        sum: sum.map(str::to_owned),
        replace: None,
    })
}

/// `KEY=VALUE`, where key and value are quoted (Go syntax) when they hold
/// spaces, tabs, quotes or newlines (`-ldflags="-s -w"`).
fn build_line(setting: &str) -> Option<GoBuildSetting> {
    let (key, rest) = if setting.starts_with(['"', '`']) {
        let (key, used) = unquote_prefix(setting)?;
        (key, setting[used..].strip_prefix('=')?)
    } else {
        let (key, rest) = setting.split_once('=')?;
        (key.to_owned(), rest)
    };
    if key.is_empty() {
        return None;
    }
    let value = if rest.starts_with(['"', '`']) {
        let (value, used) = unquote_prefix(rest)?;
        if used != rest.len() {
            return None;
        }
        value
    } else {
        rest.to_owned()
    };
    Some(GoBuildSetting { key, value })
}

/// Unquote the Go string literal (interpreted `"..."` or raw `` `...` ``) at
/// the start of `text`: its value and how many bytes the literal took.
fn unquote_prefix(text: &str) -> Option<(String, usize)> {
    if let Some(raw) = text.strip_prefix('`') {
        let close = raw.find('`')?;
        return Some((raw[..close].to_owned(), close + 2));
    }
    let body = text.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Some((value, index + 2)),
            '\\' => {
                let (_, escape) = chars.next()?;
                let decoded = match escape {
                    'a' => '\x07',
                    'b' => '\x08',
                    'f' => '\x0c',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'v' => '\x0b',
                    '\\' | '"' | '\'' => escape,
                    'x' => hex_char(&mut chars, 2)?,
                    'u' => hex_char(&mut chars, 4)?,
                    'U' => hex_char(&mut chars, 8)?,
                    '0'..='7' => {
                        let mut code = escape.to_digit(8)?;
                        for _ in 0..2 {
                            code = code * 8 + chars.next()?.1.to_digit(8)?;
                        }
                        char::from_u32(code)?
                    }
                    _ => return None,
                };
                value.push(decoded);
            }
            '\n' => return None,
            _ => value.push(c),
        }
    }
    None
}

/// The character whose code is the next `digits` hex digits. Go's `\xNN`
/// stands for a byte; the values seen in build info are ASCII, and a byte
/// above 0x7f is taken as the code point of the same value.
fn hex_char(chars: &mut std::str::CharIndices<'_>, digits: usize) -> Option<char> {
    let mut code = 0u32;
    for _ in 0..digits {
        code = code * 16 + chars.next()?.1.to_digit(16)?;
    }
    char::from_u32(code)
}

/// The Go version without build info (Go 1.19 writes none into
/// WebAssembly modules): the `runtime.buildVersion` string, found as a
/// string `go1.N...` that a string header (little-endian address and length
/// words of 8 bytes, as Go's wasm port lays them out) in `memory` points at.
/// `base` is the address of `memory`'s first byte.
pub(crate) fn version_from_string_header(memory: &[u8], base: u64) -> Option<String> {
    // Candidate strings: "go1." and then digits, dots and letters (go1.19.8,
    // go1.21rc2), at most 32 bytes, by address.
    let mut candidates: Vec<(u64, u64)> = Vec::new();
    let mut from = 0usize;
    while let Some(found) = memory.get(from..).and_then(|rest| find(rest, b"go1.")) {
        let at = from + found;
        let len = memory[at..]
            .iter()
            .take(32)
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'.')
            .count();
        let digit = memory.get(at + 4).is_some_and(u8::is_ascii_digit);
        if digit && candidates.len() < 4096 {
            candidates.push((base.saturating_add(at as u64), len as u64));
        }
        from = at + 4;
    }
    let text = pointed_at(memory, base, &candidates, 5)?;
    std::str::from_utf8(text).ok().map(str::to_owned)
}

/// The module information without a build info blob (Go 1.19 writes none
/// into WebAssembly modules): the `runtime.modinfo` string, found as its
/// opening sentinel and `path` line that a string header in `memory` (as
/// for [`version_from_string_header`]) points at. The Go version is left
/// empty.
pub(crate) fn modinfo_from_string_header(memory: &[u8], base: u64) -> Option<GoBuildInfo> {
    let mut candidates: Vec<(u64, u64)> = Vec::new();
    let mut from = 0usize;
    while let Some(found) = memory
        .get(from..)
        .and_then(|rest| find(rest, MODINFO_OPENING))
    {
        let at = from + found;
        if memory[at + SENTINEL_LEN..].starts_with(b"path\t") && candidates.len() < 64 {
            candidates.push((base.saturating_add(at as u64), (memory.len() - at) as u64));
        }
        from = at + SENTINEL_LEN;
    }
    let modinfo = strip_sentinels(pointed_at(
        memory,
        base,
        &candidates,
        2 * SENTINEL_LEN as u64,
    )?);
    let info = parse_modinfo(std::str::from_utf8(modinfo).ok()?);
    info.path.is_some().then_some(info)
}

/// The bytes of the first string that an 8-aligned string header in
/// `memory` (at `base`) points at among `candidates` (address, longest
/// length; sorted by address), at least `shortest` bytes long.
fn pointed_at<'a>(
    memory: &'a [u8],
    base: u64,
    candidates: &[(u64, u64)],
    shortest: u64,
) -> Option<&'a [u8]> {
    if candidates.is_empty() {
        return None;
    }
    let word = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(memory.get(at..at + 8)?.try_into().ok()?))
    };
    // Headers are 8-aligned in memory (its first byte need not be).
    let first = usize::try_from(base.wrapping_neg() % 8).ok()?;
    for at in (first..memory.len().saturating_sub(15)).step_by(8) {
        let Some(address) = word(at) else { break };
        let Ok(i) = candidates.binary_search_by_key(&address, |c| c.0) else {
            continue;
        };
        let (start, longest) = candidates[i];
        let Some(len) = word(at + 8).filter(|&n| n >= shortest && n <= longest) else {
            continue;
        };
        let offset = usize::try_from(start - base).ok()?;
        return memory.get(offset..offset + usize::try_from(len).ok()?);
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn build_lines_unquote_like_go() {
        let setting = build_line(r#"-ldflags="-s -w -X \"main.v=a\tb\"""#).unwrap();
        assert_eq!(setting.key, "-ldflags");
        assert_eq!(setting.value, "-s -w -X \"main.v=a\tb\"");
        let setting = build_line("CGO_ENABLED=0").unwrap();
        assert_eq!(
            (setting.key.as_str(), setting.value.as_str()),
            ("CGO_ENABLED", "0")
        );
        let setting = build_line(r#""we=ird"=`raw \n`"#).unwrap();
        assert_eq!(
            (setting.key.as_str(), setting.value.as_str()),
            ("we=ird", "raw \\n")
        );
        let setting = build_line(r#"k="\x41\u00e9\101""#).unwrap();
        assert_eq!(setting.value, "AéA");
        assert!(build_line("=x").is_none());
        assert!(build_line("noequals").is_none());
        assert!(build_line(r#"k="unterminated"#).is_none());
        assert!(build_line(r#"k="a"trailing"#).is_none());
        assert!(build_line(r#"k="\q""#).is_none());
    }

    #[test]
    fn modinfo_lines_attach_replacements_to_the_module_before() {
        let modinfo = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\n\
                       dep\texample.com/a\tv1.2.3\th1:abc=\n\
                       dep\texample.com/b\tv0.0.0\n=>\t../b\t(devel)\t\n\n\
                       =>\torphan\tv1\t\ngarbage line\nbuild\t-trimpath=true\n";
        let info = parse_modinfo(modinfo);
        assert_eq!(info.path.as_deref(), Some("example.com/app"));
        let main = info.main.unwrap();
        assert_eq!(
            (main.path.as_str(), main.version.as_str()),
            ("example.com/app", "(devel)")
        );
        assert_eq!(main.sum, None);
        assert_eq!(info.deps.len(), 2);
        assert_eq!(info.deps[0].sum.as_deref(), Some("h1:abc="));
        assert!(info.deps[0].replace.is_none());
        let replacement = info.deps[1].replace.as_deref().unwrap();
        assert_eq!(
            (replacement.path.as_str(), replacement.version.as_str()),
            ("../b", "(devel)")
        );
        assert_eq!(info.settings.len(), 1);
        assert_eq!(info.settings[0].key, "-trimpath");
    }

    #[test]
    fn varint_strings_are_bounded_by_the_data() {
        assert_eq!(
            varint_string(&[3, b'a', b'b', b'c', 9]),
            Some((&b"abc"[..], &[9u8][..]))
        );
        assert_eq!(varint_string(&[4, b'a', b'b', b'c']), None);
        assert_eq!(varint_string(&[0xff, 0xff, 0xff, 0xff, 0x0f]), None);
    }

    #[test]
    fn version_from_a_string_header_pointing_at_it() {
        let mut memory = vec![0u8; 64];
        memory[8..16].copy_from_slice(b"xgo1.19.");
        memory[16..17].copy_from_slice(b"8");
        // A header at 32: address 0x1000 + 9, length 8.
        memory[32..40].copy_from_slice(&(0x1009u64).to_le_bytes());
        memory[40..48].copy_from_slice(&8u64.to_le_bytes());
        assert_eq!(
            version_from_string_header(&memory, 0x1000).as_deref(),
            Some("go1.19.8")
        );
        // Memory starting off alignment: the header at 0x1020 is found.
        let mut shifted = vec![0u8; 2];
        shifted.extend_from_slice(&memory);
        assert_eq!(
            version_from_string_header(&shifted, 0x1000 - 2).as_deref(),
            Some("go1.19.8")
        );
        // Without a header, or with a length past the string: none.
        memory[40..48].copy_from_slice(&40u64.to_le_bytes());
        assert_eq!(version_from_string_header(&memory, 0x1000), None);
        assert_eq!(version_from_string_header(b"go1.", 0), None);
    }

    #[test]
    fn modinfo_from_a_string_header_pointing_at_it() {
        let text = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\n\
                    dep\texample.com/lib\tv1.2.3\th1:x=\n";
        let mut memory = vec![0u8; 16];
        memory
            .extend_from_slice(b"\x30\x77\xaf\x0c\x92\x74\x08\x02\x41\xe1\xc1\x07\xe6\xd6\x18\xe6");
        memory.extend_from_slice(text.as_bytes());
        memory.extend_from_slice(&[0xf9; SENTINEL_LEN]);
        let len = (memory.len() - 16) as u64;
        memory.resize(memory.len().next_multiple_of(8), 0);
        let header = memory.len();
        memory.extend_from_slice(&(0x2000u64 + 16).to_le_bytes());
        memory.extend_from_slice(&len.to_le_bytes());
        let info = modinfo_from_string_header(&memory, 0x2000).unwrap();
        assert_eq!(info.path.as_deref(), Some("example.com/app"));
        assert_eq!(info.deps.len(), 1);
        assert_eq!(info.deps[0].version, "v1.2.3");
        // A length running past memory, or no header: none.
        memory[header + 8..header + 16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(modinfo_from_string_header(&memory, 0x2000), None);
        memory.truncate(header);
        assert_eq!(modinfo_from_string_header(&memory, 0x2000), None);
    }
}
