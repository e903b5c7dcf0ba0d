//! `sizegate upload` against the real `sizegate serve` over a real
//! Postgres: a binary built now is uploaded with an upload token and
//! measured by the real analyzer; and an upload from "GitHub Actions" with
//! an OIDC token (a fake issuer on loopback signs it) is accepted once,
//! refused when replayed, and refused for an unregistered repository.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::ffi::OsStr;
use std::process::{Command, Output};

use common::oidc::{OWNER_ID, REPOSITORY_ID, push_claims, start_issuer};
use common::{BIN, create_token, database_url, drop_database, fresh_name, start_serve};
use serde_json::{Value, json};

const PUBLIC_URL: &str = "https://sizegate.test";

fn sha_of(n: u8) -> String {
    format!("{:02x}", n).repeat(20)
}

/// `sizegate upload ARGS` with a clean environment plus `env`.
async fn upload(args: Vec<String>, env: Vec<(&'static str, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(BIN);
        command.arg("upload").args(&args);
        for (key, _) in std::env::vars() {
            if key.starts_with("SIZEGATE_") || key.starts_with("ACTIONS_ID_TOKEN") {
                command.env_remove(key);
            }
        }
        command.envs(env);
        command.output().unwrap()
    })
    .await
    .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn upload_cli_to_serve_is_measured_by_the_real_analyzer() {
    sizegate_store::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let binary = common::build_hello(dir.path());
    let size = std::fs::metadata(&binary).unwrap().len();
    let name = fresh_name("upload_cli");
    let db = database_url(&name);
    let (server, url) = start_serve(
        &db,
        &dir.path().join("data"),
        None,
        &dir.path().join("serve.log"),
        false,
        &[],
    );
    let token = create_token(&db, "acme/app");
    let sha = sha_of(0xc1);
    let output = upload(
        vec![
            "--server".into(),
            url.clone(),
            "--repo".into(),
            "acme/app".into(),
            "--commit".into(),
            sha.clone(),
            "--branch".into(),
            "main".into(),
            format!("x86_64-unknown-linux-gnu/hello={}", binary.display()),
        ],
        vec![("SIZEGATE_TOKEN", token.clone())],
    )
    .await;
    assert!(
        output.status.success(),
        "{}\n{}",
        stderr(&output),
        server.log_text()
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("/api/v1/repos/acme/app/commits/{sha}")),
        "{stdout}"
    );
    assert!(!stdout.contains(&token) && !stderr(&output).contains(&token));

    let commit = common::wait_for_commit(&url, "acme/app", &sha).await;
    let target = &commit["targets"][0];
    assert_eq!(target["status"], "done", "{commit}\n{}", server.log_text());
    assert_eq!(target["sizes"]["file"], size);
    assert_eq!(target["format"], "elf");
    drop(server);
    drop_database(&name).await;
}

#[tokio::test]
async fn github_oidc_upload_is_accepted_once_and_only_for_registered_repositories() {
    sizegate_store::install_crypto_provider();
    let fake = start_issuer().await;
    let issuer = fake.lock().unwrap().url.clone();
    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("app");
    std::fs::write(&artifact, vec![7u8; 4096]).unwrap();
    let name = fresh_name("upload_oidc");
    let db = database_url(&name);
    let analyzer = common::fake_analyzer();
    let (server, url) = start_serve(
        &db,
        &dir.path().join("data"),
        Some(&analyzer),
        &dir.path().join("serve.log"),
        false,
        &[
            ("SIZEGATE_PUBLIC_URL", OsStr::new(PUBLIC_URL)),
            ("SIZEGATE_OIDC_ISSUER", OsStr::new(&issuer)),
        ],
    );
    // Registering the repository (a token is made and not used).
    create_token(&db, "acme/app");
    let actions_env = || {
        vec![
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                format!("{issuer}/actions-token?api-version=2.0"),
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runner-secret".to_owned()),
            ("SIZEGATE_OIDC_AUDIENCE", PUBLIC_URL.to_owned()),
        ]
    };
    let args = |repo: &str, sha: &str| {
        vec![
            "--server".to_owned(),
            url.clone(),
            "--repo".into(),
            repo.into(),
            "--commit".into(),
            sha.into(),
            format!("linux/app={}", artifact.display()),
        ]
    };

    // OIDC is off until an admin turns it on for the repository.
    let sha = sha_of(0x0d);
    let set_claims = |claims: serde_json::Value| {
        let mut fake = fake.lock().unwrap();
        fake.claims = claims.as_object().unwrap().clone();
    };
    set_claims(push_claims("main", &sha));
    let output = upload(args("acme/app", &sha), actions_env()).await;
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("HTTP 403") && err.contains("set-oidc"),
        "{err}"
    );
    common::set_oidc(&db, "acme/app", REPOSITORY_ID, OWNER_ID);

    let output = upload(args("acme/app", &sha), actions_env()).await;
    assert!(
        output.status.success(),
        "{}\n{}",
        stderr(&output),
        server.log_text()
    );
    let commit = common::wait_for_commit(&url, "acme/app", &sha).await;
    assert_eq!(commit["targets"][0]["status"], "done", "{commit}");

    // The same token again: refused as a replay, by this server and by a
    // second server on the same database (the used ids are shared).
    let (second, second_url) = start_serve(
        &db,
        &dir.path().join("data"),
        Some(&analyzer),
        &dir.path().join("serve2.log"),
        false,
        &[
            ("SIZEGATE_PUBLIC_URL", OsStr::new(PUBLIC_URL)),
            ("SIZEGATE_OIDC_ISSUER", OsStr::new(&issuer)),
        ],
    );
    let used = fake.lock().unwrap().minted.last().unwrap().clone();
    for server_url in [&url, &second_url] {
        let form = reqwest::multipart::Form::new()
            .text(
                "meta",
                json!({"repo": "acme/app", "commit": sha_of(0x0e)}).to_string(),
            )
            .part(
                "artifact",
                reqwest::multipart::Part::bytes(vec![1u8; 10]).file_name("linux/app"),
            );
        let response = reqwest::Client::new()
            .post(format!("{server_url}/api/v1/uploads"))
            .bearer_auth(&used)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "{server_url}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("already used"),
            "{server_url}: {body}"
        );
    }
    drop(second);

    // A token for acme/app cannot upload to acme/other.
    let output = upload(args("acme/other", &sha_of(0x0f)), actions_env()).await;
    assert!(!output.status.success());
    assert!(stderr(&output).contains("HTTP 403"), "{}", stderr(&output));

    // A workflow of a repository nobody registered is refused.
    set_claims(json!({"repository": "mallory/app", "event_name": "push"}));
    let output = upload(args("mallory/app", &sha_of(0x10)), actions_env()).await;
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("HTTP 403") && err.contains("not registered"),
        "{err}"
    );

    // A token with another audience is refused.
    set_claims(push_claims("main", &sha_of(0x11)));
    let mut env = actions_env();
    env[2].1 = "https://elsewhere.example.com".into();
    let output = upload(args("acme/app", &sha_of(0x11)), env).await;
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("HTTP 401") && err.contains("audience"),
        "{err}"
    );
    drop(server);
    drop_database(&name).await;
}
