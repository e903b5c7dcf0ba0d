//! Headless Chromium loads the dashboard pages of a seeded instance, at
//! desktop width and at 375 px, in light and dark mode: the test fails on
//! any console error (a script error, a resource that failed to load) and
//! saves screenshots under `target/screenshots/`. Needs Debian's
//! `chromium` (or `SIZEGATE_CHROMIUM=/path/to/chrome`).

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::path::PathBuf;

use common::TestServer;
use common::seed::{self, X86};
use sizegate_server::ServerConfig;

fn chromium() -> PathBuf {
    if let Ok(path) = std::env::var("SIZEGATE_CHROMIUM") {
        return path.into();
    }
    for candidate in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ] {
        if std::path::Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    panic!("no Chromium found: `apt-get install -y chromium` or set SIZEGATE_CHROMIUM");
}

/// Load `url` in a fresh headless Chromium, save a screenshot, and return
/// the console lines Chromium logged.
async fn load(url: &str, shot: &std::path::Path, width: u32, dark: bool) -> Vec<String> {
    let profile = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(chromium());
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    if dark {
        command
            .arg("--force-dark-mode")
            .arg("--blink-settings=preferredColorScheme=0");
    }
    command
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={width},1400"))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(url);
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), command.output())
        .await
        .expect("chromium took over 120 s")
        .unwrap();
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(shot.exists(), "no screenshot at {}", shot.display());
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| {
            l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("Failed to load resource")
        })
        .map(str::to_owned)
        .collect()
}

#[sqlx::test(migrations = "../../migrations")]
async fn pages_load_in_chromium_without_console_errors(pool: sqlx::PgPool) {
    let server = TestServer::start_with(pool, ServerConfig::for_tests(), false).await;
    let seeded = seed::seed(&server.store, server.data.path()).await;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let pages = [
        ("home", "/".to_owned()),
        ("repository", "/repos/acme/app".to_owned()),
        (
            "target",
            format!("/repos/acme/app/targets/{X86}?threshold=100KiB"),
        ),
        (
            "commit",
            format!("/repos/acme/app/commits/{}", seeded.main[8]),
        ),
        ("pull", "/repos/acme/app/pulls/7".to_owned()),
        (
            "compare",
            format!(
                "/repos/acme/app/compare/{}...{}",
                &seeded.main[0][..7],
                seeded.main[11]
            ),
        ),
        ("alerts", "/repos/acme/app/alerts".to_owned()),
        ("login", "/login".to_owned()),
    ];
    for (name, path) in &pages {
        for (suffix, width, dark) in [
            ("", 1280, false),
            ("-375", 375, false),
            ("-dark", 1280, true),
        ] {
            if *name == "login" && !suffix.is_empty() {
                continue;
            }
            let shot = dir.join(format!("{name}{suffix}.png"));
            let console = load(&format!("{}{path}", server.url), &shot, width, dark).await;
            assert!(
                console.is_empty(),
                "{name}{suffix}: console errors: {console:#?}"
            );
            assert!(
                std::fs::metadata(&shot).unwrap().len() > 1_000,
                "{name}{suffix}: empty screenshot"
            );
        }
    }
    server.stop().await;
}
