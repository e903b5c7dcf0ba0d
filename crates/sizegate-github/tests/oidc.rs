//! OIDC verification against a fake issuer on loopback (discovery document
//! and JWKS), with RSA keys made by `openssl genpkey` and tokens signed in
//! the test with ring.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{Value, json};
use sizegate_github::oidc::{OidcConfig, OidcError, OidcVerifier};
use sizegate_github::{Clock, FakeClock};

const AUDIENCE: &str = "https://sizegate.example.com";
const REPO: &str = "acme/app";
const T0: u64 = 1_800_000_000;

/// A signing key and its JWK.
struct Key {
    pair: RsaKeyPair,
    jwk_n: String,
    jwk_e: String,
}

fn generate_key() -> Key {
    let output = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-outform",
            "DER",
        ])
        .output()
        .expect("openssl is installed");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // OpenSSL 3 writes a DER private key as PKCS#1 RSAPrivateKey; older
    // releases wrote PKCS#8.
    let pair = RsaKeyPair::from_der(&output.stdout)
        .or_else(|_| RsaKeyPair::from_pkcs8(&output.stdout))
        .unwrap();
    let public: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
    Key {
        jwk_n: URL_SAFE_NO_PAD.encode(&public.n),
        jwk_e: URL_SAFE_NO_PAD.encode(&public.e),
        pair,
    }
}

/// Three keys for the whole test binary (key generation takes a while).
fn keys() -> &'static [Key] {
    static KEYS: OnceLock<Vec<Key>> = OnceLock::new();
    KEYS.get_or_init(|| (0..3).map(|_| generate_key()).collect())
}

