//! Container images built by this test without a container engine: layers
//! are tar files made here (from a real Debian package when the network
//! allows `apt-get download`, and from a Rust binary compiled here), packed
//! as a `docker save` archive and as OCI layouts (gzip and zstd layers),
//! with whiteouts, an opaque directory, an overwritten file and a
//! duplicate. The figures are asserted exactly.

#![allow(clippy::unwrap_used)]

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use sizegate_analyze::container::{ImageOptions, Limits, TarSource, analyze_image};
use sizegate_analyze::{Error, Format, Report, UnitKind};

// ---------------------------------------------------------------- tar writer

enum Entry {
    File(String, Vec<u8>),
    Dir(String),
    Symlink(String, String),
    HardLink(String, String),
}

fn header(name: &str, size: u64, flag: u8, link: &str) -> [u8; 512] {
    let mut h = [0u8; 512];
    assert!(name.len() < 100 && link.len() < 100);
    h[..name.len()].copy_from_slice(name.as_bytes());
    let mode = if flag == b'5' {
        "0000755\0"
    } else {
        "0000644\0"
    };
    h[100..108].copy_from_slice(mode.as_bytes());
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = flag;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn tar(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        match entry {
            Entry::File(name, data) => {
                out.extend_from_slice(&header(name, data.len() as u64, b'0', ""));
                out.extend_from_slice(data);
                out.resize(out.len().div_ceil(512) * 512, 0);
            }
            Entry::Dir(name) => out.extend_from_slice(&header(name, 0, b'5', "")),
            Entry::Symlink(name, to) => out.extend_from_slice(&header(name, 0, b'2', to)),
            Entry::HardLink(name, to) => out.extend_from_slice(&header(name, 0, b'1', to)),
        }
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn file(name: &str, data: impl Into<Vec<u8>>) -> Entry {
    Entry::File(name.to_string(), data.into())
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

// ---------------------------------------------------------------- inputs

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts/container");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The filesystem tar of Debian's `busybox-static` (a real package layer)
/// and its file list, or `None` (said on stderr) when it cannot be fetched.
fn busybox() -> Option<&'static (Vec<u8>, String)> {
    static BUSYBOX: OnceLock<Option<(Vec<u8>, String)>> = OnceLock::new();
    BUSYBOX
        .get_or_init(|| {
            let dir = artifacts();
            let layer = dir.join("busybox-static.tar");
            if !layer.exists() {
                let fetched = Command::new("apt-get")
                    .args(["download", "busybox-static"])
                    .current_dir(&dir)
                    .output();
                let deb = std::fs::read_dir(&dir).ok()?.flatten().find(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("busybox-static")
                        && e.file_name().to_string_lossy().ends_with(".deb")
                });
                let Some(deb) = deb else {
                    eprintln!(
                        "SKIPPED the Debian package layer: `apt-get download busybox-static` \
                         failed (offline?): {fetched:?}"
                    );
                    return None;
                };
                let out = Command::new("dpkg-deb")
                    .arg("--fsys-tarfile")
                    .arg(deb.path())
                    .output()
                    .ok()?;
                if !out.status.success() {
                    eprintln!("SKIPPED the Debian package layer: dpkg-deb failed");
                    return None;
                }
                std::fs::write(&layer, &out.stdout).ok()?;
            }
            let bytes = std::fs::read(&layer).ok()?;
            let listing = Command::new("tar").arg("-tf").arg(&layer).output().ok()?;
            let list: String = String::from_utf8_lossy(&listing.stdout)
                .lines()
                .map(|l| {
                    let l = l.trim_start_matches('.').trim_end_matches('/');
                    if l.is_empty() {
                        "/.\n".to_string()
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect();
            Some((bytes, list))
        })
        .as_ref()
}

/// A Rust binary compiled here, with debug info (so it is unstripped).
fn rust_binary() -> &'static [u8] {
    static BINARY: OnceLock<Vec<u8>> = OnceLock::new();
    BINARY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("app.rs");
        std::fs::write(
            &src,
            "fn main() { let v: Vec<String> = std::env::args().collect(); println!(\"{v:?}\"); }",
        )
        .unwrap();
        let out = dir.path().join("app");
        let status = Command::new("rustc")
            .args(["-C", "debuginfo=2", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read(out).unwrap()
    })
}

/// The three layers (uncompressed tars) and what the test expects of them.
struct Layers {
    tars: Vec<Vec<u8>>,
    hidden: u64,
    duplicate: u64,
    with_busybox: bool,
}

fn layers() -> Layers {
    let (base, list) = match busybox() {
        Some((tar_bytes, list)) => (tar_bytes.clone(), Some(list.clone())),
        None => (
            tar(&[Entry::Dir("bin/".into()), file("bin/sh", pattern(4000, 1))]),
            None,
        ),
    };
    let mut second = vec![
        Entry::Dir("etc/".into()),
        file("etc/config", pattern(1000, 2)),
        file("tmp/big.bin", pattern(5000, 3)),
        file("var/lib/apt/lists/cache1", pattern(3000, 4)),
        Entry::Dir("opt/old/".into()),
        file("opt/old/a", pattern(700, 5)),
        file("opt/old/b", pattern(300, 6)),
        file("srv/orig", pattern(2000, 7)),
        Entry::Symlink("loop/a".into(), "b".into()),
        Entry::Symlink("loop/b".into(), "a".into()),
        Entry::HardLink("srv/link".into(), "srv/orig".into()),
    ];
    if let Some(list) = &list {
        second.push(file(
            "var/lib/dpkg/status",
            "Package: busybox-static\nStatus: install ok installed\nVersion: 1\n\n",
        ));
        second.push(file(
            "var/lib/dpkg/info/busybox-static.list",
            list.as_bytes(),
        ));
    }
    let third = vec![
        file("usr/local/bin/app", rust_binary()),
        file("tmp/.wh.big.bin", ""),
        file("etc/config", pattern(1200, 8)),
        file("opt/old/.wh..wh..opq", ""),
        file("opt/old/c", pattern(50, 9)),
        file("srv/dup", pattern(2000, 7)),
    ];
    Layers {
        tars: vec![base, tar(&second), tar(&third)],
        hidden: 5000 + 1000 + 700 + 300,
        duplicate: 2000,
        with_busybox: list.is_some(),
    }
}

fn config(arch: &str, layers: usize) -> Vec<u8> {
    let history: Vec<serde_json::Value> = (0..layers)
        .map(|i| serde_json::json!({"created_by": format!("RUN step {i}")}))
        .chain([serde_json::json!({"created_by": "CMD [\"app\"]", "empty_layer": true})])
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": arch, "os": "linux", "history": history,
        "rootfs": {"type": "layers", "diff_ids": []}
    }))
    .unwrap()
}

