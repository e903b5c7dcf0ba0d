//! The verdict box of the pull request and commit pages over a seeded
//! database with a gate evaluation stored through the store: conclusion,
//! per-target verdicts with the failing budget, baseline, report state and
//! the escaped comment; and private repositories stay hidden.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use common::TestServer;
use common::seed::{self, X86};
use scraper::{Html, Selector};
use sizegate_analyze::{Metric, human};
use sizegate_gate::{
    BaselineCommit, BudgetRef, CheckStatus, CommentMode, Conclusion, ConfigSource, Evaluation,
    MissingPolicy, TargetEvaluation, Units, Verdict, Violation,
};
use sizegate_server::ServerConfig;
use sizegate_store::Store;
use sizegate_store::evaluations::NewEvaluation;

const COMMENT: &str = "<!-- sizegate:comment -->\n## sizegate: `x86_64/app` over budget\n\n\
    | target | Δ |\n|:---|---:|\n| [`x86_64/app`](https://sizegate.example/t) | +1 B |\n\n\
    <script>alert(1)</script> & more\n";

async fn start(pool: sqlx::PgPool) -> (TestServer, seed::Seeded) {
    let server = TestServer::start_with(pool, ServerConfig::for_tests(), false).await;
    let seeded = seed::seed(&server.store, server.data.path()).await;
    (server, seeded)
}

