//! Tests of the gate's queries and of the webhook records, on a fresh
//! database each.

use super::*;
use crate::RepoName;
use crate::github_events::PullRequestState;
use crate::measurements::tests::sample_report;
use crate::uploads::{CommitMeta, NewArtifact};

/// Upload one artifact per target for `sha`; returns the repository id.
async fn upload(store: &Store, sha: &str, config: Option<&str>, targets: &[(&str, char)]) -> i64 {
    let meta = CommitMeta {
        sha: sha.into(),
        pr_number: Some(7),
        base_sha: Some("b".repeat(40)),
        ancestors: vec!["c".repeat(40)],
        config: config.map(str::to_owned),
        ..Default::default()
    };
    upload_meta(store, &meta, targets).await
}

/// Upload one artifact per target with `meta`; returns the repository id.
async fn upload_meta(store: &Store, meta: &CommitMeta, targets: &[(&str, char)]) -> i64 {
    let repo = store
        .ensure_repository(&RepoName::parse("acme/app").unwrap())
        .await
        .unwrap();
    let artifacts: Vec<NewArtifact> = targets
        .iter()
        .map(|(target, fill)| {
            let sha256 = fill.to_string().repeat(64);
            NewArtifact {
                target: (*target).into(),
                blob_key: crate::blob::artifact_key(&sha256),
                sha256,
                size: 1000,
            }
        })
        .collect();
    store
        .record_upload(repo, meta, &artifacts, 3)
        .await
        .unwrap();
    repo
}

async fn measure(store: &Store, fill: char) {
    let artifact_id: i64 = sqlx::query_scalar("SELECT id FROM artifacts WHERE sha256 = $1")
        .bind(fill.to_string().repeat(64))
        .fetch_one(store.pool())
        .await
        .unwrap();
    store
        .store_measurement(artifact_id, &sample_report(5000), &format!("r/{fill}"), 10)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE jobs SET state = 'done' WHERE build_id IN
             (SELECT id FROM builds WHERE artifact_id = $1)",
    )
    .bind(artifact_id)
    .execute(store.pool())
    .await
    .unwrap();
}

