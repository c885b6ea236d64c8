//! `--svg PATH`: the result as a self-contained chart (hand-written SVG, no
//! fonts or scripts to fetch): one panel per headline metric, a bar per path
//! at its median with a whisker from the lowest to the highest round, and
//! the ratio to native beside each bar.

use std::fmt::Write as _;

use super::Report;
use super::paths::Path;
use super::stats::Metric;
use super::table::format_value;

/// The metrics charted, one panel each.
pub const PANELS: [Metric; 6] = [
    Metric::LatencyP50,
    Metric::LatencyP99,
    Metric::HttpRps,
    Metric::BulkOneStream,
    Metric::BulkStreams,
    Metric::BulkDownload,
];

const PANEL_W: f64 = 440.0;
const PANEL_H: f64 = 170.0;
const COLUMNS: usize = 2;
const LABEL_W: f64 = 100.0;
const BAR_H: f64 = 22.0;
const COLORS: [&str; 4] = ["#4c72b0", "#55a868", "#c44e52", "#dd8452"];

/// The chart as an SVG document.
pub fn render(report: &Report) -> String {
    let rows = PANELS.len().div_ceil(COLUMNS);
    let width = PANEL_W * COLUMNS as f64 + 20.0;
    let height = PANEL_H * rows as f64 + 60.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    svg.push('\n');
    let _ = writeln!(
        svg,
        r#"<rect width="100%" height="100%" fill="white"/><text x="10" y="22" font-size="15" font-weight="bold">stackctl bench: native vs host vs bridge ({} rounds, medians, whiskers = min–max)</text>"#,
        report.options.rounds
    );
    for (i, metric) in PANELS.into_iter().enumerate() {
        let x = 10.0 + PANEL_W * (i % COLUMNS) as f64;
        let y = 40.0 + PANEL_H * (i / COLUMNS) as f64;
        panel(&mut svg, report, metric, x, y);
    }
    svg.push_str("</svg>\n");
    svg
}

fn panel(svg: &mut String, report: &Report, metric: Metric, x: f64, y: f64) {
    let better = if metric.higher_is_better() {
        "higher is better"
    } else {
        "lower is better"
    };
    let _ = writeln!(
        svg,
        r#"<text x="{x}" y="{}" font-weight="bold">{} ({}, {better})</text>"#,
        y + 14.0,
        escape(&metric.label(report.options.streams)),
        metric.unit()
    );
    let summaries: Vec<_> = Path::ALL
        .iter()
        .map(|p| (*p, report.samples.summary(metric, *p)))
        .collect();
    let top = summaries
        .iter()
        .filter_map(|(_, s)| s.as_ref().map(|s| s.max))
        .fold(0.0_f64, f64::max);
    let scale_w = PANEL_W - LABEL_W - 110.0;
    let scale = if top > 0.0 { scale_w / top } else { 0.0 };
    for (row, (path, summary)) in summaries.iter().enumerate() {
        let by = y + 26.0 + row as f64 * (BAR_H + 8.0);
        let _ = writeln!(
            svg,
            r#"<text x="{x}" y="{}">{}</text>"#,
            by + BAR_H * 0.7,
            path.name()
        );
        let Some(s) = summary else { continue };
        let bx = x + LABEL_W;
        let _ = writeln!(
            svg,
            r#"<rect x="{bx}" y="{by}" width="{:.1}" height="{BAR_H}" fill="{}"/>"#,
            s.median * scale,
            COLORS[row % COLORS.len()]
        );
        let mid = by + BAR_H / 2.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{:.1}" y1="{mid}" x2="{:.1}" y2="{mid}" stroke="#222" stroke-width="1.5"/>"##,
            bx + s.min * scale,
            bx + s.max * scale
        );
        let ratio = s
            .ratio_to_native
            .map_or_else(String::new, |r| format!(" ×{r:.2}"));
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}">{}{ratio}</text>"#,
            bx + s.max.max(s.median) * scale + 6.0,
            by + BAR_H * 0.7,
            format_value(metric, s.median)
        );
    }
}

/// Escapes text for an SVG text node.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::table::tests::sample_report;

    #[test]
    fn the_chart_is_one_svg_document_with_a_panel_per_metric_and_a_bar_per_path() {
        let svg = render(&sample_report());
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(
            svg.matches("<rect x=").count(),
            PANELS.len() * Path::ALL.len()
        );
        for path in Path::ALL {
            assert_eq!(
                svg.matches(&format!(">{}</text>", path.name())).count(),
                PANELS.len()
            );
        }
        assert!(
            svg.contains("37.0 ×1.76"),
            "the bridge-proxy p50 bar is labelled"
        );
    }

    #[test]
    fn the_chart_fetches_nothing() {
        let svg = render(&sample_report());
        assert!(!svg.contains("href"), "no links or external images");
        assert!(!svg.contains("<script"));
        assert_eq!(svg.matches("http").count(), 1, "only the SVG namespace");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b & c>"), "a&lt;b &amp; c&gt;");
    }
}
