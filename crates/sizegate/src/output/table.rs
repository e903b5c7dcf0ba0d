//! Plain-text tables that fit a terminal width: columns sized to their
//! content, long names cut with `…` (in the middle for symbol names so both
//! the path and the function stay visible), numbers right-aligned.

/// Width the text output fits in.
pub const WIDTH: usize = 100;

/// Narrowest a shrinkable column gets before the table overflows instead.
const MIN_SHRUNK_WIDTH: usize = 12;

/// Where a cell too long for its column is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Keep the start and the end: `core::fmt::…::write_str`.
    Middle,
    /// Keep the start: `Run strip on the bin…`.
    End,
}

/// Alignment of a column's cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers and sizes.
    Right,
}

/// A column: its header, alignment and how it may shrink.
#[derive(Debug, Clone)]
pub struct Column {
    header: String,
    align: Align,
    /// When set, the column gives up width (cutting cells) to fit the table.
    shrink: Option<Cut>,
    /// When the table is too wide, the column first gives up width down to
    /// this, before the other shrinkable columns do.
    max: Option<usize>,
}

impl Column {
    /// A left-aligned text column that shrinks, cutting in the middle.
    pub fn name(header: &str) -> Self {
        Column {
            header: header.to_string(),
            align: Align::Left,
            shrink: Some(Cut::Middle),
            max: None,
        }
    }

    /// A left-aligned text column that keeps its width.
    pub fn text(header: &str) -> Self {
        Column {
            header: header.to_string(),
            align: Align::Left,
            shrink: None,
            max: None,
        }
    }

    /// A right-aligned column for sizes and counts.
    pub fn number(header: &str) -> Self {
        Column {
            header: header.to_string(),
            align: Align::Right,
            shrink: None,
            max: None,
        }
    }

    /// When the table is too wide, cut this column to `max` characters
    /// (at `cut`) before any other column shrinks.
    pub fn at_most(mut self, max: usize, cut: Cut) -> Self {
        self.max = Some(max);
        self.shrink = Some(cut);
        self
    }
}

