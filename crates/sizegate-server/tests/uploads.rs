//! Uploads through real HTTP: measurement visible in the API, duplicates,
//! replacements, size limit, auth, malformed requests, analyzer failures.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use common::{TestServer, meta, sha};
use serde_json::{Value, json};

const REPO: &str = "acme/app";

#[sqlx::test(migrations = "../../migrations")]
async fn upload_is_measured_and_visible_in_the_api(pool: sqlx::PgPool) {
    let server = TestServer::start(pool).await;
    let token = server.token(REPO).await;
    let linux = vec![7u8; 3000];
    let wasm = vec![9u8; 1001];
    let (status, body) = server
        .upload(
            Some(&token),
            &json!({"repo": REPO, "commit": sha(1), "branch": "main", "ancestors": [sha(0)]}),
            &[
                ("x86_64-unknown-linux-gnu/app", linux.clone()),
                ("wasm32/app.wasm", wasm.clone()),
            ],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["commit"], sha(1));
    assert_eq!(
        body["status_url"],
        format!("{}/api/v1/repos/{REPO}/commits/{}", server.url, sha(1))
    );
    let targets = body["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    assert!(
        targets
            .iter()
            .all(|t| t["outcome"] == "created" && t["status"] == "queued")
    );
    assert_eq!(targets[0]["size"], 3000);
    assert_eq!(
        targets[0]["history_url"],
        format!(
            "{}/api/v1/repos/{REPO}/targets/x86_64-unknown-linux-gnu/app/history",
            server.url
        )
    );

    let commit = server.wait_complete(REPO, &sha(1)).await;
    let by_name = |name: &str| {
        commit["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["target"] == name)
            .cloned()
            .unwrap()
    };
    let linux_status = by_name("x86_64-unknown-linux-gnu/app");
    assert_eq!(linux_status["status"], "done", "{commit}");
    assert_eq!(linux_status["sizes"]["file"], 3000);
    assert_eq!(linux_status["sizes"]["shipped"], 1500);
    assert_eq!(linux_status["format"], "elf");
    // No baseline (the parent was never uploaded) and no budgets: neutral.
    assert_eq!(linux_status["verdict"], "neutral", "{commit}");
    assert_eq!(linux_status["baseline"], Value::Null);
    assert_eq!(commit["gate_status"], "completed", "{commit}");
    assert_eq!(commit["conclusion"], "neutral", "{commit}");
    assert_eq!(by_name("wasm32/app.wasm")["sizes"]["file"], 1001);
    assert_eq!(commit["branch"], "main");
    assert_eq!(commit["ancestors"], json!([sha(0)]));

    // History, with the `/` in the target name raw and percent-encoded.
    for path in [
        "x86_64-unknown-linux-gnu/app",
        "x86_64-unknown-linux-gnu%2Fapp",
    ] {
        let (status, history) = server
            .get(&format!("/api/v1/repos/{REPO}/targets/{path}/history"))
            .await;
        assert_eq!(status, 200, "{history}");
        assert_eq!(history["target"], "x86_64-unknown-linux-gnu/app");
        assert_eq!(history["points"][0]["sizes"]["shipped"], 1500);
        assert_eq!(history["points"][0]["commit"], sha(1));
    }
    let (status, _) = server
        .get(&format!("/api/v1/repos/{REPO}/targets/nope/history"))
        .await;
    assert_eq!(status, 404);

    let (_, repos) = server.get("/api/v1/repos").await;
    assert_eq!(repos[0]["owner"], "acme");
    assert_eq!(repos[0]["targets"], 2);
    let (_, repo) = server.get(&format!("/api/v1/repos/{REPO}")).await;
    assert_eq!(repo["targets"][0]["name"], "wasm32/app.wasm");
    assert_eq!(repo["targets"][1]["latest"]["sizes"]["file"], 3000);
    assert_eq!(server.get("/api/v1/repos/acme/none").await.0, 404);
    for path in [
        "/api/v1/repos/acme%00/app",
        "/api/v1/repos/acme/app/commits/abc",
        "/api/v1/repos/acme/app/commits/%00",
        "/api/v1/repos/acme/app/targets/a%00b/history",
        "/api/v1/repos/acme/app/targets/x86_64-unknown-linux-gnu/app",
    ] {
        let (status, body) = server.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _) = server
        .get(&format!(
            "/api/v1/repos/{REPO}/targets/wasm32/app.wasm/history?limit=0"
        ))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        server
            .get(&format!("/api/v1/repos/{REPO}/commits/{}", sha(99)))
            .await
            .0,
        404
    );

    // The stored report is in the blob store, compressed.
    let reports: Vec<_> = server
        .files()
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".json.zst"))
        .collect();
    assert_eq!(reports.len(), 2);
    let report = sizegate_store::measurements::decode_report(
        &std::fs::read(server.data.path().join(&reports[0])).unwrap(),
        1 << 20,
    )
    .unwrap();
    assert_eq!(report.symbols[0].name, "fake::main");

    let (status, metrics) = server.get_text("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("sizegate_uploads_total{outcome=\"accepted\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sizegate_upload_bytes_total 4001\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sizegate_jobs{state=\"done\"} 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sizegate_worker_jobs_total{outcome=\"done\"} 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sizegate_job_duration_seconds_count 2\n"),
        "{metrics}"
    );
    let (status, health) = server.get("/healthz").await;
    assert_eq!((status, health), (200, json!({"status": "ok"})));
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn duplicate_upload_is_idempotent_and_a_new_artifact_replaces(pool: sqlx::PgPool) {
    let server = TestServer::start(pool).await;
    let token = server.token(REPO).await;
    let artifact = ("linux/app", vec![1u8; 500]);
    let (status, first) = server
        .upload(
            Some(&token),
            &meta(REPO, &sha(1)),
            std::slice::from_ref(&artifact),
        )
        .await;
    assert_eq!(status, 202, "{first}");
    server.wait_complete(REPO, &sha(1)).await;

    let (status, again) = server
        .upload(Some(&token), &meta(REPO, &sha(1)), &[artifact])
        .await;
    assert_eq!(status, 200, "{again}");
    let (a, b) = (&first["targets"][0], &again["targets"][0]);
    assert_eq!(b["outcome"], "duplicate");
    assert_eq!(b["status"], "done");
    for key in ["build_id", "artifact_id", "job_id"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(server.store.pool())
        .await
        .unwrap();
    assert_eq!(jobs, 1);

    let (status, replaced) = server
        .upload(
            Some(&token),
            &meta(REPO, &sha(1)),
            &[("linux/app", vec![2u8; 800])],
        )
        .await;
    assert_eq!(status, 202, "{replaced}");
    let c = &replaced["targets"][0];
    assert_eq!(c["outcome"], "replaced");
    assert_eq!(c["replaced_build_id"], a["build_id"]);
    assert_ne!(c["job_id"], a["job_id"]);
    let commit = server.wait_complete(REPO, &sha(1)).await;
    assert_eq!(commit["targets"].as_array().unwrap().len(), 1);
    assert_eq!(commit["targets"][0]["sizes"]["file"], 800);
    assert_eq!(commit["targets"][0]["replaced_build_id"], a["build_id"]);

    // The same bytes on another commit: stored once, measured once.
    let (status, _) = server
        .upload(
            Some(&token),
            &meta(REPO, &sha(2)),
            &[("linux/app", vec![2u8; 800])],
        )
        .await;
    assert_eq!(status, 202);
    server.wait_complete(REPO, &sha(2)).await;
    let (artifacts, measurements): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM artifacts), (SELECT count(*) FROM measurements)",
    )
    .fetch_one(server.store.pool())
    .await
    .unwrap();
    assert_eq!((artifacts, measurements), (2, 2));
    let blobs = server
        .files()
        .iter()
        .filter(|p| p.starts_with("artifacts"))
        .count();
    assert_eq!(blobs, 2);
    let (_, history) = server
        .get(&format!(
            "/api/v1/repos/{REPO}/targets/linux/app/history?limit=1"
        ))
        .await;
    assert_eq!(history["points"].as_array().unwrap().len(), 1);
    assert_eq!(history["points"][0]["commit"], sha(2));
    let next = history["next"].as_str().unwrap().to_owned();
    let (_, older) = server.get(&next).await;
    assert_eq!(older["points"][0]["commit"], sha(1));
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_upload_over_the_request_total_is_refused_and_leaves_nothing(pool: sqlx::PgPool) {
    let config = sizegate_server::ServerConfig {
        max_upload_bytes: 6 << 20,
        ..sizegate_server::ServerConfig::for_tests()
    };
    let server = TestServer::start_with(pool, config, false).await;
    let token = server.token(REPO).await;
    // Each under the 4 MiB per-artifact limit; together over 6 MiB.
    let (status, body) = server
        .upload(
            Some(&token),
            &meta(REPO, &sha(1)),
            &[("a", vec![1u8; 3 << 20]), ("b", vec![2u8; (3 << 20) + 1])],
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        body["error"],
        "upload rejected: the artifacts of this upload add up to more than the limit of 6.0 MiB \
         for one request (SIZEGATE_MAX_UPLOAD_BYTES); upload fewer targets per request"
    );
    assert!(server.files().is_empty(), "{:?}", server.files());
    // Exactly at the total is fine.
    let (status, body) = server
        .upload(
            Some(&token),
            &meta(REPO, &sha(1)),
            &[("a", vec![1u8; 3 << 20]), ("b", vec![2u8; 3 << 20])],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_repository_over_its_storage_quota_gets_507(pool: sqlx::PgPool) {
    let config = sizegate_server::ServerConfig {
        repo_quota_bytes: 5 << 20,
        ..sizegate_server::ServerConfig::for_tests()
    };
    let server = TestServer::start_with(pool, config, false).await;
    let token = server.token(REPO).await;
    let other = server.token("acme/other").await;
    let upload = |token: String, n: u32, bytes: Vec<u8>, repo: &'static str| {
        let server = &server;
        async move {
            server
                .upload(Some(&token), &meta(repo, &sha(n)), &[("linux/app", bytes)])
                .await
        }
    };
    let (status, body) = upload(token.clone(), 1, vec![1u8; 3 << 20], REPO).await;
    assert_eq!(status, 202, "{body}");
    let files = server.files().len();
    // 3 MiB kept, 2 MiB left: 3 MiB more goes past the quota while streaming.
    let (status, body) = upload(token.clone(), 2, vec![2u8; 3 << 20], REPO).await;
    assert_eq!(status, 507, "{body}");
    assert_eq!(
        body["error"],
        "upload rejected: repository acme/app keeps 3.0 MiB of artifacts and its storage quota \
         is 5.0 MiB (SIZEGATE_REPO_QUOTA_BYTES); nothing was stored. Ask the operator to raise \
         the quota or to collect old builds (`sizegate gc`)"
    );
    assert_eq!(server.files().len(), files, "{:?}", server.files());
    // Another repository has a quota of its own.
    let (status, body) = upload(other, 1, vec![2u8; 3 << 20], "acme/other").await;
    assert_eq!(status, 202, "{body}");
    // 2 MiB fit exactly; then the quota is used up and refused at once.
    let (status, body) = upload(token.clone(), 3, vec![3u8; 2 << 20], REPO).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = upload(token, 4, vec![4u8; 1], REPO).await;
    assert_eq!(status, 507, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("keeps 5.0 MiB of artifacts"),
        "{body}"
    );
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn oversize_artifact_is_refused_and_leaves_nothing(pool: sqlx::PgPool) {
    let server = TestServer::start(pool).await;
    let token = server.token(REPO).await;
    let limit = sizegate_server::ServerConfig::for_tests().max_artifact_bytes as usize;
    let (status, body) = server
        .upload(
            Some(&token),
            &meta(REPO, &sha(1)),
            &[("small", vec![1u8; 10]), ("big", vec![0u8; limit + 1])],
        )
        .await;
    assert_eq!(status, 413, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("`big`") && message.contains("4.0 MiB"),
        "{message}"
    );
    assert!(message.contains("SIZEGATE_MAX_ARTIFACT_BYTES"), "{message}");
    assert!(server.files().is_empty(), "{:?}", server.files());
    let commits: i64 = sqlx::query_scalar("SELECT count(*) FROM commits")
        .fetch_one(server.store.pool())
        .await
        .unwrap();
    assert_eq!(commits, 0);

    // Exactly at the limit is fine.
    let (status, body) = server
        .upload(
            Some(&token),
            &meta(REPO, &sha(1)),
            &[("big", vec![0u8; limit])],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn bad_missing_revoked_and_wrong_repo_tokens(pool: sqlx::PgPool) {
    let server =
        TestServer::start_with(pool, sizegate_server::ServerConfig::for_tests(), false).await;
    let token = server.token(REPO).await;
    let other = server.token("acme/other").await;
    let artifact = [("linux/app", vec![1u8; 10])];
    let m = meta(REPO, &sha(1));

    let (status, body) = server.upload(None, &m, &artifact).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].as_str().unwrap().contains("Authorization"));
    let (status, _) = server
        .upload(Some("sgu_0000000000000000_00"), &m, &artifact)
        .await;
    assert_eq!(status, 401);
    let forged = format!("{}0", &token[..token.len() - 1]);
    let forged = if forged == token {
        format!("{}1", &token[..token.len() - 1])
    } else {
        forged
    };
    assert_eq!(server.upload(Some(&forged), &m, &artifact).await.0, 401);

    let (status, body) = server.upload(Some(&other), &m, &artifact).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("acme/other"),
        "{body}"
    );

    assert_eq!(server.upload(Some(&token), &m, &artifact).await.0, 202);
    server.store.revoke_upload_token(&token).await.unwrap();
    assert_eq!(server.upload(Some(&token), &m, &artifact).await.0, 401);
    assert!(
        server.files().iter().all(|p| !p.starts_with("tmp")),
        "{:?}",
        server.files()
    );
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn malformed_requests_get_clear_errors(pool: sqlx::PgPool) {
    let server =
        TestServer::start_with(pool, sizegate_server::ServerConfig::for_tests(), false).await;
    let token = server.token(REPO).await;
    let url = format!("{}/api/v1/uploads", server.url);
    let artifact = [("linux/app", vec![1u8; 10])];

    // Not multipart at all.
    let response = server
        .client
        .post(&url)
        .bearer_auth(&token)
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("multipart"),
        "{body}"
    );

    // A multipart body cut in the middle.
    let truncated =
        "--XYZ\r\nContent-Disposition: form-data; name=\"meta\"\r\n\r\n{\"repo\": \"acme/app\"";
    let response = server
        .client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body(truncated)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);

    // Artifact before meta.
    let form = reqwest::multipart::Form::new()
        .part(
            "a",
            reqwest::multipart::Part::bytes(vec![1u8; 4]).file_name("linux/app"),
        )
        .text("meta", meta(REPO, &sha(1)).to_string());
    let response = server
        .client
        .post(&url)
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);

    let long_name = "x".repeat(201);
    type Case<'a> = (Value, Vec<(&'a str, Vec<u8>)>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (json!({"repo": REPO}), artifact.to_vec(), 422, "commit"),
        (
            json!({"repo": REPO, "commit": "abc"}),
            artifact.to_vec(),
            422,
            "meta.commit",
        ),
        (
            json!({"repo": REPO, "commit": sha(1), "base_sha": "zz"}),
            artifact.to_vec(),
            422,
            "meta.base_sha",
        ),
        (
            json!({"repo": REPO, "commit": sha(1), "ancestors": ["x"]}),
            artifact.to_vec(),
            422,
            "meta.ancestors",
        ),
        (
            json!({"repo": REPO, "commit": sha(1), "pr": -1}),
            artifact.to_vec(),
            422,
            "meta.pr",
        ),
        (
            json!({"repo": "not a repo", "commit": sha(1)}),
            artifact.to_vec(),
            422,
            "meta.repo",
        ),
        (
            json!({"repo": REPO, "commit": sha(1), "config": "metric = \"file\"\u{0}"}),
            artifact.to_vec(),
            422,
            "meta.config",
        ),
        (meta(REPO, &sha(1)), vec![], 422, "no artifact"),
        (
            meta(REPO, &sha(1)),
            vec![("../etc/passwd", vec![1])],
            422,
            "`..`",
        ),
        (meta(REPO, &sha(1)), vec![("a\tb", vec![1])], 422, "control"),
        (
            meta(REPO, &sha(1)),
            vec![(long_name.as_str(), vec![1])],
            422,
            "200 characters",
        ),
        (
            meta(REPO, &sha(1)),
            vec![("a", vec![1]), ("a", vec![2])],
            422,
            "twice",
        ),
    ];
    for (m, artifacts, expected, needle) in cases {
        let (status, body) = server.upload(Some(&token), &m, &artifacts).await;
        assert_eq!(status, expected, "{m} {artifacts:?} -> {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(needle), "{m}: `{error}` lacks `{needle}`");
    }
    // Meta that is not JSON.
    let form = reqwest::multipart::Form::new().text("meta", "{not json");
    let response = server
        .client
        .post(&url)
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);

    let commits: i64 = sqlx::query_scalar("SELECT count(*) FROM commits")
        .fetch_one(server.store.pool())
        .await
        .unwrap();
    assert_eq!(commits, 0);
    assert!(server.files().is_empty(), "{:?}", server.files());
    let (_, metrics) = server.get_text("/metrics").await;
    assert!(
        metrics.contains("sizegate_uploads_total{outcome=\"rejected\"} 16\n"),
        "{metrics}"
    );
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn unparseable_artifacts_and_analyzer_crashes_fail_at_once(pool: sqlx::PgPool) {
    let server = TestServer::start(pool).await;
    let token = server.token(REPO).await;
    let (status, body) = server
        .upload(
            Some(&token),
            &meta(REPO, &sha(1)),
            &[
                ("rejected", b"REJECT\n".to_vec()),
                ("crashing", b"CRASH\n".to_vec()),
            ],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let commit = server.wait_complete(REPO, &sha(1)).await;
    let targets = commit["targets"].as_array().unwrap();
    let crashing = &targets[0];
    let rejected = &targets[1];
    assert_eq!(rejected["status"], "failed");
    assert_eq!(rejected["attempts"], 1);
    assert!(
        rejected["error"]
            .as_str()
            .unwrap()
            .starts_with("unsupported file format: fake rejection"),
        "{rejected}"
    );
    // Killed by a signal (SIGSEGV): the artifact makes it crash, and would
    // again, so it is not retried.
    assert_eq!(crashing["status"], "failed");
    assert_eq!(crashing["attempts"], 1);
    assert!(
        crashing["error"].as_str().unwrap().contains("crashed"),
        "{crashing}"
    );
    let (_, metrics) = server.get_text("/metrics").await;
    assert!(
        metrics.contains("sizegate_analyzer_failures_total 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sizegate_jobs{state=\"failed\"} 2\n"),
        "{metrics}"
    );

    // Uploading a failed artifact again (a CI re-run) queues its job again.
    let (status, again) = server
        .upload(
            Some(&token),
            &meta(REPO, &sha(1)),
            &[("rejected", b"REJECT\n".to_vec())],
        )
        .await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["targets"][0]["outcome"], "requeued");
    assert_eq!(again["targets"][0]["job_id"], rejected["job_id"]);
    let commit = server.wait_complete(REPO, &sha(1)).await;
    assert_eq!(commit["targets"][1]["status"], "failed");
    assert_eq!(commit["targets"][1]["attempts"], 1);
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn meta_sent_as_a_file_like_curl_does(pool: sqlx::PgPool) {
    let server =
        TestServer::start_with(pool, sizegate_server::ServerConfig::for_tests(), false).await;
    let token = server.token(REPO).await;
    let form = reqwest::multipart::Form::new()
        .part(
            "meta",
            reqwest::multipart::Part::text(meta(REPO, &sha(1)).to_string())
                .file_name("meta.json")
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "artifact",
            reqwest::multipart::Part::bytes(vec![1u8; 10]).file_name("linux/app"),
        );
    let response = server
        .client
        .post(format!("{}/api/v1/uploads", server.url))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["targets"][0]["target"], "linux/app");
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn healthz_reports_an_unreachable_database(pool: sqlx::PgPool) {
    let server =
        TestServer::start_with(pool, sizegate_server::ServerConfig::for_tests(), false).await;
    assert_eq!(server.get("/healthz").await.0, 200);
    server.store.pool().close().await;
    let (status, body) = server.get("/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "database unreachable");
    server.stop().await;
}
