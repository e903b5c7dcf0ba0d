//! The server's hardening, over a seeded database: the security headers on
//! every page and answer (anonymous and logged in), 413 for oversized
//! bodies on every route that does not bound its body itself (uploads and
//! webhooks keep their larger limits), and no way out of a directory
//! through target names (multipart filenames) or URL paths.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use common::seed::{self, X86};
use common::{TestServer, meta, sha};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use sizegate_server::ServerConfig;
use sizegate_server::security::{CONTENT_SECURITY_POLICY, MAX_REQUEST_BYTES};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WEBHOOK_SECRET: &str = "security-test-webhook-secret";

async fn start(pool: sqlx::PgPool) -> (TestServer, seed::Seeded) {
    let config = ServerConfig {
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        ..ServerConfig::for_tests()
    };
    let server = TestServer::start_with(pool, config, false).await;
    let seeded = seed::seed(&server.store, server.data.path()).await;
    (server, seeded)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Log in with the read token; returns the `Cookie` header value.
async fn login(server: &TestServer, read_token: &str) -> String {
    let answer = client()
        .post(format!("{}/login", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={read_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 303);
    let cookie = answer.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

fn assert_security_headers(what: &str, headers: &reqwest::header::HeaderMap, cache: &str) {
    let get = |name: &str| {
        headers
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no {name} header"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        get("content-security-policy"),
        CONTENT_SECURITY_POLICY,
        "{what}"
    );
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("referrer-policy"), "same-origin", "{what}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert_eq!(get("cache-control"), cache, "{what}");
    let policy = get("content-security-policy");
    assert!(policy.contains("frame-ancestors 'none'"), "{what}");
    assert!(!policy.contains("unsafe"), "{what}: {policy}");
}

#[sqlx::test(migrations = "../../migrations")]
async fn every_page_and_answer_carries_the_security_headers(pool: sqlx::PgPool) {
    let (server, seeded) = start(pool).await;
    let cookie = login(&server, &seeded.read_token).await;
    let pages = [
        "/".to_owned(),
        "/login".to_owned(),
        "/repos/acme/app".to_owned(),
        format!("/repos/acme/app/targets/{X86}"),
        format!("/repos/acme/app/commits/{}", seeded.main[8]),
        "/repos/acme/app/pulls/7".to_owned(),
        "/repos/acme/secret".to_owned(),
        "/repos/acme/secret/targets/secret-target".to_owned(),
        "/repos/acme/nope".to_owned(),
        "/api/v1/repos".to_owned(),
        "/api/v1/repos/acme/app".to_owned(),
        "/api/v1/repos/acme/app/targets".to_owned(),
        format!("/api/v1/repos/acme/app/commits/{}", seeded.main[8]),
        format!("/api/v1/repos/acme/app/commits/{}/report", seeded.main[8]),
        format!("/api/v1/repos/acme/app/targets/{X86}/history"),
        "/api/v1/repos/acme/secret".to_owned(),
        "/healthz".to_owned(),
        "/metrics".to_owned(),
        "/no/such/page".to_owned(),
    ];
    let client = client();
    for path in &pages {
        for session in [None, Some(&cookie)] {
            let mut request = client.get(format!("{}{path}", server.url));
            if let Some(cookie) = session {
                request = request.header("cookie", cookie);
            }
            let answer = request.send().await.unwrap();
            let what = format!("GET {path} (logged in: {})", session.is_some());
            assert!(
                answer.status().as_u16() < 500,
                "{what}: {}",
                answer.status()
            );
            assert_security_headers(&what, answer.headers(), "no-store");
        }
    }
    // A private page as the logged-in reader sees it is never cached.
    let answer = client
        .get(format!("{}/repos/acme/secret", server.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_security_headers("private page", answer.headers(), "no-store");

    // Answers to writes and to refused requests carry them too.
    let bad_login = client
        .post(format!("{}/login", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=sgr_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_login.status().as_u16(), 401);
    assert_security_headers("failed login", bad_login.headers(), "no-store");
    let good_login = client
        .post(format!("{}/login", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", seeded.read_token))
        .send()
        .await
        .unwrap();
    assert_eq!(good_login.status().as_u16(), 303);
    assert_security_headers("login", good_login.headers(), "no-store");
    let logout = client
        .post(format!("{}/logout", server.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_security_headers("logout", logout.headers(), "no-store");
    let upload = client
        .post(format!("{}/api/v1/uploads", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status().as_u16(), 401);
    assert_security_headers("refused upload", upload.headers(), "no-store");
    let webhook = client
        .post(format!("{}/webhooks/github", server.url))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(webhook.status().as_u16(), 401);
    assert_security_headers("refused webhook", webhook.headers(), "no-store");

    // The stylesheet is the one answer that may be cached.
    let style = client
        .get(format!("{}/static/style.css", server.url))
        .send()
        .await
        .unwrap();
    assert_security_headers("stylesheet", style.headers(), "public, max-age=3600");
    server.stop().await;
}

/// The policy needs no exception: no page has a script, an inline style,
/// an inline event handler or anything from another origin.
#[sqlx::test(migrations = "../../migrations")]
async fn pages_need_nothing_the_policy_forbids(pool: sqlx::PgPool) {
    let (server, seeded) = start(pool).await;
    for path in [
        "/".to_owned(),
        "/login".to_owned(),
        "/repos/acme/app".to_owned(),
        format!("/repos/acme/app/targets/{X86}"),
        format!("/repos/acme/app/commits/{}", seeded.main[8]),
        "/repos/acme/app/pulls/7".to_owned(),
        "/repos/acme/nope".to_owned(),
    ] {
        let (_, body) = server.get_text(&path).await;
        let lower = body.to_ascii_lowercase();
        for forbidden in [
            "<script",
            "<style",
            " style=",
            " onclick=",
            " onload=",
            "javascript:",
            "src=\"http",
            "href=\"http",
            "url(",
            "<iframe",
        ] {
            assert!(!lower.contains(forbidden), "{path} has {forbidden}");
        }
    }
    server.stop().await;
}

fn signed(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[sqlx::test(migrations = "../../migrations")]
async fn oversized_bodies_get_413_on_every_route_without_a_limit_of_its_own(pool: sqlx::PgPool) {
    let (server, seeded) = start(pool).await;
    let client = client();
    let big = vec![b'a'; MAX_REQUEST_BYTES + 1];
    let routes = [
        ("GET", "/".to_owned()),
        ("GET", "/login".to_owned()),
        ("POST", "/login".to_owned()),
        ("POST", "/logout".to_owned()),
        ("GET", "/static/style.css".to_owned()),
        ("GET", "/repos/acme/app".to_owned()),
        ("GET", format!("/repos/acme/app/targets/{X86}")),
        ("GET", format!("/repos/acme/app/commits/{}", seeded.main[8])),
        ("GET", "/repos/acme/app/pulls/7".to_owned()),
        ("GET", "/api/v1/repos".to_owned()),
        ("GET", "/api/v1/repos/acme/app/targets".to_owned()),
        (
            "GET",
            format!("/api/v1/repos/acme/app/commits/{}", seeded.main[8]),
        ),
        (
            "GET",
            format!("/api/v1/repos/acme/app/targets/{X86}/history"),
        ),
        ("GET", "/healthz".to_owned()),
        ("GET", "/metrics".to_owned()),
    ];
    for (method, path) in &routes {
        let answer = client
            .request(method.parse().unwrap(), format!("{}{path}", server.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 413, "{method} {path}");
        let body: serde_json::Value = answer.json().await.unwrap();
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("larger than the limit"),
            "{method} {path}: {body}"
        );
    }

    // A chunked body declares no length: the form extractor stops at the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..=MAX_REQUEST_BYTES / 1024)
        .map(|_| Ok(vec![b'a'; 1024]))
        .collect();
    let answer = client
        .post(format!("{}/login", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 413, "chunked login form");

    // Just under the limit, the login form is read (and the token refused).
    let mut form = b"token=".to_vec();
    form.resize(MAX_REQUEST_BYTES, b'a');
    let answer = client
        .post(format!("{}/login", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);

    // Uploads and webhooks keep their own, larger limits.
    let token = server.token("acme/app").await;
    let (status, body) = server
        .upload(
            Some(&token),
            &meta("acme/app", &sha(77)),
            &[("big/app", vec![7u8; 1 << 20])],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let payload = json!({"zen": "a".repeat(4 * MAX_REQUEST_BYTES)}).to_string();
    let answer = client
        .post(format!("{}/webhooks/github", server.url))
        .header("x-github-event", "ping")
        .header("x-github-delivery", "security-1")
        .header("x-hub-signature-256", signed(payload.as_bytes()))
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    server.stop().await;
}

/// A multipart upload whose artifact part has `filename` exactly as given.
fn raw_multipart(filename: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(
        b"--XBOUNDARYX\r\nContent-Disposition: form-data; name=\"meta\"\r\n\r\n",
    );
    body.extend_from_slice(meta("acme/app", &sha(1)).to_string().as_bytes());
    body.extend_from_slice(
        b"\r\n--XBOUNDARYX\r\nContent-Disposition: form-data; name=\"artifact\"; filename=\"",
    );
    body.extend_from_slice(filename);
    body.extend_from_slice(b"\"\r\nContent-Type: application/octet-stream\r\n\r\n");
    body.extend_from_slice(&[0x7f, b'E', b'L', b'F', 1, 2, 3]);
    body.extend_from_slice(b"\r\n--XBOUNDARYX--\r\n");
    body
}

/// Send `GET path` byte for byte (HTTP clients would normalize `..`).
async fn raw_get(server: &TestServer, path: &str) -> (u16, String) {
    let address = server.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{path}: no status line in {answer:?}"));
    (status, answer)
}

#[sqlx::test(migrations = "../../migrations")]
async fn target_names_and_paths_cannot_leave_their_directory(pool: sqlx::PgPool) {
    let (server, _) = start(pool).await;
    let files_before = server.files();
    let count_builds = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM builds")
            .fetch_one(server.store.pool())
            .await
            .unwrap()
    };
    let builds_before = count_builds().await;
    let token = server.token("acme/app").await;
    let client = client();
    let names: [&[u8]; 14] = [
        b"..",
        b"../../etc/passwd",
        b"x86/../../escape",
        b"/etc/passwd",
        b"/tmp/escape",
        b"..\\..\\windows\\escape",
        b"a\\b",
        b"app\0.so",
        b"%2e%2e/%2e%2e/etc/passwd",
        b"%2E%2E%2Fescape",
        b"x86/%2e%2e/%2e%2e/escape",
        b"%252e%252e/escape",
        b"a/./b",
        b"a//b",
    ];
    for name in names {
        let answer = client
            .post(format!("{}/api/v1/uploads", server.url))
            .bearer_auth(&token)
            .header("content-type", "multipart/form-data; boundary=XBOUNDARYX")
            .body(raw_multipart(name))
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let body = answer.text().await.unwrap();
        let shown = String::from_utf8_lossy(name);
        assert!(status == 422 || status == 400, "{shown:?}: {status} {body}");
        if !name.contains(&0) {
            assert_eq!(status, 422, "{shown:?}: {body}");
            assert!(body.contains("target name"), "{shown:?}: {body}");
        }
    }
    // Nothing was recorded, nothing written (not even a temporary file).
    assert_eq!(count_builds().await, builds_before);
    assert_eq!(server.files(), files_before);
    assert!(!std::path::Path::new("/tmp/escape").exists());

    // URL paths: decoded or not, a name with `..`, a NUL or a backslash is
    // just a name that is not found; nothing is read from the disk.
    for path in [
        "/repos/acme/app/targets/../../../../etc/passwd",
        "/repos/acme/app/targets/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/repos/acme/app/targets/%2e%2e/%2e%2e/etc/passwd",
        "/repos/acme/app/targets/..%5C..%5Cwindows",
        "/repos/acme/app/targets/app%00.so",
        "/repos/acme/app/targets/%252e%252e/etc/passwd",
        "/repos/..%2F..%2Fetc/passwd",
        "/repos/%2e%2e/%2e%2e",
        "/repos/acme%00/app",
        "/repos/acme/app/commits/..%2F..%2Fetc%2Fpasswd",
        "/repos/acme/app/pulls/..%2F1",
        "/api/v1/repos/acme/app/targets/..%2F..%2Fetc%2Fpasswd/history",
        "/api/v1/repos/acme/app/targets/../../etc/passwd/history",
        "/api/v1/repos/acme/app/targets/%00/history",
        "/api/v1/repos/%2e%2e/app",
        "/api/v1/repos/acme/app/commits/%2e%2e",
        "/static/../../../../etc/passwd",
        "/static/..%2F..%2F..%2Fetc%2Fpasswd",
        "/static/%2e%2e/style.css",
        "//etc/passwd",
    ] {
        let (status, answer) = raw_get(&server, path).await;
        assert!(status == 404 || status == 400, "{path}: {status}\n{answer}");
        assert!(!answer.contains("root:"), "{path}: {answer}");
    }
    // A branch with a NUL in the query string is refused before it
    // reaches the database (it used to be a 500).
    for path in [
        "/repos/acme/app?branch=%00".to_owned(),
        format!("/repos/acme/app/targets/{X86}?branch=ma%00in"),
        format!("/api/v1/repos/acme/app/targets/{X86}/history?branch=%00"),
    ] {
        let (status, answer) = raw_get(&server, &path).await;
        assert_eq!(status, 400, "{path}\n{answer}");
    }
    server.stop().await;
}

#[test]
fn server_config_debug_leaves_the_webhook_secret_out() {
    let config = ServerConfig {
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        ..ServerConfig::default()
    };
    let shown = format!("{config:?}");
    assert!(!shown.contains(WEBHOOK_SECRET), "{shown}");
    assert!(
        shown.contains("webhook_secret: Some(\"<redacted>\")"),
        "{shown}"
    );
}
