//! The pull request comment as the reviewer sees it on GitHub: its
//! markdown rendered to HTML with pulldown-cmark (tables on), sanitized.
//! The comment is built by sizegate, but it carries names from the binary
//! and the uploader (targets, crates, symbols), so nothing in it may become
//! markup of ours: raw HTML passes only as the few tags the comment uses
//! (`details`, `summary`, `code`, each without attributes), HTML comments
//! (the sticky marker) are dropped, images become their text, and links
//! keep only `http`, `https` and same-site targets.

use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag, TagEnd, html};

/// Tags the comment writes as raw HTML; any other makes the fragment text.
const ALLOWED_TAGS: [&str; 6] = [
    "<details>",
    "</details>",
    "<summary>",
    "</summary>",
    "<code>",
    "</code>",
];

/// Render comment markdown to sanitized HTML.
pub(super) fn comment_html(markdown: &str) -> String {
    let mut in_image = 0usize;
    let mut unsafe_links = Vec::new();
    let events =
        Parser::new_ext(markdown, Options::ENABLE_TABLES).filter_map(|event| match event {
            Event::Html(raw) | Event::InlineHtml(raw) => sanitize_html(raw),
            Event::Start(Tag::Image { .. }) => {
                in_image += 1;
                None
            }
            Event::End(TagEnd::Image) => {
                in_image = in_image.saturating_sub(1);
                None
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                let safe = is_safe_url(&dest_url);
                unsafe_links.push(!safe);
                safe.then_some(Event::Start(Tag::Link {
                    link_type: if link_type == LinkType::Email {
                        LinkType::Inline
                    } else {
                        link_type
                    },
                    dest_url,
                    title,
                    id,
                }))
            }
            Event::End(TagEnd::Link) => match unsafe_links.pop() {
                Some(true) => None,
                _ => Some(Event::End(TagEnd::Link)),
            },
            other => Some(other),
        });
    let mut out = String::with_capacity(markdown.len() * 2);
    html::push_html(&mut out, events);
    out
}

/// A raw HTML fragment kept when it is only allowed tags and text without
/// markup, dropped when it is an HTML comment, shown as text otherwise.
fn sanitize_html(raw: CowStr<'_>) -> Option<Event<'_>> {
    let trimmed = raw.trim();
    if trimmed.starts_with("<!--") && trimmed.ends_with("-->") {
        return None;
    }
    let mut rest = raw.as_ref();
    let mut safe = true;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else {
            safe = false;
            break;
        };
        let tag = &rest[start..=start + len];
        if !ALLOWED_TAGS.contains(&tag) {
            safe = false;
            break;
        }
        rest = &rest[start + len + 1..];
    }
    if safe && !rest.contains('>') {
        Some(Event::Html(raw))
    } else {
        Some(Event::Text(raw))
    }
}

/// `http:`, `https:` and same-site (`/…`, not `//…`) links only.
fn is_safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("https://")
        || lower.starts_with("http://")
        || (lower.starts_with('/') && !lower.starts_with("//"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_tables_code_and_details() {
        let html = comment_html(
            "<!-- sizegate:comment -->\n### ✅ sizegate: `x86_64/app` +1.0 KiB\n\n\
             | target | Δ |\n|:---|---:|\n| [`a\\|b`](https://x.example/t) | +1 B |\n\n\
             <details><summary>✅ <code>x86_64/app</code> +1 B</summary>\n\n- line\n\n</details>\n",
        );
        assert!(!html.contains("sizegate:comment"), "{html}");
        assert!(html.contains("<code>x86_64/app</code>"), "{html}");
        assert!(html.contains("<table>"), "{html}");
        assert!(
            html.contains("<a href=\"https://x.example/t\"><code>a|b</code></a>"),
            "{html}"
        );
        assert!(
            html.contains("<details><summary>✅ <code>x86_64/app</code> +1 B</summary>"),
            "{html}"
        );
    }

    #[test]
    fn no_markup_from_names_or_links() {
        let html = comment_html(
            "<img src=x onerror=alert(1)>\n\nhi <b onclick=x>bold</b> \
             [x](javascript:alert(1)) ![i](https://e.example/i.png) `<script>`\n\n\
             <details open><summary>x</summary>\n\n</details>\n",
        );
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b "), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<details open>"), "{html}");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
        assert!(html.contains("<code>&lt;script&gt;</code>"), "{html}");
    }
}
