//! Layers are streamed: analyzing an image with a 96 MiB file (as an
//! uncompressed and as a zstd layer) must not hold that file. A counting
//! allocator measures the heap the analysis adds (no timing involved).

#![allow(clippy::unwrap_used)]
// The counting allocator delegates to the system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};

use sizegate_analyze::container::{ImageOptions, TarSource, analyze_image};

struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static HIGH: AtomicUsize = AtomicUsize::new(0);

fn add(n: usize) {
    let now = NOW.fetch_add(n, Ordering::Relaxed) + n;
    HIGH.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        NOW.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, size) };
        if !q.is_null() {
            NOW.fetch_sub(layout.size(), Ordering::Relaxed);
            add(size);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn header(name: &str, size: u64, flag: u8) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[156] = flag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in files {
        out.extend_from_slice(&header(name, data.len() as u64, b'0'));
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

/// Bytes that do not compress (xorshift), so no ratio limit is near.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[test]
fn a_large_file_is_streamed_not_held() {
    const BIG: usize = 96 << 20;
    let layer = tar(&[("data/big", &noise(BIG))]);
    let zstd_layer = zstd::encode_all(&layer[..], 1).unwrap();
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let manifest = br#"[{"Config":"c.json","Layers":["a/layer.tar","b/layer.tar"]}]"#;
    let archive = tar(&[
        ("c.json", config),
        ("a/layer.tar", &layer),
        ("b/layer.tar", &zstd_layer),
        ("manifest.json", manifest),
    ]);
    drop(layer);
    drop(zstd_layer);
    let options = ImageOptions::default();
    let base = NOW.load(Ordering::Relaxed);
    HIGH.store(base, Ordering::Relaxed);
    let mut source = TarSource::new(Cursor::new(&archive[..]), &options.limits).unwrap();
    let reports = analyze_image("big.tar", &mut source, &options).unwrap();
    let added = HIGH.load(Ordering::Relaxed).saturating_sub(base);
    eprintln!("heap added by the analysis: {} KiB", added >> 10);
    let report = &reports[0];
    assert_eq!(report.layers[0].compression, "none");
    assert_eq!(report.layers[1].compression, "zstd");
    // The second layer overwrites the first's file with the same bytes.
    assert_eq!(report.sizes.wasted, BIG as u64);
    assert_eq!(report.files[0].size, BIG as u64);
    assert!(
        added < 16 << 20,
        "the analysis of two 96 MiB layers added {} MiB of heap",
        added >> 20
    );
}