/// `docker save` style: `<hex>/layer.tar` members and `manifest.json`.
fn docker_archive(layers: &[Vec<u8>]) -> Vec<u8> {
    let cfg = config("amd64", layers.len());
    let cfg_name = format!("{}.json", sha(&cfg));
    let mut entries = vec![file(&cfg_name, cfg.clone())];
    let mut names = Vec::new();
    for l in layers {
        let name = format!("{}/layer.tar", &sha(l)[..40]);
        entries.push(file(&name, l.clone()));
        names.push(name);
    }
    let manifest =
        serde_json::json!([{"Config": cfg_name, "RepoTags": ["app:1"], "Layers": names}]);
    entries.push(file(
        "manifest.json",
        serde_json::to_vec(&manifest).unwrap(),
    ));
    tar(&entries)
}

struct Blobs {
    entries: Vec<Entry>,
}

impl Blobs {
    fn add(&mut self, bytes: Vec<u8>) -> (String, u64) {
        let digest = sha(&bytes);
        let size = bytes.len() as u64;
        if !self
            .entries
            .iter()
            .any(|e| matches!(e, Entry::File(n, _) if n.ends_with(&digest)))
        {
            self.entries
                .push(file(&format!("blobs/sha256/{digest}"), bytes));
        }
        (format!("sha256:{digest}"), size)
    }
}

