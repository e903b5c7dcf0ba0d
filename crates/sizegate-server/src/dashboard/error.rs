//! Errors of the dashboard pages: the same causes and the same status as
//! the JSON API ([`ApiError::status`]), answered as an HTML page rendered
//! from `templates/error.html`. A private repository is "not found" to
//! anonymous readers, and the page says where to log in.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};

use crate::ApiError;

/// An error answered as an HTML page.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<sizegate_store::Error> for PageError {
    fn from(e: sizegate_store::Error) -> Self {
        PageError(e.into())
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        PageError(ApiError::internal("rendering a page", e))
    }
}

/// The error page (askama escapes every value).
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    logged_in: bool,
    status: u16,
    reason: &'a str,
    message: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let message = self.0.client_message();
        let page = ErrorPage {
            logged_in: false,
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or(""),
            message: &message,
        };
        let mut response = match page.render() {
            Ok(body) => (status, Html(body)).into_response(),
            Err(e) => {
                tracing::error!(error = %crate::error::Chain(&e), "rendering the error page");
                (status, message).into_response()
            }
        };
        crate::error::add_retry_after(&mut response);
        response
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::extract::Path;
    use axum::response::Html;
    use axum::routing::get;

    use super::PageError;
    use crate::ApiError;

    /// A page route failing with the client error named by its path.
    async fn failing(Path(code): Path<u16>) -> Result<Html<String>, PageError> {
        let message = format!("<b>{code}</b> & more");
        Err(match code {
            400 => ApiError::BadRequest(message),
            401 => ApiError::Unauthorized(message),
            403 => ApiError::Forbidden(message),
            404 => ApiError::NotFound(message),
            413 => ApiError::PayloadTooLarge(message),
            422 => ApiError::Unprocessable(message),
            507 => ApiError::InsufficientStorage(message),
            _ => ApiError::bug("no such test code"),
        }
        .into())
    }

    #[tokio::test]
    async fn page_errors_keep_their_status_and_render_the_template() {
        let app = Router::new().route("/fail/{code}", get(failing));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        sizegate_store::install_crypto_provider();
        let client = reqwest::Client::new();
        for code in [400u16, 401, 403, 404, 413, 422, 507, 500] {
            let response = client
                .get(format!("http://{address}/fail/{code}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), code);
            let html = response.text().await.unwrap();
            let page = scraper::Html::parse_document(&html);
            let select = |css: &str| {
                let selector = scraper::Selector::parse(css).unwrap();
                page.select(&selector)
                    .map(|e| e.text().collect::<String>())
                    .collect::<Vec<_>>()
            };
            assert!(select("h1")[0].starts_with(&code.to_string()), "{html}");
            assert_eq!(
                select("a.brand"),
                ["sizegate"],
                "the look of the other pages"
            );
            assert_eq!(select("title")[0], format!("{code} · sizegate"));
            if code == 500 {
                assert_eq!(select("p.error"), ["internal error; see the server log"]);
                assert!(!html.contains("no such test code"), "no internals: {html}");
            } else {
                assert_eq!(select("p.error"), [format!("<b>{code}</b> & more")]);
                assert!(!html.contains("<b>"), "escaped: {html}");
            }
            assert_eq!(html.contains(r#"href="/login">log in"#), code == 404);
        }
        server.abort();
    }
}