/// Rows of cells under column headers, indented by two spaces.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(columns: Vec<Column>) -> Self {
        Table {
            columns,
            rows: Vec::new(),
        }
    }

    /// Appends a row; missing cells are empty, extra cells are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as lines of at most [`WIDTH`] characters (unless even
    /// the shrunk columns cannot fit), each ending in a newline.
    pub fn render(&self) -> String {
        let widths = self.widths();
        let mut out = String::new();
        let headers: Vec<&str> = self.columns.iter().map(|c| c.header.as_str()).collect();
        self.render_line(&mut out, &widths, &headers);
        for row in &self.rows {
            let cells: Vec<&str> = (0..self.columns.len())
                .map(|i| row.get(i).map_or("", String::as_str))
                .collect();
            self.render_line(&mut out, &widths, &cells);
        }
        out
    }

    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, column)| {
                self.rows
                    .iter()
                    .filter_map(|row| row.get(i))
                    .map(|cell| display_width(cell))
                    .chain([display_width(&column.header)])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let total = 2 + widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
        let mut excess = total.saturating_sub(WIDTH);
        // Capped columns give up width first, down to their cap; then every
        // shrinkable column, in order, down to a readable minimum.
        for capped_pass in [true, false] {
            for (width, column) in widths.iter_mut().zip(&self.columns) {
                let floor = if capped_pass {
                    column.max
                } else {
                    column.shrink.map(|_| MIN_SHRUNK_WIDTH)
                };
                if let Some(floor) = floor {
                    let given = excess.min(width.saturating_sub(floor));
                    *width -= given;
                    excess -= given;
                }
            }
        }
        widths
    }

    fn render_line(&self, out: &mut String, widths: &[usize], cells: &[&str]) {
        let mut line = String::from("  ");
        for (i, ((cell, column), &width)) in cells.iter().zip(&self.columns).zip(widths).enumerate()
        {
            if i > 0 {
                line.push_str("  ");
            }
            let fitted = fit(cell, width, column.shrink.unwrap_or(Cut::End));
            let pad = width.saturating_sub(display_width(&fitted));
            match column.align {
                Align::Left => {
                    line.push_str(&fitted);
                    line.extend(std::iter::repeat_n(' ', pad));
                }
                Align::Right => {
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(&fitted);
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// Characters a cell takes on screen (one per char: names are mostly ASCII).
pub fn display_width(text: &str) -> usize {
    text.chars().count()
}

/// `text` with control characters (which could drive the terminal) made
/// visible as `?`, cut with `…` to at most `width` characters.
pub fn fit(text: &str, width: usize, cut: Cut) -> String {
    let chars: Vec<char> = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if chars.len() <= width {
        return chars.into_iter().collect();
    }
    if width == 0 {
        return String::new();
    }
    let keep = width - 1;
    match cut {
        Cut::End => chars[..keep].iter().chain(['…'].iter()).collect(),
        Cut::Middle => {
            let tail = keep / 2;
            let head = keep - tail;
            chars[..head]
                .iter()
                .chain(['…'].iter())
                .chain(chars[chars.len() - tail..].iter())
                .collect()
        }
    }
}

/// `text` broken into lines of at most `width` characters at spaces (a
/// word longer than the width is cut), each prefixed by `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let room = width.saturating_sub(indent.len()).max(MIN_SHRUNK_WIDTH);
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let word = fit(word, room, Cut::End);
        let needed = display_width(&line) + usize::from(!line.is_empty()) + display_width(&word);
        if !line.is_empty() && needed > room {
            out.push_str(indent);
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        out.push_str(indent);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_cut_in_the_middle_or_at_the_end() {
        assert_eq!(fit("core::fmt::write", 20, Cut::Middle), "core::fmt::write");
        assert_eq!(
            fit("core::fmt::Formatter::write_str", 15, Cut::Middle),
            "core::f…ite_str"
        );
        assert_eq!(
            fit("core::fmt::Formatter::write_str", 15, Cut::End),
            "core::fmt::For…"
        );
        assert_eq!(fit("abc", 0, Cut::End), "");
        assert_eq!(fit("abc", 1, Cut::Middle), "…");
        assert_eq!(fit("a\u{1b}[31mb", 20, Cut::End), "a?[31mb");
    }

    #[test]
    fn tables_fit_the_width_by_shrinking_name_columns() {
        let mut table = Table::new(vec![Column::name("symbol"), Column::number("size")]);
        table.row(vec!["x".repeat(300), "12.0 KiB".into()]);
        table.row(vec!["short".into(), "1 B".into()]);
        let text = table.render();
        assert!(text.lines().all(|l| display_width(l) <= WIDTH), "{text}");
        assert_eq!(
            display_width(text.lines().nth(1).unwrap_or_default()),
            WIDTH
        );
        assert!(text.contains('…'));
        assert!(text.lines().nth(2).unwrap_or_default().ends_with(" 1 B"));
    }

    #[test]
    fn capped_columns_shrink_first_and_only_when_needed() {
        let columns = vec![
            Column::name("symbol"),
            Column::text("unit").at_most(6, Cut::Middle),
        ];
        let mut table = Table::new(columns.clone());
        table.row(vec!["1".into(), "github.com/x/y".into()]);
        table.row(vec!["2".into()]);
        assert_eq!(
            table.render(),
            "  symbol  unit\n  1       github.com/x/y\n  2\n"
        );

        let mut table = Table::new(columns);
        table.row(vec!["s".repeat(90), "github.com/x/y".into()]);
        let text = table.render();
        let row = text.lines().nth(1).unwrap_or_default();
        assert_eq!(display_width(row), WIDTH);
        assert!(row.ends_with("  git…/y"), "{row}");
        assert!(row.contains(&"s".repeat(90)), "{row}");
    }

    #[test]
    fn text_wraps_at_spaces() {
        assert_eq!(
            wrap("one two three four", 16, "    "),
            "    one two\n    three four\n"
        );
    }
}
