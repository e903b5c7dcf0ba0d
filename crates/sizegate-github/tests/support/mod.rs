//! Shared setup of the integration tests: a fresh RSA key made by the
//! openssl CLI (no key is committed), a fake GitHub on loopback trusting it,
//! and a client pointed at the fake with a fake clock.

#![allow(dead_code, clippy::unwrap_used)] // shared by several test binaries; tests may unwrap

use std::process::Command;
use std::sync::Arc;

use sizegate_github::fake::{FakeGitHub, FakeGitHubConfig};
use sizegate_github::{FakeClock, GitHubClient, GitHubConfig, Repo};

pub const APP_ID: u64 = 4242;
pub const INSTALLATION_ID: u64 = 77;
pub const OWNER: &str = "octo-org";
pub const NAME: &str = "app";
pub const MARKER: &str = "<!-- sizegate:sticky -->";

/// An RSA key pair as a GitHub App has: the private key in PKCS#1 PEM (as
/// GitHub hands it out) and the public key in DER.
#[derive(Debug)]
pub struct TestKey {
    pub private_pem: String,
    pub public_der: Vec<u8>,
}

pub fn generate_key() -> TestKey {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("app.pem");
    let public = dir.path().join("app.pub.der");
    let status = Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&private)
        .arg("2048")
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl genrsa failed");
    let status = Command::new("openssl")
        .args(["rsa", "-RSAPublicKey_out", "-outform", "DER", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl rsa -RSAPublicKey_out failed");
    TestKey {
        private_pem: std::fs::read_to_string(private).unwrap(),
        public_der: std::fs::read(public).unwrap(),
    }
}

/// A fake GitHub serving `octo-org/app`, a client for it, and their clock.
pub struct Harness {
    pub fake: FakeGitHub,
    pub client: GitHubClient,
    pub clock: Arc<FakeClock>,
    pub key: TestKey,
    pub repo: Repo,
}

pub async fn harness() -> Harness {
    harness_with(|config| config).await
}

/// Like [`harness`], letting the test adjust the fake's settings.
pub async fn harness_with(adjust: impl FnOnce(FakeGitHubConfig) -> FakeGitHubConfig) -> Harness {
    let key = generate_key();
    let clock = Arc::new(FakeClock::new());
    let config = FakeGitHubConfig::new(APP_ID, key.public_der.clone(), clock.clone()).with_repo(
        OWNER,
        NAME,
        INSTALLATION_ID,
    );
    let fake = FakeGitHub::start(adjust(config)).await.unwrap();
    let client = client_for(&fake, &key.private_pem, clock.clone());
    Harness {
        fake,
        client,
        clock,
        key,
        repo: Repo::new(OWNER, NAME).unwrap(),
    }
}

pub fn client_for(fake: &FakeGitHub, private_pem: &str, clock: Arc<FakeClock>) -> GitHubClient {
    let mut config = GitHubConfig::new(APP_ID, private_pem);
    config.api_url = fake.url();
    GitHubClient::with_clock(config, clock).unwrap()
}
