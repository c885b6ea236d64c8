//! Charts as inline SVG, drawn on the server: the dashboard needs no script
//! and no asset from anywhere, so it works offline and in any browser.

use std::fmt::Write as _;

/// Escapes text for HTML and SVG.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One bar: its label, its value (for the length), and the value as shown.
pub struct Bar {
    pub label: String,
    pub value: i64,
    pub shown: String,
}

const WIDTH: u32 = 560;
const LABEL_WIDTH: u32 = 190;
const VALUE_WIDTH: u32 = 110;
const ROW: u32 = 22;

/// A horizontal bar chart; `id` names it in `data-chart`.
pub fn bar_chart(id: &str, title: &str, bars: &[Bar]) -> String {
    let height = ROW * (bars.len().max(1) as u32) + 8;
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let span = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    let mut svg = format!(
        r#"<svg class="chart" data-chart="{id}" role="img" aria-label="{}" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(title)
    );
    if bars.is_empty() {
        let _ = write!(svg, r#"<text x="8" y="18" class="empty">no data</text>"#);
    }
    for (i, bar) in bars.iter().enumerate() {
        let y = 4 + ROW * i as u32;
        let length = ((bar.value.max(0) as f64 / max as f64) * f64::from(span))
            .round()
            .max(1.0);
        let _ = write!(
            svg,
            r#"<g class="bar" data-label="{label}" data-value="{value}"><title>{label}: {shown}</title><text x="{lx}" y="{ty}" text-anchor="end" class="label">{label}</text><rect x="{LABEL_WIDTH}" y="{y}" width="{length}" height="{h}" rx="2"/><text x="{vx}" y="{ty}" class="value">{shown}</text></g>"#,
            label = escape(&bar.label),
            value = bar.value,
            shown = escape(&bar.shown),
            lx = LABEL_WIDTH - 8,
            ty = y + 14,
            h = ROW - 6,
            vx = f64::from(LABEL_WIDTH) + length + 6.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A line chart of values over labelled points (days); `id` names it.
pub fn line_chart(id: &str, title: &str, points: &[(String, i64)]) -> String {
    let (width, height, pad) = (WIDTH, 200u32, 36u32);
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let mut svg = format!(
        r#"<svg class="chart" data-chart="{id}" role="img" aria-label="{}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(title)
    );
    let plot_w = f64::from(width - 2 * pad);
    let plot_h = f64::from(height - 2 * pad);
    let x = |i: usize| {
        f64::from(pad)
            + if points.len() > 1 {
                plot_w * i as f64 / (points.len() - 1) as f64
            } else {
                plot_w / 2.0
            }
    };
    let y = |v: i64| f64::from(pad) + plot_h - plot_h * v as f64 / max as f64;
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{pad}" y1="{bottom}" x2="{right}" y2="{bottom}"/><line class="axis" x1="{pad}" y1="{pad}" x2="{pad}" y2="{bottom}"/><text x="{lx}" y="{ty}" text-anchor="end" class="label">{max}</text><text x="{lx}" y="{by}" text-anchor="end" class="label">0</text>"#,
        bottom = height - pad,
        right = width - pad,
        lx = pad - 4,
        ty = pad + 4,
        by = height - pad,
    );
    if points.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" class="empty">no data</text>"#,
            pad + 8,
            height / 2
        );
    } else {
        let path: Vec<String> = points
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.1)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline class="line" points="{}"/>"#,
            path.join(" ")
        );
        for (i, (label, value)) in points.iter().enumerate() {
            let _ = write!(
                svg,
                r#"<circle class="point" data-label="{label}" data-value="{value}" cx="{:.1}" cy="{:.1}" r="2.5"><title>{label}: {value}</title></circle>"#,
                x(i),
                y(*value),
                label = escape(label),
            );
        }
        let first = escape(&points[0].0);
        let last = escape(&points[points.len() - 1].0);
        let _ = write!(
            svg,
            r#"<text x="{pad}" y="{ly}" class="label">{first}</text><text x="{right}" y="{ly}" text-anchor="end" class="label">{last}</text>"#,
            ly = height - pad + 16,
            right = width - pad,
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_labels_are_escaped() {
        let bars = [
            Bar {
                label: "<b>&".into(),
                value: 50,
                shown: "50".into(),
            },
            Bar {
                label: "full".into(),
                value: 100,
                shown: "100".into(),
            },
        ];
        let svg = bar_chart("test", "Test", &bars);
        assert!(svg.contains(r#"data-chart="test""#));
        assert!(svg.contains("&lt;b&gt;&amp;") && !svg.contains("<b>&"));
        assert!(
            svg.contains(&format!(r#"width="{}""#, WIDTH - LABEL_WIDTH - VALUE_WIDTH)),
            "the largest bar is full width"
        );
        assert_eq!(svg.matches("<rect").count(), 2);
    }

    #[test]
    fn a_line_chart_has_a_point_per_day() {
        let points = vec![
            ("2026-11-01".to_owned(), 3),
            ("2026-11-02".to_owned(), 0),
            ("2026-11-03".to_owned(), 5),
        ];
        let svg = line_chart("days", "Orders", &points);
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("<polyline"));
        assert!(line_chart("days", "Orders", &[]).contains("no data"));
    }
}
