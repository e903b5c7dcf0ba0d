//! How every number and name in the comment, the check and the budget
//! descriptions is written, in one place: sizes in the units the budget was
//! written in, percentages with two significant digits (never `0.0%` for a
//! change, never `-0.0%`), and names as code spans that GitHub shows as
//! code (the span's content is left alone; only what would break the span
//! or a table is handled).

use serde::{Deserialize, Serialize};

/// Which units sizes are written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Units {
    /// Powers of 1024: `KiB`, `MiB` (the default).
    #[default]
    Binary,
    /// Powers of 1000: `kB`, `MB`, used when the budget was written that way.
    Decimal,
}

/// A size, e.g. `512 B`, `12.3 KiB`, `4.0 MiB` or, in decimal units,
/// `12.6 kB`, `4.2 MB`.
pub fn size(bytes: u64, units: Units) -> String {
    let (base, names): (f64, [&str; 4]) = match units {
        Units::Binary => (1024.0, ["KiB", "MiB", "GiB", "TiB"]),
        Units::Decimal => (1000.0, ["kB", "MB", "GB", "TB"]),
    };
    if (bytes as f64) < base {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / base;
    let mut unit = 0;
    // Round first, so that 1023.96 KiB is written 1.0 MiB, not 1024.0 KiB.
    while (value * 10.0).round() / 10.0 >= base && unit + 1 < names.len() {
        value /= base;
        unit += 1;
    }
    format!("{value:.1} {}", names[unit])
}

/// A signed size change: `+12.3 KiB`, `-512 B`, `0 B`.
pub fn delta(bytes: i64, units: Units) -> String {
    match bytes {
        0 => "0 B".to_string(),
        d if d > 0 => format!("+{}", size(d.unsigned_abs(), units)),
        d => format!("-{}", size(d.unsigned_abs(), units)),
    }
}

/// The smallest percentage written as a number; smaller changes read
/// `+<0.01%`, so a change never shows as zero.
const SMALLEST_PERCENT: f64 = 0.01;

/// A percentage with two significant digits and its sign: `+0.03%`,
/// `+1.2%`, `-12%`, `+125%`; `0%` only for no change, `+<0.01%` for a tiny
/// one. Trailing zeros are dropped, so the same value always reads the same.
pub fn signed_percent(value: f64) -> String {
    if value == 0.0 || value.is_nan() {
        return "0%".to_string();
    }
    let sign = if value > 0.0 { '+' } else { '-' };
    if value.is_infinite() {
        return format!("{sign}∞%");
    }
    format!("{sign}{}%", magnitude(value.abs(), 2))
}

/// A percentage without a sign, as in a limit: `1%`, `0.5%`, `12%`.
pub fn plain_percent(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return "0%".to_string();
    }
    format!("{}%", magnitude(value.abs(), 2))
}

/// `delta` relative to `base` as [`signed_percent`]; `None` when the base
/// is zero.
pub fn change_percent(delta: i64, base: u64) -> Option<String> {
    (base != 0).then(|| signed_percent(delta as f64 * 100.0 / base as f64))
}

/// Like [`change_percent`], but written with more digits when two would
/// make a change over `limit` look equal to it (`+1.004%` against `1%`).
pub fn change_percent_against(delta: i64, base: u64, limit: f64) -> Option<String> {
    (base != 0).then(|| percent_against(delta as f64 * 100.0 / base as f64, limit))
}

/// [`signed_percent`] of `value`, with the digits it takes to differ from
/// `limit` when it is over it.
pub fn percent_against(value: f64, limit: f64) -> String {
    let shown = signed_percent(value);
    if value <= limit || shown != format!("+{}", plain_percent(limit)) {
        return shown;
    }
    for digits in 3..=6 {
        let more = format!("+{}%", magnitude(value, digits));
        if more != shown {
            return more;
        }
    }
    shown
}

