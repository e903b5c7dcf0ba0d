//! SVG charts drawn on the server: the sparklines of the home page and the
//! trend chart of a target, with downsampling (largest-triangle-three-
//! buckets) so that a long history draws a few hundred points at most.
//! No script and no external resource: the SVG carries its own text
//! alternatives (`aria-label`, a `<title>` per point).

use std::fmt::Write;

use sizegate_analyze::human;

/// Most points the trend chart draws.
pub const MAX_DRAWN_POINTS: usize = 500;

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 24.0;

/// Escape text for an XML/HTML attribute or text node.
pub use sizegate_core::escape_html as escape;

/// The indices of the points to keep so that at most `target` remain and
/// the shape survives: largest-triangle-three-buckets. The first and last
/// points are always kept; indices come back in order.
pub fn downsample(values: &[f64], target: usize) -> Vec<usize> {
    let n = values.len();
    if n <= target {
        return (0..n).collect();
    }
    if target < 3 {
        return vec![0, n - 1];
    }
    let mut kept = Vec::with_capacity(target);
    kept.push(0);
    let bucket = (n - 2) as f64 / (target - 2) as f64;
    let mut a = 0usize;
    for i in 0..target - 2 {
        let start = (i as f64 * bucket) as usize + 1;
        let end = (((i + 1) as f64 * bucket) as usize + 1).min(n - 1);
        // The average of the next bucket is the third corner of the triangle.
        let next_start = end;
        let next_end = (((i + 2) as f64 * bucket) as usize + 1).min(n);
        let next = &values[next_start..next_end.max(next_start + 1).min(n)];
        let avg_x = next_start as f64 + (next.len() as f64 - 1.0) / 2.0;
        let avg_y = next.iter().sum::<f64>() / next.len().max(1) as f64;
        let (ax, ay) = (a as f64, values[a]);
        let mut best = start;
        let mut best_area = -1.0;
        for (j, &y) in values
            .iter()
            .enumerate()
            .take(end.max(start + 1))
            .skip(start)
        {
            let area = ((ax - avg_x) * (y - ay) - (ax - j as f64) * (avg_y - ay)).abs();
            if area > best_area {
                best_area = area;
                best = j;
            }
        }
        kept.push(best);
        a = best;
    }
    kept.push(n - 1);
    kept.dedup();
    kept
}

/// A small line of `values` (oldest first), for tables.
pub fn sparkline(values: &[u64], label: &str) -> String {
    let (w, h) = (120.0, 28.0);
    let mut svg = format!(
        r#"<svg class="spark" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{}">"#,
        escape(label)
    );
    if values.len() >= 2 {
        let as_f: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        let kept = downsample(&as_f, 60);
        let (lo, hi) = bounds(kept.iter().map(|&i| as_f[i]));
        let last = (values.len() - 1) as f64;
        let mut path = String::new();
        for &i in &kept {
            let x = 2.0 + i as f64 / last * (w - 4.0);
            let y = h - 3.0 - scale(as_f[i], lo, hi) * (h - 6.0);
            let _ = write!(path, "{x:.1},{y:.1} ");
        }
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{}"/>"#,
            path.trim_end()
        );
    }
    svg.push_str("</svg>");
    svg
}

/// What a drawn point of the trend chart shows and links to.
#[derive(Debug, Clone)]
pub struct PointLabel {
    /// Tooltip text (sha, date, size, Δ).
    pub title: String,
    /// Where a click leads (the commit page).
    pub href: String,
}

