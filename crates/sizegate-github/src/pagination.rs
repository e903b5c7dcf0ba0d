//! Following GitHub's `Link: <…>; rel="next"` headers.

use http::HeaderMap;
use http::header::LINK;

/// The path and query of the `rel="next"` link, if any.
///
/// Only the path and query are kept: the next request goes to the configured
/// API host with our credentials, whatever host the link names, so a token is
/// never sent elsewhere and never dropped because the host differs.
pub(crate) fn next_page(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(LINK) {
        let Ok(value) = value.to_str() else { continue };
        for link in value.split(',') {
            let mut parts = link.split(';');
            let Some(target) = parts.next() else { continue };
            let is_next = parts.any(|param| {
                let param = param.trim();
                param == "rel=\"next\"" || param == "rel=next"
            });
            if !is_next {
                continue;
            }
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            let uri: http::Uri = target.parse().ok()?;
            return uri.path_and_query().map(|pq| pq.as_str().to_owned());
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn finds_next_among_other_relations() {
        let mut headers = HeaderMap::new();
        headers.insert(
            LINK,
            "<https://api.github.com/repositories/1/issues/2/comments?page=1>; rel=\"prev\", \
             <https://api.github.com/repositories/1/issues/2/comments?page=3>; rel=\"next\", \
             <https://api.github.com/repositories/1/issues/2/comments?page=9>; rel=\"last\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_page(&headers).as_deref(),
            Some("/repositories/1/issues/2/comments?page=3")
        );
    }

    #[test]
    fn last_page_has_no_next() {
        let mut headers = HeaderMap::new();
        assert_eq!(next_page(&headers), None);
        headers.insert(
            LINK,
            "<https://api.github.com/x?page=1>; rel=\"first\""
                .parse()
                .unwrap(),
        );
        assert_eq!(next_page(&headers), None);
    }
}
