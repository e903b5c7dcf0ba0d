//! The build info reader on synthetic blobs: the Go 1.18+ inline layout and
//! the older layout of pointers to Go string headers (which the installed
//! toolchain no longer writes), in both byte orders and pointer sizes; and
//! truncated or dangling blobs, which must never panic.

#![allow(clippy::unwrap_used)]

use sizegate_analyze::go::{GoSection, Target, read_build_info};
use sizegate_analyze::{GoBuildInfo, GoBuildSetting, GoModule};

const MAGIC: &[u8] = b"\xff Go buildinf:";
/// The sentinels `cmd/go` wraps the modinfo string in.
const INFO_START: &[u8] = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6";
const INFO_END: &[u8] = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2";

const MODINFO: &str = "path\texample.com/app/cmd/app\n\
    mod\texample.com/app\tv1.4.0\th1:main=\n\
    dep\tgithub.com/a/b\tv0.3.1\th1:ab=\n\
    dep\tgopkg.in/yaml.v3\tv3.0.1\n\
    =>\t../yaml\t(devel)\t\n\
    build\t-buildmode=exe\n\
    build\t-compiler=gc\n\
    build\t-ldflags=\"-s -w -X \\\"main.version=v1.4.0 beta\\\"\"\n\
    build\t-trimpath=true\n\
    build\tCGO_ENABLED=0\n\
    build\tGOARCH=arm64\n\
    build\tGOOS=linux\n\
    build\tvcs.revision=0123abcd\n";

fn framed(modinfo: &str) -> Vec<u8> {
    [INFO_START, modinfo.as_bytes(), INFO_END].concat()
}

fn module(path: &str, version: &str, sum: Option<&str>) -> GoModule {
    GoModule {
        path: path.to_owned(),
        version: version.to_owned(),
        sum: sum.map(str::to_owned),
        replace: None,
    }
}

fn expected() -> GoBuildInfo {
    let setting = |key: &str, value: &str| GoBuildSetting {
        key: key.to_owned(),
        value: value.to_owned(),
    };
    GoBuildInfo {
        go_version: "go1.17.13".to_owned(),
        path: Some("example.com/app/cmd/app".to_owned()),
        main: Some(module("example.com/app", "v1.4.0", Some("h1:main="))),
        deps: vec![
            module("github.com/a/b", "v0.3.1", Some("h1:ab=")),
            GoModule {
                replace: Some(Box::new(module("../yaml", "(devel)", None))),
                ..module("gopkg.in/yaml.v3", "v3.0.1", None)
            },
        ],
        settings: vec![
            setting("-buildmode", "exe"),
            setting("-compiler", "gc"),
            setting("-ldflags", "-s -w -X \"main.version=v1.4.0 beta\""),
            setting("-trimpath", "true"),
            setting("CGO_ENABLED", "0"),
            setting("GOARCH", "arm64"),
            setting("GOOS", "linux"),
            setting("vcs.revision", "0123abcd"),
        ],
    }
}

fn uvarint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push(u8::try_from(value & 0x7f).unwrap() | 0x80);
        value >>= 7;
    }
    out.push(u8::try_from(value).unwrap());
}

/// A Go 1.18+ blob: header with flag bit 2, then varint-prefixed strings.
fn inline_blob(version: &str, modinfo: &[u8]) -> Vec<u8> {
    let mut blob = MAGIC.to_vec();
    blob.extend_from_slice(&[8, 2]);
    blob.resize(32, 0);
    uvarint(version.len() as u64, &mut blob);
    blob.extend_from_slice(version.as_bytes());
    uvarint(modinfo.len() as u64, &mut blob);
    blob.extend_from_slice(modinfo);
    blob
}

const TARGET: Target = Target {
    big_endian: false,
    ptr_size: 8,
};

fn section<'a>(name: &'a str, address: u64, data: &'a [u8]) -> GoSection<'a> {
    GoSection {
        name,
        address,
        data,
    }
}

#[test]
fn inline_blob_decodes_fully() {
    let blob = inline_blob("go1.17.13", &framed(MODINFO));
    let info = read_build_info(&[section(".go.buildinfo", 0x50_0000, &blob)], TARGET).unwrap();
    assert_eq!(info, expected());
}

/// A pre-1.18 blob in `.go.buildinfo` pointing at two string headers in
/// `.data`, which point at the bytes in `.rodata`.
struct PointerLayout {
    buildinfo: Vec<u8>,
    data: Vec<u8>,
    rodata: Vec<u8>,
}

const BUILDINFO_AT: u64 = 0x6000;
const DATA_AT: u64 = 0x7000;
const RODATA_AT: u64 = 0x8000;

fn pointer_layout(big_endian: bool, ptr_size: u8, version: &str, modinfo: &[u8]) -> PointerLayout {
    let word = |value: u64, out: &mut Vec<u8>| {
        let bytes = if big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        let bytes = if ptr_size == 4 {
            if big_endian { &bytes[4..] } else { &bytes[..4] }
        } else {
            &bytes[..]
        };
        out.extend_from_slice(bytes);
    };
    let ptr = u64::from(ptr_size);
    let mut buildinfo = MAGIC.to_vec();
    buildinfo.extend_from_slice(&[ptr_size, u8::from(big_endian)]);
    word(DATA_AT, &mut buildinfo);
    word(DATA_AT + 2 * ptr, &mut buildinfo);
    buildinfo.resize(32, 0);
    let rodata = [version.as_bytes(), modinfo].concat();
    let mut data = Vec::new();
    word(RODATA_AT, &mut data);
    word(version.len() as u64, &mut data);
    word(RODATA_AT + version.len() as u64, &mut data);
    word(modinfo.len() as u64, &mut data);
    PointerLayout {
        buildinfo,
        data,
        rodata,
    }
}

