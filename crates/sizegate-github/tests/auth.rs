//! App authentication against the fake GitHub: the JWT, the installation
//! lookup and the installation token cache.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod support;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use sizegate_github::{AppKey, Error, Repo};
use support::*;

#[test]
fn app_jwt_is_rs256_with_backdated_iat_and_ten_minute_expiry() {
    let key = generate_key();
    let now = chrono::Utc::now();
    let jwt = AppKey::from_pem(key.private_pem.as_bytes())
        .unwrap()
        .jwt(APP_ID, now)
        .unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["iss"], APP_ID.to_string());
    assert_eq!(claims["iat"].as_i64().unwrap(), now.timestamp() - 60);
    assert_eq!(claims["exp"].as_i64().unwrap(), now.timestamp() + 540);
    // Verified with the public key openssl derived, not with our own code.
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let signed = format!("{}.{}", parts[0], parts[1]);
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &key.public_der)
        .verify(signed.as_bytes(), &signature)
        .unwrap();
}

#[test]
fn keys_that_are_not_rsa_pem_are_refused_with_a_clear_error() {
    let error = AppKey::from_pem(b"not a key").unwrap_err();
    assert!(matches!(error, Error::InvalidPrivateKey(_)));
    assert!(error.to_string().contains("SIZEGATE_GITHUB_PRIVATE_KEY"));
}

#[tokio::test]
async fn the_fake_accepts_our_jwt_and_answers_the_installation() {
    let h = harness().await;
    assert_eq!(
        h.client.installation_id(&h.repo).await.unwrap(),
        INSTALLATION_ID
    );
    let calls = h.fake.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, "/repos/octo-org/app/installation");
    assert_eq!(calls[0].status, 200);
    assert!(
        calls[0]
            .header("authorization")
            .unwrap()
            .starts_with("Bearer ")
    );
}

#[tokio::test]
async fn a_jwt_signed_with_another_key_is_rejected() {
    let h = harness().await;
    let other = generate_key();
    let impostor = client_for(&h.fake, &other.private_pem, h.clock.clone());
    let error = impostor.installation_id(&h.repo).await.unwrap_err();
    assert!(
        matches!(error, Error::Api { status: 401, .. }),
        "unexpected: {error}"
    );
}

#[tokio::test]
async fn installation_is_looked_up_once_per_repository() {
    let h = harness().await;
    for _ in 0..3 {
        assert_eq!(
            h.client.installation_id(&h.repo).await.unwrap(),
            INSTALLATION_ID
        );
    }
    // GitHub names are case-insensitive: same cache entry.
    let shouting = Repo::new("OCTO-ORG", "App").unwrap();
    h.client.installation_id(&shouting).await.unwrap();
    assert_eq!(h.fake.calls().len(), 1);
}

#[tokio::test]
async fn repository_without_the_app_is_reported_as_not_installed() {
    let h = harness().await;
    let elsewhere = Repo::new("someone", "else").unwrap();
    let error = h.client.installation_id(&elsewhere).await.unwrap_err();
    assert!(matches!(error, Error::NotInstalled { .. }), "{error}");
    assert!(error.to_string().contains("someone/else"));
}

#[tokio::test]
async fn installation_token_is_cached_then_refreshed_near_expiry() {
    let h = harness().await;
    let first = h.client.installation_token(INSTALLATION_ID).await.unwrap();
    let again = h.client.installation_token(INSTALLATION_ID).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(h.fake.tokens_issued(), 1);
    assert_eq!(token_requests(&h), 1, "second call made a token request");

    // Tokens live an hour; 54 minutes in, the cached one is still used.
    h.clock.advance(Duration::from_secs(54 * 60));
    assert_eq!(
        h.client.installation_token(INSTALLATION_ID).await.unwrap(),
        first
    );
    assert_eq!(token_requests(&h), 1);

    // 56 minutes in, less than the 5-minute margin is left: a new one.
    h.clock.advance(Duration::from_secs(2 * 60));
    let refreshed = h.client.installation_token(INSTALLATION_ID).await.unwrap();
    assert_ne!(refreshed, first);
    assert_eq!(token_requests(&h), 2);
    assert_eq!(h.fake.tokens_issued(), 2);
}

