//! Text into a URL path and into HTML.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters and `/`.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Percent-encode text for a URL path or query value, keeping `/` (target
/// names hold slashes and the dashboard routes accept them) and RFC 3986
/// unreserved characters.
pub fn url_path(text: &str) -> String {
    utf8_percent_encode(text, PATH).to_string()
}

/// The entity that stands for `c` in HTML text or a quoted attribute, if
/// `c` must be escaped.
pub fn html_entity(c: char) -> Option<&'static str> {
    match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '"' => Some("&quot;"),
        '\'' => Some("&#39;"),
        _ => None,
    }
}

/// Escape text for an HTML (or SVG) text node or quoted attribute.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match html_entity(c) {
            Some(entity) => out.push_str(entity),
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_slashes_and_unreserved_characters() {
        assert_eq!(
            url_path("x86_64-unknown-linux-gnu/app"),
            "x86_64-unknown-linux-gnu/app"
        );
        assert_eq!(url_path("my app (v2)?#~"), "my%20app%20%28v2%29%3F%23~");
        assert_eq!(url_path("é&="), "%C3%A9%26%3D");
    }

    #[test]
    fn html_escapes_markup_and_quotes() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