impl PointerLayout {
    fn sections(&self) -> [GoSection<'_>; 3] {
        [
            section(".rodata", RODATA_AT, &self.rodata),
            section(".go.buildinfo", BUILDINFO_AT, &self.buildinfo),
            section(".data", DATA_AT, &self.data),
        ]
    }
}

#[test]
fn pointer_blobs_decode_in_every_byte_order_and_pointer_size() {
    for big_endian in [false, true] {
        for ptr_size in [4, 8] {
            let layout = pointer_layout(big_endian, ptr_size, "go1.17.13", &framed(MODINFO));
            let target = Target {
                big_endian,
                ptr_size,
            };
            let info = read_build_info(&layout.sections(), target).unwrap();
            assert_eq!(
                info,
                expected(),
                "big_endian={big_endian} ptr_size={ptr_size}"
            );
        }
    }
}

#[test]
fn dangling_pointers_give_what_can_be_read() {
    let mut layout = pointer_layout(false, 8, "go1.16.15", &framed(MODINFO));
    // Modinfo length past the end of .rodata: the version alone.
    layout.data[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    let info = read_build_info(&layout.sections(), TARGET).unwrap();
    assert_eq!(info.go_version, "go1.16.15");
    assert!(info.main.is_none() && info.deps.is_empty() && info.settings.is_empty());
    // Version header pointer to nowhere: no build info.
    layout.buildinfo[16..24].copy_from_slice(&0xdead_0000u64.to_le_bytes());
    assert!(read_build_info(&layout.sections(), TARGET).is_none());
}

#[test]
fn blob_is_found_at_an_aligned_offset_of_a_data_section() {
    let blob = inline_blob("go1.21.0", &framed(MODINFO));
    let mut data = vec![0u8; 0x40];
    // A misaligned copy of the magic is not the blob.
    data[0x03..0x03 + MAGIC.len()].copy_from_slice(MAGIC);
    data.extend_from_slice(&blob);
    let info = read_build_info(&[section(".data", 0x9000, &data)], TARGET).unwrap();
    assert_eq!(info.go_version, "go1.21.0");
    assert_eq!(info.deps.len(), 2);
    // The same bytes at an address that makes the blob misaligned: not found.
    assert!(read_build_info(&[section(".data", 0x9008, &data)], TARGET).is_none());
}

#[test]
fn modinfo_without_sentinels_is_ignored() {
    let blob = inline_blob("go1.20.5", MODINFO.as_bytes());
    let info = read_build_info(&[section(".go.buildinfo", 0, &blob)], TARGET).unwrap();
    assert_eq!(info.go_version, "go1.20.5");
    assert_eq!(info.path, None);
    assert!(info.deps.is_empty() && info.settings.is_empty());
}

#[test]
fn truncated_and_corrupt_blobs_never_panic() {
    let blob = inline_blob("go1.19.8", &framed(MODINFO));
    for cut in 0..blob.len() {
        let info = read_build_info(&[section(".go.buildinfo", 0, &blob[..cut])], TARGET);
        // Cut inside the version (or before it), there is no build info; cut
        // inside modinfo, the version alone.
        let version_end = 32 + 1 + "go1.19.8".len();
        if cut < version_end {
            assert!(info.is_none(), "cut at {cut}");
        } else {
            let info = info.unwrap();
            assert_eq!(info.go_version, "go1.19.8");
            assert!(info.main.is_none(), "cut at {cut}");
        }
    }
    // A length varint far beyond the data, and one that never ends.
    let mut huge = blob[..32].to_vec();
    huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    assert!(read_build_info(&[section(".go.buildinfo", 0, &huge)], TARGET).is_none());
    let mut endless = blob[..32].to_vec();
    endless.extend_from_slice(&[0x80; 40]);
    assert!(read_build_info(&[section(".go.buildinfo", 0, &endless)], TARGET).is_none());
    // Byte flips anywhere.
    let mut state = 0x1234_5678_9abc_def1u64;
    for _ in 0..2000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut copy = blob.clone();
        let index = usize::try_from(state).unwrap() % copy.len();
        copy[index] = u8::try_from(state >> 56).unwrap();
        let _ = read_build_info(&[section(".go.buildinfo", 0, &copy)], TARGET);
        let layout = pointer_layout(state & 1 == 1, 4, "go1.15", &copy);
        let _ = read_build_info(&layout.sections(), TARGET);
    }
}

#[test]
fn only_go_versions_are_accepted() {
    let devel = inline_blob(
        "devel go1.23-4f7a9b2 Tue Jan 2 10:00:00 2024 +0000",
        &framed(MODINFO),
    );
    let info = read_build_info(&[section(".go.buildinfo", 0, &devel)], TARGET).unwrap();
    assert!(info.go_version.starts_with("devel go1.23"));
    assert_eq!(info.deps.len(), 2);
    for version in ["", "1.21", "rustc 1.95.0", "\u{0}go1.2"] {
        let blob = inline_blob(version, &framed(MODINFO));
        let found = read_build_info(&[section(".go.buildinfo", 0, &blob)], TARGET);
        assert!(found.is_none(), "{version:?} accepted");
    }
}
