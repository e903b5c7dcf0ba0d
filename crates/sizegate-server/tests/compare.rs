//! The release to release report over a real server on a random port:
//! `GET /api/v1/repos/{o}/{r}/compare/{base}...{head}` and its page, over a
//! long history seeded through the store's own functions with five
//! injected steps; revisions by tag, sha and sha prefix; the errors; and
//! `meta.tag` on uploads (who may tag, a re-tag moves the tag).

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use common::TestServer;
use common::seed::{self, X86};
use serde_json::{Value, json};
use sizegate_server::ServerConfig;
use sizegate_store::RepoName;
use sizegate_store::blob::LocalBlobStore;
use sizegate_store::uploads::CommitMeta;

/// Commits of the seeded history.
const COMMITS: u64 = 200;
/// Where the steps are (index of the first commit at the new level) and
/// their size in bytes.
const STEPS: [(u64, i64); 5] = [
    (30, 40_000),
    (70, -25_000),
    (110, 60_000),
    (150, 30_000),
    (180, -50_000),
];

fn shipped_at(i: u64) -> u64 {
    shipped_with(&STEPS, i)
}

fn shipped_with(steps: &[(u64, i64)], i: u64) -> u64 {
    let level: i64 = steps
        .iter()
        .filter(|(at, _)| i >= *at)
        .map(|(_, d)| *d)
        .sum();
    // A little noise, far under the 0.5% threshold of a step.
    let noise = (i * 37 % 7) as i64 * 20;
    (1_000_000 + level + noise) as u64
}

/// 200 main commits of acme/app (tags `v1.0` on the first, `v2.0` on the
/// last) and a pull request build in between that must not count.
async fn seed_history(server: &TestServer) -> Vec<String> {
    seed_steps(server, COMMITS, &STEPS).await
}

/// `commits` main commits with `steps`; see [`seed_history`].
async fn seed_steps(server: &TestServer, commits: u64, steps: &[(u64, i64)]) -> Vec<String> {
    let blobs = LocalBlobStore::open(server.data.path()).await.unwrap();
    let mut shas = Vec::new();
    for i in 0..commits {
        let sha = seed::sha(0x5000 + i);
        let shipped = shipped_with(steps, i);
        // The regex unit carries the third step, so it shows as moved.
        let regex = if i >= steps[2].0 { 80_000 } else { 20_000 };
        let tag = match i {
            0 => Some("v1.0".to_owned()),
            i if i == commits - 1 => Some("v2.0".to_owned()),
            _ => None,
        };
        let meta = CommitMeta {
            sha: sha.clone(),
            branch: Some("main".into()),
            config: Some(seed::CONFIG.into()),
            tag,
            ..CommitMeta::default()
        };
        seed::upload(
            &server.store,
            &blobs,
            "acme/app",
            meta,
            &[(X86, seed::report("app", shipped, regex, 0x5000 + i))],
        )
        .await;
        if i == 90 {
            // A pull request build far off the main level.
            let meta = CommitMeta {
                sha: seed::sha(0x9000),
                branch: Some("feature".into()),
                pr_number: Some(4),
                base_sha: Some(sha.clone()),
                ..CommitMeta::default()
            };
            seed::upload(
                &server.store,
                &blobs,
                "acme/app",
                meta,
                &[(X86, seed::report("app", 2_000_000, 20_000, 0x9000))],
            )
            .await;
        }
        shas.push(sha);
    }
    shas
}