/// An OCI layout as tar: one manifest per `(arch, blobs)`.
fn oci_layout(images: &[(&str, Vec<Vec<u8>>)]) -> Vec<u8> {
    let mut blobs = Blobs {
        entries: vec![file("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}")],
    };
    let mut manifests = Vec::new();
    for (arch, layer_blobs) in images {
        let (cfg_digest, cfg_size) = blobs.add(config(arch, layer_blobs.len()));
        let layers: Vec<serde_json::Value> = layer_blobs
            .iter()
            .map(|b| {
                let media = if b.starts_with(&[0x1f, 0x8b]) {
                    "application/vnd.oci.image.layer.v1.tar+gzip"
                } else {
                    "application/vnd.oci.image.layer.v1.tar+zstd"
                };
                let (d, s) = blobs.add(b.clone());
                serde_json::json!({"mediaType": media, "digest": d, "size": s})
            })
            .collect();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest, "size": cfg_size},
            "layers": layers
        }))
        .unwrap();
        let (d, s) = blobs.add(manifest);
        manifests.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": d, "size": s,
            "platform": {"os": "linux", "architecture": arch}
        }));
    }
    let index = serde_json::json!({"schemaVersion": 2, "manifests": manifests});
    blobs
        .entries
        .push(file("index.json", serde_json::to_vec(&index).unwrap()));
    tar(&blobs.entries)
}

fn options() -> ImageOptions {
    ImageOptions {
        binary_threshold: 100_000,
        ..ImageOptions::default()
    }
}

fn analyze(bytes: &[u8], options: &ImageOptions) -> Result<Vec<Report>, Error> {
    let mut source = TarSource::new(Cursor::new(bytes.to_vec()), &options.limits)?;
    analyze_image("image.tar", &mut source, options)
}

// ---------------------------------------------------------------- checks

fn check_common(report: &Report, layers: &Layers, compressed: &[u64]) {
    let tars = &layers.tars;
    assert_eq!(report.layers.len(), 3);
    for (i, layer) in report.layers.iter().enumerate() {
        assert_eq!(layer.uncompressed_size, tars[i].len() as u64, "layer {i}");
        assert_eq!(layer.compressed_size, compressed[i], "layer {i}");
        assert_eq!(
            layer.created_by.as_deref(),
            Some(format!("RUN step {i}").as_str())
        );
    }
    let s = report.sizes;
    assert_eq!(s.compressed, compressed.iter().sum::<u64>());
    assert_eq!(
        s.uncompressed,
        tars.iter().map(|t| t.len() as u64).sum::<u64>()
    );
    assert_eq!(s.shipped, s.uncompressed);
    assert_eq!(
        report.units.iter().map(|u| u.size).sum::<u64>(),
        s.uncompressed
    );
    assert_eq!(
        report.sections.iter().map(|s| s.file_size).sum::<u64>(),
        report.file.size
    );
    let wasted = report.units.iter().find(|u| u.name == "[wasted]").unwrap();
    assert_eq!(wasted.size, layers.hidden);
    assert_eq!(s.wasted, layers.hidden + layers.duplicate);
    assert_eq!(report.layers[1].hidden_size, 7000);

    let path = |p: &str| report.files.iter().find(|f| f.path == p);
    assert!(path("/tmp/big.bin").is_none(), "whited out");
    assert!(
        path("/opt/old/a").is_none() && path("/opt/old/b").is_none(),
        "opaque dir"
    );
    assert_eq!(path("/opt/old/c").unwrap().size, 50);
    assert_eq!(path("/etc/config").unwrap().size, 1200);
    assert_eq!(path("/etc/config").unwrap().layer, 2);
    let app = path("/usr/local/bin/app").unwrap();
    assert_eq!(app.unit, "/usr/local/bin/app");
    let inner = app
        .report
        .as_deref()
        .expect("the binary inside is analyzed");
    assert_eq!(inner.format, Format::Elf);
    assert_eq!(inner.sizes.file, rust_binary().len() as u64);
    assert!(inner.units.iter().any(|u| u.name == "std"));
    let unit = |n: &str| report.units.iter().find(|u| u.name == n);
    assert_eq!(unit("/usr/local/bin/app").unwrap().kind, UnitKind::Path);

    let advice = |id: &str| report.advice.iter().find(|a| a.id == id).map(|a| a.saving);
    assert_eq!(advice("image-hidden-files"), Some(7000));
    assert_eq!(advice("image-duplicate-files"), Some(2000));
    assert_eq!(advice("image-package-cache"), Some(3000));
    assert_eq!(
        advice("image-unstripped-binary"),
        Some(inner.sizes.file - inner.sizes.shipped)
    );
    if layers.with_busybox {
        let bb = unit("busybox-static").expect("dpkg owner");
        assert_eq!(bb.kind, UnitKind::Package);
        let busybox = path("/bin/busybox").unwrap();
        assert_eq!(busybox.unit, "busybox-static");
        assert!(busybox.report.is_some());
        assert!(advice("image-static-on-base").is_some());
    }
}