fn jwk(kid: &str, key: &Key) -> Value {
    json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": key.jwk_n, "e": key.jwk_e})
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// An RS256 token with `header` fields (alg defaults to RS256).
fn sign(key: &Key, header: Value, claims: &Value) -> String {
    let mut full = json!({"alg": "RS256", "typ": "JWT"});
    for (k, v) in header.as_object().unwrap() {
        full[k] = v.clone();
    }
    let signed = format!("{}.{}", b64(&full), b64(claims));
    let mut signature = vec![0; key.pair.public().modulus_len()];
    key.pair
        .sign(
            &RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            signed.as_bytes(),
            &mut signature,
        )
        .unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

static JTI: AtomicUsize = AtomicUsize::new(0);

/// Claims as GitHub sets them, valid at `now`.
fn claims(issuer: &str, now: u64) -> Value {
    json!({
        "iss": issuer,
        "aud": AUDIENCE,
        "exp": now + 300,
        "iat": now,
        "nbf": now,
        "jti": format!("jti-{}", JTI.fetch_add(1, Ordering::Relaxed)),
        "sub": "repo:acme/app:ref:refs/heads/main",
        "repository": REPO,
        "repository_id": "123",
        "repository_owner": "acme",
        "ref": "refs/heads/main",
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "event_name": "push",
        "workflow": "CI",
        "run_id": "42",
    })
}

fn clock_at(unix: u64) -> Arc<FakeClock> {
    let start = chrono::DateTime::from_timestamp(i64::try_from(unix).unwrap(), 0).unwrap();
    Arc::new(FakeClock::starting_at(start))
}

fn advance(clock: &FakeClock, seconds: u64) {
    clock.advance(Duration::from_secs(seconds));
}

#[derive(Default)]
struct Issuer {
    url: String,
    jwks: Vec<Value>,
    jwks_fetches: usize,
    /// Answer the discovery document with 500.
    broken: bool,
    /// Name another issuer in the discovery document.
    wrong_issuer: bool,
}

type Shared = Arc<Mutex<Issuer>>;

async fn discovery(State(issuer): State<Shared>) -> axum::response::Response {
    let issuer = issuer.lock().unwrap();
    if issuer.broken {
        return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
    }
    let name = if issuer.wrong_issuer {
        "https://evil.example.com".to_owned()
    } else {
        issuer.url.clone()
    };
    Json(json!({"issuer": name, "jwks_uri": format!("{}/.well-known/jwks", issuer.url)}))
        .into_response()
}

async fn jwks_document(State(issuer): State<Shared>) -> Json<Value> {
    let mut issuer = issuer.lock().unwrap();
    issuer.jwks_fetches += 1;
    Json(json!({ "keys": issuer.jwks }))
}

struct Fixture {
    issuer: Shared,
    url: String,
    clock: Arc<FakeClock>,
    verifier: Arc<OidcVerifier>,
}

impl Fixture {
    async fn start(jwks: Vec<Value>) -> Fixture {
        let issuer: Shared = Arc::default();
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/.well-known/jwks", get(jwks_document))
            .with_state(Arc::clone(&issuer));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let url = format!("http://{addr}");
        {
            let mut state = issuer.lock().unwrap();
            state.url = url.clone();
            state.jwks = jwks;
        }
        let clock = clock_at(T0);
        let verifier = verifier_for(&url, &clock);
        Fixture {
            issuer,
            url,
            clock,
            verifier,
        }
    }

    fn fetches(&self) -> usize {
        self.issuer.lock().unwrap().jwks_fetches
    }

    fn now(&self) -> u64 {
        u64::try_from(self.clock.now().timestamp()).unwrap()
    }

    fn claims(&self) -> Value {
        claims(&self.url, self.now())
    }
}

fn verifier_for(issuer: &str, clock: &Arc<FakeClock>) -> Arc<OidcVerifier> {
    let config = OidcConfig {
        issuer: issuer.to_owned(),
        audience: AUDIENCE.to_owned(),
        http_timeout: Duration::from_secs(5),
        leeway: Duration::from_secs(60),
        min_refresh_interval: Duration::from_secs(60),
    };
    Arc::new(
        OidcVerifier::new(config)
            .unwrap()
            .with_clock(Arc::clone(clock) as Arc<dyn Clock>),
    )
}

#[tokio::test]
async fn accepts_a_valid_token() {
    let k = &keys()[0];
    let f = Fixture::start(vec![jwk("k0", k)]).await;
    let claims = f.claims();
    let token = sign(k, json!({"kid": "k0"}), &claims);
    let verified = f.verifier.verify(&token, REPO).await.unwrap();
    assert_eq!(verified.repository, REPO);
    assert_eq!(verified.jti, claims["jti"].as_str().unwrap());
    assert_eq!(verified.git_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(verified.aud, vec![AUDIENCE.to_owned()]);

    // `aud` as an array, the repository in another case, the audience with
    // a trailing slash, and the clock 59 s past `exp`: all accepted.
    let mut claims = f.claims();
    claims["aud"] = json!(["other", format!("{AUDIENCE}/")]);
    claims["exp"] = json!(f.now() - 59);
    let token = sign(k, json!({"kid": "k0"}), &claims);
    let verified = f.verifier.verify(&token, "ACME/App").await.unwrap();
    assert_eq!(verified.aud.len(), 2);
    assert_eq!(f.fetches(), 1, "keys are cached");

    // The repository check can be left to the caller.
    let token = sign(k, json!({"kid": "k0"}), &f.claims());
    let verified = f.verifier.verify_any_repository(&token).await.unwrap();
    assert_eq!(verified.repository, REPO);
}

#[tokio::test]
async fn refuses_each_broken_rule() {
    let (k0, k1) = (&keys()[0], &keys()[1]);
    let f = Fixture::start(vec![jwk("k0", k0), jwk("k1", k1)]).await;
    let now = f.now();
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut c = f.claims();
        edit(&mut c);
        c
    };
    let good = |c: &Value| sign(k0, json!({"kid": "k0"}), c);

    // Signed by k1 but naming k0; and a payload changed after signing.
    let wrong_key = sign(k1, json!({"kid": "k0"}), &f.claims());
    let tampered = {
        let token = good(&f.claims());
        let parts: Vec<&str> = token.split('.').collect();
        let other = b64(&with(&|c| c["repository"] = json!("mallory/app")));
        format!("{}.{other}.{}", parts[0], parts[2])
    };
    let hs256 = {
        // Key confusion: HMAC keyed with the public modulus.
        let header = b64(&json!({"alg": "HS256", "kid": "k0"}));
        let signed = format!("{header}.{}", b64(&f.claims()));
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, k0.jwk_n.as_bytes());
        let tag = ring::hmac::sign(&key, signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    };
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": "k0"})),
        b64(&f.claims())
    );
    let rs512 = sign(k0, json!({"kid": "k0", "alg": "RS512"}), &f.claims());

    type Expect = fn(&OidcError) -> bool;
    let cases: Vec<(&str, String, Expect)> = vec![
        ("wrong key", wrong_key, |e| {
            matches!(e, OidcError::BadSignature)
        }),
        ("tampered", tampered, |e| {
            matches!(e, OidcError::BadSignature)
        }),
        (
            "HS256",
            hs256,
            |e| matches!(e, OidcError::WrongAlgorithm(a) if a == "HS256"),
        ),
        (
            "none",
            none,
            |e| matches!(e, OidcError::WrongAlgorithm(a) if a == "none"),
        ),
        (
            "RS512",
            rs512,
            |e| matches!(e, OidcError::WrongAlgorithm(a) if a == "RS512"),
        ),
        (
            "unknown kid",
            sign(k0, json!({"kid": "k9"}), &f.claims()),
            |e| matches!(e, OidcError::UnknownKey(k) if k == "k9"),
        ),
        (
            "expired",
            good(&with(&|c| c["exp"] = json!(now - 61))),
            |e| matches!(e, OidcError::Expired { .. }),
        ),
        (
            "nbf in the future",
            good(&with(&|c| c["nbf"] = json!(now + 61))),
            |e| matches!(e, OidcError::NotYetValid { .. }),
        ),
        (
            "iat in the future",
            good(&with(&|c| c["iat"] = json!(now + 3600))),
            |e| matches!(e, OidcError::NotYetValid { .. }),
        ),
        (
            "wrong issuer",
            good(&with(&|c| {
                c["iss"] = json!("https://token.actions.githubusercontent.com")
            })),
            |e| matches!(e, OidcError::WrongIssuer(_)),
        ),
        (
            "wrong audience",
            good(&with(&|c| c["aud"] = json!("https://other.example.com"))),
            |e| matches!(e, OidcError::WrongAudience(..)),
        ),
        (
            "wrong repository",
            good(&with(&|c| c["repository"] = json!("acme/other"))),
            |e| matches!(e, OidcError::WrongRepository { token, .. } if token == "acme/other"),
        ),
        (
            "no jti",
            good(&with(&|c| {
                c.as_object_mut().unwrap().remove("jti");
            })),
            |e| matches!(e, OidcError::Malformed(_)),
        ),
        ("not a JWT", "hello".into(), |e| {
            matches!(e, OidcError::Malformed(_))
        }),
        ("four parts", "a.b.c.d".into(), |e| {
            matches!(e, OidcError::Malformed(_))
        }),
        ("bad base64", "!!!.e30.e30".into(), |e| {
            matches!(e, OidcError::Malformed(_))
        }),
        (
            "header not JSON",
            format!("{}.e30.e30", URL_SAFE_NO_PAD.encode("nope")),
            |e| matches!(e, OidcError::Malformed(_)),
        ),
        ("no kid", sign(k0, json!({}), &f.claims()), |e| {
            matches!(e, OidcError::Malformed(_))
        }),
        ("huge", "a".repeat(20_000), |e| {
            matches!(e, OidcError::Malformed(_))
        }),
    ];
    for (name, token, expected) in cases {
        let error = f.verifier.verify(&token, REPO).await.unwrap_err();
        assert!(expected(&error), "{name}: got {error:?}");
        assert!(!error.to_string().is_empty());
    }
    assert_eq!(f.fetches(), 1, "one fetch for all of them");

    // Replay: the first use passes, the second is refused.
    let token = good(&f.claims());
    f.verifier.verify(&token, REPO).await.unwrap();
    let error = f.verifier.verify(&token, REPO).await.unwrap_err();
    assert!(matches!(error, OidcError::Replayed(_)), "{error:?}");
    // A token refused for another reason does not use up its jti.
    let claims = f.claims();
    let token = good(&claims);
    assert!(f.verifier.verify(&token, "acme/other").await.is_err());
    f.verifier.verify(&token, REPO).await.unwrap();
}

#[tokio::test]
async fn algorithm_and_shape_are_checked_before_any_request() {
    let f = Fixture::start(vec![jwk("k0", &keys()[0])]).await;
    let none = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&f.claims()));
    assert!(matches!(
        f.verifier.verify(&none, REPO).await,
        Err(OidcError::WrongAlgorithm(_))
    ));
    assert!(f.verifier.verify("x.y", REPO).await.is_err());
    assert_eq!(f.fetches(), 0);
}

