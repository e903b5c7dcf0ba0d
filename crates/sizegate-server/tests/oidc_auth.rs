//! GitHub OIDC tokens at the upload endpoint of a server that has no public
//! URL (so no audience, so no OIDC): refused with a message saying why.
//! Accepted tokens, replays and unregistered repositories are covered end to
//! end in `crates/sizegate/tests/upload_serve.rs`.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use common::{TestServer, meta, sha};

#[sqlx::test(migrations = "../../migrations")]
async fn a_jwt_without_oidc_configured_is_refused_with_the_reason(pool: sqlx::PgPool) {
    let server =
        TestServer::start_with(pool, sizegate_server::ServerConfig::for_tests(), false).await;
    server.token("acme/app").await;
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJyZXBvc2l0b3J5IjoiYWNtZS9hcHAifQ.c2ln";
    let (status, body) = server
        .upload(
            Some(jwt),
            &meta("acme/app", &sha(1)),
            &[("linux/app", vec![1u8; 10])],
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("does not accept GitHub OIDC tokens"),
        "{body}"
    );
}
