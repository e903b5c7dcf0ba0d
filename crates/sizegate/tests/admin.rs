//! `sizegate migrate` and `sizegate token` on a real Postgres.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::process::{Command, Output};

use common::{BIN, database_url, drop_database, fresh_name};

fn sizegate(args: &[&str], db: &str) -> Output {
    Command::new(BIN)
        .args(args)
        .args(["--database-url", db])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

#[tokio::test]
async fn migrate_creates_the_database_and_is_idempotent() {
    let name = fresh_name("migrate");
    let db = database_url(&name);
    for _ in 0..2 {
        let output = sizegate(&["migrate"], &db);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(applied, sizegate_store::MIGRATOR.iter().count() as i64);
    pool.close().await;
    drop_database(&name).await;
}

#[tokio::test]
async fn tokens_are_created_listed_and_revoked() {
    let name = fresh_name("tokens");
    let db = database_url(&name);
    let created = sizegate(&["token", "create", "acme/app"], &db);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let token = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let public_id = token.split('_').nth(1).unwrap().to_owned();

    let listed = sizegate(&["token", "list", "acme/app"], &db);
    let listing = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listing.contains(&public_id) && listing.contains("active"),
        "{listing}"
    );
    assert!(!listing.contains(&token), "the secret must never be listed");

    let revoked = sizegate(&["token", "revoke", &public_id], &db);
    assert!(revoked.status.success());
    let again = sizegate(&["token", "revoke", &token], &db);
    assert_eq!(again.status.code(), Some(1));
    let listing = String::from_utf8(sizegate(&["token", "list", "acme/app"], &db).stdout).unwrap();
    assert!(listing.contains("revoked"), "{listing}");

    let bad = sizegate(&["token", "create", "not-a-repo"], &db);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("OWNER/REPO"));
    drop_database(&name).await;
}

#[tokio::test]
async fn read_tokens_and_private_repositories() {
    let name = fresh_name("private");
    let db = database_url(&name);
    let missing = sizegate(&["repo", "set-private", "acme/app"], &db);
    assert_eq!(missing.status.code(), Some(1), "unknown repository");
    assert!(
        sizegate(&["token", "create", "acme/app"], &db)
            .status
            .success()
    );
    let private = sizegate(&["repo", "set-private", "acme/app"], &db);
    assert!(
        private.status.success(),
        "{}",
        String::from_utf8_lossy(&private.stderr)
    );

    let created = sizegate(&["token", "create", "--read"], &db);
    assert!(created.status.success());
    let token = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("sgr_"), "{token}");
    let both = sizegate(&["token", "create", "--read", "acme/app"], &db);
    assert_eq!(both.status.code(), Some(2), "--read takes no repository");

    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let store = sizegate_store::Store::new(pool.clone());
    assert!(
        store
            .find_repository("acme", "app")
            .await
            .unwrap()
            .unwrap()
            .private
    );
    assert!(
        store
            .authenticate_read_token(&token)
            .await
            .unwrap()
            .is_some()
    );
    let public = sizegate(&["repo", "set-public", "acme/app"], &db);
    assert!(public.status.success());
    assert!(
        !store
            .find_repository("acme", "app")
            .await
            .unwrap()
            .unwrap()
            .private
    );

    let public_id = token.split('_').nth(1).unwrap().to_owned();
    assert!(
        sizegate(&["token", "revoke", &public_id], &db)
            .status
            .success()
    );
    assert!(
        store
            .authenticate_read_token(&token)
            .await
            .unwrap()
            .is_none()
    );
    pool.close().await;
    drop_database(&name).await;
}

/// `sizegate repo set-oidc` and `set-branches`: the exact repository name,
/// what is stored, and a message when the ids are still unknown.
#[tokio::test]
async fn repo_trust_settings() {
    let name = fresh_name("repo_trust");
    let db = database_url(&name);
    assert!(
        sizegate(&["token", "create", "acme/app"], &db)
            .status
            .success()
    );
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();

    let unknown = sizegate(&["repo", "set-oidc", "acme/App", "on"], &db);
    assert_eq!(unknown.status.code(), Some(1), "{}", stderr(&unknown));
    assert!(stderr(&unknown).contains("no repository acme/App"));

    let without_ids = sizegate(&["repo", "set-oidc", "acme/app", "on"], &db);
    assert!(without_ids.status.success(), "{}", stderr(&without_ids));
    assert!(
        stderr(&without_ids).contains("not known yet"),
        "{}",
        stderr(&without_ids)
    );
    let with_ids = sizegate(
        &[
            "repo",
            "set-oidc",
            "acme/app",
            "on",
            "--github-id",
            "42",
            "--github-owner-id",
            "7",
        ],
        &db,
    );
    assert!(
        stderr(&with_ids).contains("repository_id 42"),
        "{}",
        stderr(&with_ids)
    );
    let branches = sizegate(
        &["repo", "set-branches", "acme/app", "trunk", "release"],
        &db,
    );
    assert!(
        stderr(&branches).contains("trunk, release"),
        "{}",
        stderr(&branches)
    );
    let bad = sizegate(&["repo", "set-oidc", "acme/app", "maybe"], &db);
    assert!(!bad.status.success());

    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let row: (bool, Option<i64>, Option<i64>, String, Vec<String>) = sqlx::query_as(
        "SELECT oidc_enabled, github_id, github_owner_id, default_branch, protected_branches
         FROM repositories WHERE owner = 'acme' AND name = 'app'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            true,
            Some(42),
            Some(7),
            "trunk".to_owned(),
            vec!["release".to_owned()]
        )
    );
    let off = sizegate(&["repo", "set-oidc", "acme/app", "off"], &db);
    assert!(stderr(&off).contains("off"), "{}", stderr(&off));
    let enabled: bool = sqlx::query_scalar("SELECT oidc_enabled FROM repositories")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!enabled);
    pool.close().await;
    drop_database(&name).await;
}