#[tokio::test]
async fn key_rotation_costs_one_refresh() {
    let (k0, k1) = (&keys()[0], &keys()[1]);
    let f = Fixture::start(vec![jwk("k0", k0)]).await;
    f.verifier
        .verify(&sign(k0, json!({"kid": "k0"}), &f.claims()), REPO)
        .await
        .unwrap();
    assert_eq!(f.fetches(), 1);

    // GitHub publishes k1 and starts signing with it.
    f.issuer.lock().unwrap().jwks = vec![jwk("k0", k0), jwk("k1", k1)];
    advance(&f.clock, 300);
    f.verifier
        .verify(&sign(k1, json!({"kid": "k1"}), &f.claims()), REPO)
        .await
        .unwrap();
    assert_eq!(f.fetches(), 2, "the unknown kid caused one refresh");
    for _ in 0..3 {
        f.verifier
            .verify(&sign(k1, json!({"kid": "k1"}), &f.claims()), REPO)
            .await
            .unwrap();
        f.verifier
            .verify(&sign(k0, json!({"kid": "k0"}), &f.claims()), REPO)
            .await
            .unwrap();
    }
    assert_eq!(f.fetches(), 2, "both keys now cached");
}

#[tokio::test]
async fn unknown_key_flood_fetches_at_most_once_a_minute() {
    let k0 = &keys()[0];
    let f = Fixture::start(vec![jwk("k0", k0)]).await;
    f.verifier
        .verify(&sign(k0, json!({"kid": "k0"}), &f.claims()), REPO)
        .await
        .unwrap();
    assert_eq!(f.fetches(), 1);

    // Within the minute: refused without asking the issuer.
    advance(&f.clock, 30);
    let error = f
        .verifier
        .verify(&sign(k0, json!({"kid": "made-up"}), &f.claims()), REPO)
        .await
        .unwrap_err();
    assert!(matches!(error, OidcError::UnknownKey(_)), "{error:?}");
    assert_eq!(f.fetches(), 1);

    // A minute later, a concurrent flood of made-up kids: one fetch.
    advance(&f.clock, 31);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let token = sign(k0, json!({"kid": format!("flood-{i}")}), &f.claims());
        let verifier = Arc::clone(&f.verifier);
        tasks.push(tokio::spawn(
            async move { verifier.verify(&token, REPO).await },
        ));
    }
    for task in tasks {
        let error = task.await.unwrap().unwrap_err();
        assert!(matches!(error, OidcError::UnknownKey(_)), "{error:?}");
    }
    assert_eq!(f.fetches(), 2);

    // And the next minute, one more.
    advance(&f.clock, 60);
    let _ = f
        .verifier
        .verify(&sign(k0, json!({"kid": "again"}), &f.claims()), REPO)
        .await;
    assert_eq!(f.fetches(), 3);
}