#[test]
fn docker_save_archive() {
    let layers = layers();
    let archive = docker_archive(&layers.tars);
    let reports = analyze(&archive, &options()).unwrap();
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(report.format, Format::DockerArchive);
    assert_eq!(report.arch, "x86_64");
    assert_eq!(report.file.size, archive.len() as u64);
    let sizes: Vec<u64> = layers.tars.iter().map(|t| t.len() as u64).collect();
    check_common(report, &layers, &sizes);
    assert!(report.layers.iter().all(|l| l.compression == "none"));
    // JSON round trip of the contract.
    let json = serde_json::to_string(report).unwrap();
    assert!(json.contains("\"format\":\"docker-archive\""));
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, report);
}

#[test]
fn oci_layout_gzip_and_zstd_multi_platform() {
    let layers = layers();
    let blobs = vec![
        gzip(&layers.tars[0]),
        zstd(&layers.tars[1]),
        gzip(&layers.tars[2]),
    ];
    let sizes: Vec<u64> = blobs.iter().map(|b| b.len() as u64).collect();
    let archive = oci_layout(&[("amd64", blobs.clone()), ("arm64", blobs.clone())]);
    let reports = analyze(&archive, &options()).unwrap();
    assert_eq!(reports.len(), 2, "every platform without --platform");
    for r in &reports {
        assert_eq!(r.format, Format::OciLayout);
        check_common(r, &layers, &sizes);
        let kinds: Vec<&str> = r.layers.iter().map(|l| l.compression.as_str()).collect();
        assert_eq!(kinds, ["gzip", "zstd", "gzip"]);
    }
    assert_eq!(reports[1].arch, "aarch64");
    assert!(reports[1].file.name.ends_with("(linux/arm64)"));
    let only = analyze(
        &archive,
        &ImageOptions {
            platform: Some("linux/arm64".into()),
            ..options()
        },
    )
    .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].arch, "aarch64");
    let missing = analyze(
        &archive,
        &ImageOptions {
            platform: Some("linux/s390x".into()),
            ..options()
        },
    )
    .unwrap_err();
    assert!(
        missing.to_string().contains("linux/amd64, linux/arm64"),
        "{missing}"
    );
    // A cold pull: each blob once, config and manifest included.
    let r = &only[0];
    assert!(r.sizes.pull > r.sizes.compressed);
}

#[test]
fn descriptor_size_mismatch_is_refused() {
    let layers = layers();
    let err = analyze(
        &oci_layout_with_sizes(&[gzip(&layers.tars[2])], 1),
        &options(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("the manifest says"), "{err}");
}

/// An OCI layout whose descriptors overstate each layer's size by `extra`.
fn oci_layout_with_sizes(layer_blobs: &[Vec<u8>], extra: u64) -> Vec<u8> {
    let mut blobs = Blobs { entries: vec![] };
    let (cd, cs) = blobs.add(config("amd64", layer_blobs.len()));
    let layers: Vec<serde_json::Value> = layer_blobs
        .iter()
        .map(|b| {
            let (d, s) = blobs.add(b.clone());
            serde_json::json!({"mediaType": "x", "digest": d, "size": s + extra})
        })
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "config": {"digest": cd, "size": cs}, "layers": layers
    }))
    .unwrap();
    let (d, s) = blobs.add(manifest);
    let index = serde_json::json!({"manifests": [{"digest": d, "size": s}]});
    blobs
        .entries
        .push(file("index.json", serde_json::to_vec(&index).unwrap()));
    tar(&blobs.entries)
}