/// `value` (> 0) with `digits` significant digits, trailing zeros dropped;
/// values from 100 up are written whole, values below
/// [`SMALLEST_PERCENT`] as `<0.01`.
fn magnitude(value: f64, digits: i32) -> String {
    if value < SMALLEST_PERCENT {
        return "<0.01".to_string();
    }
    let exponent = value.log10().floor() as i32;
    let decimals = (digits - 1 - exponent).clamp(0, 6) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Longest name written in full; longer ones are cut with `…`.
pub const MAX_NAME_CHARS: usize = 160;

/// `text` as a markdown code span that shows exactly the text: a fence of
/// more backticks than any run inside it, a space of padding where the text
/// starts or ends with a backtick, control and bidirectional characters
/// replaced, and cut to [`MAX_NAME_CHARS`]. Code spans are never linked or
/// turned into mentions, and `<`, `&` inside them are shown as written.
pub fn code(text: &str) -> String {
    code_span(text, false)
}

/// [`code`] for a table cell: a `|` inside becomes `\|`, which GitHub's
/// tables read as a pipe inside the cell (even in a code span).
pub fn code_in_table(text: &str) -> String {
    code_span(text, true)
}

fn code_span(text: &str, in_table: bool) -> String {
    let mut inner = String::with_capacity(text.len().min(MAX_NAME_CHARS * 2));
    for c in text.chars().take(MAX_NAME_CHARS) {
        match c {
            '|' if in_table => inner.push_str("\\|"),
            c if is_invisible_control(c) => inner.push(' '),
            c => inner.push(c),
        }
    }
    if text.chars().nth(MAX_NAME_CHARS).is_some() {
        inner.push('…');
    }
    if inner.trim().is_empty() {
        // A code span of spaces only is shown as is; make it visible.
        return "` `".to_string();
    }
    let longest_run = inner.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    let pad = if inner.starts_with('`') || inner.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{inner}{pad}{fence}")
}

/// Control characters and the bidirectional overrides that could make a
/// name display as something else.
pub(crate) fn is_invisible_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_have_two_significant_digits() {
        assert_eq!(signed_percent(0.0342), "+0.034%");
        assert_eq!(signed_percent(0.03), "+0.03%");
        assert_eq!(signed_percent(1.234), "+1.2%");
        assert_eq!(signed_percent(1.0), "+1%");
        assert_eq!(signed_percent(125.0), "+125%");
        assert_eq!(signed_percent(12.34), "+12%");
        assert_eq!(signed_percent(-12.34), "-12%");
        assert_eq!(signed_percent(0.996), "+1%");
        assert_eq!(plain_percent(1.0), "1%");
        assert_eq!(plain_percent(0.5), "0.5%");
    }

    #[test]
    fn a_change_never_reads_as_zero_and_zero_has_no_sign() {
        assert_eq!(signed_percent(0.0), "0%");
        assert_eq!(signed_percent(-0.0), "0%");
        assert_eq!(signed_percent(0.0001), "+<0.01%");
        assert_eq!(signed_percent(-0.0001), "-<0.01%");
        assert_eq!(change_percent(2048, 4 << 20).as_deref(), Some("+0.049%"));
        assert_eq!(change_percent(-1, 1 << 30).as_deref(), Some("-<0.01%"));
        assert_eq!(change_percent(0, 10).as_deref(), Some("0%"));
        assert_eq!(change_percent(5, 0), None);
    }

    #[test]
    fn a_failing_percent_never_reads_as_its_limit() {
        // +1.004% against ≤ +1%: two digits would say +1%.
        assert_eq!(
            change_percent_against(1004, 100_000, 1.0).as_deref(),
            Some("+1.004%")
        );
        assert_eq!(
            change_percent_against(1000, 100_000, 1.0).as_deref(),
            Some("+1%")
        );
        assert_eq!(
            change_percent_against(5000, 100_000, 1.0).as_deref(),
            Some("+5%")
        );
    }

    #[test]
    fn sizes_in_binary_and_decimal_units() {
        assert_eq!(size(0, Units::Binary), "0 B");
        assert_eq!(size(1023, Units::Binary), "1023 B");
        assert_eq!(size(1024, Units::Binary), "1.0 KiB");
        assert_eq!(size(8 << 20, Units::Binary), "8.0 MiB");
        assert_eq!(size((1 << 20) - 10, Units::Binary), "1.0 MiB");
        assert_eq!(size(999, Units::Decimal), "999 B");
        assert_eq!(size(1500, Units::Decimal), "1.5 kB");
        assert_eq!(size(8_000_000, Units::Decimal), "8.0 MB");
        assert_eq!(delta(-1500, Units::Decimal), "-1.5 kB");
        assert_eq!(delta(0, Units::Binary), "0 B");
        assert_eq!(delta(i64::MIN, Units::Binary), "-8388608.0 TiB");
    }

    #[test]
    fn code_spans_show_the_text_as_written() {
        assert_eq!(code("regex_automata"), "`regex_automata`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x`"), "`` `x` ``");
        assert_eq!(code("<b>&</b>"), "`<b>&</b>`");
        assert_eq!(code("a\nb\u{202e}"), "`a b `");
        assert_eq!(code_in_table("a|b"), "`a\\|b`");
        assert_eq!(code(""), "` `");
        let long = code(&"x".repeat(MAX_NAME_CHARS + 5));
        assert!(long.ends_with("…`"));
    }
}