#[tokio::test]
async fn discovery_failures_are_reported() {
    let k0 = &keys()[0];
    let f = Fixture::start(vec![jwk("k0", k0)]).await;
    f.issuer.lock().unwrap().broken = true;
    let token = sign(k0, json!({"kid": "k0"}), &f.claims());
    let error = f.verifier.verify(&token, REPO).await.unwrap_err();
    assert!(
        matches!(&error, OidcError::DiscoveryFailed(m) if m.contains("HTTP 500")),
        "{error:?}"
    );
    // Within the minute the failure is repeated, not retried.
    let error = f.verifier.verify(&token, REPO).await.unwrap_err();
    assert!(matches!(error, OidcError::DiscoveryFailed(_)), "{error:?}");
    // The issuer comes back; a minute later the token passes.
    f.issuer.lock().unwrap().broken = false;
    advance(&f.clock, 61);
    let token = sign(k0, json!({"kid": "k0"}), &f.claims());
    f.verifier.verify(&token, REPO).await.unwrap();

    // A discovery document naming another issuer.
    let g = Fixture::start(vec![jwk("k0", k0)]).await;
    g.issuer.lock().unwrap().wrong_issuer = true;
    let token = sign(k0, json!({"kid": "k0"}), &g.claims());
    let error = g.verifier.verify(&token, REPO).await.unwrap_err();
    assert!(
        matches!(&error, OidcError::DiscoveryFailed(m) if m.contains("evil")),
        "{error:?}"
    );

    // Nothing listening.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let clock = clock_at(T0);
    let url = format!("http://{addr}");
    let verifier = verifier_for(&url, &clock);
    let token = sign(k0, json!({"kid": "k0"}), &claims(&url, T0));
    let error = verifier.verify(&token, REPO).await.unwrap_err();
    assert!(matches!(error, OidcError::DiscoveryFailed(_)), "{error:?}");
}
