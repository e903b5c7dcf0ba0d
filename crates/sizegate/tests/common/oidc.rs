//! A GitHub Actions OIDC issuer on loopback for the end-to-end tests: the
//! discovery document, the JWKS with one RSA key made by openssl, the
//! Actions token endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`) minting tokens
//! with the claims a test sets, and `sign` for hand-made tokens.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{Map, Value, json};

/// GitHub's numeric id of acme/app in these tests.
pub const REPOSITORY_ID: i64 = 4242;
/// GitHub's numeric id of the acme organisation in these tests.
pub const OWNER_ID: i64 = 77;

struct Key {
    pair: RsaKeyPair,
    n: String,
    e: String,
}

fn key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| {
        let output = std::process::Command::new("openssl")
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
        assert!(output.status.success());
        let pair = RsaKeyPair::from_der(&output.stdout)
            .or_else(|_| RsaKeyPair::from_pkcs8(&output.stdout))
            .unwrap();
        let public: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
        Key {
            n: URL_SAFE_NO_PAD.encode(&public.n),
            e: URL_SAFE_NO_PAD.encode(&public.e),
            pair,
        }
    })
}

/// An RS256 JWT over `claims`, signed with the issuer's key `k1`.
pub fn sign(claims: &Value) -> String {
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let signed = format!(
        "{}.{}",
        b64(&json!({"alg": "RS256", "typ": "JWT", "kid": "k1"})),
        b64(claims)
    );
    let key = key();
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

/// The issuer's state: its URL, the claims minted tokens carry on top of
/// the time and id claims, and every token minted.
#[derive(Default)]
pub struct Issuer {
    /// `iss`, and the base URL of the endpoints.
    pub url: String,
    /// Claims of the next tokens (e.g. `repository`, `event_name`, `sha`).
    pub claims: Map<String, Value>,
    /// Tokens minted by the Actions endpoint, oldest first.
    pub minted: Vec<String>,
}

/// The issuer, shared with its server.
pub type SharedIssuer = Arc<Mutex<Issuer>>;

static JTI: AtomicUsize = AtomicUsize::new(0);

/// The claims of a fresh token of `issuer` for `audience`: time and a unique
/// `jti`, then the issuer's claims, then `extra`.
pub fn claims(issuer: &Issuer, audience: &str, extra: &Value) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = json!({
        "iss": issuer.url,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": format!("jti-{}-{}", std::process::id(), JTI.fetch_add(1, Ordering::Relaxed)),
        "run_id": "1",
    });
    let object = claims.as_object_mut().unwrap();
    for (k, v) in &issuer.claims {
        object.insert(k.clone(), v.clone());
    }
    if let Some(extra) = extra.as_object() {
        for (k, v) in extra {
            object.insert(k.clone(), v.clone());
        }
    }
    claims
}

/// The claims of a push to `branch` of `sha` in acme/app (with its ids).
pub fn push_claims(branch: &str, sha: &str) -> Value {
    json!({
        "repository": "acme/app",
        "repository_id": REPOSITORY_ID.to_string(),
        "repository_owner": "acme",
        "repository_owner_id": OWNER_ID.to_string(),
        "event_name": "push",
        "ref": format!("refs/heads/{branch}"),
        "sha": sha,
    })
}

async fn mint(
    State(issuer): State<SharedIssuer>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Json<Value> {
    let mut issuer = issuer.lock().unwrap();
    let audience = query.get("audience").cloned().unwrap_or_default();
    let token = sign(&claims(&issuer, &audience, &Value::Null));
    issuer.minted.push(token.clone());
    Json(json!({ "value": token }))
}

/// Start the issuer on loopback; its tokens name acme/app until a test
/// changes `claims`.
pub async fn start_issuer() -> SharedIssuer {
    let issuer: SharedIssuer = Arc::default();
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|State(issuer): State<SharedIssuer>| async move {
                let url = issuer.lock().unwrap().url.clone();
                Json(json!({"issuer": url, "jwks_uri": format!("{url}/jwks")}))
            }),
        )
        .route(
            "/jwks",
            get(|| async {
                let key = key();
                Json(json!({"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "n": key.n, "e": key.e}]}))
            }),
        )
        .route("/actions-token", get(mint))
        .with_state(Arc::clone(&issuer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    {
        let mut state = issuer.lock().unwrap();
        state.url = url;
        state
            .claims
            .insert("repository".into(), Value::String("acme/app".into()));
    }
    issuer
}
