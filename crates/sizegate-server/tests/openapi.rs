//! `/api/v1/openapi.json` against the code and a running server: every
//! `/api/v1` route registered in the server's source is described, every
//! described GET route answers, and real answers (uploads, repositories,
//! commits, reports, gates, history, errors) match the described schemas:
//! each required field present, each field of the right type, and no field
//! the description leaves out.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::TestServer;
use serde_json::{Value, json};

/// The `/api/v1` paths registered with `.route("…"` in the server's
/// source, in OpenAPI form (`{*rest}` is the history route's wildcard).
fn routes_in_source() -> BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut routes = BTreeSet::new();
    let mut files = vec![dir];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let compact: String = text.split_whitespace().collect();
        for piece in compact.split(".route(\"").skip(1) {
            let route = piece.split('"').next().unwrap();
            if route.starts_with("/api/v1") {
                routes.insert(
                    route
                        .replace("{*rest}", "{target}/history")
                        .replace("compare/{range}", "compare/{base}...{head}"),
                );
            }
        }
    }
    routes
}

/// Check `value` against `schema` (the subset utoipa writes: `$ref`,
/// `type` (one or a list), `properties`/`required`, `items`, `oneOf`,
/// `anyOf`, `allOf`); the errors, with their JSON path.
fn check(doc: &Value, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        let target = &doc["components"]["schemas"][name];
        assert!(!target.is_null(), "dangling {reference}");
        return check(doc, target, value, path, errors);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let fits = options.iter().any(|option| {
                let mut inner = Vec::new();
                check(doc, option, value, path, &mut inner);
                inner.is_empty()
            });
            if !fits {
                errors.push(format!("{path}: {value} fits none of {key} {schema}"));
            }
            return;
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for part in all {
            check(doc, part, value, path, errors);
        }
        return;
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let ok = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
        if !ok {
            errors.push(format!("{path}: {actual} where the schema says {types:?}"));
            return;
        }
    }
    match value {
        Value::Object(map) => {
            let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
                return; // a free-form object
            };
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap();
                if !map.contains_key(name) {
                    errors.push(format!("{path}: required `{name}` is missing"));
                }
            }
            for (name, field) in map {
                match properties.get(name) {
                    Some(sub) => check(doc, sub, field, &format!("{path}.{name}"), errors),
                    None => errors.push(format!("{path}: `{name}` is not described")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(doc, item_schema, item, &format!("{path}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
}

/// The schema of the `status` answer of `method path` (an OpenAPI path).
fn response_schema<'a>(doc: &'a Value, method: &str, path: &str, status: u16) -> &'a Value {
    let schema = &doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]
        ["schema"];
    assert!(
        !schema.is_null(),
        "{method} {path} describes no JSON answer for {status}"
    );
    schema
}

fn assert_matches(doc: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let mut errors = Vec::new();
    check(
        doc,
        response_schema(doc, method, path, status),
        body,
        "$",
        &mut errors,
    );
    assert!(
        errors.is_empty(),
        "{method} {path} {status}:\n{}\n{body:#}",
        errors.join("\n")
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_description_covers_every_route_and_matches_real_answers(pool: sqlx::PgPool) {
    let server = TestServer::start(pool).await;
    let (status, doc) = server.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );

    // Every route of the code is described.
    let described: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let registered = routes_in_source();
    let undescribed: Vec<_> = registered.difference(&described).collect();
    assert!(
        undescribed.is_empty(),
        "routes without a description: {undescribed:?}"
    );
    let unserved: Vec<_> = described.difference(&registered).collect();
    assert!(
        unserved.is_empty(),
        "described but not registered: {unserved:?}"
    );

    // Real answers.
    let token = server.token("acme/app").await;
    let sha = "1f".repeat(20);
    let base = "2e".repeat(20);
    let config = "[[budget]]\ntarget = \"*\"\nmax_size = \"1 MiB\"\n";
    let (status, body) = server
        .upload(
            Some(&token),
            &json!({"repo": "acme/app", "commit": base, "branch": "main", "config": config,
                    "tag": "v1.0"}),
            &[
                ("linux/app", vec![b'a'; 3000]),
                ("linux/cli", vec![b'c'; 2000]),
            ],
        )
        .await;
    assert_matches(&doc, "post", "/api/v1/uploads", status, &body);
    let (status, body) = server
        .upload(
            Some(&token),
            &json!({"repo": "acme/app", "commit": sha, "branch": "feature", "pr": 7,
                    "base_sha": base, "config": config}),
            &[
                ("linux/app", vec![b'b'; 4000]),
                ("linux/cli", b"REJECT\n".to_vec()),
            ],
        )
        .await;
    assert_matches(&doc, "post", "/api/v1/uploads", status, &body);
    // An error answer.
    let (status, body) = server.upload(None, &json!({}), &[]).await;
    assert_matches(&doc, "post", "/api/v1/uploads", status, &body);

    // Wait for both commits to be judged.
    for commit in [&base, &sha] {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (_, gate) = server
                .get(&format!("/api/v1/repos/acme/app/commits/{commit}/gate"))
                .await;
            if gate["final"] == true {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "not judged: {gate}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // A stored alert for the alert routes.
    let repo_id = server
        .store
        .find_repository("acme", "app")
        .await
        .unwrap()
        .unwrap()
        .id;
    let target_id: i64 = sqlx::query_scalar("SELECT id FROM targets WHERE name = 'linux/app'")
        .fetch_one(server.store.pool())
        .await
        .unwrap();
    let alert_id = server
        .store
        .insert_alert(&sizegate_store::alerts::NewAlert {
            repository_id: repo_id,
            target_id,
            metric: sizegate_analyze::Metric::Shipped,
            branch: "main".into(),
            commit_sha: base.clone(),
            range_start_sha: Some(sha.clone()),
            before_size: 2000,
            after_size: 3000,
            percent: 50.0,
            author_login: None,
            pr_number: None,
            changes: json!({"units": [{"name": "app", "delta": 1000}], "symbols": [], "causes": []}),
        })
        .await
        .unwrap()
        .unwrap();
    let alert_url = format!("{}/api/v1/repos/acme/app/alerts/{alert_id}", server.url);
    for (token, state, expected) in [
        (Some(&token), "acknowledged", 200),
        (Some(&token), "gone", 400),
        (None, "resolved", 401),
    ] {
        let mut request = server
            .client
            .post(&alert_url)
            .json(&json!({"state": state}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, expected, "{body}");
        assert_matches(
            &doc,
            "post",
            "/api/v1/repos/{owner}/{repo}/alerts/{id}",
            status,
            &body,
        );
    }

    // The feed and the dashboard page show it; private repositories stay hidden.
    for (path, needle) in [
        (
            "/repos/acme/app/alerts.atom",
            "<feed xmlns=\"http://www.w3.org/2005/Atom\">",
        ),
        ("/repos/acme/app/alerts", "acknowledged"),
        ("/repos/acme/app/targets/linux/app", "linux/app"),
    ] {
        let response = server
            .client
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let text = response.text().await.unwrap();
        assert!(text.contains(needle), "{path}: {text}");
        assert!(
            text.contains(&alert_id.to_string()) || path.contains("targets"),
            "{path}"
        );
    }

    let gets = [
        (
            "/api/v1/repos/{owner}/{repo}/alerts",
            "/api/v1/repos/acme/app/alerts".to_owned(),
        ),
        (
            "/api/v1/repos/{owner}/{repo}/alerts",
            "/api/v1/repos/acme/nope/alerts".to_owned(),
        ),
        ("/api/v1/repos", "/api/v1/repos".to_owned()),
        (
            "/api/v1/repos/{owner}/{repo}",
            "/api/v1/repos/acme/app".into(),
        ),
        (
            "/api/v1/repos/{owner}/{repo}/targets",
            "/api/v1/repos/acme/app/targets".into(),
        ),
        (
            "/api/v1/repos/{owner}/{repo}/commits/{sha}",
            format!("/api/v1/repos/acme/app/commits/{sha}"),
        ),
        (
            "/api/v1/repos/{owner}/{repo}/commits/{sha}",
            format!("/api/v1/repos/acme/app/commits/{base}"),
        ),
        (
            "/api/v1/repos/{owner}/{repo}/commits/{sha}/report",
            format!("/api/v1/repos/acme/app/commits/{sha}/report"),
        ),
        (
            "/api/v1/repos/{owner}/{repo}/commits/{sha}/gate",
            format!("/api/v1/repos/acme/app/commits/{sha}/gate"),
        ),
        (
            "/api/v1/repos/{owner}/{repo}/targets/{target}/history",
            "/api/v1/repos/acme/app/targets/linux/app/history?limit=1".into(),
        ),
        (
            "/api/v1/repos/{owner}/{repo}/compare/{base}...{head}",
            format!("/api/v1/repos/acme/app/compare/v1.0...{}", &sha[..9]),
        ),
        (
            "/api/v1/repos/{owner}/{repo}/compare/{base}...{head}",
            format!("/api/v1/repos/acme/app/compare/v0.9...{sha}"),
        ),
        (
            "/api/v1/repos/{owner}/{repo}",
            "/api/v1/repos/acme/nope".into(),
        ),
        (
            "/api/v1/repos/{owner}/{repo}/commits/{sha}/report",
            format!("/api/v1/repos/acme/app/commits/{}/report", "3d".repeat(20)),
        ),
        (
            "/api/v1/repos/{owner}/{repo}/targets/{target}/history",
            "/api/v1/repos/acme/app/targets/linux/app/history?limit=0".into(),
        ),
    ];
    let mut answered = BTreeSet::new();

    // A resumable upload: open, one chunk, read the offset, finish; and an
    // error answer of each route.
    let content = b"session artifact".to_vec();
    let sha256 = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(&content))
    };
    let answer = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (status, body)
    };
    let (status, opened) = answer(
        server
            .client
            .post(format!("{}/api/v1/upload-sessions", server.url))
            .bearer_auth(&token)
            .json(
                &json!({"meta": {"repo": "acme/app", "commit": "4c".repeat(20), "branch": "main"},
                          "target": "linux/app", "size": content.len()}),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{opened}");
    assert_matches(&doc, "post", "/api/v1/upload-sessions", status, &opened);
    let session = format!("{}{}", server.url, opened["url"].as_str().unwrap());
    let (status, body) = answer(
        server
            .client
            .patch(&session)
            .bearer_auth(&token)
            .header(
                "content-range",
                format!("bytes 0-{}/{}", content.len() - 1, content.len()),
            )
            .body(content.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_matches(&doc, "patch", "/api/v1/upload-sessions/{id}", status, &body);
    let (status, body) = answer(
        server
            .client
            .get(&session)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["offset"], content.len());
    assert_matches(&doc, "get", "/api/v1/upload-sessions/{id}", status, &body);
    answered.insert("/api/v1/upload-sessions/{id}");
    let (status, body) = answer(
        server
            .client
            .put(&session)
            .bearer_auth(&token)
            .json(&json!({"sha256": sha256}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(status < 300, "{status} {body}");
    assert_matches(&doc, "put", "/api/v1/upload-sessions/{id}", status, &body);
    let (status, body) = answer(
        server
            .client
            .get(&session)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_matches(&doc, "get", "/api/v1/upload-sessions/{id}", status, &body);

    for (described_path, url) in &gets {
        let (status, body) = server.get(url).await;
        assert_matches(&doc, "get", described_path, status, &body);
        if status == 200 {
            answered.insert(*described_path);
        }
    }
    // Every described GET route answered 200 at least once.
    for (path, item) in doc["paths"].as_object().unwrap() {
        if item.get("get").is_some() && path != "/api/v1/openapi.json" {
            assert!(answered.contains(path.as_str()), "{path} was not exercised");
        }
    }
    server.stop().await;
}
