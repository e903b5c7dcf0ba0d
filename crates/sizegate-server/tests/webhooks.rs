//! `POST /webhooks/github` without a GitHub App: signature and header
//! checks, the body limit, installations, and re-evaluation on request
//! (the reporter is off, so evaluations are stored as `disabled`).

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, meta, sha};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use sizegate_server::ServerConfig;

const SECRET: &str = "s3cret";
const REPO: &str = "acme/app";

fn signed(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn post(server: &TestServer, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Value) {
    let mut request = server
        .client
        .post(format!("{}/webhooks/github", server.url))
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn deliver(server: &TestServer, delivery: &str, event: &str, body: &Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let signature = signed(&bytes);
    post(
        server,
        &[
            ("x-github-event", event),
            ("x-github-delivery", delivery),
            ("x-hub-signature-256", &signature),
        ],
        bytes,
    )
    .await
}

async fn with_secret(pool: sqlx::PgPool) -> TestServer {
    let config = ServerConfig {
        webhook_secret: Some(SECRET.to_owned()),
        ..ServerConfig::for_tests()
    };
    TestServer::start_with(pool, config, true).await
}

/// Send `head` (request line and headers) on a raw connection and no body
/// at all, and return the answer's status line: the server must answer
/// without waiting for the body it was promised.
async fn status_without_sending_the_body(server: &TestServer, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = server.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(read.is_ok(), "no answer: the server waited for the body");
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_bad_or_missing_signature_is_refused_before_the_body_is_read(pool: sqlx::PgPool) {
    let server = with_secret(pool).await;
    let head = |signature: &str| {
        format!(
            "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: ping\r\n\
             X-GitHub-Delivery: d1\r\n{signature}Content-Length: 20000000\r\n\r\n"
        )
    };
    for signature in [
        "",
        "X-Hub-Signature-256: sha1=abc\r\n",
        "X-Hub-Signature-256: sha256=nothex\r\n",
    ] {
        let status = status_without_sending_the_body(&server, &head(signature)).await;
        assert!(
            status.starts_with("HTTP/1.1 401"),
            "{signature:?}: {status}"
        );
    }
    // Well-formed, but promising more than the limit: 413 unread.
    let signature = format!("X-Hub-Signature-256: {}\r\n", signed(b"x"));
    let over = head(&signature).replace("20000000", &(26u64 << 20).to_string());
    let status = status_without_sending_the_body(&server, &over).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn refused_without_secret_signature_or_headers(pool: sqlx::PgPool) {
    let server = TestServer::start_with(pool.clone(), ServerConfig::for_tests(), false).await;
    let (status, body) = deliver(&server, "d1", "ping", &json!({})).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("SIZEGATE_GITHUB_WEBHOOK_SECRET")
    );
    server.stop().await;

    let server = with_secret(pool).await;
    let (status, _) = post(
        &server,
        &[("x-github-event", "ping"), ("x-github-delivery", "d1")],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 401);
    let signature = signed(b"{}");
    let (status, body) = post(
        &server,
        &[
            ("x-github-delivery", "d1"),
            ("x-hub-signature-256", &signature),
        ],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post(
        &server,
        &[
            ("x-github-event", "pull_request"),
            ("x-github-delivery", "d2"),
            ("x-hub-signature-256", &signature),
        ],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let big = vec![b' '; sizegate_server::MAX_WEBHOOK_BYTES + 1];
    let signature = signed(&big);
    let (status, _) = post(
        &server,
        &[
            ("x-github-event", "ping"),
            ("x-github-delivery", "d3"),
            ("x-hub-signature-256", &signature),
        ],
        big,
    )
    .await;
    assert_eq!(status, 413);
    let deliveries: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries")
        .fetch_one(server.store.pool())
        .await
        .unwrap();
    assert_eq!(deliveries, 0);
    // An event sizegate does not act on is recorded and ignored.
    let (status, body) = deliver(&server, "d4", "ping", &json!({"zen": "hi"})).await;
    assert_eq!(
        (status, &body["evaluations_requested"]),
        (200, &json!(0)),
        "{body}"
    );
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn installations_are_recorded(pool: sqlx::PgPool) {
    let server = with_secret(pool).await;
    let installation = |action: &str| {
        json!({
            "action": action,
            "installation": { "id": 9, "account": { "login": "acme" } },
            "repositories": [{ "full_name": REPO }],
        })
    };
    let (status, body) = deliver(&server, "i1", "installation", &installation("created")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        server.store.installation_repositories(9).await.unwrap(),
        Some(vec![REPO.to_owned()])
    );
    let added = json!({
        "action": "added",
        "installation": { "id": 9 },
        "repositories_added": [{ "full_name": "acme/lib" }],
        "repositories_removed": [{ "full_name": REPO }],
    });
    let (status, body) = deliver(&server, "i2", "installation_repositories", &added).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        server.store.installation_repositories(9).await.unwrap(),
        Some(vec!["acme/lib".to_owned()])
    );
    let (status, _) = deliver(&server, "i3", "installation", &installation("deleted")).await;
    assert_eq!(status, 200);
    assert_eq!(
        server.store.installation_repositories(9).await.unwrap(),
        None
    );
    server.stop().await;
}

/// Installation payloads teach a registered repository GitHub's ids (which
/// OIDC uploads must then carry) and that it is private: it disappears for
/// anonymous readers without an admin command. A later payload with other
/// ids (a re-created repository) does not overwrite them.
#[sqlx::test(migrations = "../../migrations")]
async fn installation_payloads_teach_ids_and_privacy(pool: sqlx::PgPool) {
    let server = with_secret(pool).await;
    server.token(REPO).await;
    let (status, _) = server.get("/api/v1/repos/acme/app").await;
    assert_eq!(status, 200, "public until GitHub says otherwise");
    let installation = json!({
        "action": "created",
        "installation": { "id": 9, "account": { "login": "acme", "id": 77 } },
        "repositories": [{ "id": 4242, "full_name": REPO, "private": true }],
    });
    let (status, body) = deliver(&server, "p1", "installation", &installation).await;
    assert_eq!(status, 200, "{body}");
    let name = sizegate_store::RepoName::parse(REPO).unwrap();
    let settings = server
        .store
        .repository_settings(&name)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (settings.github_id, settings.github_owner_id),
        (Some(4242), Some(77))
    );
    assert!(settings.private);
    assert!(!settings.oidc_enabled, "learning ids does not turn OIDC on");
    let (status, _) = server.get("/api/v1/repos/acme/app").await;
    assert_eq!(
        status, 404,
        "private repositories are hidden from anonymous readers"
    );

    let recreated = json!({
        "action": "added",
        "installation": { "id": 9, "account": { "login": "acme", "id": 78 } },
        "repositories_added": [{ "id": 5353, "full_name": REPO, "private": false }],
        "repositories_removed": [],
    });
    let (status, body) = deliver(&server, "p2", "installation_repositories", &recreated).await;
    assert_eq!(status, 200, "{body}");
    let kept = server
        .store
        .repository_settings(&name)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (kept.github_id, kept.github_owner_id),
        (Some(4242), Some(77))
    );
    assert!(kept.private);
    server.stop().await;
}

/// Label events are ordered by the pull request's `updated_at`: a delivery
/// that arrives late (older state) does not undo a newer one.
#[sqlx::test(migrations = "../../migrations")]
async fn late_label_deliveries_do_not_undo_newer_ones(pool: sqlx::PgPool) {
    let server = with_secret(pool).await;
    server.token(REPO).await;
    let event = |action: &str, labels: Value, updated_at: &str| {
        json!({
            "action": action,
            "number": 4,
            "label": { "name": "size-approved" },
            "pull_request": {
                "number": 4,
                "head": { "sha": sha(3), "ref": "feature" },
                "base": { "sha": sha(2), "ref": "main" },
                "labels": labels,
                "updated_at": updated_at,
            },
            "repository": { "full_name": REPO, "id": 4242, "owner": { "id": 77 }, "default_branch": "main" },
        })
    };
    let newer = event("unlabeled", json!([]), "2026-12-04T10:00:05Z");
    let older = event(
        "labeled",
        json!([{ "name": "size-approved" }]),
        "2026-12-04T10:00:01Z",
    );
    assert_eq!(deliver(&server, "l2", "pull_request", &newer).await.0, 200);
    assert_eq!(deliver(&server, "l1", "pull_request", &older).await.0, 200);
    let repository = server
        .store
        .find_repository("acme", "app")
        .await
        .unwrap()
        .unwrap();
    let state = server
        .store
        .pull_request(repository.id, 4)
        .await
        .unwrap()
        .unwrap();
    assert!(
        state.labels.is_empty(),
        "the late `labeled` was ignored: {state:?}"
    );
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_delivery_whose_handling_failed_is_handled_when_redelivered(pool: sqlx::PgPool) {
    let server = with_secret(pool).await;
    // An installation id past i64 cannot be stored: handling fails after the
    // signature and parsing passed.
    let failing = json!({
        "action": "created",
        "installation": { "id": u64::MAX, "account": { "login": "acme" } },
        "repositories": [{ "full_name": REPO }],
    });
    let (status, body) = deliver(&server, "f1", "installation", &failing).await;
    assert_eq!(status, 422, "{body}");
    // The same delivery id again (GitHub's redelivery, here with a payload
    // that can be handled) is handled, not dropped as a duplicate.
    let good = json!({
        "action": "created",
        "installation": { "id": 11, "account": { "login": "acme" } },
        "repositories": [{ "full_name": REPO }],
    });
    let (status, body) = deliver(&server, "f1", "installation", &good).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["duplicate"], false, "{body}");
    assert_eq!(
        server.store.installation_repositories(11).await.unwrap(),
        Some(vec![REPO.to_owned()])
    );
    // Once handled, a redelivery is the usual no-op.
    let (status, body) = deliver(&server, "f1", "installation", &good).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["duplicate"], true, "{body}");
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn rerequested_checks_are_evaluated_again(pool: sqlx::PgPool) {
    let server = with_secret(pool).await;
    let token = server.token(REPO).await;
    let (status, body) = server
        .upload(
            Some(&token),
            &meta(REPO, &sha(1)),
            &[("linux/app", vec![b'a'; 1000])],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    server.wait_complete(REPO, &sha(1)).await;
    let report_path = format!("/api/v1/repos/{REPO}/commits/{}/report", sha(1));
    let (status, report) = server.get(&report_path).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["report_state"], "disabled", "{report}");
    assert!(
        report["comment_markdown"]
            .as_str()
            .unwrap()
            .starts_with("<!--")
    );
    let revision = report["revision"].as_i64().unwrap();

    let rerequest = json!({
        "action": "rerequested",
        "check_suite": { "head_sha": sha(1), "head_branch": "main", "pull_requests": [] },
        "repository": { "full_name": REPO },
        "installation": { "id": 9 },
    });
    let (status, body) = deliver(&server, "c1", "check_suite", &rerequest).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["evaluations_requested"], 1, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, report) = server.get(&report_path).await;
        if report["revision"].as_i64().unwrap() > revision {
            break;
        }
        assert!(Instant::now() < deadline, "not re-evaluated: {report}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Unknown commits and repositories: nothing to do.
    let mut unknown = rerequest.clone();
    unknown["check_suite"]["head_sha"] = json!(sha(9));
    let (status, body) = deliver(&server, "c2", "check_suite", &unknown).await;
    assert_eq!(
        (status, &body["evaluations_requested"]),
        (200, &json!(0)),
        "{body}"
    );
    let (status, _) = server
        .get(&format!("/api/v1/repos/{REPO}/commits/{}/report", sha(9)))
        .await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_changed_base_is_the_new_baseline(pool: sqlx::PgPool) {
    let server = with_secret(pool).await;
    let token = server.token(REPO).await;
    for (commit, len) in [(sha(1), 1000), (sha(2), 1200)] {
        let (status, body) = server
            .upload(
                Some(&token),
                &meta(REPO, &commit),
                &[("linux/app", vec![b'a'; len])],
            )
            .await;
        assert_eq!(status, 202, "{body}");
    }
    let mut pr_meta = meta(REPO, &sha(3));
    pr_meta["pr"] = json!(4);
    pr_meta["base_sha"] = json!(sha(1));
    let (status, body) = server
        .upload(Some(&token), &pr_meta, &[("linux/app", vec![b'b'; 1300])])
        .await;
    assert_eq!(status, 202, "{body}");
    for n in 1..=3 {
        server.wait_complete(REPO, &sha(n)).await;
    }
    let baseline = |commit: Value| commit["targets"][0]["baseline"]["sha"].clone();
    assert_eq!(
        baseline(server.wait_complete(REPO, &sha(3)).await),
        json!(sha(1))
    );

    let edited = json!({
        "action": "edited",
        "number": 4,
        "changes": { "base": { "ref": { "from": "main" } } },
        "pull_request": {
            "number": 4,
            "head": { "sha": sha(3), "ref": "feature" },
            "base": { "sha": sha(2), "ref": "release" },
            "labels": [],
        },
        "repository": { "full_name": REPO },
    });
    let (status, body) = deliver(&server, "e1", "pull_request", &edited).await;
    assert_eq!(
        (status, &body["evaluations_requested"]),
        (200, &json!(1)),
        "{body}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let commit = server.wait_complete(REPO, &sha(3)).await;
        if baseline(commit.clone()) == json!(sha(2)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "base change not applied: {commit}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_merged_pull_request_is_remembered_by_its_merge_commit(pool: sqlx::PgPool) {
    let server = with_secret(pool).await;
    server.token(REPO).await;
    let closed = |number: u64, merged: bool, merge_sha: String, login: &str| {
        json!({
            "action": "closed",
            "number": number,
            "pull_request": {
                "number": number,
                "head": { "sha": sha(3), "ref": "feature" },
                "base": { "sha": sha(2), "ref": "main" },
                "merged": merged,
                "merge_commit_sha": merge_sha,
                "user": { "login": login },
            },
            "repository": { "full_name": REPO, "id": 4242, "owner": { "id": 77 }, "default_branch": "main" },
        })
    };
    let body = closed(5, true, sha(0xabc).to_uppercase(), "octo-cat");
    assert_eq!(deliver(&server, "m1", "pull_request", &body).await.0, 200);
    // Closed without merging: its merge_commit_sha is only a test merge.
    let body = closed(6, false, sha(10), "someone");
    assert_eq!(deliver(&server, "m2", "pull_request", &body).await.0, 200);
    // A login GitHub could not have sent is dropped, the merge kept.
    let body = closed(8, true, sha(11), "<script>");
    assert_eq!(deliver(&server, "m3", "pull_request", &body).await.0, 200);
    let repository = server
        .store
        .find_repository("acme", "app")
        .await
        .unwrap()
        .unwrap();
    let merged = |s: String| {
        let store = server.store.clone();
        async move { store.merged_pull_request(repository.id, &s).await.unwrap() }
    };
    assert_eq!(
        merged(sha(0xabc)).await,
        Some((5, Some("octo-cat".to_owned())))
    );
    assert_eq!(merged(sha(10)).await, None);
    assert_eq!(merged(sha(11)).await, Some((8, None)));
    server.stop().await;
}

/// GitHub's real `push` payload with `commits[]` and `head_commit` in the
/// documented shape.
fn push_payload(commits: &[(&str, Option<&str>)]) -> Value {
    let mut payload: Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../sizegate-github/tests/fixtures/webhooks/push.with-installation.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let entries: Vec<Value> = commits
        .iter()
        .map(|(id, login)| {
            let mut author = json!({ "name": "Octo Cat", "email": "octocat@example.com" });
            if let Some(login) = login {
                author["username"] = json!(login);
            }
            json!({ "id": id, "message": "a change", "author": author })
        })
        .collect();
    payload["head_commit"] = entries.last().cloned().unwrap_or(Value::Null);
    payload["commits"] = Value::Array(entries);
    payload
}

async fn step_alert(server: &TestServer, repository_id: i64, commit: &str) -> i64 {
    let target_id: i64 = sqlx::query_scalar(
        "INSERT INTO targets (repository_id, name) VALUES ($1, 'linux/app')
         ON CONFLICT (repository_id, name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    )
    .bind(repository_id)
    .fetch_one(server.store.pool())
    .await
    .unwrap();
    server
        .store
        .insert_alert(&sizegate_store::alerts::NewAlert {
            repository_id,
            target_id,
            metric: sizegate_analyze::Metric::File,
            branch: "main".into(),
            commit_sha: commit.to_owned(),
            range_start_sha: None,
            before_size: 100_000,
            after_size: 105_000,
            percent: 5.0,
            author_login: None,
            pr_number: None,
            changes: json!({}),
        })
        .await
        .unwrap()
        .unwrap()
}

#[sqlx::test(migrations = "../../migrations")]
async fn push_webhooks_name_the_authors_of_alerts(pool: sqlx::PgPool) {
    let server = with_secret(pool).await;
    let name = sizegate_store::RepoName::parse("Codertocat/Hello-World").unwrap();
    let repository_id = server.store.ensure_repository(&name).await.unwrap();
    let (c1, c2, c3) = (sha(0xc1), sha(0xc2), sha(0xc3));

    // An alert found before the push arrives has no author yet.
    let first = step_alert(&server, repository_id, &c1).await;
    let author = |id: i64| {
        let store = server.store.clone();
        async move {
            store
                .alert(repository_id, id)
                .await
                .unwrap()
                .unwrap()
                .author
        }
    };
    assert_eq!(author(first).await, None);

    // The push names it; a commit without a GitHub login is not kept, and
    // no e-mail address is.
    let push = push_payload(&[(&c1, Some("octocat")), (&c2, None)]);
    let (status, body) = deliver(&server, "p1", "push", &push).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(author(first).await.as_deref(), Some("octocat"));
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT sha, login FROM commit_authors ORDER BY sha")
            .fetch_all(server.store.pool())
            .await
            .unwrap();
    assert_eq!(rows, vec![(c1.clone(), "octocat".to_owned())]);

    // Redelivered under a new id: still one row, same author.
    let (status, body) = deliver(&server, "p2", "push", &push).await;
    assert_eq!(status, 200, "{body}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM commit_authors")
        .fetch_one(server.store.pool())
        .await
        .unwrap();
    assert_eq!(count, 1);

    // A push before the alert: the alert is created with its author.
    let (status, body) = deliver(
        &server,
        "p3",
        "push",
        &push_payload(&[(&c3, Some("hubot"))]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let second = step_alert(&server, repository_id, &c3).await;
    assert_eq!(author(second).await.as_deref(), Some("hubot"));

    // The feed and the alerts page say who.
    let feed = server
        .client
        .get(format!(
            "{}/repos/Codertocat/Hello-World/alerts.atom",
            server.url
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        feed.contains("by @octocat") && feed.contains("by @hubot"),
        "{feed}"
    );
    let page = server
        .client
        .get(format!(
            "{}/repos/Codertocat/Hello-World/alerts",
            server.url
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("by @octocat"), "{page}");
    assert!(!page.contains("octocat@example.com") && !feed.contains("example.com"));
    server.stop().await;
}
