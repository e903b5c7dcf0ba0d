//! The sticky comment against the fake GitHub: one comment per pull
//! request, found across pages with credentials on every page.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod support;

use sizegate_github::CommentOutcome;
use sizegate_github::fake::FakeGitHubConfig;
use support::*;

#[tokio::test]
async fn sticky_comment_is_created_then_updated_in_place() {
    let h = harness().await;
    let body = format!("{MARKER}\n## Size report\n+1 KiB");
    let created = h
        .client
        .upsert_sticky_comment(&h.repo, 7, MARKER, &body)
        .await
        .unwrap();
    let CommentOutcome::Created { id } = created else {
        panic!("expected a new comment, got {created:?}");
    };

    let newer = format!("{MARKER}\n## Size report\n-3 KiB");
    let updated = h
        .client
        .upsert_sticky_comment(&h.repo, 7, MARKER, &newer)
        .await
        .unwrap();
    assert_eq!(updated, CommentOutcome::Updated { id });

    let same = h
        .client
        .upsert_sticky_comment(&h.repo, 7, MARKER, &newer)
        .await
        .unwrap();
    assert_eq!(same, CommentOutcome::Unchanged { id });

    let comments = h.fake.comments(OWNER, NAME, 7);
    assert_eq!(comments.len(), 1, "never two comments on one PR");
    assert_eq!(comments[0].id, id);
    assert_eq!(comments[0].body, newer);
    assert!(comments[0].bot);

    let patch = h
        .fake
        .calls()
        .into_iter()
        .find(|c| c.method == "PATCH")
        .unwrap();
    assert_eq!(
        patch.path,
        format!("/repos/{OWNER}/{NAME}/issues/comments/{id}")
    );
    let sent: serde_json::Value = serde_json::from_str(&patch.body).unwrap();
    assert_eq!(sent["body"], newer);
}

/// Another App's bot (a copycat, or a workflow's `github-actions[bot]`)
/// posting the marker first is never taken for our sticky comment: only a
/// comment whose `performed_via_github_app` is our App is.
#[tokio::test]
async fn another_apps_comment_with_the_marker_is_not_ours() {
    let h = harness().await;
    let foreign = h.fake.add_comment_by_app(
        OWNER,
        NAME,
        5,
        "copycat[bot]",
        999_999,
        &format!("{MARKER}\nall green, trust me"),
    );
    let outcome = h
        .client
        .upsert_sticky_comment(&h.repo, 5, MARKER, &format!("{MARKER}\nreal"))
        .await
        .unwrap();
    let CommentOutcome::Created { id } = outcome else {
        panic!("the foreign comment was taken for ours: {outcome:?}");
    };
    let comments = h.fake.comments(OWNER, NAME, 5);
    assert_eq!(comments.len(), 2);
    let foreign_now = comments.iter().find(|c| c.id == foreign).unwrap();
    assert!(foreign_now.body.contains("trust me"), "left untouched");
    assert!(
        comments
            .iter()
            .any(|c| c.id == id && c.body.ends_with("real"))
    );
}

#[tokio::test]
async fn marker_is_appended_when_the_body_lacks_it() {
    let h = harness().await;
    h.client
        .upsert_sticky_comment(&h.repo, 3, MARKER, "no marker here")
        .await
        .unwrap();
    h.client
        .upsert_sticky_comment(&h.repo, 3, MARKER, "still none")
        .await
        .unwrap();
    let comments = h.fake.comments(OWNER, NAME, 3);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].body, format!("still none\n\n{MARKER}"));
}

