//! Seed a server's database and blob store through the store's own
//! functions: repositories, uploads (commits, targets, builds) and
//! measurements with their full reports, so that the dashboard has real
//! history, units, symbols and diffs to show.

use bytes::Bytes;
use sizegate_analyze::{
    Advice, FileInfo, Format, Language, Report, Section, SectionKind, Sizes, Symbol, Toolchain,
    Unit, UnitKind,
};
use sizegate_store::blob::{LocalBlobStore, report_key};
use sizegate_store::measurements::encode_report;
use sizegate_store::uploads::{CommitMeta, NewArtifact};
use sizegate_store::{BlobStore, RepoName, Store};

pub const X86: &str = "x86_64-unknown-linux-gnu/app";
pub const WASM: &str = "wasm32-unknown-unknown/app.wasm";
pub const CONFIG: &str = "metric = \"shipped\"\n[[budget]]\ntarget = \"x86_64-unknown-linux-gnu/*\"\nmax_size = \"2 MiB\"\n";

/// A report whose shipped size is `shipped`, split over four units; a
/// `regex` unit grows with `regex`.
pub fn report(name: &str, shipped: u64, regex: u64, salt: u64) -> Report {
    let std = shipped - regex - 4_096 - 1_000;
    let file = shipped + 10_000;
    Report {
        schema_version: sizegate_analyze::SCHEMA_VERSION,
        file: FileInfo {
            name: name.into(),
            size: file,
            sha256: format!("{salt:064x}"),
        },
        format: Format::Elf,
        arch: "x86_64".into(),
        language: Language::Rust,
        stripped: false,
        toolchain: Toolchain {
            rustc: Some("rustc 1.91.0 (f8297e351 2025-10-28)".into()),
            ..Toolchain::default()
        },
        sizes: Sizes {
            file,
            vm: shipped + 4_096,
            shipped,
            gzip: shipped / 2,
            zstd: shipped / 3,
            debug: 0,
            symbols: 10_000,
            ..Default::default()
        },
        sections: vec![
            Section {
                name: ".text".into(),
                kind: SectionKind::Code,
                file_size: file - 64,
                vm_size: file - 64,
            },
            Section {
                name: "[headers]".into(),
                kind: SectionKind::Other,
                file_size: 64,
                vm_size: 0,
            },
        ],
        units: vec![
            unit("std", std),
            unit("regex", regex),
            unit("serde<json>", 4_096),
            unit("[.rodata unattributed]", 1_000),
        ],
        symbols: vec![
            symbol("regex::compile::Compiler::c", "regex", regex / 2),
            symbol("std::io::stdio::print", "std", std / 4),
            symbol(
                "serde_json::de::<Deserializer>::parse",
                "serde<json>",
                2_000,
            ),
        ],
        units_instantiating: Vec::new(),
        symbols_truncated: false,
        notes: Vec::new(),
        compression_skipped: false,
        advice: vec![Advice {
            id: "strip".into(),
            saving: 10_000,
            message: "Strip symbols: `strip = true` in [profile.release]".into(),
        }],
        layers: Vec::new(),
        files: Vec::new(),
        directories: Vec::new(),
    }
}

fn unit(name: &str, size: u64) -> Unit {
    Unit {
        name: name.into(),
        kind: UnitKind::Crate,
        size,
        symbols: 1,
        version: None,
        module: None,
    }
}

fn symbol(name: &str, unit: &str, size: u64) -> Symbol {
    Symbol {
        name: name.into(),
        unit: unit.into(),
        section: ".text".into(),
        size,
    }
}

/// Record `meta` with one artifact per (target, report) and store the
/// measurements and full reports.
pub async fn upload(
    store: &Store,
    blobs: &dyn BlobStore,
    repo: &str,
    meta: CommitMeta,
    reports: &[(&str, Report)],
) {
    let repository_id = store
        .ensure_repository(&RepoName::parse(repo).unwrap())
        .await
        .unwrap();
    let artifacts: Vec<NewArtifact> = reports
        .iter()
        .map(|(target, report)| NewArtifact {
            target: (*target).to_owned(),
            sha256: report.file.sha256.clone(),
            size: report.file.size,
            blob_key: format!("artifacts/{}", report.file.sha256),
        })
        .collect();
    let recorded = store
        .record_upload(repository_id, &meta, &artifacts, 3)
        .await
        .unwrap();
    for (build, (_, report)) in recorded.iter().zip(reports) {
        let key = report_key(&report.file.sha256);
        blobs
            .put(&key, Bytes::from(encode_report(report).unwrap()))
            .await
            .unwrap();
        store
            .store_measurement(build.artifact_id, report, &key, 50)
            .await
            .unwrap();
    }
}

