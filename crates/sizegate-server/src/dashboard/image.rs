//! The image views of a container image target on the commit page: a
//! layer chart (one bar per layer, uncompressed with the compressed blob
//! inside it) and a treemap of the image's files.

use std::fmt::Write as _;

use sizegate_analyze::{Report, human};

use super::chart::escape;
use super::treemap::treemap_svg;

/// Files drawn one by one in the treemap; the rest share one tile.
const TREEMAP_FILES: usize = 200;

/// The layer chart and the file treemap of an image report, as SVG.
pub(super) struct ImageView {
    pub layers: String,
    pub files: String,
}

impl ImageView {
    pub(super) fn new(target: &str, report: &Report) -> ImageView {
        ImageView {
            layers: layer_chart(target, report),
            files: file_treemap(target, report),
        }
    }
}

/// One row per layer, bottom layer first: a bar of the uncompressed size,
/// the compressed blob as a darker bar over it, and the instruction.
fn layer_chart(target: &str, report: &Report) -> String {
    let (width, row, left) = (800.0, 26.0, 260.0);
    let height = row * report.layers.len().max(1) as f64 + 8.0;
    let largest = report
        .layers
        .iter()
        .map(|l| l.uncompressed_size.max(l.compressed_size))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let scale = (width - left - 110.0) / largest;
    let mut svg = format!(
        r#"<svg class="layers" viewBox="0 0 {width} {height}" role="img" aria-label="{}">"#,
        escape(&format!(
            "{target}: {} layers, uncompressed and compressed bytes",
            report.layers.len()
        ))
    );
    for (i, layer) in report.layers.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        let by = layer.created_by.as_deref().unwrap_or("");
        let name = format!("{i}: {by}");
        let shown: String = name.chars().take(36).collect();
        let shown = if shown.len() < name.len() {
            format!("{shown}…")
        } else {
            shown
        };
        let title = format!(
            "layer {i} ({}): {} uncompressed, {} compressed ({}), {} files, {} hidden by later layers{}",
            layer.digest,
            human::size(layer.uncompressed_size),
            human::size(layer.compressed_size),
            layer.compression,
            layer.files,
            human::size(layer.hidden_size),
            if by.is_empty() {
                String::new()
            } else {
                format!("; {by}")
            }
        );
        let _ = write!(
            svg,
            r#"<g><title>{}</title><text x="0" y="{:.1}">{}</text><rect class="tile c0" x="{left}" y="{:.1}" width="{:.1}" height="18"/><rect class="tile c3" x="{left}" y="{:.1}" width="{:.1}" height="18"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
            escape(&title),
            y + 14.0,
            escape(&shown),
            y,
            layer.uncompressed_size as f64 * scale,
            y,
            layer.compressed_size as f64 * scale,
            left + layer.uncompressed_size.max(layer.compressed_size) as f64 * scale + 6.0,
            y + 14.0,
            escape(&human::size(layer.uncompressed_size)),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The largest files one tile each, the rest in one `other files` tile.
fn file_treemap(target: &str, report: &Report) -> String {
    let mut files: Vec<(String, u64)> = report
        .files
        .iter()
        .map(|f| (f.path.clone(), f.size))
        .collect();
    files.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if files.len() > TREEMAP_FILES {
        let rest = files.split_off(TREEMAP_FILES);
        let other: u64 = rest.iter().map(|f| f.1).sum();
        files.push((format!("{} other files", rest.len()), other));
    }
    let largest = files.first().map_or("none", |f| f.0.as_str()).to_string();
    treemap_svg(
        &files,
        &format!("{target}: bytes by file (largest: {largest})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sizegate_analyze::{ImageFile, Layer};

    fn report() -> Report {
        let mut report: Report = serde_json::from_value(serde_json::json!({
            "schema_version": 2,
            "file": {"name": "app.tar", "size": 3000, "sha256": "00"},
            "format": "docker-archive", "arch": "x86_64", "language": "unknown",
            "stripped": true, "toolchain": {"rustc": null, "go": null, "compilers": [], "debug_info": false, "go_build": null},
            "sizes": {"file": 3000, "vm": 0, "shipped": 5000, "gzip": 0, "zstd": 0,
                      "debug": 0, "symbols": 0, "compressed": 2500, "uncompressed": 5000},
            "sections": [], "units": [], "symbols": [], "advice": []
        }))
        .unwrap();
        report.layers = vec![
            Layer {
                digest: "sha256:aa".into(),
                compression: "gzip".into(),
                compressed_size: 1000,
                uncompressed_size: 3000,
                created_by: Some("ADD <rootfs> /".into()),
                files: 2,
                hidden_size: 0,
            },
            Layer {
                digest: "sha256:bb".into(),
                compression: "gzip".into(),
                compressed_size: 1500,
                uncompressed_size: 2000,
                created_by: None,
                files: 1,
                hidden_size: 0,
            },
        ];
        report.files = (0..250)
            .map(|i| ImageFile {
                path: format!("/usr/lib/f{i}"),
                size: 1000 - i,
                layer: 0,
                unit: "/usr/lib".into(),
                report: None,
            })
            .collect();
        report
    }

    #[test]
    fn layers_are_bars_and_files_a_treemap_with_an_other_tile() {
        let view = ImageView::new("x86_64-linux/app-image", &report());
        assert_eq!(view.layers.matches("<g>").count(), 2);
        assert!(
            view.layers.contains("0: ADD &lt;rootfs&gt; /"),
            "{}",
            view.layers
        );
        assert!(view.layers.contains("layer 1 (sha256:bb)"));
        assert!(view.files.contains("/usr/lib/f0: "));
        assert!(view.files.contains("50 other files"));
        assert!(!view.files.contains("/usr/lib/f249"));
    }
}
