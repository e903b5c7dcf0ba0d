//! The dashboard pages over a seeded database: the data each page must
//! show, checked with an HTML parser and CSS selectors, the query-string
//! state of the target page, and access control for private repositories
//! (pages, home list and JSON API).

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use common::TestServer;
use common::seed::{self, WASM, X86, main_size};
use scraper::{Html, Selector};
use sizegate_analyze::human;
use sizegate_server::ServerConfig;

async fn start(pool: sqlx::PgPool) -> (TestServer, seed::Seeded) {
    let server = TestServer::start_with(pool, ServerConfig::for_tests(), false).await;
    let seeded = seed::seed(&server.store, server.data.path()).await;
    (server, seeded)
}

async fn page(server: &TestServer, path: &str) -> Html {
    let (status, body) = server.get_text(path).await;
    assert_eq!(status, 200, "{path}: {body}");
    Html::parse_document(&body)
}

fn texts(doc: &Html, selector: &str) -> Vec<String> {
    let selector = Selector::parse(selector).unwrap();
    doc.select(&selector)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

fn attrs(doc: &Html, selector: &str, attr: &str) -> Vec<String> {
    let selector = Selector::parse(selector).unwrap();
    doc.select(&selector)
        .filter_map(|e| e.value().attr(attr).map(str::to_owned))
        .collect()
}

fn target_path(target: &str) -> String {
    format!("/repos/acme/app/targets/{target}")
}

#[sqlx::test(migrations = "../../migrations")]
async fn home_lists_public_repositories_with_latest_size_and_sparkline(pool: sqlx::PgPool) {
    let (server, _) = start(pool).await;
    let doc = page(&server, "/").await;
    assert_eq!(texts(&doc, "section.repo h2 a"), ["acme/app"]);
    assert_eq!(
        texts(&doc, "table.targets tbody th a"),
        [WASM, X86],
        "targets by name"
    );
    let sizes = texts(&doc, "table.targets td.size");
    assert_eq!(sizes[1], human::size(main_size(11).0));
    assert_eq!(sizes[0], human::size(600_000 + 110));
    let first = main_size(0).0;
    let last = main_size(11).0;
    let change = texts(&doc, "table.targets tbody tr td.up");
    assert!(
        change.contains(&format!(
            "{} ({})",
            human::delta((last - first) as i64),
            human::percent((last - first) as i64, first)
        )),
        "{change:?}"
    );
    assert_eq!(attrs(&doc, "svg.spark polyline", "points").len(), 2);
    assert_eq!(
        attrs(&doc, "link[rel=stylesheet]", "href"),
        ["/static/style.css"]
    );
    let (status, css) = server.get_text("/static/style.css").await;
    assert_eq!(status, 200);
    assert!(css.contains("prefers-color-scheme: dark"));
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn repository_page_shows_metrics_budget_headroom_and_branches(pool: sqlx::PgPool) {
    let (server, _) = start(pool).await;
    let doc = page(&server, "/repos/acme/app").await;
    assert_eq!(texts(&doc, "#branch option"), ["feature", "main"]);
    assert_eq!(attrs(&doc, "#branch option[selected]", "value"), ["main"]);
    assert_eq!(
        texts(&doc, "table.targets thead th"),
        [
            "Target", "file", "shipped", "gzip", "zstd", "Budget", "Headroom"
        ]
    );
    let (shipped, _) = main_size(11);
    let x86_row = Selector::parse("table.targets tbody tr").unwrap();
    let rows: Vec<_> = doc.select(&x86_row).collect();
    assert_eq!(rows.len(), 2);
    let x86 = Html::parse_fragment(&format!("<table>{}</table>", rows[1].html()));
    assert_eq!(texts(&x86, "th a"), [X86]);
    let sizes = texts(&x86, ".size");
    assert_eq!(sizes[1], human::size(shipped));
    assert_eq!(sizes[0], human::size(shipped + 10_000));
    assert_eq!(texts(&x86, ".budget"), ["2.0 MiB (shipped)"]);
    assert_eq!(
        texts(&x86, ".headroom"),
        [human::delta(2 * 1024 * 1024 - shipped as i64)]
    );
    let wasm = Html::parse_fragment(&format!("<table>{}</table>", rows[0].html()));
    assert_eq!(texts(&wasm, ".budget"), ["none"]);

    // The feature branch shows the pull request's head.
    let doc = page(&server, "/repos/acme/app?branch=feature").await;
    assert_eq!(texts(&doc, "table.targets tbody th a"), [X86]);
    assert_eq!(
        texts(&doc, "table.targets .size")[1],
        human::size(main_size(11).0 + 20_000)
    );
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn target_page_charts_the_branch_with_budget_steps_and_links(pool: sqlx::PgPool) {
    let (server, seeded) = start(pool).await;
    let doc = page(&server, &target_path(X86)).await;
    assert_eq!(texts(&doc, "h1"), [X86]);
    // One clickable point per commit of main, each to its commit page.
    let links = attrs(&doc, "svg.trend a", "href");
    let expected: Vec<String> = seeded
        .main
        .iter()
        .map(|s| format!("/repos/acme/app/commits/{s}"))
        .collect();
    assert_eq!(links, expected);
    let titles = texts(&doc, "svg.trend circle title");
    assert!(titles[8].starts_with(&seeded.main[8][..7]), "{}", titles[8]);
    assert!(titles[8].contains(&human::size(main_size(8).0)));
    assert!(titles[8].ends_with(&human::delta(201 * 1024)));
    assert_eq!(attrs(&doc, "svg.trend line.budget", "y1").len(), 1);
    assert!(!attrs(&doc, "svg.trend", "aria-label")[0].is_empty());
    // The +201 KiB step is marked and listed.
    assert_eq!(attrs(&doc, "svg.trend circle.step", "cx").len(), 1);
    assert_eq!(
        texts(&doc, "ul.steps li"),
        [format!(
            "{} at {}",
            human::delta(201 * 1024),
            &seeded.main[8][..7]
        )]
    );
    // The commit table, newest first, with deltas.
    let rows = texts(&doc, "table.commits tbody td code");
    assert_eq!(rows.len(), 12);
    assert_eq!(rows[0], seeded.main[11][..7]);
    assert_eq!(texts(&doc, "table.commits tbody td.same"), ["—"]);

    // State in the query string: metric, count and threshold.
    let doc = page(
        &server,
        &format!(
            "{}?metric=file&count=5&threshold=512&branch=main",
            target_path(X86)
        ),
    )
    .await;
    assert_eq!(attrs(&doc, "svg.trend a", "href").len(), 5);
    assert_eq!(attrs(&doc, "#metric option[selected]", "value"), ["file"]);
    assert_eq!(attrs(&doc, "#count", "value"), ["5"]);
    assert_eq!(
        texts(&doc, "table.commits td.size")[0],
        human::size(main_size(11).0 + 10_000)
    );
    assert_eq!(
        texts(&doc, "ul.steps li").len(),
        4,
        "every 1 KiB step is over 512 B"
    );
    assert!(
        attrs(&doc, "svg.trend line.budget", "y1").is_empty(),
        "the budget is in shipped"
    );
    // A date range in the future is empty but renders.
    let doc = page(&server, &format!("{}?since=2999-01-01", target_path(WASM))).await;
    assert!(attrs(&doc, "svg.trend a", "href").is_empty());

    for bad in [
        "metric=vmm",
        "count=0",
        "count=10001",
        "since=yesterday",
        "threshold=lots",
    ] {
        let (status, body) = server
            .get_text(&format!("{}?{bad}", target_path(X86)))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = server.get_text(&target_path("nope/x")).await;
    assert_eq!(status, 404);
    // Percent-encoded slashes reach the same target.
    let doc = page(
        &server,
        "/repos/acme/app/targets/x86_64-unknown-linux-gnu%2Fapp",
    )
    .await;
    assert_eq!(texts(&doc, "h1"), [X86]);
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn commit_page_shows_sections_units_symbols_advice_and_the_diff(pool: sqlx::PgPool) {
    let (server, seeded) = start(pool).await;
    let doc = page(
        &server,
        &format!("/repos/acme/app/commits/{}", seeded.main[8]),
    )
    .await;
    assert_eq!(texts(&doc, "section.target h2 a"), [WASM, X86]);
    let x86 = Selector::parse("section.target").unwrap();
    let section = doc.select(&x86).nth(1).unwrap();
    let x86 = Html::parse_fragment(&section.html());
    assert_eq!(
        texts(&x86, "table.sections td.name"),
        [".text", "[headers]"]
    );
    assert_eq!(
        texts(&x86, "svg.treemap title").len(),
        4,
        "one tile per unit"
    );
    assert!(
        texts(&x86, "svg.treemap title")
            .contains(&format!("regex: {} (23.4%)", human::size(300 * 1024))),
        "{:?}",
        texts(&x86, "svg.treemap title")
    );
    assert_eq!(
        texts(&x86, "svg.treemap text"),
        ["std", "regex"],
        "only tiles wide enough are labelled"
    );
    assert_eq!(
        texts(&x86, "table.symbols td.name")[0],
        "std::io::stdio::print",
        "largest first"
    );
    assert_eq!(
        texts(&x86, "ul.advice li"),
        ["Strip symbols: `strip = true` in [profile.release] (saves about 9.8 KiB)"]
    );
    assert!(
        texts(&x86, "table.facts td").contains(&"rustc 1.91.0 (f8297e351 2025-10-28)".to_owned())
    );
    // The diff against the first parent (main[7]): regex grew by 200 KiB.
    assert_eq!(
        attrs(&x86, "section.target p a", "href"),
        [format!("/repos/acme/app/commits/{}", seeded.main[7])]
    );
    let changes = texts(&x86, "table.changes td");
    assert!(
        changes
            .windows(4)
            .any(|w| w[0] == "regex" && w[3] == human::delta(200 * 1024)),
        "{changes:?}"
    );
    let shipped_row = texts(&x86, "table.diff-sizes tbody tr");
    assert!(
        shipped_row
            .iter()
            .any(|r| r.starts_with("shipped") && r.contains(&human::delta(201 * 1024))),
        "{shipped_row:?}"
    );

    // The first commit has no baseline, and says so.
    let doc = page(
        &server,
        &format!("/repos/acme/app/commits/{}", seeded.main[0]),
    )
    .await;
    assert_eq!(texts(&doc, "p.baseline-missing").len(), 2);
    let (status, _) = server.get_text("/repos/acme/app/commits/1234").await;
    assert_eq!(status, 404);
    let (status, _) = server
        .get_text(&format!("/repos/acme/app/commits/{}", "f".repeat(40)))
        .await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn pull_request_page_shows_summary_pushes_and_full_detail(pool: sqlx::PgPool) {
    let (server, seeded) = start(pool).await;
    let doc = page(&server, "/repos/acme/app/pulls/7").await;
    assert_eq!(texts(&doc, "h1"), ["Pull request #7"]);
    assert_eq!(texts(&doc, "#verdict h2"), ["Verdict"]);
    let base = main_size(11).0;
    assert_eq!(
        texts(&doc, "table.summary tbody td"),
        [
            human::size(base),
            human::size(base + 20_000),
            human::delta(20_000),
            human::percent(20_000, base)
        ]
    );
    assert_eq!(
        texts(&doc, "table.pushes tbody td code"),
        [
            seeded.pr[1][..7].to_owned(),
            seeded.main[11][..7].to_owned(),
            seeded.pr[0][..7].to_owned(),
            seeded.main[11][..7].to_owned()
        ]
    );
    // The baseline is the pull request's base.
    assert_eq!(
        attrs(&doc, "section.target p a", "href"),
        [format!("/repos/acme/app/commits/{}", seeded.main[11])]
    );
    let (status, _) = server.get_text("/repos/acme/app/pulls/8").await;
    assert_eq!(status, 404);
    let (status, _) = server.get_text("/repos/acme/app/pulls/x").await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn private_repositories_are_invisible_without_a_login(pool: sqlx::PgPool) {
    let (server, seeded) = start(pool).await;
    let private_paths = [
        "/repos/acme/secret".to_owned(),
        "/repos/acme/secret/targets/secret-target".to_owned(),
        format!("/repos/acme/secret/commits/{}", seeded.secret[1]),
        "/repos/acme/secret/pulls/3".to_owned(),
        "/api/v1/repos/acme/secret".to_owned(),
        "/api/v1/repos/acme/secret/targets".to_owned(),
        "/api/v1/repos/acme/secret/targets/secret-target/history".to_owned(),
        format!("/api/v1/repos/acme/secret/commits/{}", seeded.secret[1]),
    ];
    // Anonymous: not listed, not found (exactly like a missing repository).
    let (_, home) = server.get_text("/").await;
    assert!(!home.contains("secret"), "{home}");
    let (_, repos) = server.get("/api/v1/repos").await;
    let names: Vec<&str> = repos
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app"]);
    for path in &private_paths {
        let (status, body) = server.get_text(path).await;
        assert_eq!(status, 404, "{path}");
        assert!(
            !body.contains("secret-target") && !body.contains(&seeded.secret[1]),
            "{path}: {body}"
        );
    }

    // A wrong token is refused; no cookie.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let bad = client
        .post(format!("{}/login", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token=sgr_0000000000000000_{}", "0".repeat(64)))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 401);
    assert!(bad.headers().get("set-cookie").is_none());

    // Logging in sets a secure, HttpOnly, SameSite=Lax session cookie.
    let login = client
        .post(format!("{}/login", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", seeded.read_token))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();
    let (secret_part,) = (session.split_once('=').unwrap().1,);
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE secret_sha256 = sha256($1::bytea)")
            .bind(secret_part.as_bytes())
            .fetch_one(server.store.pool())
            .await
            .unwrap();
    assert_eq!(stored, 1, "only the hash of the session is stored");
    let plain: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE encode(secret_sha256, 'hex') = $1")
            .bind(secret_part)
            .fetch_one(server.store.pool())
            .await
            .unwrap();
    assert_eq!(plain, 0);

    let get = |path: String, cookie: Option<String>, bearer: Option<String>| {
        let client = client.clone();
        let url = format!("{}{path}", server.url);
        async move {
            let mut request = client.get(url);
            if let Some(cookie) = cookie {
                request = request.header("cookie", cookie);
            }
            if let Some(bearer) = bearer {
                request = request.bearer_auth(bearer);
            }
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (_, home) = get("/".into(), Some(session.clone()), None).await;
    assert!(home.contains("acme/secret") && home.contains("private"));
    for path in &private_paths {
        let (status, body) = get(path.clone(), Some(session.clone()), None).await;
        assert_eq!(status, 200, "{path}: {body}");
        // Scripts send the read token itself.
        let (status, _) = get(path.clone(), None, Some(seeded.read_token.clone())).await;
        assert_eq!(status, 200, "{path} with a bearer read token");
    }
    let (status, _) = get(private_paths[0].clone(), None, Some("sgu_nope".into())).await;
    assert_eq!(status, 404, "an upload token is no read token");

    // Logging out ends the session on the server, not just in the browser.
    let logout = client
        .post(format!("{}/logout", server.url))
        .header("cookie", session.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status().as_u16(), 303);
    assert!(
        logout.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, _) = get(private_paths[0].clone(), Some(session), None).await;
    assert_eq!(status, 404);
    server.stop().await;
}

/// A form body (the values here need no escaping).
fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Log in with the seeded read token; the session cookie (`name=value`).
async fn log_in(server: &TestServer, read_token: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = client
        .post(format!("{}/login", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={read_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    cookie.split(';').next().unwrap().to_owned()
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_logged_in_reader_acknowledges_and_resolves_alerts_on_the_page(pool: sqlx::PgPool) {
    let (server, seeded) = start(pool).await;
    let repository = server
        .store
        .find_repository("acme", "app")
        .await
        .unwrap()
        .unwrap();
    let target_id: i64 =
        sqlx::query_scalar("SELECT id FROM targets WHERE repository_id = $1 ORDER BY id LIMIT 1")
            .bind(repository.id)
            .fetch_one(server.store.pool())
            .await
            .unwrap();
    let id = server
        .store
        .insert_alert(&sizegate_store::alerts::NewAlert {
            repository_id: repository.id,
            target_id,
            metric: sizegate_analyze::Metric::Shipped,
            branch: "main".into(),
            commit_sha: seeded.main[8].clone(),
            range_start_sha: None,
            before_size: 1_000_000,
            after_size: 1_200_000,
            percent: 20.0,
            author_login: None,
            pr_number: None,
            changes: serde_json::json!({}),
        })
        .await
        .unwrap()
        .unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let action = format!("{}/repos/acme/app/alerts/{id}/state", server.url);
    let state_of = || async {
        server
            .store
            .alert(repository.id, id)
            .await
            .unwrap()
            .unwrap()
    };

    // Anonymous: no buttons, and a POST is refused.
    let (status, anonymous) = server.get_text("/repos/acme/app/alerts").await;
    assert_eq!(status, 200);
    assert!(!anonymous.contains("form_token") && !anonymous.contains("Acknowledge</button>"));
    let refused = client
        .post(&action)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[("state", "resolved"), ("form_token", "0")]))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);

    // Logged in: the page has the buttons and the session's form token.
    let session = log_in(&server, &seeded.read_token).await;
    let body = client
        .get(format!("{}/repos/acme/app/alerts", server.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let html = Html::parse_document(&body);
    let form = html
        .select(&Selector::parse(&format!("#alert-{id} form")).unwrap())
        .next()
        .expect("a state form for a logged-in reader");
    assert_eq!(
        form.value().attr("action"),
        Some(format!("/repos/acme/app/alerts/{id}/state").as_str())
    );
    let token = form
        .select(&Selector::parse("input[name=form_token]").unwrap())
        .next()
        .unwrap()
        .value()
        .attr("value")
        .unwrap()
        .to_owned();
    let buttons: Vec<String> = form
        .select(&Selector::parse("button").unwrap())
        .map(|b| b.value().attr("value").unwrap().to_owned())
        .collect();
    assert_eq!(buttons, ["acknowledged", "resolved"]);

    // Without the token, or with another, refused; nothing changes.
    for fields in [
        vec![("state", "acknowledged")],
        vec![("state", "acknowledged"), ("form_token", &"0".repeat(64))],
    ] {
        let response = client
            .post(&action)
            .header("cookie", &session)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&fields))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 403);
    }
    assert_eq!(state_of().await.state, "open");

    // The button: the state changes, and who changed it is recorded.
    let pressed = client
        .post(&action)
        .header("cookie", &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("state", "acknowledged"),
            ("form_token", token.as_str()),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(pressed.status().as_u16(), 303);
    let alert = state_of().await;
    assert_eq!(alert.state, "acknowledged");
    let by = alert.state_changed_by.unwrap();
    assert!(by.starts_with("read token "), "{by}");
    assert!(!by.contains(&seeded.read_token), "{by}");

    // The token of one session does not serve another session.
    let other = log_in(&server, &seeded.read_token).await;
    let response = client
        .post(&action)
        .header("cookie", &other)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("state", "resolved"),
            ("form_token", token.as_str()),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    server.stop().await;
}
