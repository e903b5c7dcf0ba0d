//! Every webhook payload in the fixtures (GitHub's own examples, from
//! octokit/webhooks) parses into the expected event, and signatures of real
//! payloads verify.

#![allow(clippy::unwrap_used)] // tests may unwrap

use sizegate_github::Repo;
use sizegate_github::webhook::{
    InstallationAction, PullRequestAction, SignatureError, WebhookEvent, parse_event,
    verify_signature,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/webhooks/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn pull_request(event_file: &str) -> sizegate_github::webhook::PullRequestEvent {
    match parse_event("pull_request", &fixture(event_file)).unwrap() {
        WebhookEvent::PullRequest(pr) => *pr,
        other => panic!("{event_file}: expected a pull request event, got {other:?}"),
    }
}

#[test]
fn pull_request_opened_carries_what_the_gate_needs() {
    let pr = pull_request("pull_request.opened");
    assert_eq!(pr.action, PullRequestAction::Opened);
    assert!(pr.action.needs_evaluation());
    assert_eq!(pr.installation_id, Some(1));
    assert_eq!(pr.repo, Repo::new("Codertocat", "Hello-World").unwrap());
    assert_eq!(pr.number, 2);
    assert_eq!(pr.head_sha, "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    assert_eq!(pr.base_sha, "f95f852bd8fca8fcc58a9a2d6c842781e32a215e");
    assert_eq!(pr.base_ref, "master");
    assert_eq!(pr.head_ref, "changes");
    assert_eq!(pr.labels, ["bug"]);
}

#[test]
fn pull_request_synchronize_and_labeled_parse() {
    assert_eq!(
        pull_request("pull_request.synchronize").action,
        PullRequestAction::Synchronize
    );
    assert_eq!(
        pull_request("pull_request.labeled").action,
        PullRequestAction::Labeled {
            label: "bug".to_owned()
        }
    );
}

#[test]
fn pull_request_closed_is_parsed_but_needs_no_evaluation() {
    let pr = pull_request("pull_request.closed");
    assert_eq!(pr.action, PullRequestAction::Closed { merged: false });
    assert!(!pr.action.needs_evaluation());
    assert_eq!(pr.author.as_deref(), Some("Codertocat"));
    assert_eq!(
        pr.merge_commit_sha, None,
        "an unmerged pull request's merge_commit_sha is only a test merge"
    );
}

#[test]
fn a_merged_pull_request_names_its_merge_commit_and_author() {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&fixture("pull_request.closed")).unwrap();
    payload["pull_request"]["merged"] = true.into();
    let body = serde_json::to_vec(&payload).unwrap();
    let WebhookEvent::PullRequest(pr) = parse_event("pull_request", &body).unwrap() else {
        panic!("expected a pull request event");
    };
    assert_eq!(pr.action, PullRequestAction::Closed { merged: true });
    assert_eq!(
        pr.merge_commit_sha.as_deref(),
        Some("c4295bd74fb0f4fda03689c3df3f2803b658fd85")
    );
    assert_eq!(pr.author.as_deref(), Some("Codertocat"));
}

/// The opened payload with another action and extra top-level keys, for
/// actions that have no example file.
fn variant(action: &str, extra: serde_json::Value) -> Vec<u8> {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&fixture("pull_request.opened")).unwrap();
    payload["action"] = action.into();
    if let serde_json::Value::Object(extra) = extra {
        for (key, value) in extra {
            payload[key] = value;
        }
    }
    serde_json::to_vec(&payload).unwrap()
}

