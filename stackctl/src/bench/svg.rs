//! `--svg PATH`: the result as a self-contained chart (hand-written SVG, no
//! fonts or scripts to fetch): one panel per headline metric, a row per
//! route with a dot at its ratio to native and a bar across its 95%
//! interval, around a line at native (×1.00), so that what a run can and
//! cannot resolve is what the eye sees.

use std::fmt::Write as _;

use super::Report;
use super::paths::Route;
use super::stats::{Metric, Verdict};

/// The metrics charted, one panel each.
pub const PANELS: [Metric; 6] = [
    Metric::LatencyP50,
    Metric::LatencyP99,
    Metric::HttpRps,
    Metric::BulkOneStream,
    Metric::BulkStreams,
    Metric::BulkDownload,
];

const PANEL_W: f64 = 520.0;
const COLUMNS: usize = 2;
const LABEL_W: f64 = 150.0;
const ROW_H: f64 = 18.0;

/// The chart as an SVG document.
pub fn render(report: &Report) -> String {
    let routes = report.measured();
    let panel_h = 40.0 + ROW_H * routes.len() as f64 + 20.0;
    let rows = PANELS.len().div_ceil(COLUMNS);
    let width = PANEL_W * COLUMNS as f64 + 20.0;
    let height = panel_h * rows as f64 + 60.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    svg.push('\n');
    let _ = writeln!(
        svg,
        r#"<rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="14" font-weight="bold">stackctl bench: each route's ratio to native (dot) with its 95% bootstrap interval (bar), {} rounds</text>"#,
        report.options.rounds
    );
    let _ = writeln!(
        svg,
        r##"<text x="10" y="36" fill="#555">green: better than native, red: worse, grey: no difference the run can resolve; dashed line: native (×1.00)</text>"##
    );
    for (i, metric) in PANELS.into_iter().enumerate() {
        let x = 10.0 + PANEL_W * (i % COLUMNS) as f64;
        let y = 50.0 + panel_h * (i / COLUMNS) as f64;
        panel(&mut svg, report, &routes, metric, x, y, panel_h);
    }
    svg.push_str("</svg>\n");
    svg
}

fn panel(
    svg: &mut String,
    report: &Report,
    routes: &[Route],
    metric: Metric,
    x: f64,
    y: f64,
    h: f64,
) {
    let better = if metric.higher_is_better() {
        "higher is better"
    } else {
        "lower is better"
    };
    let _ = writeln!(
        svg,
        r#"<text x="{x}" y="{}" font-weight="bold">{} ({better}), ratio to native</text>"#,
        y + 14.0,
        escape(&metric.label(report.options.streams)),
    );
    let summaries: Vec<_> = routes
        .iter()
        .map(|r| (*r, report.samples.summary(metric, *r)))
        .collect();
    // A scale from the lowest to the highest value shown, always holding 1.
    let mut low = 1.0_f64;
    let mut high = 1.0_f64;
    for s in summaries.iter().filter_map(|(_, s)| s.as_ref()) {
        let (l, h) = s.ratio_ci.unwrap_or((
            s.ratio_to_native.unwrap_or(1.0),
            s.ratio_to_native.unwrap_or(1.0),
        ));
        low = low.min(l);
        high = high.max(h);
    }
    let (low, high) = (low * 0.95, high * 1.05);
    let scale_w = PANEL_W - LABEL_W - 70.0;
    let at = |ratio: f64| x + LABEL_W + (ratio - low) / (high - low) * scale_w;
    let top = y + 24.0;
    let bottom = y + h - 30.0;
    let _ = writeln!(
        svg,
        r##"<line x1="{:.1}" y1="{top}" x2="{:.1}" y2="{bottom}" stroke="#888" stroke-dasharray="4 3"/><text x="{:.1}" y="{}" fill="#555" text-anchor="middle">×1.00</text>"##,
        at(1.0),
        at(1.0),
        at(1.0),
        bottom + 12.0
    );
    for (row, (route, summary)) in summaries.iter().enumerate() {
        let cy = top + 10.0 + row as f64 * ROW_H;
        let _ = writeln!(
            svg,
            r#"<text x="{x}" y="{:.1}">{}</text>"#,
            cy + 4.0,
            escape(&route.name())
        );
        let Some(s) = summary else { continue };
        let Some(ratio) = s.ratio_to_native else {
            continue;
        };
        let color = match s.verdict {
            Some(Verdict::Faster) => "#2e7d32",
            Some(Verdict::Slower) => "#c62828",
            _ => "#757575",
        };
        if let Some((l, h)) = s.ratio_ci {
            let _ = writeln!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="6" fill="{color}" opacity="0.35"/>"#,
                at(l),
                cy - 3.0,
                (at(h) - at(l)).max(1.0)
            );
        }
        let _ = writeln!(
            svg,
            r#"<circle cx="{:.1}" cy="{cy:.1}" r="3.5" fill="{color}"/><text x="{:.1}" y="{:.1}">×{ratio:.2}</text>"#,
            at(ratio),
            x + LABEL_W + scale_w + 8.0,
            cy + 4.0
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
    use crate::bench::table::tests::{FACTORS, sample_report};

    #[test]
    fn the_chart_has_a_panel_per_metric_and_a_dot_and_interval_per_route() {
        let svg = render(&sample_report());
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), PANELS.len() * FACTORS.len());
        // Native has no interval; every other route has one per panel.
        assert_eq!(
            svg.matches("opacity=\"0.35\"").count(),
            PANELS.len() * (FACTORS.len() - 1)
        );
        for (route, _) in FACTORS {
            assert_eq!(
                svg.matches(&format!(">{}</text>", route.name())).count(),
                PANELS.len()
            );
        }
        assert!(
            svg.contains(">×1.80</text>"),
            "the bridge-proxy ratio is labelled"
        );
        assert!(svg.contains("#c62828"), "a slower route is red");
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
