//! `sizegate upload --tag` and `sizegate report` end to end: the binary
//! against `sizegate serve` on a random port over a real Postgres; the
//! release notes of a 200-commit history with five injected steps name the
//! five; and the Action's script sends the tag of a tag push.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{BIN, build_hello, create_token, serve_fake};
use serde_json::Value;
use sizegate_store::blob::{LocalBlobStore, report_key};
use sizegate_store::measurements::encode_report;
use sizegate_store::uploads::{CommitMeta, NewArtifact};
use sizegate_store::{BlobStore as _, RepoName, Store};

fn sizegate(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env_remove("SIZEGATE_TOKEN")
        .env_remove("SIZEGATE_READ_TOKEN")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .output()
        .unwrap()
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Where the steps are and how big.
const STEPS: [(usize, i64); 5] = [
    (30, 40_000),
    (70, -25_000),
    (110, 60_000),
    (150, 30_000),
    (180, -50_000),
];

fn shipped_at(i: usize) -> u64 {
    let level: i64 = STEPS
        .iter()
        .filter(|(at, _)| i >= *at)
        .map(|(_, d)| *d)
        .sum();
    (1_000_000 + level + (i * 37 % 7) as i64 * 20) as u64
}

/// 200 commits of acme/proof on main, tagged v1.0 (first) and v2.0
/// (last), recorded through the store with reports made from the real
/// analysis of `binary`; their shas, oldest first.
async fn seed_history(db: &str, data: &Path, binary: &Path) -> Vec<String> {
    let pool = sqlx::PgPool::connect(db).await.unwrap();
    let store = Store::new(pool);
    let blobs = LocalBlobStore::open(data).await.unwrap();
    let bytes = std::fs::read(binary).unwrap();
    let real = sizegate_analyze::analyze("hello", &bytes, &Default::default())
        .unwrap()
        .remove(0);
    let repository_id = store
        .ensure_repository(&RepoName::parse("acme/proof").unwrap())
        .await
        .unwrap();
    let mut shas = Vec::new();
    for i in 0..200 {
        let sha = format!("{:08x}{i:032x}", (i as u32).wrapping_mul(2_654_435_761));
        let mut report = real.clone();
        report.file.sha256 = format!("{:064x}", 0x7000 + i);
        report.sizes.shipped = shipped_at(i);
        let meta = CommitMeta {
            sha: sha.clone(),
            branch: Some("main".into()),
            tag: match i {
                0 => Some("v1.0".into()),
                199 => Some("v2.0".into()),
                _ => None,
            },
            ..CommitMeta::default()
        };
        let artifact = NewArtifact {
            target: "linux/hello".into(),
            sha256: report.file.sha256.clone(),
            size: report.file.size,
            blob_key: format!("artifacts/{}", report.file.sha256),
        };
        let recorded = store
            .record_upload(repository_id, &meta, &[artifact], 1)
            .await
            .unwrap();
        let key = report_key(&report.file.sha256);
        blobs
            .put(&key, bytes::Bytes::from(encode_report(&report).unwrap()))
            .await
            .unwrap();
        store
            .store_measurement(recorded[0].artifact_id, &report, &key, 20)
            .await
            .unwrap();
        shas.push(sha);
    }
    shas
}

#[tokio::test]
async fn upload_tag_then_report_as_markdown_and_json() {
    let serve = serve_fake("report", &[]);
    let token = create_token(&serve.db, "acme/app");
    let work = serve.dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let hello = build_hello(&work);
    let mut bigger = std::fs::read(&hello).unwrap();
    bigger.extend(vec![7u8; 6000]);
    std::fs::write(work.join("bigger"), &bigger).unwrap();
    let (a, b) = ("a7".repeat(20), "b8".repeat(20));
    // The second goes through a resumable upload session: its `meta`
    // carries the tag the same way.
    for (sha, tag, file, threshold) in [
        (&a, "v1.0", "hello", "67108864"),
        (&b, "release/1.1", "bigger", "1000"),
    ] {
        let out = sizegate(
            &work,
            &[
                "upload",
                "--server",
                &serve.url,
                "--token",
                &token,
                "--repo",
                "acme/app",
                "--commit",
                sha,
                "--branch",
                "main",
                "--tag",
                tag,
                "--chunked-threshold",
                threshold,
                "--wait",
                &format!("linux/app={file}"),
            ],
        );
        assert!(out.status.success(), "{:?}", text(&out));
    }

    let report = |args: &[&str]| {
        let mut all = vec!["report", "--server", &serve.url, "--repo", "acme/app"];
        all.extend_from_slice(args);
        sizegate(&work, &all)
    };
    // Markdown: the tags, the target and its change. The stand-in analyzer
    // reports shipped = half the file: +3000 bytes.
    let out = report(&["v1.0", "release/1.1"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("## Binary size: v1.0 (a7a7a7a) → release/1.1 (b8b8b8b)"),
        "{stdout}"
    );
    assert!(stdout.contains("| linux/app |"), "{stdout}");
    assert!(stdout.contains("+2.9 KiB"), "{stdout}");
    // JSON: the API's answer verbatim.
    let out = report(&["--format", "json", &a[..7], "release/1.1"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["base"]["sha"], a);
    assert_eq!(json["base"]["tag"], "v1.0");
    assert_eq!(json["head"]["tag"], "release/1.1");
    assert_eq!(json["targets"][0]["delta"], 3000);
    // Unknown revisions and bad tags: exit 2 with the reason.
    let out = report(&["v1.0", "v9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("head `v9` names no uploaded commit"),
        "{:?}",
        text(&out)
    );
    let out = sizegate(
        &work,
        &[
            "upload",
            "--server",
            &serve.url,
            "--token",
            &token,
            "--repo",
            "acme/app",
            "--commit",
            &a,
            "--tag",
            "v1..2",
            "linux/app=hello",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("--tag `v1..2` contains `..`"),
        "{:?}",
        text(&out)
    );

    // The proof: release notes between the first and the last of 200
    // commits name the five injected steps.
    let shas = seed_history(&serve.db, &serve.data, &hello).await;
    let out = sizegate(
        &work,
        &[
            "report",
            "--server",
            &serve.url,
            "--repo",
            "acme/proof",
            "v1.0",
            "v2.0",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("Steps between (5):"), "{stdout}");
    for (at, _) in STEPS {
        let line = format!("| {} | {} |", &shas[at][..7], &shas[at - 1][..7]);
        assert!(stdout.contains(&line), "step at {at} missing:\n{stdout}");
    }
    let steps = stdout
        .lines()
        .filter(|l| l.contains(" KiB (") && l.matches('|').count() == 6)
        .count();
    assert_eq!(steps, 5, "{stdout}");
}

/// The Action's script on a tag push sends `GITHUB_REF_NAME` as the tag
/// (and no branch): the compare route then finds the commit by it.
#[tokio::test]
async fn the_action_sends_the_tag_of_a_tag_push() {
    let serve = serve_fake("action-tag", &[]);
    let token = create_token(&serve.db, "acme/app");
    let work = serve.dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("app"), vec![1u8; 1000]).unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.github/actions/upload/upload.sh");
    let sha = "c9".repeat(20);
    let out = Command::new("bash")
        .arg(&script)
        .current_dir(&work)
        .env("INPUT_SERVER", &serve.url)
        .env("INPUT_FILES", "linux/app=app")
        .env("INPUT_TOKEN", &token)
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_SHA", &sha)
        .env("GITHUB_REF", "refs/tags/v3.1.4")
        .env("GITHUB_REF_NAME", "v3.1.4")
        .env("GITHUB_REF_TYPE", "tag")
        .env_remove("GITHUB_EVENT_PATH")
        .env_remove("INPUT_CONFIG")
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let answer: Value = reqwest::get(format!(
        "{}/api/v1/repos/acme/app/compare/v3.1.4...{sha}",
        serve.url
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(answer["base"]["sha"], sha, "{answer}");
    assert_eq!(answer["base"]["tag"], "v3.1.4");
    assert_eq!(
        answer["base"]["branch"],
        Value::Null,
        "a tag push names no branch"
    );
}
