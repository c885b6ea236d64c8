//! The dashboard's pages, rendered on the server with charts as inline SVG
//! and styles inline: each one self-contained HTML document, under one
//! header with the navigation.
//!
//! The analytics page has a status panel that says how the gateway reaches
//! the API (its localhost URL) and whether it answers now; when it does not,
//! the page says so and shows the last data it had, marked as such. The
//! Network page ([`render_network`]) shows what the gateway's container sees
//! of the host.

use std::fmt::Write as _;

use crate::analytics::Analysis;
use crate::client::ApiStatus;
use crate::format::{cover, money, thousands, timestamp};
use crate::network::{LabelSource, NetworkView, Scope};
use crate::svg::{Bar, bar_chart, escape, line_chart};
use crate::verify_report::VerifyStatus;

/// How many products the stock chart shows (the lowest stocks).
const STOCK_BARS: usize = 15;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}\
header{background:#1d2330;color:#fff;padding:14px 24px;display:flex;align-items:baseline;gap:24px}header h1{margin:0;font-size:20px}\
nav a{color:#c9d3ea;margin-right:16px;text-decoration:none}nav a.current{color:#fff;font-weight:600;border-bottom:2px solid #fff}\
main{padding:16px 24px;display:grid;gap:16px}\
.panel{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px #0002}\
.status.ok{border-left:6px solid #2e9d5b}.status.down{border-left:6px solid #c8372d}\
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{background:#fff;border-radius:8px;padding:10px 16px;min-width:150px;box-shadow:0 1px 2px #0002}\
.card .value{font-size:22px;font-weight:600}.card .name{color:#5b6475}\
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(580px,1fr));gap:16px}\
h2{font-size:16px;margin:0 0 8px}table{border-collapse:collapse}td,th{padding:3px 10px;text-align:left}\
td.num,th.num{text-align:right}.chart rect{fill:#3f6fd8}.chart .label,.chart .value{font-size:12px;fill:#1d2330}\
.chart .line{fill:none;stroke:#3f6fd8;stroke-width:2}.chart .point{fill:#3f6fd8}.chart .axis{stroke:#8a93a6}\
.stale{color:#c8372d;font-weight:600}\
.exposed{color:#c8372d;font-weight:600}.muted{color:#5b6475}.error{color:#c8372d}code{font-size:13px}";

/// The pages, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Analytics,
    Network,
}

/// The document's head and the header with the navigation. `token` is the
/// access token the request carried in its query, kept in the links so a
/// reader who opened `/?token=...` can follow them.
fn start(html: &mut String, title: &str, current: Page, token: Option<&str>) {
    let query = token
        .map(|t| format!("?token={}", escape(t)))
        .unwrap_or_default();
    let link = |page: Page, path: &str, name: &str| {
        let class = if page == current {
            " class=\"current\" aria-current=\"page\""
        } else {
            ""
        };
        format!("<a href=\"{path}{query}\"{class}>{name}</a>")
    };
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"30\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\
         <header><h1>{title}</h1><nav id=\"nav\">{}{}</nav></header><main>",
        link(Page::Analytics, "/", "Analytics"),
        link(Page::Network, "/network", "Network"),
    );
}

/// The analytics page. `analysis` is the newest data there is (possibly
/// old, when `status` says the API is unreachable), `None` when there is
/// none; `token` as the request carried it (see [`render_network`]).
pub fn render(
    analysis: Option<&Analysis>,
    status: &ApiStatus,
    fresh: bool,
    token: Option<&str>,
) -> String {
    let mut html = String::with_capacity(64 * 1024);
    start(&mut html, "ShopDotCom analytics", Page::Analytics, token);
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

/// The Network page: what the gateway's container sees of the host, and
/// the stack's status from `stackctl verify`. `token` is the access token
/// the request carried in its query (kept in the navigation's links).
pub fn render_network(view: &NetworkView, token: Option<&str>) -> String {
    let mut html = String::with_capacity(32 * 1024);
    start(&mut html, "ShopDotCom network", Page::Network, token);
    html.push_str(
        "<section class=\"panel\" id=\"explain\"><h2>What you are looking at</h2>\
         <p>In its container on the host network (as <code>compose.yaml</code> runs it), the gateway has no network namespace of its own: \
         the interfaces below are the host's, and the sockets are every TCP socket listening on the host, \
         read by the gateway from its own <code>/proc/net/tcp</code> and <code>/proc/net/tcp6</code>. \
         The same image on a bridge network would see only its own <code>lo</code> and <code>eth0</code>, \
         and only its own sockets.</p>\
         <p>A socket on loopback answers this host only; one on every address answers the LAN too. \
         On the host network that is the only thing keeping a service private.</p></section>",
    );
    interfaces_panel(&mut html, view);
    sockets_panel(&mut html, view);
    verify_panel(&mut html, &view.verify);
    html.push_str("</main></body></html>");
    html
}

fn interfaces_panel(html: &mut String, view: &NetworkView) {
    let _ = write!(
        html,
        "<section class=\"panel\" id=\"interfaces\"><h2>Interfaces ({})</h2>",
        view.interfaces.len()
    );
    if let Some(error) = &view.interfaces_error {
        let _ = write!(html, "<p class=\"error\">{}</p>", escape(error));
    }
    html.push_str("<table><tr><th>Name</th><th>State</th><th>Addresses</th></tr>");
    for i in &view.interfaces {
        let state = match (i.up, i.running) {
            (true, true) => "up",
            (true, false) => "up, no carrier",
            (false, _) => "down",
        };
        let addresses: Vec<String> = i
            .addresses
            .iter()
            .map(|a| format!("{}/{}", a.address, a.prefix))
            .collect();
        let addresses = if addresses.is_empty() {
            "<span class=\"muted\">none</span>".to_owned()
        } else {
            addresses.join(", ")
        };
        let _ = write!(
            html,
            "<tr data-interface=\"{name}\" data-up=\"{}\"><td><code>{name}</code>{}</td><td>{state}</td><td>{addresses}</td></tr>",
            i.up,
            if i.loopback { " (loopback)" } else { "" },
            name = escape(&i.name),
        );
    }
    html.push_str("</table></section>");
}

fn sockets_panel(html: &mut String, view: &NetworkView) {
    let on = |scope| view.listening.iter().filter(|l| l.scope == scope).count();
    let _ = write!(
        html,
        "<section class=\"panel\" id=\"listening\"><h2>Listening TCP sockets on the host ({})</h2>\
         <p>{} on loopback only, {} on every address, {} on one address.</p>",
        view.listening.len(),
        on(Scope::Loopback),
        on(Scope::AllAddresses),
        on(Scope::OneAddress),
    );
    for table in &view.tables {
        if let Some(error) = &table.error {
            let _ = write!(html, "<p class=\"error\">{}</p>", escape(error));
        }
    }
    html.push_str(
        "<table><tr><th>Address</th><th>Reachable from</th><th>Service</th><th class=\"num\">Owner uid</th></tr>",
    );
    for l in &view.listening {
        let scope = match l.scope {
            Scope::Loopback => "this host only (loopback)",
            Scope::AllAddresses => "<span class=\"exposed\">every address: the LAN too</span>",
            Scope::OneAddress => "one address of the host",
        };
        let mut service = match &l.service {
            Some(label) if label.source == LabelSource::Config => escape(&label.service),
            Some(label) => format!(
                "{} <span class=\"muted\">(its default port)</span>",
                escape(&label.service)
            ),
            None => String::new(),
        };
        if l.this_gateway {
            service.push_str(" <strong>(this gateway)</strong>");
        }
        let _ = write!(
            html,
            "<tr data-port=\"{port}\" data-scope=\"{}\"><td><code>{}</code></td><td>{scope}</td><td>{service}</td><td class=\"num\">{}</td></tr>",
            match l.scope {
                Scope::Loopback => "loopback",
                Scope::AllAddresses => "all-addresses",
                Scope::OneAddress => "one-address",
            },
            std::net::SocketAddr::new(l.address, l.port),
            l.uid,
            port = l.port,
        );
    }
    html.push_str("</table></section>");
}

fn verify_panel(html: &mut String, verify: &VerifyStatus) {
    let class = match verify {
        VerifyStatus::Present(s) if s.failed == 0 => " status ok",
        VerifyStatus::Present(_)
        | VerifyStatus::Unreadable { .. }
        | VerifyStatus::Malformed { .. } => " status down",
        _ => "",
    };
    let state = match verify {
        VerifyStatus::NotConfigured { .. } => "not-configured",
        VerifyStatus::Missing { .. } => "missing",
        VerifyStatus::Empty { .. } => "empty",
        VerifyStatus::Unreadable { .. } => "unreadable",
        VerifyStatus::Malformed { .. } => "malformed",
        VerifyStatus::Present(_) => "present",
    };
    let _ = write!(
        html,
        "<section class=\"panel{class}\" id=\"verify\" data-state=\"{state}\"><h2>Stack status (<code>stackctl verify</code>)</h2>"
    );
    let how = |html: &mut String| {
        html.push_str(
            "<p>To show it here, run on the host <code>stackctl verify --format json &gt; FILE</code> \
             (it exits non-zero when a claim fails, and writes the report all the same), \
             then serve the gateway with <code>--verify-report FILE</code> \
             (or <code>GATEWAY_VERIFY_REPORT=FILE</code>). The gateway reads the file each time this page is shown.</p>",
        );
    };
    match verify {
        VerifyStatus::NotConfigured { .. } => {
            html.push_str("<p>No verify report is configured.</p>");
            how(html);
        }
        VerifyStatus::Missing { path, .. } => {
            let _ = write!(
                html,
                "<p>No verify report at <code>{}</code> yet.</p>",
                escape(&path.display().to_string())
            );
            how(html);
        }
        VerifyStatus::Empty { path, .. } => {
            let _ = write!(
                html,
                "<p class=\"error\">The verify report <code>{}</code> is empty: <code>stackctl verify</code> stopped before its report (its error went to the terminal).</p>",
                escape(&path.display().to_string())
            );
            how(html);
        }
        VerifyStatus::Unreadable { path, error } | VerifyStatus::Malformed { path, error } => {
            let _ = write!(
                html,
                "<p class=\"error\" id=\"verify-error\">Cannot use the verify report <code>{}</code>: {}</p>",
                escape(&path.display().to_string()),
                escape(error)
            );
        }
        VerifyStatus::Present(s) => {
            let written = s
                .written_at
                .map(|at| format!(", written {}", timestamp(at)))
                .unwrap_or_default();
            let _ = write!(
                html,
                "<p>Project <code>{}</code>, from <code>{}</code>{written}.</p>\
                 <p id=\"verify-counts\" data-passed=\"{}\" data-failed=\"{}\">{} claims: <strong>{} passed, {} failed</strong>, {} skipped",
                escape(&s.project),
                escape(&s.path.display().to_string()),
                s.passed,
                s.failed,
                s.claims,
                s.passed,
                s.failed,
                s.skipped,
            );
            if s.accepted > 0 {
                let _ = write!(html, ", {} accepted losses", s.accepted);
            }
            html.push_str(".</p>");
            if !s.failures.is_empty() {
                html.push_str(
                    "<table id=\"verify-failures\"><tr><th>Group</th><th>Service</th><th>Failed claim</th><th>Detail</th></tr>",
                );
                for c in &s.failures {
                    let _ = write!(
                        html,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        escape(&c.group),
                        escape(&c.service),
                        escape(&c.claim),
                        escape(&c.detail)
                    );
                }
                html.push_str("</table>");
            }
        }
    }
    html.push_str("</section>");
}