// ---------------------------------------------------------------- hostile

fn one_layer(layer: Vec<u8>) -> Vec<u8> {
    docker_archive(&[layer])
}

#[test]
fn path_traversal_fails_cleanly() {
    let archive = one_layer(tar(&[file("../../etc/passwd", "x")]));
    let err = analyze(&archive, &options()).unwrap_err();
    assert!(err.to_string().contains("escapes the root"), "{err}");
    let manifest = serde_json::json!([{"Config": "../c.json", "Layers": []}]);
    let archive = tar(&[file(
        "manifest.json",
        serde_json::to_vec(&manifest).unwrap(),
    )]);
    assert!(
        analyze(&archive, &options())
            .unwrap_err()
            .to_string()
            .contains("escapes")
    );
}

#[test]
fn links_are_never_followed() {
    let archive = one_layer(tar(&[
        Entry::Symlink("a".into(), "b".into()),
        Entry::Symlink("b".into(), "a".into()),
        Entry::Symlink("c".into(), "c/../c".into()),
        Entry::HardLink("h1".into(), "h2".into()),
        Entry::HardLink("h2".into(), "h1".into()),
        file("data", "12345"),
    ]));
    let report = &analyze(&archive, &options()).unwrap()[0];
    assert_eq!(report.files.len(), 1);
    assert_eq!(
        report.units.iter().map(|u| u.size).sum::<u64>(),
        report.sizes.uncompressed
    );
}

#[test]
fn gzip_bomb_and_huge_counts_hit_the_limits() {
    let zeros = vec![0u8; 8 << 20];
    let bomb = gzip(&tar(&[file("zeros", zeros)]));
    let limits = Limits {
        max_ratio: 100,
        ratio_slack: 0,
        ..Limits::default()
    };
    let strict = ImageOptions {
        limits,
        ..options()
    };
    let err = analyze(&one_layer(bomb), &strict).unwrap_err();
    assert!(err.to_string().contains("past the limit"), "{err}");

    let many: Vec<Entry> = (0..500).map(|i| file(&format!("f{i}"), "")).collect();
    let counted = ImageOptions {
        limits: Limits {
            max_entries: 100,
            ..Limits::default()
        },
        ..options()
    };
    let err = analyze(&one_layer(tar(&many)), &counted).unwrap_err();
    assert!(err.to_string().contains("more than 100 entries"), "{err}");
}

#[test]
fn truncated_and_garbage_archives_fail_cleanly() {
    let layers = layers();
    let archive = docker_archive(&layers.tars[1..2]);
    for cut in [100, 600, archive.len() / 2, archive.len() - 1500] {
        let _ = analyze(&archive[..cut], &options());
    }
    let mut garbage = archive.clone();
    garbage[700] ^= 0xff;
    let _ = analyze(&garbage, &options());
    let not_image = tar(&[file("hello.txt", "hi")]);
    let err = analyze(&not_image, &options()).unwrap_err();
    assert!(err.to_string().contains("neither"), "{err}");
}

/// Small images for the `container` fuzz target's corpus (`fuzz/seeds.py`
/// picks them up), checked like the others.
#[test]
fn small_images_for_the_fuzz_corpus() {
    let base = tar(&[
        Entry::Dir("etc/".into()),
        file("etc/a", pattern(600, 1)),
        file("etc/b", pattern(100, 2)),
    ]);
    let top = tar(&[
        file("etc/.wh.a", ""),
        file("etc/b", pattern(90, 3)),
        file("lib/apk/db/installed", "P:x\nF:etc\nR:b\n"),
    ]);
    let dir = artifacts().join("seeds");
    std::fs::create_dir_all(&dir).unwrap();
    let images = [
        (
            "docker-save.tar",
            docker_archive(&[base.clone(), top.clone()]),
        ),
        (
            "oci-layout.tar",
            oci_layout(&[("amd64", vec![gzip(&base), zstd(&top)])]),
        ),
    ];
    for (name, bytes) in images {
        let report = &analyze(&bytes, &options()).unwrap()[0];
        assert_eq!(report.sizes.wasted, 700);
        assert_eq!(
            report.units.iter().find(|u| u.name == "x").unwrap().size,
            90
        );
        std::fs::write(dir.join(name), &bytes).unwrap();
    }
}