#[test]
fn pull_request_actions_without_example_files_parse() {
    let parse = |body: Vec<u8>| match parse_event("pull_request", &body).unwrap() {
        WebhookEvent::PullRequest(pr) => Some(pr.action),
        WebhookEvent::Ignored { .. } => None,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(
        parse(variant("reopened", serde_json::json!({}))),
        Some(PullRequestAction::Reopened)
    );
    assert_eq!(
        parse(variant(
            "unlabeled",
            serde_json::json!({ "label": { "name": "size-approved" } })
        )),
        Some(PullRequestAction::Unlabeled {
            label: "size-approved".to_owned()
        })
    );
    assert_eq!(
        parse(variant(
            "edited",
            serde_json::json!({ "changes": { "base": { "ref": { "from": "develop" } } } })
        )),
        Some(PullRequestAction::BaseChanged)
    );
    // A title edit does not change the measurement: ignored.
    assert_eq!(
        parse(variant(
            "edited",
            serde_json::json!({ "changes": { "title": { "from": "old" } } })
        )),
        None
    );
    assert_eq!(parse(variant("assigned", serde_json::json!({}))), None);
}

#[test]
fn check_run_rerequested_parses() {
    let WebhookEvent::CheckRunRerequested(run) =
        parse_event("check_run", &fixture("check_run.rerequested")).unwrap()
    else {
        panic!("expected check_run.rerequested");
    };
    assert_eq!(run.installation_id, Some(1));
    assert_eq!(run.repo, Repo::new("github", "hello-world").unwrap());
    assert_eq!(run.check_run_id, 4);
    assert_eq!(run.name, "randscape");
    assert_eq!(run.app_id, 2);
    assert_eq!(run.head_sha, "d6fde92930d4715a2b49857d24b940956b26d2d3");
    assert_eq!(run.external_id, None);
    assert!(run.pull_requests.is_empty());
}

#[test]
fn check_suite_rerequested_parses() {
    let WebhookEvent::CheckSuiteRerequested(suite) =
        parse_event("check_suite", &fixture("check_suite.rerequested")).unwrap()
    else {
        panic!("expected check_suite.rerequested");
    };
    assert_eq!(suite.installation_id, Some(957387));
    assert_eq!(suite.repo, Repo::new("Codertocat", "Hello-World").unwrap());
    assert_eq!(suite.head_sha, "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    assert_eq!(suite.head_branch.as_deref(), Some("changes"));
    assert_eq!(suite.pull_requests, [2]);
}

#[test]
fn installation_created_parses() {
    let WebhookEvent::Installation(change) =
        parse_event("installation", &fixture("installation.created")).unwrap()
    else {
        panic!("expected installation");
    };
    assert_eq!(change.action, InstallationAction::Created);
    assert_eq!(change.installation_id, 957387);
    assert_eq!(change.account, "Codertocat");
    assert_eq!(
        change.repositories,
        [Repo::new("Codertocat", "Hello-World").unwrap()]
    );
}

#[test]
fn installation_repositories_added_parses() {
    let WebhookEvent::InstallationRepositories(change) = parse_event(
        "installation_repositories",
        &fixture("installation_repositories.added"),
    )
    .unwrap() else {
        panic!("expected installation_repositories");
    };
    assert_eq!(change.action, "added");
    assert_eq!(change.installation_id, 957387);
    assert_eq!(change.added, [Repo::new("Codertocat", "Space").unwrap()]);
    assert!(change.removed.is_empty());
}

#[test]
fn other_events_are_ignored() {
    assert_eq!(
        parse_event("workflow_run", &fixture("workflow_run.completed")).unwrap(),
        WebhookEvent::Ignored {
            event: "workflow_run".to_owned(),
            action: Some("completed".to_owned()),
        }
    );
}

#[test]
fn pushes_give_their_authors_logins_and_nothing_else() {
    // The real fixtures list no commits (a tag push): no authors.
    for file in ["push", "push.with-installation"] {
        match parse_event("push", &fixture(file)).unwrap() {
            WebhookEvent::Push(push) => {
                assert_eq!(push.repo.to_string(), "Codertocat/Hello-World");
                assert!(push.authors.is_empty(), "{file}");
            }
            other => panic!("{file} parsed as {other:?}"),
        }
    }
    // With commits in GitHub's documented shape, more than GitHub lists.
    let mut payload: serde_json::Value =
        serde_json::from_slice(&fixture("push.with-installation")).unwrap();
    let commit = |n: usize, login: Option<&str>| {
        let mut author = serde_json::json!({"name": "Octo Cat", "email": "octo@example.com"});
        if let Some(login) = login {
            author["username"] = login.into();
        }
        serde_json::json!({"id": format!("{n:040X}"), "message": "m", "author": author})
    };
    let mut commits: Vec<serde_json::Value> =
        (0..3000).map(|n| commit(n, Some("octocat"))).collect();
    commits[1] = commit(1, None);
    commits[2] = commit(2, Some("not a login <x@example.com>"));
    commits[3]["id"] = "not-a-sha".into();
    payload["head_commit"] = commit(0, Some("octocat"));
    payload["commits"] = commits.into();
    let WebhookEvent::Push(push) =
        parse_event("push", &serde_json::to_vec(&payload).unwrap()).unwrap()
    else {
        panic!("not a push");
    };
    // Lowercase shas, each once; the bad ones dropped; capped at 2048 read.
    assert_eq!(push.authors.len(), 2048 - 3);
    assert_eq!(
        push.authors[0],
        (format!("{:040x}", 0), "octocat".to_owned())
    );
    let dropped = [format!("{:040x}", 1), format!("{:040x}", 2)];
    assert!(
        push.authors
            .iter()
            .all(|(sha, login)| sha.len() == 40 && login == "octocat" && !dropped.contains(sha))
    );
}

#[test]
fn push_authors_follow_the_one_login_rule_bots_included() {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&fixture("push.with-installation")).unwrap();
    let logins = [
        "dependabot[bot]",
        "a--b",
        "x[bot]y",
        "snake_case",
        "octocat",
    ];
    let commits: Vec<serde_json::Value> = logins
        .iter()
        .enumerate()
        .map(|(n, login)| {
            serde_json::json!({
                "id": format!("{n:040x}"),
                "message": "m",
                "author": {"name": "n", "email": "e@example.com", "username": login},
            })
        })
        .collect();
    payload["commits"] = commits.into();
    let WebhookEvent::Push(push) =
        parse_event("push", &serde_json::to_vec(&payload).unwrap()).unwrap()
    else {
        panic!("not a push");
    };
    let kept: Vec<&str> = push.authors.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(kept, ["dependabot[bot]", "octocat"]);
}

#[test]
fn every_fixture_file_is_covered() {
    let dir = format!("{}/tests/fixtures/webhooks", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // Each file's event is the part of its name before the first dot.
    for name in &names {
        let event = name.split('.').next().unwrap();
        let body = fixture(name.trim_end_matches(".json"));
        let parsed = parse_event(event, &body).unwrap();
        let expected_ignored = matches!(event, "workflow_run");
        assert_eq!(
            matches!(parsed, WebhookEvent::Ignored { .. }),
            expected_ignored,
            "{name} parsed as {parsed:?}"
        );
    }
    assert_eq!(names.len(), 11);
}

#[test]
fn malformed_payloads_are_errors_not_panics() {
    for event in [
        "pull_request",
        "check_run",
        "check_suite",
        "installation",
        "installation_repositories",
    ] {
        let error = parse_event(event, b"{\"action\":\"opened\"}").unwrap_err();
        assert!(error.to_string().contains(event), "{error}");
        assert!(parse_event(event, b"not json").is_err());
    }
    let mut bad_repo: serde_json::Value =
        serde_json::from_slice(&fixture("pull_request.opened")).unwrap();
    bad_repo["repository"]["full_name"] = "../../etc".into();
    assert!(parse_event("pull_request", &serde_json::to_vec(&bad_repo).unwrap()).is_err());
}

#[test]
fn signatures_of_a_real_payload_verify() {
    use hmac::{Hmac, Mac};
    let body = fixture("pull_request.opened");
    let secret = b"webhook secret";
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(&body);
    let header = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(verify_signature(secret, &body, Some(&header)), Ok(()));
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    assert_eq!(
        verify_signature(secret, &tampered, Some(&header)),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn githubs_published_signature_test_vector_passes() {
    assert_eq!(
        verify_signature(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
        ),
        Ok(())
    );
}
