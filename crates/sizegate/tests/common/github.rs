//! The fake GitHub for the process tests: an App key pair from the openssl
//! CLI and the environment that points a `sizegate` process at the fake.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use sizegate_github::SystemClock;
use sizegate_github::fake::{FakeGitHub, FakeGitHubConfig};

/// The App id the fake trusts.
pub const APP_ID: u64 = 4242;

/// An App key pair from the openssl CLI: PKCS#1 PEM and public DER.
pub fn app_key(dir: &Path) -> (String, Vec<u8>) {
    let private = dir.join("app.pem");
    let public = dir.join("app.der");
    let run = |args: &[&OsStr]| {
        let ok = Command::new("openssl")
            .args(args)
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "openssl {args:?} failed");
    };
    run(&[
        "genrsa".as_ref(),
        "-traditional".as_ref(),
        "-out".as_ref(),
        private.as_os_str(),
        "2048".as_ref(),
    ]);
    run(&[
        "rsa".as_ref(),
        "-RSAPublicKey_out".as_ref(),
        "-outform".as_ref(),
        "DER".as_ref(),
        "-in".as_ref(),
        private.as_os_str(),
        "-out".as_ref(),
        public.as_os_str(),
    ]);
    (
        std::fs::read_to_string(private).unwrap(),
        std::fs::read(public).unwrap(),
    )
}

/// A fake GitHub serving `owner/name` (installation 31) to App [`APP_ID`],
/// and the environment that makes a `sizegate` process report to it.
pub async fn start(dir: &Path, owner: &str, name: &str) -> (FakeGitHub, Vec<(String, OsString)>) {
    let (pem, der) = app_key(dir);
    let github = FakeGitHub::start(
        FakeGitHubConfig::new(APP_ID, der, Arc::new(SystemClock)).with_repo(owner, name, 31),
    )
    .await
    .unwrap();
    let envs = vec![
        (
            "SIZEGATE_GITHUB_APP_ID".to_owned(),
            APP_ID.to_string().into(),
        ),
        ("SIZEGATE_GITHUB_PRIVATE_KEY".to_owned(), pem.into()),
        ("SIZEGATE_GITHUB_API_URL".to_owned(), github.url().into()),
        ("SIZEGATE_GITHUB_RETRY_BACKOFF_MS".to_owned(), "100".into()),
    ];
    (github, envs)
}

/// How many calls created a check run on `sha`.
pub fn check_run_creates(github: &FakeGitHub, sha: &str) -> usize {
    github
        .calls()
        .iter()
        .filter(|c| {
            c.method == "POST"
                && c.status < 300
                && c.path.ends_with("/check-runs")
                && serde_json::from_str::<serde_json::Value>(&c.body)
                    .is_ok_and(|body| body["head_sha"] == sha)
        })
        .count()
}

/// How many calls created a comment on issue `number`.
pub fn comment_creates(github: &FakeGitHub, number: u64) -> usize {
    let suffix = format!("/issues/{number}/comments");
    github
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.status < 300 && c.path.ends_with(&suffix))
        .count()
}