fn texts(doc: &Html, selector: &str) -> Vec<String> {
    let selector = Selector::parse(selector).unwrap();
    doc.select(&selector)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

fn target(
    name: &str,
    verdict: Verdict,
    base: &str,
    violations: Vec<Violation>,
) -> TargetEvaluation {
    TargetEvaluation {
        name: name.to_owned(),
        verdict,
        head_size: Some(1_400_000),
        baseline_size: Some(1_300_000),
        baseline: Some(BaselineCommit {
            sha: base.to_owned(),
            behind: 2,
        }),
        no_baseline: None,
        budget: Some(BudgetRef {
            index: 0,
            target: name.to_owned(),
            limits: "≤ 1.2 MiB".to_owned(),
            max_increase_percent: None,
        }),
        violations,
        unjudged: Vec::new(),
        error: None,
        diff: None,
        advice: Vec::new(),
        changed: true,
        units: Units::Binary,
        growth: None,
        metric: None,
    }
}

/// Store an evaluation of `sha` in `repo` with one failing and one passing
/// target (or only the passing one when `fail` is false).
async fn save(
    store: &Store,
    repo: (&str, &str),
    sha: &str,
    base: &str,
    fail: bool,
    approved: bool,
    enabled: bool,
) -> i64 {
    let repository = store
        .find_repository(repo.0, repo.1)
        .await
        .unwrap()
        .unwrap();
    let commit = store
        .gate_commit(repository.id, sha)
        .await
        .unwrap()
        .unwrap();
    let mut targets = Vec::new();
    if fail {
        targets.push(target(
            X86,
            Verdict::Fail,
            base,
            vec![Violation::MaxSize {
                unit: None,
                limit: 1_258_291,
                size: 1_400_000,
            }],
        ));
    }
    targets.push(target("wasm-ok", Verdict::Pass, base, Vec::new()));
    let conclusion = if fail && !approved {
        Conclusion::Failure
    } else {
        Conclusion::Success
    };
    let evaluation = Evaluation {
        status: CheckStatus::Completed,
        conclusion: Some(conclusion),
        approved,
        approve_label: Some("size-ok".to_owned()),
        config_source: ConfigSource::Baseline,
        metric: Metric::Shipped,
        pull_request: commit.pr_number.map(|n| n as u64),
        comment_mode: CommentMode::OnChange,
        missing_policy: MissingPolicy::Neutral,
        targets,
    };
    store
        .save_evaluation(
            commit.id,
            &NewEvaluation {
                pr_number: commit.pr_number,
                evaluation,
                comment_markdown: COMMENT.to_owned(),
                check_title: format!("{X86} is over budget"),
                check_summary: "summary".to_owned(),
                reporter_enabled: enabled,
            },
        )
        .await
        .unwrap();
    commit.id
}

async fn doc(server: &TestServer, path: &str) -> (Html, String) {
    let (status, body) = server.get_text(path).await;
    assert_eq!(status, 200, "{path}: {body}");
    (Html::parse_document(&body), body)
}

#[sqlx::test(migrations = "../../migrations")]
async fn pull_request_page_shows_the_verdict_of_the_latest_push(pool: sqlx::PgPool) {
    let (server, seeded) = start(pool).await;
    let head = seeded.pr.last().unwrap();
    let base = &seeded.main[9];

    // Not evaluated yet: the box says so.
    let (page, _) = doc(&server, "/repos/acme/app/pulls/7").await;
    assert!(texts(&page, "#verdict p.muted")[0].contains("once the worker has evaluated it"));
    assert!(texts(&page, "#verdict .badge").is_empty());

    // An older push's evaluation is not the head's.
    save(
        &server.store,
        ("acme", "app"),
        &seeded.pr[0],
        base,
        false,
        false,
        false,
    )
    .await;
    let (page, _) = doc(&server, "/repos/acme/app/pulls/7").await;
    assert!(texts(&page, "#verdict .badge").is_empty());

    let commit_id = save(
        &server.store,
        ("acme", "app"),
        head,
        base,
        true,
        false,
        false,
    )
    .await;
    let (page, body) = doc(&server, "/repos/acme/app/pulls/7").await;
    assert_eq!(texts(&page, "#verdict p.conclusion .badge"), ["failure"]);
    assert_eq!(
        texts(&page, "#verdict .check-title"),
        [format!("{X86} is over budget")]
    );
    assert!(texts(&page, "#verdict .approved").is_empty());
    assert_eq!(texts(&page, "table.verdicts tbody th"), [X86, "wasm-ok"]);
    assert_eq!(texts(&page, "table.verdicts td .badge"), ["fail", "pass"]);
    let failing = texts(&page, "table.verdicts tr.verdict-fail td");
    assert_eq!(failing[1], format!("budget[0] ({X86}): ≤ 1.2 MiB"));
    assert!(failing[2].contains("max_size"), "{failing:?}");
    assert!(
        failing[2].contains(&human::size(1_400_000 - 1_258_291)),
        "{failing:?}"
    );
    assert!(
        failing[3].contains(&base[..7]) && failing[3].contains("2 commits behind the base"),
        "{failing:?}"
    );
    assert_eq!(
        texts(&page, "#verdict .report-state"),
        ["Report: not posted: no GitHub App configured — this is what would be posted"]
    );
    // The comment as GitHub shows it: markdown rendered (heading, code,
    // table, link), raw HTML shown as text, the marker dropped.
    assert_eq!(
        texts(&page, "#verdict section.comment h2"),
        ["sizegate: x86_64/app over budget"]
    );
    assert_eq!(
        texts(&page, "#verdict section.comment table td a code"),
        ["x86_64/app"]
    );
    let comment = texts(&page, "#verdict section.comment").join("");
    assert!(
        comment.contains("<script>alert(1)</script> & more"),
        "{comment}"
    );
    assert!(!body.contains("<script>alert(1)"), "the comment is escaped");
    assert!(!body.contains("sizegate:comment"));

    // Posting failed, then posted.
    server
        .store
        .mark_report_failed(commit_id, 1, "GitHub said 502")
        .await
        .unwrap();
    let (page, _) = doc(&server, "/repos/acme/app/pulls/7").await;
    assert_eq!(
        texts(&page, "#verdict .report-state"),
        ["Report: posting failed: GitHub said 502"]
    );
    server.store.mark_report_posted(commit_id, 1).await.unwrap();
    let (page, _) = doc(&server, "/repos/acme/app/pulls/7").await;
    assert_eq!(
        texts(&page, "#verdict .report-state"),
        ["Report: posted to GitHub"]
    );

    // Approved by label: a success that says why.
    save(&server.store, ("acme", "app"), head, base, true, true, true).await;
    let (page, _) = doc(&server, "/repos/acme/app/pulls/7").await;
    assert_eq!(texts(&page, "#verdict p.conclusion .badge"), ["success"]);
    assert_eq!(
        texts(&page, "#verdict .approved"),
        ["approved by label size-ok"]
    );
    assert_eq!(
        texts(&page, "#verdict .report-state"),
        ["Report: waiting to be posted to GitHub"]
    );

    // The commit page shows the per-target verdicts, without the comment.
    let (page, _) = doc(&server, &format!("/repos/acme/app/commits/{head}")).await;
    assert_eq!(
        texts(&page, "#verdict table.verdicts td .badge"),
        ["fail", "pass"]
    );
    assert!(texts(&page, "#verdict details").is_empty());
    // A commit that was not evaluated has no verdict box.
    let (page, _) = doc(
        &server,
        &format!("/repos/acme/app/commits/{}", seeded.main[3]),
    )
    .await;
    assert!(texts(&page, "#verdict").is_empty());
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn verdicts_of_private_repositories_need_a_login(pool: sqlx::PgPool) {
    let (server, seeded) = start(pool).await;
    let head = &seeded.secret[1];
    save(
        &server.store,
        ("acme", "secret"),
        head,
        &seeded.secret[0],
        true,
        false,
        false,
    )
    .await;
    for path in [
        "/repos/acme/secret/pulls/3".to_owned(),
        format!("/repos/acme/secret/commits/{head}"),
    ] {
        let (status, body) = server.get_text(&path).await;
        assert_eq!(status, 404, "{path}");
        assert!(
            !body.contains("over budget") && !body.contains("sizegate: 1 target"),
            "{path}: {body}"
        );
        let authed = reqwest::Client::new()
            .get(format!("{}{path}", server.url))
            .bearer_auth(&seeded.read_token)
            .send()
            .await
            .unwrap();
        assert_eq!(authed.status().as_u16(), 200, "{path}");
        let page = Html::parse_document(&authed.text().await.unwrap());
        assert_eq!(
            texts(&page, "#verdict table.verdicts td .badge"),
            ["fail", "pass"],
            "{path}"
        );
    }
    server.stop().await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_commit_page_diffs_against_the_baseline_the_verdict_used(pool: sqlx::PgPool) {
    let (server, seeded) = start(pool).await;
    let head = seeded.pr.last().unwrap();
    let path = format!("/repos/acme/app/commits/{head}");
    let baseline_of = |page: &Html| {
        let selector = Selector::parse("section.target p a[title]").unwrap();
        page.select(&selector)
            .map(|a| a.value().attr("title").unwrap().to_owned())
            .collect::<Vec<_>>()
    };

    // Before the first evaluation: the gate's first candidate, the base.
    let (page, _) = doc(&server, &path).await;
    assert_eq!(baseline_of(&page), [seeded.main[11].as_str()]);

    // The evaluation judged against an older commit (a webhook moved the
    // base, say): the page shows that one, as the verdict does.
    let older = &seeded.main[9];
    save(
        &server.store,
        ("acme", "app"),
        head,
        older,
        true,
        false,
        false,
    )
    .await;
    let (page, _) = doc(&server, &path).await;
    assert_eq!(baseline_of(&page), [older.as_str()]);
    let (page, _) = doc(&server, "/repos/acme/app/pulls/7").await;
    assert_eq!(baseline_of(&page), [older.as_str()]);
}