#[tokio::test]
async fn comment_on_page_two_is_found_with_authorization_on_every_page() {
    // Served under /api/v3 like GitHub Enterprise Server; the fake's next
    // links use /repositories/{id}/… paths like GitHub's do.
    let h = harness_with(|mut config: FakeGitHubConfig| {
        config.path_prefix = "/api/v3".to_owned();
        config
    })
    .await;
    // A person quoting the marker on page 1 must not be taken for us.
    h.fake.add_comment(
        OWNER,
        NAME,
        9,
        "alice",
        false,
        &format!("what is {MARKER}?"),
    );
    for n in 0..119 {
        h.fake
            .add_comment(OWNER, NAME, 9, "alice", false, &format!("comment {n}"));
    }
    let ours = h.fake.add_comment(
        OWNER,
        NAME,
        9,
        "sizegate[bot]",
        true,
        &format!("{MARKER}\nold"),
    );
    for n in 0..30 {
        h.fake
            .add_comment(OWNER, NAME, 9, "bob", false, &format!("later {n}"));
    }
    // Look up the installation and its token first, so that every call
    // recorded below is an installation-token call.
    h.client.installation_id(&h.repo).await.unwrap();
    h.client.installation_token(INSTALLATION_ID).await.unwrap();
    h.fake.clear_calls();

    let outcome = h
        .client
        .upsert_sticky_comment(&h.repo, 9, MARKER, &format!("{MARKER}\nnew"))
        .await
        .unwrap();
    assert_eq!(outcome, CommentOutcome::Updated { id: ours });

    let calls = h.fake.calls();
    let pages: Vec<_> = calls.iter().filter(|c| c.method == "GET").collect();
    assert_eq!(
        pages.len(),
        2,
        "{:#?}",
        calls.iter().map(|c| &c.path).collect::<Vec<_>>()
    );
    assert_eq!(
        pages[0].path,
        "/api/v3/repos/octo-org/app/issues/9/comments?per_page=100"
    );
    assert!(
        pages[1].path.starts_with("/api/v3/repositories/") && pages[1].path.ends_with("page=2"),
        "{}",
        pages[1].path
    );
    for call in &calls {
        let auth = call.header("authorization").unwrap_or_default();
        assert!(
            auth.starts_with("token ghs_"),
            "{} {} had {auth:?}",
            call.method,
            call.path
        );
        assert_eq!(
            call.status / 100,
            2,
            "{} {} answered {}",
            call.method,
            call.path,
            call.status
        );
    }
    let comments = h.fake.comments(OWNER, NAME, 9);
    assert_eq!(comments.len(), 151);
    assert_eq!(
        comments.iter().filter(|c| c.body.contains("new")).count(),
        1
    );
}

#[tokio::test]
async fn comments_on_other_pull_requests_are_left_alone() {
    let h = harness().await;
    h.client
        .upsert_sticky_comment(&h.repo, 1, MARKER, "first")
        .await
        .unwrap();
    h.client
        .upsert_sticky_comment(&h.repo, 2, MARKER, "second")
        .await
        .unwrap();
    assert_eq!(h.fake.comments(OWNER, NAME, 1).len(), 1);
    assert_eq!(h.fake.comments(OWNER, NAME, 2).len(), 1);
    assert!(h.fake.comments(OWNER, NAME, 1)[0].body.starts_with("first"));
}

#[tokio::test]
async fn next_page_on_another_host_is_fetched_from_the_configured_host_with_credentials() {
    // GitHub names a host the client was not configured with (a proxy, a
    // GHES hostname alias): the token must neither be dropped nor sent
    // there; the page is read from the configured API host.
    let h = harness_with(|mut config: FakeGitHubConfig| {
        config.link_base_url = Some("https://api.github.invalid".to_owned());
        config
    })
    .await;
    for n in 0..100 {
        h.fake
            .add_comment(OWNER, NAME, 11, "alice", false, &format!("comment {n}"));
    }
    let ours = h.fake.add_comment(
        OWNER,
        NAME,
        11,
        "sizegate[bot]",
        true,
        &format!("{MARKER}\nold"),
    );
    let outcome = h
        .client
        .upsert_sticky_comment(&h.repo, 11, MARKER, &format!("{MARKER}\nnew"))
        .await
        .unwrap();
    assert_eq!(outcome, CommentOutcome::Updated { id: ours });
    let page_two = h
        .fake
        .calls()
        .into_iter()
        .find(|c| c.path.starts_with("/repositories/"))
        .unwrap();
    assert!(page_two.path.ends_with("page=2"), "{}", page_two.path);
    assert!(
        page_two
            .header("authorization")
            .unwrap()
            .starts_with("token ghs_")
    );
    assert_eq!(page_two.status, 200);
}

