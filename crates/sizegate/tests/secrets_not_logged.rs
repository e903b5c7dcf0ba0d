//! No secret reaches the log. A real `sizegate serve` at `trace` level
//! (every crate, every span) with a GitHub App (private key in the
//! environment, the fake GitHub on loopback), a webhook secret, a database
//! URL with a password and GitHub OIDC uploads on, is sent every kind of
//! credential, valid and not: upload tokens, read tokens, session cookies,
//! OIDC tokens, webhook signatures. The worker reports to the fake GitHub
//! (App JWTs, installation tokens). Then none of these strings may appear
//! in what the server wrote to stdout or stderr.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{BIN, database_url, drop_database, fresh_name};
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{Value, json};
use sizegate_github::SystemClock;
use sizegate_github::fake::{FakeGitHub, FakeGitHubConfig};

const PUBLIC_URL: &str = "https://sizegate.test";
const APP_ID: u64 = 4242;
const INSTALLATION: u64 = 77;
const WEBHOOK_SECRET: &str = "whsec-Zq8rT2vX9mN4pL7k";
const DB_PASSWORD: &str = "dbpass-Hy6Jw3Rt8Qz1";

/// An RSA key made by the openssl CLI: PKCS#1 PEM (the App's private key,
/// which also signs the OIDC tokens of the fake issuer) and the key pair.
fn rsa_key(dir: &Path) -> (String, RsaKeyPair) {
    let pem = dir.join("app.pem");
    let der = dir.join("app.der");
    let run = |args: &[&str]| {
        let ok = Command::new("openssl")
            .args(args)
            .stderr(Stdio::null())
            .status()
            .expect("openssl is installed")
            .success();
        assert!(ok, "openssl {args:?} failed");
    };
    run(&[
        "genrsa",
        "-traditional",
        "-out",
        pem.to_str().unwrap(),
        "2048",
    ]);
    run(&[
        "rsa",
        "-in",
        pem.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        der.to_str().unwrap(),
    ]);
    let der = std::fs::read(der).unwrap();
    let pair = RsaKeyPair::from_der(&der)
        .or_else(|_| RsaKeyPair::from_pkcs8(&der))
        .unwrap();
    (std::fs::read_to_string(pem).unwrap(), pair)
}