#[test]
fn diff_of_two_images_names_layers_files_and_owners() {
    let layers = layers();
    let old = &analyze(&docker_archive(&layers.tars[..2]), &options()).unwrap()[0];
    let new = &analyze(&docker_archive(&layers.tars), &options()).unwrap()[0];
    let diff = sizegate_analyze::diff(old, new);
    let layer = diff
        .layers
        .iter()
        .find(|c| c.name == "layer 3: RUN step 2")
        .unwrap();
    assert_eq!(layer.new, layers.tars[2].len() as u64);
    assert_eq!(layer.status, sizegate_analyze::ChangeStatus::Added);
    let app = diff
        .files
        .iter()
        .find(|c| c.name == "/usr/local/bin/app")
        .unwrap();
    assert_eq!(app.new, rust_binary().len() as u64);
    assert_eq!(app.unit.as_deref(), Some("/usr/local/bin/app"));
    let big = diff
        .files
        .iter()
        .find(|c| c.name == "/tmp/big.bin")
        .unwrap();
    assert_eq!((big.old, big.new), (5000, 0));
    let config = diff.files.iter().find(|c| c.name == "/etc/config").unwrap();
    assert_eq!((config.old, config.new, config.delta), (1000, 1200, 200));
    // Busybox is the same binary on both sides: no unit moved inside it.
    assert!(diff.binary_units.is_empty());
    let wasted = diff.units.iter().find(|c| c.name == "[wasted]").unwrap();
    assert_eq!(wasted.new, layers.hidden);
}

#[test]
fn a_manifest_repeating_one_layer_is_refused() {
    let layer = tar(&[file("a", "x")]);
    let member = format!("{}/layer.tar", &sha(&layer)[..40]);
    let cfg = config("amd64", 1);
    let manifest =
        serde_json::json!([{"Config": "c.json", "Layers": vec![member.clone(); 100_000]}]);
    let archive = tar(&[
        file("c.json", cfg),
        file(&member, layer),
        file("manifest.json", serde_json::to_vec(&manifest).unwrap()),
    ]);
    let err = analyze(&archive, &options()).unwrap_err();
    assert!(err.to_string().contains("the limit is 256"), "{err}");
}

// Each layer is decompressed on one thread and walked on another: a
// failure on either side must end both, with the error one thread gave.

#[test]
fn a_truncated_gzip_layer_fails_cleanly() {
    // Several megabytes decompressed before the cut, so the cut falls after
    // many buffers have crossed between the threads.
    let layer = gzip(&tar(&[
        file("a", pattern(6 << 20, 1)),
        file("b", pattern(6 << 20, 2)),
    ]));
    let cut = layer[..layer.len() / 2].to_vec();
    let err = analyze(&one_layer(cut), &options()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed container image file: layer 1: incomplete deflate stream"
    );
}

#[test]
fn a_walk_that_fails_early_does_not_wait_for_the_rest_of_the_layer() {
    // The entry limit is hit after 101 entries, with 48 MiB of the layer
    // still to decompress: far more than the buffers between the threads.
    let mut entries: Vec<Entry> = (0..200).map(|i| file(&format!("f{i}"), "x")).collect();
    entries.push(file("big", pattern(48 << 20, 3)));
    let counted = ImageOptions {
        limits: Limits {
            max_entries: 100,
            ..Limits::default()
        },
        ..options()
    };
    for layer in [tar(&entries), zstd(&tar(&entries))] {
        let err = analyze(&one_layer(layer), &counted).unwrap_err();
        assert!(err.to_string().contains("more than 100 entries"), "{err}");
    }
}
