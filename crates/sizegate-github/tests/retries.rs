//! Retries against the fake GitHub: transient failures are retried with the
//! right waits (taken from a fake clock, so nothing sleeps), retried creates
//! stay idempotent, and persistent failures end in an error saying what
//! failed.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod support;

use std::time::Duration;

use http::Method;
use sizegate_github::fake::{FailureRule, InjectedFailure};
use sizegate_github::{CheckConclusion, CheckRunRequest, CheckStatus, CommentOutcome, Error};
use support::*;

const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

#[tokio::test]
async fn server_error_then_success_creates_exactly_one_comment() {
    let h = harness().await;
    h.fake.fail(
        FailureRule::next(1, InjectedFailure::ServerError).matching(Method::POST, "/comments"),
    );
    let outcome = h
        .client
        .upsert_sticky_comment(&h.repo, 4, MARKER, "report")
        .await
        .unwrap();
    assert!(
        matches!(outcome, CommentOutcome::Created { .. }),
        "{outcome:?}"
    );
    assert_eq!(h.fake.comments(OWNER, NAME, 4).len(), 1);
    assert_eq!(h.clock.sleeps(), [Duration::from_secs(1)]);
    let posts: Vec<u16> = h
        .fake
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/comments"))
        .map(|c| c.status)
        .collect();
    assert_eq!(posts, [500, 201]);
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_not_repeated() {
    // GitHub made the comment but answered 500: the retry must find it.
    let h = harness().await;
    h.fake.fail(
        FailureRule::next(1, InjectedFailure::ServerError)
            .matching(Method::POST, "/comments")
            .after_applying(),
    );
    let outcome = h
        .client
        .upsert_sticky_comment(&h.repo, 4, MARKER, "report")
        .await
        .unwrap();
    let comments = h.fake.comments(OWNER, NAME, 4);
    assert_eq!(comments.len(), 1, "never two comments on one PR");
    assert_eq!(outcome, CommentOutcome::Unchanged { id: comments[0].id });
}

#[tokio::test]
async fn a_check_run_create_whose_answer_was_lost_is_not_repeated() {
    let h = harness().await;
    h.fake.fail(
        FailureRule::next(2, InjectedFailure::ServerError)
            .matching(Method::POST, "/check-runs")
            .after_applying(),
    );
    let request = CheckRunRequest {
        name: "sizegate".to_owned(),
        head_sha: SHA.to_owned(),
        status: CheckStatus::Completed,
        conclusion: Some(CheckConclusion::Success),
        title: "ok".to_owned(),
        summary: "ok".to_owned(),
        details_url: None,
        external_id: None,
    };
    h.client.upsert_check_run(&h.repo, &request).await.unwrap();
    assert_eq!(h.fake.check_runs(OWNER, NAME, SHA).len(), 1);
}

#[tokio::test]
async fn secondary_rate_limit_without_headers_waits_at_least_a_minute() {
    let h = harness().await;
    h.fake.fail(
        FailureRule::next(1, InjectedFailure::SecondaryRateLimit)
            .matching(Method::GET, "/comments"),
    );
    h.client
        .upsert_sticky_comment(&h.repo, 4, MARKER, "report")
        .await
        .unwrap();
    let sleeps = h.clock.sleeps();
    assert_eq!(sleeps.len(), 1);
    assert!(
        sleeps[0] >= Duration::from_secs(60),
        "waited only {:?}",
        sleeps[0]
    );
    assert_eq!(h.fake.comments(OWNER, NAME, 4).len(), 1);
}

#[tokio::test]
async fn retry_after_two_waits_two_seconds() {
    let h = harness().await;
    h.fake.fail(
        FailureRule::next(1, InjectedFailure::RetryAfter(2)).matching(Method::POST, "/comments"),
    );
    h.client
        .upsert_sticky_comment(&h.repo, 4, MARKER, "report")
        .await
        .unwrap();
    assert_eq!(h.clock.sleeps(), [Duration::from_secs(2)]);
}

#[tokio::test]
async fn exhausted_rate_limit_waits_until_the_reset_time() {
    let h = harness().await;
    h.fake.fail(
        FailureRule::next(1, InjectedFailure::PrimaryRateLimit(30))
            .matching(Method::GET, "/comments"),
    );
    h.client
        .upsert_sticky_comment(&h.repo, 4, MARKER, "report")
        .await
        .unwrap();
    assert_eq!(h.clock.sleeps(), [Duration::from_secs(30)]);
}

#[tokio::test]
async fn gives_up_after_the_configured_attempts_with_an_error_saying_what_failed() {
    let h = harness().await;
    h.fake.fail(
        FailureRule::next(100, InjectedFailure::ServerError).matching(Method::GET, "/comments"),
    );
    let error = h
        .client
        .upsert_sticky_comment(&h.repo, 4, MARKER, "report")
        .await
        .unwrap_err();
    let Error::GaveUp { attempts, .. } = &error else {
        panic!("expected GaveUp, got {error}");
    };
    assert_eq!(*attempts, 5);
    let text = error.to_string();
    assert!(text.contains("sticky comment on octo-org/app#4"), "{text}");
    assert!(text.contains("500"), "{text}");
    let waits: Vec<u64> = h.clock.sleeps().iter().map(Duration::as_secs).collect();
    assert_eq!(waits, [1, 2, 4, 8]);
    assert!(h.fake.comments(OWNER, NAME, 4).is_empty());
}

#[tokio::test]
async fn a_rate_limit_longer_than_the_maximum_wait_fails_at_once() {
    let h = harness().await;
    h.fake.fail(
        FailureRule::next(1, InjectedFailure::RetryAfter(3600)).matching(Method::GET, "/comments"),
    );
    let error = h
        .client
        .upsert_sticky_comment(&h.repo, 4, MARKER, "report")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::RateLimited { .. }), "{error}");
    assert!(h.clock.sleeps().is_empty());
}

