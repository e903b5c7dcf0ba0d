//! Cutting rendered text to GitHub's size limits. The body is rendered with
//! fewer details blocks, then fewer table rows (failures come first, so they
//! stay), until it fits with a notice saying what was left out.

/// How many of each part a rendering shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shown {
    /// Rows of the summary table.
    pub rows: usize,
    /// Details blocks.
    pub details: usize,
}

/// Render with as much as fits in `limit` bytes. `render` is called with
/// the parts to show and whether they are all of them; its length must grow
/// with the parts shown. Uses a binary search, so about 2·log2(n) renders.
pub(crate) fn fit(total: Shown, limit: usize, render: impl Fn(Shown, bool) -> String) -> String {
    let full = render(total, true);
    if full.len() <= limit {
        return full;
    }
    let fits = |shown: Shown| {
        let text = render(shown, false);
        (text.len() <= limit).then_some(text)
    };
    // The most details blocks that fit with the whole table...
    let with_all_rows = |details| Shown {
        rows: total.rows,
        details,
    };
    if let Some((_, text)) = largest(total.details, |n| fits(with_all_rows(n))) {
        return text;
    }
    // ...else the most table rows that fit without details.
    let rows_only = |rows| Shown { rows, details: 0 };
    if let Some((_, text)) = largest(total.rows, |n| fits(rows_only(n))) {
        return text;
    }
    // Not even the heading fits (cannot happen with sane names, which are
    // cut short): cut the text itself at a character boundary.
    truncate(&render(rows_only(0), false), limit)
}

/// The largest `n` in `0..=max` for which `attempt(n)` succeeds, assuming
/// success is monotonic (if `n` fits, every smaller `n` fits).
fn largest(max: usize, attempt: impl Fn(usize) -> Option<String>) -> Option<(usize, String)> {
    let mut best = Some((0, attempt(0)?));
    let (mut low, mut high) = (1, max);
    while low <= high {
        let mid = low + (high - low) / 2;
        match attempt(mid) {
            Some(text) => {
                best = Some((mid, text));
                low = mid + 1;
            }
            None => high = mid - 1,
        }
    }
    best
}

/// `text` cut to at most `limit` bytes, at a character boundary.
pub(crate) fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(shown: Shown, _all: bool) -> String {
        format!(
            "{}{}",
            "r".repeat(shown.rows * 10),
            "d".repeat(shown.details * 100)
        )
    }

    #[test]
    fn keeps_everything_when_it_fits() {
        let total = Shown {
            rows: 3,
            details: 3,
        };
        assert_eq!(fit(total, 330, render).len(), 330);
    }

    #[test]
    fn drops_details_before_rows() {
        let total = Shown {
            rows: 3,
            details: 3,
        };
        assert_eq!(
            fit(total, 250, render),
            render(
                Shown {
                    rows: 3,
                    details: 2
                },
                false
            )
        );
        assert_eq!(
            fit(total, 25, render),
            render(
                Shown {
                    rows: 2,
                    details: 0
                },
                false
            )
        );
        assert_eq!(fit(total, 5, render), "");
    }

    #[test]
    fn truncates_at_a_char_boundary() {
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("aé", 3), "aé");
    }
}