#[tokio::test]
async fn a_revoked_token_is_replaced_and_the_call_succeeds() {
    let h = harness().await;
    h.client
        .upsert_sticky_comment(&h.repo, 5, MARKER, "one")
        .await
        .unwrap();
    h.fake.revoke_tokens();
    h.client
        .upsert_sticky_comment(&h.repo, 5, MARKER, "two")
        .await
        .unwrap();
    assert_eq!(h.fake.tokens_issued(), 2);
    let comments = h.fake.comments(OWNER, NAME, 5);
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.starts_with("two"));
}

fn token_requests(h: &Harness) -> usize {
    h.fake
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/access_tokens"))
        .count()
}

#[test]
fn client_and_its_futures_can_move_between_threads() {
    // The worker spawns reports on a multi-threaded runtime.
    fn assert_send<T: Send>(_: &T) {}
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<sizegate_github::GitHubClient>();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _entered = runtime.enter();
    let key = generate_key();
    let client = sizegate_github::GitHubClient::new(sizegate_github::GitHubConfig::new(
        APP_ID,
        key.private_pem,
    ))
    .unwrap();
    let repo = Repo::new(OWNER, NAME).unwrap();
    let request = sizegate_github::CheckRunRequest {
        name: "sizegate".to_owned(),
        head_sha: "ec26c3e57ca3a959ca5aad62de7213c562f8c821".to_owned(),
        status: sizegate_github::CheckStatus::Queued,
        conclusion: None,
        title: String::new(),
        summary: String::new(),
        details_url: None,
        external_id: None,
    };
    assert_send(&client.upsert_sticky_comment(&repo, 1, MARKER, "body"));
    assert_send(&client.upsert_check_run(&repo, &request));
    assert_send(&client.installation_token(INSTALLATION_ID));
}

#[tokio::test]
async fn a_reinstalled_app_is_found_under_its_new_installation() {
    let h = harness().await;
    h.client
        .upsert_sticky_comment(&h.repo, 8, MARKER, "before")
        .await
        .unwrap();
    // Uninstalled and installed again: installation 77 is gone, the
    // repository now belongs to 78, and the cached token no longer works.
    h.fake.reinstall(OWNER, NAME, 78);
    h.client
        .upsert_sticky_comment(&h.repo, 8, MARKER, "after")
        .await
        .unwrap();
    assert_eq!(h.client.installation_id(&h.repo).await.unwrap(), 78);
    let comments = h.fake.comments(OWNER, NAME, 8);
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.starts_with("after"));
    let lookups = h
        .fake
        .calls()
        .iter()
        .filter(|c| c.path.ends_with("/installation"))
        .count();
    assert_eq!(lookups, 2);
}

#[tokio::test]
async fn jwts_from_a_clock_too_far_off_are_rejected_by_the_fake() {
    let h = harness().await;
    let now = chrono::Utc::now();
    for offset_minutes in [-20, 5] {
        let skewed = std::sync::Arc::new(sizegate_github::FakeClock::starting_at(
            now + chrono::Duration::minutes(offset_minutes),
        ));
        let client = client_for(&h.fake, &h.key.private_pem, skewed);
        let error = client.installation_id(&h.repo).await.unwrap_err();
        assert!(
            matches!(error, Error::Api { status: 401, .. }),
            "{offset_minutes} min: {error}"
        );
    }
}

#[tokio::test]
async fn calls_carry_githubs_recommended_headers() {
    let h = harness().await;
    h.client
        .upsert_sticky_comment(&h.repo, 6, MARKER, "report")
        .await
        .unwrap();
    let calls = h.fake.calls();
    assert!(calls.len() >= 4, "{calls:#?}");
    for call in &calls {
        assert_eq!(call.header("accept"), Some("application/vnd.github+json"));
        assert_eq!(call.header("x-github-api-version"), Some("2022-11-28"));
        assert!(call.header("user-agent").unwrap().starts_with("sizegate/"));
    }
}