#[tokio::test]
async fn permission_errors_are_not_retried() {
    let h = harness().await;
    // A repository the App is not installed on answers 404 at once.
    let elsewhere = sizegate_github::Repo::new("someone", "else").unwrap();
    let error = h
        .client
        .upsert_sticky_comment(&elsewhere, 1, MARKER, "report")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NotInstalled { .. }), "{error}");
    assert!(h.clock.sleeps().is_empty());
    assert_eq!(h.fake.calls().len(), 1);
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    let h = harness().await;
    let mut config = sizegate_github::GitHubConfig::new(APP_ID, h.key.private_pem.clone());
    // A port that was free a moment ago: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    config.api_url = format!("http://127.0.0.1:{port}");
    config.retry.max_attempts = 3;
    let client = sizegate_github::GitHubClient::with_clock(config, h.clock.clone()).unwrap();
    let error = client.installation_id(&h.repo).await.unwrap_err();
    assert!(
        matches!(error, Error::GaveUp { attempts: 3, .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("no answer from GitHub"),
        "{error}"
    );
    assert_eq!(h.clock.sleeps().len(), 2);
}

#[tokio::test]
async fn too_many_requests_waits_what_retry_after_says() {
    let h = harness().await;
    h.fake.fail(
        FailureRule::next(1, InjectedFailure::TooManyRequests(3))
            .matching(Method::POST, "/check-runs"),
    );
    h.client
        .upsert_check_run(&h.repo, &check_request())
        .await
        .unwrap();
    assert_eq!(h.clock.sleeps(), [Duration::from_secs(3)]);
    let statuses: Vec<u16> = h
        .fake
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/check-runs"))
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, [429, 201]);
    assert_eq!(h.fake.check_runs(OWNER, NAME, SHA).len(), 1);
}

#[tokio::test]
async fn the_secondary_limit_wait_is_a_setting() {
    let h = harness().await;
    let mut config = sizegate_github::GitHubConfig::new(APP_ID, h.key.private_pem.clone());
    config.api_url = h.fake.url();
    config.retry.secondary_limit_wait = Duration::from_secs(2);
    let client = sizegate_github::GitHubClient::with_clock(config, h.clock.clone()).unwrap();
    h.fake.fail(
        FailureRule::next(1, InjectedFailure::SecondaryRateLimit)
            .matching(Method::POST, "/comments"),
    );
    client
        .upsert_sticky_comment(&h.repo, 4, MARKER, "report")
        .await
        .unwrap();
    assert_eq!(h.clock.sleeps(), [Duration::from_secs(2)]);
    assert_eq!(h.fake.comments(OWNER, NAME, 4).len(), 1);
}

