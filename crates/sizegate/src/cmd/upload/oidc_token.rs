//! Ask GitHub Actions for an OIDC id token whose audience is the sizegate
//! server, so a workflow can upload without a stored secret. The job needs
//! `permissions: id-token: write`, which makes the runner set
//! `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.

use anyhow::Context as _;
use serde::Deserialize;

#[derive(Deserialize)]
struct TokenAnswer {
    value: String,
}

/// Largest answer accepted from the token endpoint.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Request an id token for `audience`.
pub async fn request(
    client: &reqwest::Client,
    request_url: &str,
    request_token: &str,
    audience: &str,
) -> anyhow::Result<String> {
    let mut url =
        reqwest::Url::parse(request_url).context("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL")?;
    url.query_pairs_mut().append_pair("audience", audience);
    let response = client
        .get(url)
        .bearer_auth(request_token)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .context("requesting a GitHub OIDC token")?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .context("reading the GitHub OIDC token answer")?;
    if !status.is_success() {
        anyhow::bail!(
            "GitHub refused an OIDC token (HTTP {status}): {}; does the job have `permissions: id-token: write`?",
            String::from_utf8_lossy(&body[..body.len().min(500)]).trim()
        );
    }
    if body.len() > MAX_ANSWER_BYTES {
        anyhow::bail!("the GitHub OIDC token answer is larger than {MAX_ANSWER_BYTES} bytes");
    }
    let answer: TokenAnswer = serde_json::from_slice(&body)
        .context("the GitHub OIDC token answer is not {\"value\": ...}")?;
    if answer.value.is_empty() {
        anyhow::bail!("GitHub answered an empty OIDC token");
    }
    Ok(answer.value)
}
