//! Escaping of untrusted names (targets, crates, symbols) for the two
//! contexts they appear in: markdown text (table cells, list items) and raw
//! HTML (`<summary>`), plus percent-encoding for dashboard links. A symbol
//! name can neither break a table, inject HTML, nor mention a user.

/// Percent-encode a URL path (one rule for sizegate, in `sizegate-core`).
pub use sizegate_core::url_path;

use crate::format::is_invisible_control;

/// Names longer than this many characters are cut with `…`: a long generic
/// Rust symbol must not eat the comment's size limit on its own.
pub use crate::format::MAX_NAME_CHARS;

/// Messages (analysis errors, advice) longer than this are cut with `…`.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// Escape a name for markdown inline text, cut to [`MAX_NAME_CHARS`].
/// Markdown punctuation gets a backslash, `<`, `>` and `&` become entities,
/// control and bidirectional-override characters become spaces, and `@` is
/// followed by a zero-width space so that it cannot mention anyone.
pub fn markdown(text: &str) -> String {
    markdown_cut(text, MAX_NAME_CHARS)
}

/// Escape a message like [`markdown`], cut to [`MAX_MESSAGE_CHARS`].
pub fn markdown_message(text: &str) -> String {
    markdown_cut(text, MAX_MESSAGE_CHARS)
}

/// A message whose `code spans` are kept as code spans (their content shown
/// as written) and whose other text is escaped like [`markdown`]; cut to
/// [`MAX_MESSAGE_CHARS`]. A message with an unpaired backtick is escaped
/// as a whole.
pub fn markdown_with_code(text: &str) -> String {
    let cut: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
    let pieces: Vec<&str> = cut.split('`').collect();
    if pieces.len().is_multiple_of(2) {
        return markdown_message(text);
    }
    let mut out = String::with_capacity(cut.len() + 16);
    for (i, piece) in pieces.iter().enumerate() {
        if i % 2 == 1 {
            out.push_str(&crate::format::code(piece));
        } else {
            out.push_str(&markdown_cut(piece, MAX_MESSAGE_CHARS));
        }
    }
    if text.chars().nth(MAX_MESSAGE_CHARS).is_some() {
        out.push('…');
    }
    out
}

fn markdown_cut(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 2));
    for c in text.chars().take(max_chars) {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '|' | '~' | '#' | '!' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '@' => out.push_str("@\u{200b}"),
            c if is_invisible_control(c) => out.push(' '),
            c => out.push(c),
        }
    }
    if text.chars().nth(max_chars).is_some() {
        out.push('…');
    }
    out
}

/// Escape `text` for raw HTML text (inside `<summary>`), cut to
/// [`MAX_NAME_CHARS`].
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_NAME_CHARS * 2));
    for c in cut(text) {
        match c {
            '@' => out.push_str("@\u{200b}"),
            c if is_invisible_control(c) => out.push(' '),
            c => match sizegate_core::html_entity(c) {
                Some(entity) => out.push_str(entity),
                None => out.push(c),
            },
        }
    }
    if text.chars().nth(MAX_NAME_CHARS).is_some() {
        out.push('…');
    }
    out
}

fn cut(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars().take(MAX_NAME_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_cannot_break_a_table_or_inject_html() {
        assert_eq!(
            markdown("a|b <img src=x> `code` *x* [l](u) @dev"),
            "a\\|b &lt;img src=x&gt; \\`code\\` \\*x\\* \\[l\\]\\(u\\) @\u{200b}dev"
        );
        assert_eq!(markdown("line\nbreak\r"), "line break ");
        assert_eq!(markdown("abc\u{202e}fed"), "abc fed");
        assert_eq!(
            markdown("<!-- sizegate:comment -->"),
            "&lt;\\!-- sizegate:comment --&gt;"
        );
    }

    #[test]
    fn messages_get_more_room_than_names() {
        let message = "m".repeat(MAX_NAME_CHARS * 2);
        assert_eq!(markdown_message(&message), message);
        let long = "m".repeat(MAX_MESSAGE_CHARS + 1);
        assert!(markdown_message(&long).ends_with('…'));
    }

    #[test]
    fn messages_keep_their_code_spans() {
        assert_eq!(
            markdown_with_code("Set `panic = \"abort\"` in *the* profile"),
            "Set `panic = \"abort\"` in \\*the\\* profile"
        );
        assert_eq!(markdown_with_code("odd ` tick"), "odd \\` tick");
    }

    #[test]
    fn html_escapes_markup() {
        assert_eq!(
            html("<b>\"x\" & y</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; y&lt;/b&gt;"
        );
    }

    #[test]
    fn long_names_are_cut() {
        let long = "x".repeat(MAX_NAME_CHARS + 50);
        let escaped = markdown(&long);
        assert_eq!(escaped.chars().count(), MAX_NAME_CHARS + 1);
        assert!(escaped.ends_with('…'));
        assert_eq!(
            markdown(&"y".repeat(MAX_NAME_CHARS)),
            "y".repeat(MAX_NAME_CHARS)
        );
    }

    #[test]
    fn url_paths_keep_slashes() {
        assert_eq!(
            url_path("x86_64-unknown-linux-gnu/app"),
            "x86_64-unknown-linux-gnu/app"
        );
        assert_eq!(url_path("my app (v2)?#"), "my%20app%20%28v2%29%3F%23");
        assert_eq!(url_path("é"), "%C3%A9");
    }
}
