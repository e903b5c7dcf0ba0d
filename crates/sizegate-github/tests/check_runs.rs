//! Check runs against the fake GitHub: one per name and head sha.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod support;

use sizegate_github::{CheckConclusion, CheckRunOutcome, CheckRunRequest, CheckStatus, Error};
use support::*;

const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const OTHER_SHA: &str = "d6fde92930d4715a2b49857d24b940956b26d2d3";

fn request(sha: &str, status: CheckStatus, conclusion: Option<CheckConclusion>) -> CheckRunRequest {
    CheckRunRequest {
        name: "sizegate".to_owned(),
        head_sha: sha.to_owned(),
        status,
        conclusion,
        title: "x86_64-unknown-linux-gnu/app: +12.0 KiB".to_owned(),
        summary: "Within budget.".to_owned(),
        details_url: Some("https://sizegate.example/repos/octo-org/app".to_owned()),
        external_id: Some("commit-17".to_owned()),
    }
}

#[tokio::test]
async fn check_run_is_created_then_updated_and_a_new_sha_gets_its_own() {
    let h = harness().await;
    let created = h
        .client
        .upsert_check_run(&h.repo, &request(SHA, CheckStatus::InProgress, None))
        .await
        .unwrap();
    let CheckRunOutcome::Created { id } = created else {
        panic!("expected a new check run, got {created:?}");
    };
    let updated = h
        .client
        .upsert_check_run(
            &h.repo,
            &request(SHA, CheckStatus::Completed, Some(CheckConclusion::Failure)),
        )
        .await
        .unwrap();
    assert_eq!(updated, CheckRunOutcome::Updated { id });

    let runs = h.fake.check_runs(OWNER, NAME, SHA);
    assert_eq!(runs.len(), 1, "never two check runs for one head sha");
    assert_eq!(runs[0].status, "completed");
    assert_eq!(runs[0].conclusion.as_deref(), Some("failure"));
    assert_eq!(runs[0].title, "x86_64-unknown-linux-gnu/app: +12.0 KiB");
    assert_eq!(runs[0].external_id.as_deref(), Some("commit-17"));

    let other = h
        .client
        .upsert_check_run(
            &h.repo,
            &request(
                OTHER_SHA,
                CheckStatus::Completed,
                Some(CheckConclusion::Success),
            ),
        )
        .await
        .unwrap();
    let CheckRunOutcome::Created { id: other_id } = other else {
        panic!("expected a new check run for a new sha, got {other:?}");
    };
    assert_ne!(other_id, id);
    assert_eq!(h.fake.check_runs(OWNER, NAME, OTHER_SHA).len(), 1);
    assert_eq!(h.fake.check_runs(OWNER, NAME, SHA).len(), 1);

    let lookup = h
        .fake
        .calls()
        .into_iter()
        .find(|c| c.method == "GET" && c.path.contains("/check-runs"))
        .unwrap();
    assert!(
        lookup.path.starts_with(&format!(
            "/repos/{OWNER}/{NAME}/commits/{SHA}/check-runs?check_name=sizegate"
        )),
        "{}",
        lookup.path
    );
}

#[tokio::test]
async fn invalid_requests_are_refused_before_any_call() {
    let h = harness().await;
    let mut short_sha = request("ec26c3e", CheckStatus::Queued, None);
    assert!(matches!(
        h.client.upsert_check_run(&h.repo, &short_sha).await,
        Err(Error::InvalidRequest(_))
    ));
    short_sha.head_sha = SHA.to_owned();
    short_sha.status = CheckStatus::Completed;
    assert!(matches!(
        h.client.upsert_check_run(&h.repo, &short_sha).await,
        Err(Error::InvalidRequest(_))
    ));
    assert!(h.fake.calls().is_empty());
}
