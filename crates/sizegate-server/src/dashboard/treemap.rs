//! A squarified treemap (Bruls, Huizing, van Wijk), computed on the server
//! and drawn as SVG: one rectangle per unit (crate, Go package), its area
//! proportional to the unit's size, laid out in rows that keep the
//! rectangles as close to square as the sizes allow.

use std::fmt::Write;

use sizegate_analyze::human;

use super::chart::escape;

/// A placed rectangle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left.
    pub x: f64,
    /// Top.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

/// Lay out `sizes` (any order) in a `width` × `height` box. Returns one
/// rectangle per size, in the input order; zero sizes get empty rectangles.
pub fn squarify(sizes: &[u64], width: f64, height: f64) -> Vec<Rect> {
    let mut out = vec![
        Rect {
            x: 0.0,
            y: 0.0,
            w: 0.0,
            h: 0.0
        };
        sizes.len()
    ];
    let total: f64 = sizes.iter().map(|&s| s as f64).sum();
    if total <= 0.0 || width <= 0.0 || height <= 0.0 {
        return out;
    }
    let mut order: Vec<usize> = (0..sizes.len()).filter(|&i| sizes[i] > 0).collect();
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]));
    let scale = width * height / total;
    let areas: Vec<f64> = order.iter().map(|&i| sizes[i] as f64 * scale).collect();

    let mut free = Rect {
        x: 0.0,
        y: 0.0,
        w: width,
        h: height,
    };
    let mut start = 0;
    while start < areas.len() {
        let side = free.w.min(free.h);
        let mut end = start + 1;
        while end < areas.len()
            && worst(&areas[start..=end], side) <= worst(&areas[start..end], side)
        {
            end += 1;
        }
        let row: f64 = areas[start..end].iter().sum();
        if free.w >= free.h {
            // A column on the left.
            let col_w = row / free.h;
            let mut y = free.y;
            for (k, &area) in areas[start..end].iter().enumerate() {
                let h = area / col_w;
                out[order[start + k]] = Rect {
                    x: free.x,
                    y,
                    w: col_w,
                    h,
                };
                y += h;
            }
            free.x += col_w;
            free.w -= col_w;
        } else {
            // A row on top.
            let row_h = row / free.w;
            let mut x = free.x;
            for (k, &area) in areas[start..end].iter().enumerate() {
                let w = area / row_h;
                out[order[start + k]] = Rect {
                    x,
                    y: free.y,
                    w,
                    h: row_h,
                };
                x += w;
            }
            free.y += row_h;
            free.h -= row_h;
        }
        start = end;
    }
    out
}

/// The worst aspect ratio of a row of `areas` laid along a side of `side`.
fn worst(areas: &[f64], side: f64) -> f64 {
    let sum: f64 = areas.iter().sum();
    let (min, max) = areas
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), &a| (lo.min(a), hi.max(a)));
    let s2 = side * side;
    let sum2 = sum * sum;
    (s2 * max / sum2).max(sum2 / (s2 * min))
}

/// The treemap of `units` (name, size) as SVG, with a `<title>` per unit.
pub fn treemap_svg(units: &[(String, u64)], label: &str) -> String {
    let (w, h) = (800.0, 320.0);
    let sizes: Vec<u64> = units.iter().map(|(_, s)| *s).collect();
    let rects = squarify(&sizes, w, h);
    let total: u64 = sizes.iter().sum();
    let mut svg = format!(
        r#"<svg class="treemap" viewBox="0 0 {w} {h}" role="img" aria-label="{}">"#,
        escape(label)
    );
    for (k, ((name, size), r)) in units.iter().zip(&rects).enumerate() {
        if r.w <= 0.0 || r.h <= 0.0 {
            continue;
        }
        let share = if total > 0 {
            *size as f64 * 100.0 / total as f64
        } else {
            0.0
        };
        let title = format!("{name}: {} ({share:.1}%)", human::size(*size));
        let _ = write!(
            svg,
            r#"<g><title>{}</title><rect class="tile c{}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"/>"#,
            escape(&title),
            k % 6,
            r.x,
            r.y,
            r.w,
            r.h
        );
        if r.w > 60.0 && r.h > 18.0 {
            let max_chars = ((r.w - 8.0) / 7.0) as usize;
            let mut text: String = name.chars().take(max_chars).collect();
            if text.len() < name.len() {
                text.pop();
                text.push('…');
            }
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                r.x + 4.0,
                r.y + 14.0,
                escape(&text)
            );
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_are_proportional_and_inside_the_box() {
        let sizes = [600, 600, 400, 400, 300, 200, 100, 0];
        let rects = squarify(&sizes, 600.0, 400.0);
        let total: u64 = sizes.iter().sum();
        for (size, r) in sizes.iter().zip(&rects) {
            let expected = *size as f64 / total as f64 * 600.0 * 400.0;
            assert!((r.w * r.h - expected).abs() < 1e-6, "{size}: {r:?}");
            assert!(r.x >= -1e-9 && r.y >= -1e-9);
            assert!(
                r.x + r.w <= 600.0 + 1e-6 && r.y + r.h <= 400.0 + 1e-6,
                "{r:?}"
            );
        }
        // Squarified: no sliver among the large tiles.
        for r in &rects[..4] {
            assert!(r.w.max(r.h) / r.w.min(r.h) < 3.0, "{r:?}");
        }
    }

    #[test]
    fn svg_names_every_unit_escaped() {
        let svg = treemap_svg(
            &[("a<b>".into(), 10), ("std".into(), 30), ("none".into(), 0)],
            "units",
        );
        assert!(svg.contains("a&lt;b&gt;: 10 B"));
        assert!(svg.contains("std: 30 B (75.0%)"));
        assert!(!svg.contains("none:"));
        assert!(squarify(&[], 10.0, 10.0).is_empty());
    }
}