/// A client whose requests time out after one second (real time), with
/// the harness's fake clock for the waits between attempts.
fn impatient_client(h: &Harness) -> sizegate_github::GitHubClient {
    let mut config = sizegate_github::GitHubConfig::new(APP_ID, h.key.private_pem.clone());
    config.api_url = h.fake.url();
    config.request_timeout = Duration::from_secs(1);
    sizegate_github::GitHubClient::with_clock(config, h.clock.clone()).unwrap()
}

fn check_request() -> CheckRunRequest {
    CheckRunRequest {
        name: "sizegate".to_owned(),
        head_sha: SHA.to_owned(),
        status: CheckStatus::Completed,
        conclusion: Some(CheckConclusion::Success),
        title: "ok".to_owned(),
        summary: "ok".to_owned(),
        details_url: None,
        external_id: None,
    }
}

#[tokio::test]
async fn creates_that_timed_out_but_were_applied_are_not_repeated() {
    // GitHub carries out each create but answers after our timeout: the
    // client must give up on the answer, retry, and find what it made.
    let h = harness().await;
    let client = impatient_client(&h);
    for endpoint in ["/comments", "/check-runs"] {
        h.fake.fail(
            FailureRule::next(1, InjectedFailure::Slow(Duration::from_secs(3)))
                .matching(Method::POST, endpoint)
                .after_applying(),
        );
    }
    let started = std::time::Instant::now();
    let comment = client
        .upsert_sticky_comment(&h.repo, 4, MARKER, "report")
        .await
        .unwrap();
    client
        .upsert_check_run(&h.repo, &check_request())
        .await
        .unwrap();
    let comments = h.fake.comments(OWNER, NAME, 4);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(comment, CommentOutcome::Unchanged { id: comments[0].id });
    assert_eq!(h.fake.check_runs(OWNER, NAME, SHA).len(), 1);
    // One timed-out attempt each, then one backoff each.
    assert_eq!(
        h.clock.sleeps(),
        [Duration::from_secs(1), Duration::from_secs(1)]
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn slow_answers_past_every_attempt_end_in_a_clear_error() {
    let h = harness().await;
    let mut config = sizegate_github::GitHubConfig::new(APP_ID, h.key.private_pem.clone());
    config.api_url = h.fake.url();
    config.request_timeout = Duration::from_millis(500);
    config.retry.max_attempts = 2;
    let client = sizegate_github::GitHubClient::with_clock(config, h.clock.clone()).unwrap();
    h.fake.fail(
        FailureRule::next(2, InjectedFailure::Slow(Duration::from_secs(2)))
            .matching(Method::GET, "/check-runs"),
    );
    let error = client
        .upsert_check_run(&h.repo, &check_request())
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::GaveUp { attempts: 2, .. }),
        "{error}"
    );
    let text = error.to_string();
    assert!(text.contains("no answer from GitHub"), "{text}");
    assert!(text.contains("check run \"sizegate\""), "{text}");
    assert!(h.fake.check_runs(OWNER, NAME, SHA).is_empty());
}

#[tokio::test]
async fn a_held_create_is_applied_once_and_answered_on_release() {
    let h = harness().await;
    h.fake.fail(
        FailureRule::next(1, InjectedFailure::Hold)
            .matching(Method::POST, "/check-runs")
            .after_applying(),
    );
    let client = std::sync::Arc::new(h.client);
    let task = {
        let client = client.clone();
        let repo = h.repo.clone();
        tokio::spawn(async move { client.upsert_check_run(&repo, &check_request()).await })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while h.fake.holds() == 0 {
        assert!(std::time::Instant::now() < deadline, "no call was held");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Applied while held, the caller still waiting.
    assert_eq!(h.fake.check_runs(OWNER, NAME, SHA).len(), 1);
    assert!(!task.is_finished());
    h.fake.release_held();
    let outcome = task.await.unwrap().unwrap();
    assert!(
        matches!(outcome, sizegate_github::CheckRunOutcome::Created { .. }),
        "{outcome:?}"
    );
    assert_eq!(h.fake.check_runs(OWNER, NAME, SHA).len(), 1);
}