fn sign_jwt(key: &RsaKeyPair, claims: &Value) -> String {
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let signed = format!(
        "{}.{}",
        b64(&json!({"alg": "RS256", "typ": "JWT", "kid": "k1"})),
        b64(claims)
    );
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signed.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn oidc_token(key: &RsaKeyPair, issuer: &str, jti: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    sign_jwt(
        key,
        &json!({
            "iss": issuer, "aud": PUBLIC_URL, "iat": now, "nbf": now, "exp": now + 300,
            "jti": jti, "repository": "acme/app", "run_id": "1",
            "repository_id": common::oidc::REPOSITORY_ID.to_string(),
            "repository_owner_id": common::oidc::OWNER_ID.to_string(),
            "event_name": "pull_request", "ref": "refs/pull/5/merge", "sha": "e".repeat(40),
        }),
    )
}

/// The OIDC issuer: discovery document and JWKS.
async fn start_issuer(key: &RsaKeyPair) -> String {
    let public: RsaPublicKeyComponents<Vec<u8>> = key.public().into();
    let jwks = json!({"keys": [{
        "kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(&public.n), "e": URL_SAFE_NO_PAD.encode(&public.e),
    }]});
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")});
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { Json(discovery) }),
        )
        .route("/jwks", get(move || async move { Json(jwks) }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    issuer
}

fn cli(db: &str, args: &[&str]) -> String {
    let output = Command::new(BIN)
        .args(args)
        .args(["--database-url", db])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn hmac_signature(body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, WEBHOOK_SECRET.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn upload_form(sha: &str, bytes: Vec<u8>) -> reqwest::multipart::Form {
    let meta = json!({
        "repo": "acme/app", "commit": sha, "branch": "feature", "pr": 5,
        "base_sha": "e".repeat(40),
    });
    reqwest::multipart::Form::new()
        .text("meta", meta.to_string())
        .part(
            "artifact",
            reqwest::multipart::Part::bytes(bytes).file_name("x86_64-unknown-linux-gnu/app"),
        )
}

async fn upload(url: &str, bearer: &str, sha: &str, bytes: Vec<u8>) -> u16 {
    reqwest::Client::new()
        .post(format!("{url}/api/v1/uploads"))
        .bearer_auth(bearer)
        .multipart(upload_form(sha, bytes))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn serve_at_trace_level_logs_no_secret() {
    sizegate_store::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let (pem, key) = rsa_key(dir.path());
    let github = FakeGitHub::start(
        FakeGitHubConfig::new(
            APP_ID,
            key.public().as_ref().to_vec(),
            Arc::new(SystemClock),
        )
        .with_repo("acme", "app", INSTALLATION),
    )
    .await
    .unwrap();
    let issuer = start_issuer(&key).await;

    let name = fresh_name("secrets");
    let plain_db = database_url(&name);
    let mut db = url::Url::parse(&plain_db).unwrap();
    db.set_password(Some(DB_PASSWORD)).unwrap(); // trust auth ignores it
    let db = db.to_string();
    let upload_token = cli(&db, &["token", "create", "acme/app"]);
    common::set_oidc(
        &db,
        "acme/app",
        common::oidc::REPOSITORY_ID,
        common::oidc::OWNER_ID,
    );
    let read_token = cli(&db, &["token", "create", "--read"]);
    assert!(upload_token.starts_with("sgu_") && read_token.starts_with("sgr_"));

    let stdout_path = dir.path().join("serve.stdout");
    let stderr_path = dir.path().join("serve.stderr");
    let mut server = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--poll-interval-ms",
            "200",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--analyzer")
        .arg(common::fake_analyzer())
        .env("DATABASE_URL", &db)
        .env("SIZEGATE_LOG", "trace")
        .env("SIZEGATE_PUBLIC_URL", PUBLIC_URL)
        .env("SIZEGATE_OIDC_ISSUER", &issuer)
        .env("SIZEGATE_GITHUB_APP_ID", APP_ID.to_string())
        .env("SIZEGATE_GITHUB_PRIVATE_KEY", &pem)
        .env("SIZEGATE_GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("SIZEGATE_GITHUB_API_URL", github.url())
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).unwrap())
        .stderr(File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let output = || {
        format!(
            "{}{}",
            std::fs::read_to_string(&stdout_path).unwrap_or_default(),
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        )
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = loop {
        let text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("listening on http://")) {
            let address = line.rsplit("http://").next().unwrap().trim();
            break format!("http://{address}");
        }
        assert!(Instant::now() < deadline, "serve did not start:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Uploads: a valid token (measured, then reported to the fake GitHub
    // with an App JWT and an installation token), a wrong secret behind a
    // real public id, garbage, and the read token in the wrong place.
    let sha = "c".repeat(40);
    assert_eq!(
        upload(&url, &upload_token, &sha, vec![1u8; 4096]).await,
        202
    );
    let public_id = upload_token.split('_').nth(1).unwrap();
    let forged_upload = format!("sgu_{public_id}_{}", "ab".repeat(32));
    assert_eq!(upload(&url, &forged_upload, &sha, vec![2u8; 64]).await, 401);
    assert_eq!(
        upload(&url, "sgu_not-even-close", &sha, vec![2u8; 64]).await,
        401
    );
    assert_eq!(upload(&url, &read_token, &sha, vec![2u8; 64]).await, 401);

    // OIDC: accepted once, refused when replayed, refused when tampered.
    let oidc = oidc_token(&key, &issuer, "jti-secrets-1");
    let oidc_sha = "d".repeat(40);
    assert_eq!(upload(&url, &oidc, &oidc_sha, vec![3u8; 2048]).await, 202);
    assert_eq!(upload(&url, &oidc, &oidc_sha, vec![3u8; 2048]).await, 401);
    let other = oidc_token(&key, &issuer, "jti-secrets-2");
    let tampered = format!("{}AAAA", &other[..other.len() - 4]);
    assert_eq!(upload(&url, &tampered, &oidc_sha, vec![3u8; 64]).await, 401);

    // Reading: the read token as a bearer, a forged one, a login (valid and
    // not), the session cookie, a forged cookie, and a logout.
    let forged_read = format!(
        "sgr_{}_{}",
        read_token.split('_').nth(1).unwrap(),
        "cd".repeat(32)
    );
    for bearer in [&read_token, &forged_read] {
        let status = client
            .get(format!("{url}/api/v1/repos"))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 200);
    }
    let login = |token: String| {
        client
            .post(format!("{url}/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    assert_eq!(
        login(forged_read.clone()).await.unwrap().status().as_u16(),
        401
    );
    let answer = login(read_token.clone()).await.unwrap();
    assert_eq!(answer.status().as_u16(), 303);
    let set_cookie = answer.headers()["set-cookie"].to_str().unwrap().to_owned();
    let session = set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let forged_session = "ef".repeat(32);
    for cookie in [&session, &forged_session] {
        let status = client
            .get(format!("{url}/"))
            .header("cookie", format!("sizegate_session={cookie}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 200);
    }

    // Webhooks: signed, and signed with another secret.
    let body = serde_json::to_vec(&json!({"zen": "Keep it logically awesome."})).unwrap();
    for (delivery, signature, expected) in [
        ("d-1", hmac_signature(&body), 200),
        ("d-2", format!("sha256={}", "0".repeat(64)), 401),
    ] {
        let status = client
            .post(format!("{url}/webhooks/github"))
            .header("x-github-event", "ping")
            .header("x-github-delivery", delivery)
            .header("x-hub-signature-256", signature)
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), expected);
    }

    // Wait for both commits to be measured and the first one reported to
    // the fake GitHub.
    common::wait_for_commit(&url, "acme/app", &oidc_sha).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while github.check_runs("acme", "app", &sha).is_empty() {
        assert!(
            Instant::now() < deadline,
            "nothing reported to GitHub:\n{}",
            output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let logout = client
        .post(format!("{url}/logout"))
        .header("cookie", format!("sizegate_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status().as_u16(), 303);

    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "serve did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }

    // What GitHub was sent: App JWTs and installation tokens.
    let mut github_credentials: Vec<String> = github
        .calls()
        .iter()
        .filter_map(|c| c.header("authorization"))
        .filter_map(|a| a.split_once(' ').map(|(_, secret)| secret.to_owned()))
        .collect();
    github_credentials.sort();
    github_credentials.dedup();
    assert!(
        github_credentials.iter().any(|c| c.starts_with("eyJ"))
            && github_credentials.iter().any(|c| c.starts_with("ghs_")),
        "expected App JWTs and installation tokens: {github_credentials:?}"
    );
    assert!(github.tokens_issued() >= 1);

    let mut secrets: Vec<(String, String)> = vec![
        ("upload token".into(), upload_token.clone()),
        (
            "upload token secret".into(),
            upload_token.rsplit('_').next().unwrap().into(),
        ),
        ("forged upload token".into(), forged_upload),
        ("read token".into(), read_token.clone()),
        (
            "read token secret".into(),
            read_token.rsplit('_').next().unwrap().into(),
        ),
        ("forged read token".into(), forged_read),
        ("session cookie".into(), session),
        ("forged session cookie".into(), forged_session),
        ("OIDC token".into(), oidc.clone()),
        (
            "OIDC token signature".into(),
            oidc.rsplit('.').next().unwrap().into(),
        ),
        ("tampered OIDC token".into(), tampered),
        ("webhook secret".into(), WEBHOOK_SECRET.into()),
        ("database password".into(), DB_PASSWORD.into()),
    ];
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        secrets.push(("App private key line".into(), line.to_owned()));
    }
    for credential in github_credentials {
        secrets.push(("credential sent to GitHub".into(), credential));
    }

    let logged = output();
    // The log is the real thing: trace level from our crates and the
    // libraries, covering the requests above.
    for expected in [
        "TRACE",
        "GitHub OIDC upload",
        "reported to GitHub",
        "status=401",
        "sizegate stopped",
    ] {
        assert!(logged.contains(expected), "log lacks {expected:?}");
    }
    assert!(logged.len() > 20_000, "only {} bytes logged", logged.len());
    let leaked: Vec<&str> = secrets
        .iter()
        .filter(|(_, secret)| logged.contains(secret.as_str()))
        .map(|(what, _)| what.as_str())
        .collect();
    assert!(
        leaked.is_empty(),
        "secrets in the log of `sizegate serve` at trace level: {leaked:?}"
    );
    drop_database(&name).await;
}