#[tokio::test]
async fn concurrent_upserts_on_one_pull_request_leave_one_comment() {
    let h = harness().await;
    let bodies: Vec<String> = (0..6).map(|n| format!("{MARKER}\nreport {n}")).collect();
    let outcomes = futures_join_all(
        bodies
            .iter()
            .map(|body| h.client.upsert_sticky_comment(&h.repo, 12, MARKER, body)),
    )
    .await;
    let created = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(CommentOutcome::Created { .. })))
        .count();
    assert_eq!(created, 1, "{outcomes:?}");
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    assert_eq!(h.fake.comments(OWNER, NAME, 12).len(), 1);
}

/// Run futures concurrently on the current task and collect their outputs.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for future in futures {
        set.push(Box::pin(future));
    }
    let mut outputs: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in set.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.unwrap()).collect()
}

#[tokio::test]
async fn a_comment_deleted_while_we_update_it_is_looked_up_again() {
    let h = harness().await;
    h.client
        .upsert_sticky_comment(&h.repo, 13, MARKER, "first")
        .await
        .unwrap();
    // Our update answers 404 once, as if the comment had just been deleted.
    h.fake.fail(
        sizegate_github::fake::FailureRule::next(
            1,
            sizegate_github::fake::InjectedFailure::NotFound,
        )
        .matching(http::Method::PATCH, "/issues/comments/"),
    );
    let outcome = h
        .client
        .upsert_sticky_comment(&h.repo, 13, MARKER, "second")
        .await
        .unwrap();
    assert!(
        matches!(outcome, CommentOutcome::Updated { .. }),
        "{outcome:?}"
    );
    let comments = h.fake.comments(OWNER, NAME, 13);
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.starts_with("second"));

    // Really deleted: the next report creates a fresh one.
    h.fake.delete_comment(comments[0].id);
    let outcome = h
        .client
        .upsert_sticky_comment(&h.repo, 13, MARKER, "third")
        .await
        .unwrap();
    assert!(
        matches!(outcome, CommentOutcome::Created { .. }),
        "{outcome:?}"
    );
    assert_eq!(h.fake.comments(OWNER, NAME, 13).len(), 1);
}

#[tokio::test]
async fn a_quiet_update_changes_an_existing_comment_and_never_creates_one() {
    let h = harness().await;
    let quiet = format!("{MARKER}\n✅ sizegate: no size change");
    let outcome = h
        .client
        .update_sticky_comment(&h.repo, 9, MARKER, &quiet)
        .await
        .unwrap();
    assert_eq!(outcome, CommentOutcome::Absent);
    assert!(h.fake.comments(OWNER, NAME, 9).is_empty());
    assert!(
        h.fake
            .calls()
            .iter()
            .filter(|c| c.path.contains("/comments"))
            .all(|c| c.method == "GET"),
        "only the listing was sent"
    );

    let full = format!("{MARKER}\n## Size report\n+9 KiB");
    let CommentOutcome::Created { id } = h
        .client
        .upsert_sticky_comment(&h.repo, 9, MARKER, &full)
        .await
        .unwrap()
    else {
        panic!("expected a new comment");
    };
    let outcome = h
        .client
        .update_sticky_comment(&h.repo, 9, MARKER, &quiet)
        .await
        .unwrap();
    assert_eq!(outcome, CommentOutcome::Updated { id });
    let comments = h.fake.comments(OWNER, NAME, 9);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].body, quiet);
}

#[tokio::test]
async fn a_commit_comment_lands_on_the_commit_once() {
    let h = harness().await;
    let sha = "ab".repeat(20);
    let id = h
        .client
        .create_commit_comment(&h.repo, &sha, "**sizegate**: linux/app grew by +16 KiB")
        .await
        .unwrap();
    let comments = h.fake.commit_comments(OWNER, NAME, &sha);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].id, id);
    assert!(comments[0].body.contains("+16 KiB"));
    let post = h
        .fake
        .calls()
        .into_iter()
        .find(|c| c.method == "POST" && c.path.contains("/commits/"))
        .unwrap();
    assert_eq!(
        post.path,
        format!("/repos/{OWNER}/{NAME}/commits/{sha}/comments")
    );
    // Not a sha: refused before anything is sent.
    assert!(
        h.client
            .create_commit_comment(&h.repo, "../../x", "body")
            .await
            .is_err()
    );
}