/// The trend chart of `values` (oldest first), with `budget` as a dashed
/// line. Draws at most [`MAX_DRAWN_POINTS`] points plus the steps
/// (`steps[i]`: a step larger than the threshold ends at point `i`);
/// `label_of(i)` is asked only for the drawn points, so a long history
/// costs no formatting for the points left out.
pub fn trend(
    values: &[u64],
    steps: &[bool],
    budget: Option<u64>,
    label: &str,
    label_of: impl Fn(usize) -> PointLabel,
) -> String {
    let mut svg = format!(
        r#"<svg class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="xMidYMid meet" role="img" aria-label="{}">"#,
        escape(label)
    );
    if values.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">no measurements in this range</text></svg>"#,
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
        return svg;
    }
    let values: Vec<f64> = values.iter().map(|&v| v as f64).collect();
    let is_step = |i: usize| steps.get(i).copied().unwrap_or(false);
    let kept = drawn_points(&values, is_step);
    let (mut lo, mut hi) = bounds(values.iter().copied().chain(budget.map(|b| b as f64)));
    let pad = ((hi - lo) * 0.08).max(1.0);
    lo = (lo - pad).max(0.0);
    hi += pad;
    let last = (values.len().max(2) - 1) as f64;
    let x_of = |i: usize| LEFT + i as f64 / last * (WIDTH - LEFT - RIGHT);
    let y_of = |v: f64| TOP + (1.0 - scale(v, lo, hi)) * (HEIGHT - TOP - BOTTOM);

    grid(&mut svg, lo, hi, y_of);
    if let Some(budget) = budget {
        let y = y_of(budget as f64);
        let _ = write!(
            svg,
            r#"<line class="budget" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}"><title>budget {}</title></line>"#,
            WIDTH - RIGHT,
            escape(&human::size(budget))
        );
    }
    let mut path = String::new();
    for &i in &kept {
        let _ = write!(path, "{:.1},{:.1} ", x_of(i), y_of(values[i]));
    }
    let _ = write!(
        svg,
        r#"<polyline class="line" fill="none" points="{}"/>"#,
        path.trim_end()
    );
    for &i in &kept {
        let PointLabel { title, href } = label_of(i);
        let step = is_step(i);
        let _ = write!(
            svg,
            r#"<a href="{}"><circle class="{}" cx="{:.1}" cy="{:.1}" r="{}"><title>{}</title></circle></a>"#,
            escape(&href),
            if step { "pt step" } else { "pt" },
            x_of(i),
            y_of(values[i]),
            if step { 5 } else { 3 },
            escape(&title)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The points the trend draws: a downsampled line plus every step.
fn drawn_points(values: &[f64], is_step: impl Fn(usize) -> bool) -> Vec<usize> {
    let mut kept = downsample(values, MAX_DRAWN_POINTS);
    kept.extend((0..values.len()).filter(|&i| is_step(i)));
    kept.sort_unstable();
    kept.dedup();
    kept
}

/// The axis: three labelled grid lines from `lo` to `hi`.
fn grid(svg: &mut String, lo: f64, hi: f64, y_of: impl Fn(f64) -> f64) {
    for k in 0..3 {
        let v = lo + (hi - lo) * k as f64 / 2.0;
        let y = y_of(v);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            escape(&human::size(v as u64))
        );
    }
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

fn scale(v: f64, lo: f64, hi: f64) -> f64 {
    if hi > lo { (v - lo) / (hi - lo) } else { 0.5 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsampling_keeps_ends_and_spikes() {
        let mut values: Vec<f64> = (0..10_000).map(|i| (i % 7) as f64).collect();
        values[5_000] = 1_000.0;
        let kept = downsample(&values, 500);
        assert!(kept.len() <= 500, "{}", kept.len());
        assert_eq!(kept.first(), Some(&0));
        assert_eq!(kept.last(), Some(&9_999));
        assert!(kept.contains(&5_000), "the spike is kept");
        assert!(kept.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(downsample(&[1.0, 2.0, 3.0], 500), vec![0, 1, 2]);
        assert!(downsample(&[], 500).is_empty());
    }

    #[test]
    fn trend_draws_budget_steps_and_escapes() {
        let values: Vec<u64> = (0..2_000).map(|i| 1_000 + i).collect();
        let steps: Vec<bool> = (0..2_000).map(|i| i == 1_234).collect();
        let asked = std::cell::Cell::new(0);
        let svg = trend(&values, &steps, Some(5_000), "chart & co", |i| {
            asked.set(asked.get() + 1);
            PointLabel {
                title: format!("<sha {i}>"),
                href: format!("/c/{i}"),
            }
        });
        assert!(svg.contains(r#"aria-label="chart &amp; co""#));
        assert!(svg.contains(r#"class="budget""#));
        assert!(svg.contains("&lt;sha 1234&gt;"), "the step point is drawn");
        let circles = svg.matches("<circle").count();
        assert!((3..=MAX_DRAWN_POINTS + 1).contains(&circles), "{circles}");
        assert_eq!(asked.get(), circles, "labels only for drawn points");
        assert!(!svg.contains("<sha"));
        assert!(trend(&[], &[], None, "x", |_| unreachable!()).contains("no measurements"));
    }

    #[test]
    fn sparkline_of_one_point_is_empty_but_valid() {
        assert!(sparkline(&[5], "x").ends_with("</svg>"));
        assert!(sparkline(&[5, 9, 3], "x").contains("<polyline"));
    }
}
