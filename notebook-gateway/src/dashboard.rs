//! The dashboard page, rendered on the server with its charts as inline SVG
//! and its styles inline: one self-contained HTML document. A status panel
//! says how the gateway reaches the API (its localhost URL) and whether it
//! answers now; when it does not, the page says so and shows the last data
//! it had, marked as such.

use std::fmt::Write as _;

use crate::analytics::Analysis;
use crate::client::ApiStatus;
use crate::format::{cover, money, thousands, timestamp};
use crate::svg::{Bar, bar_chart, escape, line_chart};

/// How many products the stock chart shows (the lowest stocks).
const STOCK_BARS: usize = 15;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}\
header{background:#1d2330;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}\
main{padding:16px 24px;display:grid;gap:16px}\
.panel{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px #0002}\
.status.ok{border-left:6px solid #2e9d5b}.status.down{border-left:6px solid #c8372d}\
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{background:#fff;border-radius:8px;padding:10px 16px;min-width:150px;box-shadow:0 1px 2px #0002}\
.card .value{font-size:22px;font-weight:600}.card .name{color:#5b6475}\
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(580px,1fr));gap:16px}\
h2{font-size:16px;margin:0 0 8px}table{border-collapse:collapse}td,th{padding:3px 10px;text-align:left}\
td.num,th.num{text-align:right}.chart rect{fill:#3f6fd8}.chart .label,.chart .value{font-size:12px;fill:#1d2330}\
.chart .line{fill:none;stroke:#3f6fd8;stroke-width:2}.chart .point{fill:#3f6fd8}.chart .axis{stroke:#8a93a6}\
.stale{color:#c8372d;font-weight:600}";

/// The whole page. `analysis` is the newest data there is (possibly old,
/// when `status` says the API is unreachable), `None` when there is none.
pub fn render(analysis: Option<&Analysis>, status: &ApiStatus, fresh: bool) -> String {
    let mut html = String::with_capacity(64 * 1024);
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"30\">\
         <title>ShopDotCom analytics</title><style>{STYLE}</style></head><body>\
         <header><h1>ShopDotCom analytics</h1></header><main>"
    );
    status_panel(&mut html, status, analysis, fresh);
    match analysis {
        Some(a) => body(&mut html, a),
        None => html.push_str("<section class=\"panel\" id=\"no-data\"><p>No data yet: the API has not answered since the gateway started.</p></section>"),
    }
    html.push_str("</main></body></html>");
    html
}

fn status_panel(html: &mut String, status: &ApiStatus, analysis: Option<&Analysis>, fresh: bool) {
    let (class, state) = if status.reachable {
        ("ok", "reachable")
    } else {
        ("down", "unreachable")
    };
    let _ = write!(
        html,
        "<section class=\"panel status {class}\" id=\"status\" data-api-reachable=\"{}\"><h2>API status</h2>\
         <p>The gateway reaches the API at <code id=\"api-url\">{}</code> (over localhost: both run on the host network).</p>\
         <p>Right now the API is <strong id=\"api-state\">{state}</strong>: {}.</p>",
        status.reachable,
        escape(&status.url),
        escape(&status.detail)
    );
    if let Some(a) = analysis {
        let note = if fresh {
            String::new()
        } else {
            " <span class=\"stale\">(last known data; the API does not answer)</span>".to_owned()
        };
        let _ = write!(
            html,
            "<p>Data as of {}{note}.</p>",
            timestamp(a.generated_at)
        );
    }
    html.push_str("</section>");
}

fn body(html: &mut String, a: &Analysis) {
    let s = &a.summary;
    html.push_str("<section class=\"cards\" id=\"summary\">");
    for (metric, name, value, shown) in [
        ("orders", "Orders", s.orders as i64, thousands(s.orders)),
        (
            "revenue_cents",
            "Revenue",
            s.revenue_cents,
            money(s.revenue_cents),
        ),
        (
            "average_order_value_cents",
            "Average order",
            s.average_order_value_cents,
            money(s.average_order_value_cents),
        ),
        (
            "units_sold",
            "Units sold",
            s.units_sold as i64,
            thousands(s.units_sold),
        ),
        (
            "inventory_value_cents",
            "Inventory value",
            s.inventory_value_cents,
            money(s.inventory_value_cents),
        ),
    ] {
        let _ = write!(
            html,
            "<div class=\"card\" data-metric=\"{metric}\" data-value=\"{value}\"><div class=\"name\">{name}</div><div class=\"value\">{shown}</div></div>"
        );
    }
    html.push_str("</section><section class=\"charts\">");

    let categories: Vec<Bar> = a
        .revenue_by_category
        .iter()
        .map(|c| Bar {
            label: c.category.clone(),
            value: c.revenue_cents,
            shown: money(c.revenue_cents),
        })
        .collect();
    chart_panel(
        html,
        "Revenue by category",
        &bar_chart("revenue-by-category", "Revenue by category", &categories),
    );

    let top: Vec<Bar> = a
        .top_sellers
        .iter()
        .map(|p| Bar {
            label: p.name.clone(),
            value: p.units as i64,
            shown: format!("{} units", p.units),
        })
        .collect();
    chart_panel(
        html,
        "Top products (units sold)",
        &bar_chart("top-products", "Top products", &top),
    );

    let days: Vec<(String, i64)> = a
        .orders_per_day
        .iter()
        .map(|d| (d.date.clone(), d.orders as i64))
        .collect();
    chart_panel(
        html,
        "Orders per day",
        &line_chart("orders-per-day", "Orders per day", &days),
    );

    let stock: Vec<Bar> = a
        .stock_levels
        .iter()
        .take(STOCK_BARS)
        .map(|p| Bar {
            label: p.name.clone(),
            value: i64::from(p.stock),
            shown: p.stock.to_string(),
        })
        .collect();
    chart_panel(
        html,
        "Stock levels (lowest)",
        &bar_chart("stock-levels", "Stock levels", &stock),
    );
    html.push_str("</section>");

    html.push_str("<section class=\"panel\" id=\"low-stock\"><h2>Low stock</h2>");
    if a.low_stock.is_empty() {
        html.push_str("<p>Nothing is running low.</p>");
    } else {
        html.push_str("<table><tr><th>SKU</th><th>Product</th><th class=\"num\">Stock</th><th class=\"num\">Sold per day</th><th class=\"num\">Cover</th></tr>");
        for l in &a.low_stock {
            let _ = write!(
                html,
                "<tr data-sku=\"{sku}\"><td>{sku}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{:.2}</td><td class=\"num\">{}</td></tr>",
                escape(&l.name),
                l.stock,
                l.units_per_day,
                cover(l.days_of_cover),
                sku = escape(&l.sku),
            );
        }
        html.push_str("</table>");
    }
    html.push_str("</section><section class=\"panel\" id=\"inventory\"><h2>Inventory value by category</h2><table><tr><th>Category</th><th class=\"num\">Units</th><th class=\"num\">Value</th></tr>");
    for c in &a.inventory {
        let _ = write!(
            html,
            "<tr data-category=\"{cat}\" data-value=\"{}\"><td>{cat}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            c.value_cents,
            thousands(c.units),
            money(c.value_cents),
            cat = escape(&c.category),
        );
    }
    html.push_str("</table></section>");
}

fn chart_panel(html: &mut String, title: &str, svg: &str) {
    let _ = write!(
        html,
        "<figure class=\"panel\"><h2>{}</h2>{svg}</figure>",
        escape(title)
    );
}