/// A distinct sha per `n`, whose 7-digit short form differs too.
pub fn sha(n: u64) -> String {
    format!("{:08x}{n:032x}", n.wrapping_mul(2_654_435_761) as u32)
}

/// What [`seed`] made.
pub struct Seeded {
    /// The main-branch commits of acme/app, oldest first.
    pub main: Vec<String>,
    /// The pushes of pull request #7, oldest first.
    pub pr: Vec<String>,
    /// The commits of the private acme/secret.
    pub secret: Vec<String>,
    /// The read token.
    pub read_token: String,
}

/// Shipped size of main commit `i` of acme/app's x86 target: +1 KiB a
/// commit, and +200 KiB at commit 8 (the regex crate grows).
pub fn main_size(i: u64) -> (u64, u64) {
    let regex = if i >= 8 { 300 * 1024 } else { 100 * 1024 };
    (1_000_000 + i * 1024 + regex, regex)
}

/// acme/app (public): 12 commits on main with two targets and a budget,
/// and a pull request #7 with two pushes; acme/secret (private): 2 commits.
pub async fn seed(store: &Store, data: &std::path::Path) -> Seeded {
    let blobs = LocalBlobStore::open(data).await.unwrap();
    let mut main = Vec::new();
    for i in 0..12u64 {
        let commit = sha(0xa000 + i);
        let (shipped, regex) = main_size(i);
        let meta = CommitMeta {
            sha: commit.clone(),
            branch: Some("main".into()),
            ancestors: main.iter().rev().cloned().collect(),
            config: Some(CONFIG.into()),
            ..CommitMeta::default()
        };
        upload(
            store,
            &blobs,
            "acme/app",
            meta,
            &[
                (X86, report("app", shipped, regex, 0xa000 + i)),
                (
                    WASM,
                    report("app.wasm", 600_000 + i * 10, 50_000, 0xb000 + i),
                ),
            ],
        )
        .await;
        main.push(commit);
    }
    let mut pr = Vec::new();
    for (k, extra) in [(1u64, 30_000u64), (2, 20_000)] {
        let commit = sha(0xc000 + k);
        let (shipped, regex) = main_size(11);
        let meta = CommitMeta {
            sha: commit.clone(),
            branch: Some("feature".into()),
            pr_number: Some(7),
            base_sha: main.last().cloned(),
            ancestors: main.iter().rev().skip(1).cloned().collect(),
            config: Some(CONFIG.into()),
            fork: false,
            provenance: Default::default(),
            tag: None,
        };
        upload(
            store,
            &blobs,
            "acme/app",
            meta,
            &[(
                X86,
                report("app", shipped + extra, regex + extra, 0xc000 + k),
            )],
        )
        .await;
        pr.push(commit);
    }
    let mut secret = Vec::new();
    for i in 0..2u64 {
        let commit = sha(0xd000 + i);
        let meta = CommitMeta {
            sha: commit.clone(),
            branch: Some("main".into()),
            pr_number: (i == 1).then_some(3),
            ancestors: secret.iter().rev().cloned().collect(),
            ..CommitMeta::default()
        };
        upload(
            store,
            &blobs,
            "acme/secret",
            meta,
            &[("secret-target", report("s", 500_000 + i, 1_000, 0xd000 + i))],
        )
        .await;
        secret.push(commit);
    }
    assert!(
        store
            .set_repository_private(&RepoName::parse("acme/secret").unwrap(), true)
            .await
            .unwrap()
    );
    let read_token = store.create_read_token().await.unwrap().token;
    Seeded {
        main,
        pr,
        secret,
        read_token,
    }
}