#[sqlx::test(migrations = "../../migrations")]
async fn compare_between_first_and_last_commit_lists_the_five_steps(pool: sqlx::PgPool) {
    let server = TestServer::start_with(pool, ServerConfig::for_tests(), false).await;
    let shas = seed_history(&server).await;

    let (status, body) = server
        .get("/api/v1/repos/acme/app/compare/v1.0...v2.0")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["base"]["sha"], shas[0]);
    assert_eq!(body["base"]["tag"], "v1.0");
    assert_eq!(body["head"]["sha"], shas[COMMITS as usize - 1]);
    assert_eq!(body["head"]["tag"], "v2.0");
    assert_eq!(body["head"]["branch"], "main");
    assert_eq!(body["metric"], "shipped");
    let targets = body["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1, "{body}");
    let target = &targets[0];
    assert_eq!(target["target"], X86);
    let (first, last) = (shipped_at(0), shipped_at(COMMITS - 1));
    assert_eq!(target["base_size"], first);
    assert_eq!(target["head_size"], last);
    assert_eq!(target["delta"], last as i64 - first as i64);

    let steps = target["steps"].as_array().unwrap();
    let found: Vec<(&str, &str, i64)> = steps
        .iter()
        .map(|s| {
            (
                s["commit"].as_str().unwrap(),
                s["previous"].as_str().unwrap(),
                s["delta"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(&str, &str)> = STEPS
        .iter()
        .map(|(at, _)| (shas[*at as usize].as_str(), shas[*at as usize - 1].as_str()))
        .collect();
    assert_eq!(
        found.iter().map(|(c, p, _)| (*c, *p)).collect::<Vec<_>>(),
        expected,
        "{steps:#?}"
    );
    for ((_, _, delta), (_, injected)) in found.iter().zip(STEPS) {
        // The medians carry a little noise: within 200 bytes of the step.
        assert!((delta - injected).abs() < 200, "{delta} vs {injected}");
        assert!(
            steps
                .iter()
                .all(|s| s["before"].is_u64() && s["after"].is_u64())
        );
    }
    // The units that moved: the regex unit grew by 60,000 bytes.
    let regex = target["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "regex")
        .unwrap_or_else(|| panic!("{target:#}"));
    assert_eq!(regex["base"], 20_000);
    assert_eq!(regex["head"], 80_000);
    assert_eq!(regex["delta"], 60_000);
    assert_eq!(regex["kind"], "crate");

    // The same range by full sha and by sha prefix.
    for range in [
        format!("{}...{}", shas[0], shas[199]),
        format!("{}...{}", &shas[0][..7], &shas[199][..12].to_uppercase()),
        format!("v1.0...{}", &shas[199][..9]),
    ] {
        let (status, again) = server
            .get(&format!("/api/v1/repos/acme/app/compare/{range}"))
            .await;
        assert_eq!(status, 200, "{range}: {again}");
        assert_eq!(again["targets"][0]["steps"], target["steps"], "{range}");
    }
    // Reversed: the same five change points, from the other end.
    let (status, reversed) = server
        .get("/api/v1/repos/acme/app/compare/v2.0...v1.0")
        .await;
    assert_eq!(status, 200);
    assert_eq!(reversed["targets"][0]["delta"], first as i64 - last as i64);
    assert_eq!(reversed["targets"][0]["steps"].as_array().unwrap().len(), 5);

    // The page lists the five steps, each linking to its commit page.
    let (status, html) = server.get_text("/repos/acme/app/compare/v1.0...v2.0").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Steps between (5)"), "{html}");
    for (at, _) in STEPS {
        let sha = &shas[at as usize];
        assert!(
            html.contains(&format!(
                "href=\"/repos/acme/app/commits/{sha}\">{}</a>",
                &sha[..7]
            )),
            "step {at} missing"
        );
    }
    assert!(html.contains("v1.0 ("), "{html}");
    assert!(html.contains("regex"));
    // The repository page offers the form and the tags.
    let (status, repo_page) = server.get_text("/repos/acme/app").await;
    assert_eq!(status, 200);
    assert!(repo_page.contains("action=\"/repos/acme/app/compare\""));
    assert!(
        repo_page.contains("href=\"/repos/acme/app/compare/v1.0...v2.0\""),
        "{repo_page}"
    );
    // The form redirects to the page.
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!(
            "{}/repos/acme/app/compare?base=v1.0&head=v2.0",
            server.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/repos/acme/app/compare/v1.0...v2.0"
    );
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn revisions_errors_tags_and_access(pool: sqlx::PgPool) {
    let server = TestServer::start_with(pool, ServerConfig::for_tests(), false).await;
    let blobs = LocalBlobStore::open(server.data.path()).await.unwrap();
    // Two commits sharing their first 8 digits, a third apart.
    let a = format!("abcdef12{}", "0".repeat(32));
    let b = format!("abcdef12{}", "1".repeat(32));
    let c = "c".repeat(40);
    for (i, sha) in [&a, &b, &c].into_iter().enumerate() {
        let meta = CommitMeta {
            sha: sha.clone(),
            branch: Some("main".into()),
            ..CommitMeta::default()
        };
        let targets: Vec<(&str, _)> = if i == 2 {
            vec![("linux/new", seed::report("new", 50_000, 10_000, 77))]
        } else {
            vec![(
                X86,
                seed::report("app", 100_000 + i as u64, 10_000, i as u64),
            )]
        };
        seed::upload(&server.store, &blobs, "acme/app", meta, &targets).await;
    }
    let get = |path: String| {
        let server = &server;
        async move {
            server
                .get(&format!("/api/v1/repos/acme/app/compare/{path}"))
                .await
        }
    };
    let (status, body) = get(format!("abcdef1...{c}")).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("ambiguous"),
        "{body}"
    );
    assert!(body["error"].as_str().unwrap().contains(&a), "{body}");
    let (status, body) = get(format!("v9...{c}")).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("base `v9`"),
        "{body}"
    );
    let (status, body) = get(format!("{a}..{c}")).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("BASE...HEAD"),
        "{body}"
    );
    let (status, body) = get(format!("{}...{c}", &a[..6])).await;
    assert_eq!(status, 404, "a 6-digit prefix is too short: {body}");

    // A target on one side only has null sizes on the other.
    let (status, body) = get(format!("{a}...{c}")).await;
    assert_eq!(status, 200, "{body}");
    let targets = body["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2, "{body}");
    let new = targets.iter().find(|t| t["target"] == "linux/new").unwrap();
    assert_eq!(new["base_size"], Value::Null);
    assert_eq!(new["head_size"], 50_000);
    assert_eq!(new["delta"], Value::Null);
    let old = targets.iter().find(|t| t["target"] == X86).unwrap();
    assert_eq!(old["head_size"], Value::Null);
    assert_eq!(old["steps"], json!([]));

    // Tags through the upload API: a push may tag, a re-tag moves it, a
    // pull request may not, and a name git refuses is refused.
    let token = server.token("acme/app").await;
    let upload = |commit: &str, extra: Value| {
        let mut meta = json!({"repo": "acme/app", "commit": commit, "branch": "main"});
        meta.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        meta
    };
    // The same bytes each time: later uploads are duplicates, tags still move.
    let artifact = [("linux/app", b"tagged build".to_vec())];
    let (status, body) = server
        .upload(Some(&token), &upload(&a, json!({"tag": "v1.0"})), &artifact)
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = get(format!("v1.0...{c}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["base"]["sha"], a);
    assert_eq!(body["base"]["tag"], "v1.0");
    let (status, body) = server
        .upload(Some(&token), &upload(&b, json!({"tag": "v1.0"})), &artifact)
        .await;
    assert!(status == 200 || status == 202, "{body}");
    let (_, body) = get(format!("v1.0...{c}")).await;
    assert_eq!(body["base"]["sha"], b, "the re-tag moved v1.0");
    let (status, body) = server
        .upload(
            Some(&token),
            &upload(&c, json!({"tag": "v3.0", "pr": 5, "base_sha": a})),
            &artifact,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("pull request"),
        "{body}"
    );
    for bad in [
        "v1..2",
        "v1 2",
        "v1/",
        "v1.lock",
        &"v".repeat(201),
        "a\u{0}b",
    ] {
        let (status, body) = server
            .upload(Some(&token), &upload(&c, json!({"tag": bad})), &artifact)
            .await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert!(
            body["error"].as_str().unwrap().starts_with("meta.tag"),
            "{body}"
        );
    }
    let (_, body) = get(format!("v3.0...{c}")).await;
    assert!(
        body["error"].as_str().unwrap().contains("v3.0"),
        "never tagged: {body}"
    );

    // A private repository is not found without a read token.
    server
        .store
        .set_repository_private(&RepoName::parse("acme/app").unwrap(), true)
        .await
        .unwrap();
    let (status, _) = get(format!("{a}...{c}")).await;
    assert_eq!(status, 404);
    let (status, _) = server
        .get_text(&format!("/repos/acme/app/compare/{a}...{c}"))
        .await;
    assert_eq!(status, 404);
    server.stop().await;
}

/// The proof at full size: 1,000 commits with five steps (seeding takes
/// about 20 s). It also prints the time of the API answer and of the page
/// (loopback round trips, median of 10; see BENCHMARKS.md) rather than
/// asserting it: `cargo nextest run -p sizegate-server --test compare
/// --no-capture`.
#[sqlx::test(migrations = "../../migrations")]
async fn compare_over_1000_commits_lists_the_five_steps(pool: sqlx::PgPool) {
    let server = TestServer::start_with(pool, ServerConfig::for_tests(), false).await;
    let steps = [
        (150, 40_000),
        (350, -25_000),
        (550, 60_000),
        (750, 30_000),
        (900, -50_000),
    ];
    let shas = seed_steps(&server, 1000, &steps).await;
    let (status, body) = server
        .get("/api/v1/repos/acme/app/compare/v1.0...v2.0")
        .await;
    assert_eq!(status, 200, "{body}");
    let found: Vec<&str> = body["targets"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["commit"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = steps
        .iter()
        .map(|(at, _)| shas[*at as usize].as_str())
        .collect();
    assert_eq!(found, expected);
    let mut timings = Vec::new();
    for path in [
        "/api/v1/repos/acme/app/compare/v1.0...v2.0",
        "/repos/acme/app/compare/v1.0...v2.0",
    ] {
        let mut times = Vec::new();
        for _ in 0..10 {
            let started = std::time::Instant::now();
            let (status, html) = server.get_text(path).await;
            times.push(started.elapsed());
            assert_eq!(status, 200);
            if path.starts_with("/repos") {
                assert!(html.contains("Steps between (5)"));
            }
        }
        times.sort();
        timings.push(format!(
            "{path}: median {:.1} ms, max {:.1} ms",
            times[5].as_secs_f64() * 1e3,
            times[9].as_secs_f64() * 1e3
        ));
    }
    println!("compare over 1,000 commits: {}", timings.join("; "));
    server.stop().await;
}
