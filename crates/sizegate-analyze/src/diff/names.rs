//! Symbol names as the diff matches them: the parts of a name that change
//! from build to build without the code changing (Rust hashes, v0 crate
//! disambiguators, closure numbers) are removed or wildcarded.

/// The name a symbol is shown and matched under: a trailing Rust legacy hash
/// (`::h0123456789abcdef`, or `17h…E` in a still-mangled name) and v0 crate
/// disambiguators (`mycrate[1a2b3c4d]::f`) are removed.
pub(crate) fn normalize(name: &str) -> String {
    let name = strip_legacy_hash(name);
    strip_disambiguators(name)
}

/// The key symbols are grouped under before pairing: the normalized name
/// with closure numbers replaced by `*`, so that `main.f.func1` and
/// `main.f.func2`, or `app::f::{closure#0}` and `app::f::{closure#1}`, fall
/// in one family. Names without closure numbers are their own key.
pub(crate) fn family_key(normalized: &str) -> String {
    let rust = wildcard_rust_closures(normalized);
    wildcard_go_closures(&rust)
}

/// Removes `::h` + 16 hex digits at the end of a demangled legacy name, or
/// `17h` + 16 hex digits + `E` at the end of a mangled one.
fn strip_legacy_hash(name: &str) -> &str {
    if let Some(rest) = name.strip_suffix('E') {
        if let Some(head) = strip_hash_tail(rest, "17h") {
            return head;
        }
    }
    strip_hash_tail(name, "::h").unwrap_or(name)
}

/// `name` without `{prefix}{16 hex}` at its end, when it ends so.
fn strip_hash_tail<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let split = name.len().checked_sub(16)?;
    let (head, hash) = (name.get(..split)?, name.get(split..)?);
    if !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    head.strip_suffix(prefix)
}

/// Removes `[hex]` that directly follows an identifier and precedes `::`:
/// the crate disambiguators of v0 demangled names (`core[7e1a2b3c]::fmt`).
/// Slices (`&[u8]`) and Go generics (`pkg.F[int]`) do not have that shape.
fn strip_disambiguators(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'[' && i > 0 && is_ident_byte(bytes[i - 1]) {
            let hex_len = bytes[i + 1..]
                .iter()
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            let close = i + 1 + hex_len;
            if hex_len > 0 && bytes[close..].starts_with(b"]::") {
                out.push_str(&name[copied..i]);
                copied = close + 1;
                i = copied;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&name[copied..]);
    out
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `{closure#12}` → `{closure#*}` (v0 demangling).
fn wildcard_rust_closures(name: &str) -> String {
    const OPEN: &str = "{closure#";
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find(OPEN) {
        let after = &rest[at + OPEN.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(&rest[..at + OPEN.len()]);
        if digits > 0 && after[digits..].starts_with('}') {
            out.push('*');
            rest = &after[digits..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Go closure and wrapper numbers: `.func3` → `.func*`, `.gowrap2` →
/// `.gowrap*`, `.deferwrap1` → `.deferwrap*`, and the plain `.2` segments of
/// nested closures before Go 1.21 (`main.f.func1.2`) → `.*`. A segment
/// counts only when it ends the name or is followed by `.` or `[`.
fn wildcard_go_closures(name: &str) -> String {
    const WORDS: [&str; 3] = ["func", "gowrap", "deferwrap"];
    let segments: Vec<&str> = split_go_segments(name);
    let mut out = String::with_capacity(name.len());
    let mut after_closure = false;
    for (index, segment) in segments.iter().enumerate() {
        if index > 0 {
            out.push('.');
        }
        let (word, generics) = match segment.find('[') {
            Some(at) => segment.split_at(at),
            None => (*segment, ""),
        };
        let numbered = WORDS.iter().find_map(|w| {
            let digits = word.strip_prefix(w)?;
            (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(*w)
        });
        let bare_number = !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit());
        match numbered {
            Some(word) if index > 0 => {
                out.push_str(word);
                out.push('*');
                out.push_str(generics);
                after_closure = true;
            }
            _ if after_closure && bare_number => {
                out.push('*');
                out.push_str(generics);
            }
            _ => {
                out.push_str(segment);
                after_closure = false;
            }
        }
    }
    out
}

/// Splits a Go symbol on the dots that are outside `[...]` (generic
/// arguments hold dots of their own: `pkg.F[go.shape.int]`).
fn split_go_segments(name: &str) -> Vec<&str> {
    let mut segments = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (at, c) in name.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '.' if depth == 0 => {
                segments.push(&name[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    segments.push(&name[start..]);
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_hashes_are_removed() {
        assert_eq!(
            normalize("app::parse::h0123456789abcdef"),
            "app::parse",
            "demangled legacy"
        );
        assert_eq!(
            normalize("_ZN3app5parse17h0123456789abcdefE"),
            "_ZN3app5parse",
            "still mangled"
        );
        assert_eq!(
            normalize("app::parse::hnothexnothexnoth"),
            "app::parse::hnothexnothexnoth"
        );
        assert_eq!(normalize("short::h12"), "short::h12");
        assert_eq!(normalize("h0123456789abcdef"), "h0123456789abcdef");
    }

    #[test]
    fn v0_disambiguators_are_removed() {
        assert_eq!(
            normalize("<mycrate[1a2b3c4d5e6f7a8b]::Thing as core[abcd]::fmt::Debug>::fmt"),
            "<mycrate::Thing as core::fmt::Debug>::fmt"
        );
        assert_eq!(normalize("mycrate[abcd]::f"), "mycrate::f");
        // Slices, arrays and Go generics keep their brackets.
        assert_eq!(
            normalize("<&[u8] as core::fmt::Debug>::fmt"),
            "<&[u8] as core::fmt::Debug>::fmt"
        );
        assert_eq!(
            normalize("main.Map[go.shape.int]"),
            "main.Map[go.shape.int]"
        );
        assert_eq!(normalize("x[ab]"), "x[ab]");
        assert_eq!(normalize("[abc]::f"), "[abc]::f");
    }

    #[test]
    fn closure_numbers_become_wildcards() {
        assert_eq!(family_key("main.f.func1"), "main.f.func*");
        assert_eq!(family_key("main.f.func12"), "main.f.func*");
        assert_eq!(family_key("main.(*T).run.func2.1"), "main.(*T).run.func*.*");
        assert_eq!(family_key("main.f.func2.func3"), "main.f.func*.func*");
        assert_eq!(family_key("main.f.gowrap1"), "main.f.gowrap*");
        assert_eq!(family_key("net/http.glob..func5"), "net/http.glob..func*");
        assert_eq!(
            family_key("example.com/m.F[go.shape.int].func1"),
            "example.com/m.F[go.shape.int].func*"
        );
        assert_eq!(family_key("app::f::{closure#3}"), "app::f::{closure#*}");
        // Not closures: a function named func, a version-like segment, a
        // package called func1 at the start.
        assert_eq!(family_key("main.func"), "main.func");
        assert_eq!(family_key("main.functional"), "main.functional");
        assert_eq!(family_key("func1.f"), "func1.f");
        assert_eq!(family_key("app::f::{closure#x}"), "app::f::{closure#x}");
        assert_eq!(family_key("main.f.2"), "main.f.2");
    }
}
