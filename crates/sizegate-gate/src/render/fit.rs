//! Cutting rendered text to GitHub's size limits. The parts of the body
//! are cut in a fixed order — the folded "within budget" rows, then the
//! passing targets' details and rows, then the failing targets' details and
//! finally their rows — until it fits, with a notice saying what was left
//! out. Failing targets' details are the last thing cut.

/// How many of each part a rendering shows, in cutting order: the first
/// part is cut first.
pub(crate) type Shown = [usize; PARTS];

/// Number of parts the body is cut by.
pub(crate) const PARTS: usize = 5;

/// Render with as much as fits in `limit` bytes. `render` is called with
/// the parts to show and whether they are all of them; its length must grow
/// with each part shown. Each part is emptied in turn, and the first one
/// that need not be emptied entirely is cut by a binary search.
pub(crate) fn fit(total: Shown, limit: usize, render: impl Fn(Shown, bool) -> String) -> String {
    let full = render(total, true);
    if full.len() <= limit {
        return full;
    }
    let fits = |shown: Shown| {
        let text = render(shown, false);
        (text.len() <= limit).then_some(text)
    };
    let mut shown = total;
    for part in 0..PARTS {
        let with = |n: usize| {
            let mut attempt = shown;
            attempt[part] = n;
            attempt
        };
        if let Some(text) = largest(total[part], |n| fits(with(n))) {
            return text;
        }
        shown[part] = 0;
    }
    // Not even the heading fits (cannot happen with sane names, which are
    // cut short): cut the text itself at a character boundary.
    truncate(&render([0; PARTS], false), limit)
}

/// The largest `n` in `0..=max` for which `attempt(n)` succeeds, assuming
/// success is monotonic (if `n` fits, every smaller `n` fits).
fn largest(max: usize, attempt: impl Fn(usize) -> Option<String>) -> Option<String> {
    let mut best = attempt(0)?;
    let (mut low, mut high) = (1, max);
    while low <= high {
        let mid = low + (high - low) / 2;
        match attempt(mid) {
            Some(text) => {
                best = text;
                low = mid + 1;
            }
            None => high = mid - 1,
        }
    }
    Some(best)
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

    /// Each item of part i costs i + 1 bytes.
    fn render(shown: Shown, _all: bool) -> String {
        shown
            .iter()
            .enumerate()
            .map(|(i, n)| char::from(b'a' + i as u8).to_string().repeat(n * (i + 1)))
            .collect()
    }

    #[test]
    fn keeps_everything_when_it_fits() {
        let total = [1, 1, 1, 1, 1];
        assert_eq!(fit(total, 15, render).len(), 15);
    }

    #[test]
    fn cuts_parts_in_order_the_last_part_last() {
        let total = [3, 3, 3, 3, 3];
        // Everything: 3·(1+2+3+4+5) = 45 bytes.
        assert_eq!(fit(total, 44, render), render([2, 3, 3, 3, 3], false));
        assert_eq!(fit(total, 40, render), render([0, 2, 3, 3, 3], false));
        assert_eq!(fit(total, 20, render), render([0, 0, 0, 1, 3], false));
        assert_eq!(fit(total, 10, render), render([0, 0, 0, 0, 2], false));
        assert_eq!(fit(total, 4, render), "");
    }

    #[test]
    fn truncates_at_a_char_boundary() {
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("aé", 3), "aé");
    }
}