fn new_evaluation(conclusion: &str, enabled: bool) -> NewEvaluation {
    let judged = match conclusion {
        "success" => sizegate_gate::Conclusion::Success,
        "failure" => sizegate_gate::Conclusion::Failure,
        _ => sizegate_gate::Conclusion::Neutral,
    };
    NewEvaluation {
        pr_number: Some(7),
        evaluation: sizegate_gate::Evaluation {
            status: sizegate_gate::CheckStatus::Completed,
            conclusion: Some(judged),
            approved: false,
            approve_label: None,
            config_source: sizegate_gate::ConfigSource::Baseline,
            metric: sizegate_analyze::Metric::Shipped,
            pull_request: Some(7),
            comment_mode: sizegate_gate::CommentMode::OnChange,
            missing_policy: sizegate_gate::MissingPolicy::Neutral,
            targets: Vec::new(),
        },
        comment_markdown: format!("<!-- sizegate -->\n{conclusion}"),
        check_title: conclusion.into(),
        check_summary: "summary".into(),
        reporter_enabled: enabled,
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn loads_commit_targets_and_baseline_candidates(pool: sqlx::PgPool) {
    let store = Store::new(pool);
    let base = "b".repeat(40);
    let head = "d".repeat(40);
    // The base: a push to the default branch, so baseline-eligible.
    let repo = upload_meta(
        &store,
        &CommitMeta {
            sha: base.clone(),
            branch: Some("main".into()),
            config: Some("metric = \"file\"".into()),
            ..Default::default()
        },
        &[("linux/app", '1'), ("mac/app", '2')],
    )
    .await;
    upload(&store, &head, None, &[("linux/app", '3'), ("win/app", '4')]).await;
    measure(&store, '1').await;
    measure(&store, '3').await;

    let commit = store.gate_commit(repo, &head).await.unwrap().unwrap();
    assert_eq!(
        (commit.owner.as_str(), commit.name.as_str()),
        ("acme", "app")
    );
    assert_eq!(commit.pr_number, Some(7));
    assert_eq!(commit.base_sha.as_deref(), Some(base.as_str()));
    assert!(
        store
            .gate_commit(repo, &"e".repeat(40))
            .await
            .unwrap()
            .is_none()
    );

    let targets = store.gate_targets(commit.id).await.unwrap();
    let summary: Vec<_> = targets
        .iter()
        .map(|t| {
            (
                t.target.as_str(),
                t.status.as_str(),
                t.report_key.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("linux/app", "done", Some("r/3")),
            ("win/app", "queued", None)
        ]
    );

    // Only measured builds of the candidates count; mac/app is not measured.
    let candidates = [base.clone(), "c".repeat(40)];
    let measured = store.measured_builds(repo, &candidates).await.unwrap();
    assert_eq!(
        measured,
        [MeasuredBuild {
            sha: base.clone(),
            target: "linux/app".into(),
            report_key: "r/1".into()
        }]
    );
    let configs = store
        .commit_configs(repo, &[base.clone(), head.clone()])
        .await
        .unwrap();
    assert_eq!(configs.len(), 1);
    assert_eq!(configs[&base], "metric = \"file\"");
}

#[sqlx::test(migrations = "../../migrations")]
async fn evaluations_are_replaced_and_report_state_follows_the_revision(pool: sqlx::PgPool) {
    let store = Store::new(pool);
    let sha = "d".repeat(40);
    let repo = upload(&store, &sha, None, &[("linux/app", '1')]).await;
    let commit = store.gate_commit(repo, &sha).await.unwrap().unwrap();
    assert!(store.evaluation(commit.id).await.unwrap().is_none());

    let first = store
        .save_evaluation(commit.id, &new_evaluation("failure", true))
        .await
        .unwrap();
    assert_eq!(first, 1);
    assert!(
        store
            .mark_report_failed(commit.id, first, "GitHub answered 502")
            .await
            .unwrap()
    );
    let stored = store.commit_evaluation(repo, &sha).await.unwrap().unwrap();
    assert_eq!(stored.report_state, ReportState::Failed);
    assert_eq!(stored.report_attempts, 1);
    assert_eq!(
        stored.report_last_error.as_deref(),
        Some("GitHub answered 502")
    );

    let second = store
        .save_evaluation(commit.id, &new_evaluation("success", true))
        .await
        .unwrap();
    assert_eq!(second, 2);
    // Posting the stale revision does not mark the new one posted.
    assert!(!store.mark_report_posted(commit.id, first).await.unwrap());
    let stored = store.evaluation(commit.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.report_state.as_str(), stored.report_attempts),
        ("pending", 0)
    );
    assert_eq!(stored.conclusion, Some(sizegate_gate::Conclusion::Success));
    assert_eq!(stored.comment_markdown, "<!-- sizegate -->\nsuccess");
    assert!(store.mark_report_posted(commit.id, second).await.unwrap());
    let stored = store.evaluation(commit.id).await.unwrap().unwrap();
    assert_eq!(stored.report_state, ReportState::Posted);
    assert!(stored.reported_at.is_some());
    assert!(stored.report_last_error.is_none());

    store
        .save_evaluation(commit.id, &new_evaluation("success", false))
        .await
        .unwrap();
    let stored = store.evaluation(commit.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.revision, stored.report_state.as_str()),
        (3, "disabled")
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn webhook_deliveries_are_recorded_once(pool: sqlx::PgPool) {
    let store = Store::new(pool);
    assert!(
        store
            .record_webhook_delivery("d-1", "pull_request", Some("labeled"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_webhook_delivery("d-1", "pull_request", Some("labeled"))
            .await
            .unwrap()
    );
    assert!(
        store
            .record_webhook_delivery("d-2", "ping", None)
            .await
            .unwrap()
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn pull_request_labels_and_installations(pool: sqlx::PgPool) {
    let store = Store::new(pool);
    let repo = store
        .ensure_repository(&RepoName::parse("acme/app").unwrap())
        .await
        .unwrap();
    assert!(store.pull_request(repo, 7).await.unwrap().is_none());
    let opened = PullRequestState {
        number: 7,
        head_sha: Some("d".repeat(40)),
        base_sha: Some("b".repeat(40)),
        labels: vec!["bug".into()],
    };
    store.upsert_pull_request(repo, &opened).await.unwrap();
    let labeled = PullRequestState {
        head_sha: None,
        base_sha: None,
        labels: vec!["bug".into(), "size-approved".into()],
        ..opened.clone()
    };
    store.upsert_pull_request(repo, &labeled).await.unwrap();
    let state = store.pull_request(repo, 7).await.unwrap().unwrap();
    assert_eq!(state.head_sha, opened.head_sha);
    assert_eq!(state.labels, ["bug", "size-approved"]);

    store
        .upsert_installation(42, "acme", &["acme/app".into()])
        .await
        .unwrap();
    assert_eq!(
        store.installation_repositories(42).await.unwrap(),
        Some(vec!["acme/app".to_owned()])
    );
    assert!(store.delete_installation(42).await.unwrap());
    assert!(store.installation_repositories(42).await.unwrap().is_none());
    assert!(!store.delete_installation(43).await.unwrap());
    store.upsert_installation(42, "acme", &[]).await.unwrap();
    assert_eq!(
        store.installation_repositories(42).await.unwrap(),
        Some(vec![])
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn evaluation_requests_requeue_one_measured_job(pool: sqlx::PgPool) {
    let store = Store::new(pool);
    let sha = "d".repeat(40);
    let repo = upload(&store, &sha, None, &[("linux/app", '1'), ("mac/app", '2')]).await;
    let states = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT j.state FROM jobs j JOIN builds b ON b.id = j.build_id ORDER BY j.id",
        )
        .fetch_all(store.pool())
        .await
        .unwrap()
    };
    // Nothing measured: nothing to evaluate.
    assert!(!store.request_evaluation(repo, &sha).await.unwrap());
    measure(&store, '1').await;
    measure(&store, '2').await;
    assert_eq!(states().await, ["done", "done"]);
    assert!(store.request_evaluation(repo, &sha).await.unwrap());
    assert_eq!(states().await, ["queued", "done"]);
    // One waiting job is enough.
    assert!(!store.request_evaluation(repo, &sha).await.unwrap());
    assert!(
        !store
            .request_evaluation(repo, &"e".repeat(40))
            .await
            .unwrap()
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn pull_request_head_is_the_newest_known(pool: sqlx::PgPool) {
    let store = Store::new(pool);
    let sha = "d".repeat(40);
    let repo = upload(&store, &sha, None, &[("linux/app", '1')]).await;
    assert_eq!(store.pull_request_head(repo, 7).await.unwrap(), Some(sha));
    assert_eq!(store.pull_request_head(repo, 8).await.unwrap(), None);
    let newer = "f".repeat(40);
    store
        .upsert_pull_request(
            repo,
            &PullRequestState {
                number: 7,
                head_sha: Some(newer.clone()),
                base_sha: None,
                labels: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(store.pull_request_head(repo, 7).await.unwrap(), Some(newer));
    // CI uploads a later push before its webhook arrives.
    let latest = "a".repeat(40);
    upload(&store, &latest, None, &[("linux/app", '2')]).await;
    assert_eq!(
        store.pull_request_head(repo, 7).await.unwrap(),
        Some(latest)
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn report_locks_exclude_each_other_until_dropped(pool: sqlx::PgPool) {
    let store = Store::new(pool);
    let keys = ["commit:1".to_owned(), "pr:7".to_owned()];
    let held = store.lock_for_report(&keys).await.unwrap();
    let waiter = tokio::spawn({
        let store = store.clone();
        let keys = keys.clone();
        async move { store.lock_for_report(&keys[1..]).await.map(|_| ()) }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!waiter.is_finished(), "the pull request lock is held");
    // Another commit's lock is free meanwhile.
    let other = store
        .lock_for_report(&["commit:2".to_owned()])
        .await
        .unwrap();
    drop(other);
    drop(held);
    tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// Only baseline-eligible builds are candidates: a fork build never is,
/// even for exactly the pull request's base sha, nor is a trusted build of
/// a branch that is not protected. A fork upload of a trusted commit is
/// kept beside its build and changes neither its candidates nor its config.
#[sqlx::test(migrations = "../../migrations")]
async fn only_baseline_eligible_builds_are_candidates(pool: sqlx::PgPool) {
    use crate::uploads::Provenance;
    let store = Store::new(pool);
    let trusted = "a".repeat(40);
    let forked = "b".repeat(40);
    let feature = "f".repeat(40);
    let repo = upload_meta(
        &store,
        &CommitMeta {
            sha: trusted.clone(),
            branch: Some("main".into()),
            config: Some("metric = \"file\"".into()),
            ..Default::default()
        },
        &[("linux/app", '1')],
    )
    .await;
    upload_meta(
        &store,
        &CommitMeta {
            sha: forked.clone(),
            branch: Some("main".into()),
            pr_number: Some(7),
            base_sha: Some(trusted.clone()),
            fork: true,
            provenance: Provenance::Fork,
            ..Default::default()
        },
        &[("linux/app", '2')],
    )
    .await;
    upload_meta(
        &store,
        &CommitMeta {
            sha: feature.clone(),
            branch: Some("feature".into()),
            ..Default::default()
        },
        &[("linux/app", '3')],
    )
    .await;
    for fill in ['1', '2', '3'] {
        measure(&store, fill).await;
    }

    let all = [trusted.clone(), forked.clone(), feature.clone()];
    let trusted_only = [MeasuredBuild {
        sha: trusted.clone(),
        target: "linux/app".into(),
        report_key: "r/1".into(),
    }];
    assert_eq!(
        store.measured_builds(repo, &all).await.unwrap(),
        trusted_only
    );

    // A fork (and an OIDC pull request run) upload the trusted sha with
    // other bytes, another branch and a loose config: kept, not shown,
    // never a candidate; the commit keeps its annotations.
    for (provenance, fill) in [(Provenance::Fork, '8'), (Provenance::OidcPullRequest, '9')] {
        let recorded = store
            .record_upload(
                repo,
                &CommitMeta {
                    sha: trusted.clone(),
                    branch: Some("main".into()),
                    pr_number: Some(9),
                    base_sha: Some(trusted.clone()),
                    config: Some("metric = \"zstd\"".into()),
                    fork: provenance == Provenance::Fork,
                    provenance,
                    ..Default::default()
                },
                &[NewArtifact {
                    target: "linux/app".into(),
                    sha256: fill.to_string().repeat(64),
                    size: 9,
                    blob_key: crate::blob::artifact_key(&fill.to_string().repeat(64)),
                }],
                3,
            )
            .await
            .unwrap();
        assert_eq!(recorded[0].provenance, provenance);
        assert!(!recorded[0].baseline_eligible);
        assert!(recorded[0].outranked_by.is_some(), "{recorded:?}");
        assert_eq!(recorded[0].replaced_build_id, None);
        measure(&store, fill).await;
    }
    assert_eq!(
        store.measured_builds(repo, &all).await.unwrap(),
        trusted_only
    );
    let commit = store.gate_commit(repo, &trusted).await.unwrap().unwrap();
    assert_eq!(commit.pr_number, None);
    assert_eq!(commit.config.as_deref(), Some("metric = \"file\""));
    assert_eq!(
        store
            .baseline_config(repo, &trusted)
            .await
            .unwrap()
            .as_deref(),
        Some("metric = \"file\"")
    );
    let shown = store.gate_targets(commit.id).await.unwrap();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].report_key.as_deref(), Some("r/1"));
    let kept: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM builds WHERE commit_id = $1 AND replaced_at IS NULL",
    )
    .bind(commit.id)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(kept, 3, "one live build per provenance");

    // The fork's commit gets no config of its own as a baseline, and a
    // trusted upload of the same bytes on main makes it eligible: the
    // token holder vouches for them.
    assert_eq!(store.baseline_config(repo, &forked).await.unwrap(), None);
    upload_meta(
        &store,
        &CommitMeta {
            sha: forked.clone(),
            branch: Some("main".into()),
            ..Default::default()
        },
        &[("linux/app", '2')],
    )
    .await;
    let commit = store.gate_commit(repo, &forked).await.unwrap().unwrap();
    assert_eq!(
        commit.pr_number, None,
        "higher trust replaces the annotations whole"
    );
    assert_eq!(
        store
            .measured_builds(repo, std::slice::from_ref(&forked))
            .await
            .unwrap()
            .len(),
        1
    );
}
