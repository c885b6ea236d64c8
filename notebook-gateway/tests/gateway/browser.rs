//! A real browser loads the dashboard: headless Chromium from Debian's
//! packages (`.ci/run` installs it) renders the pages, and the charts (and
//! on the Network page, the host's sockets and interfaces) are in what it
//! rendered.

use std::process::Command;
use std::time::Duration;

use crate::fixture::{Fixture, Gateway, Shared};

testkit::tests!(Shared;
    a_real_browser_renders_the_dashboard_with_its_charts,
    a_real_browser_renders_the_network_page_with_this_hosts_sockets,
);

/// The headless Chromium binary, whichever of Debian's packages provides it.
fn chromium() -> Option<&'static str> {
    ["chromium-headless-shell", "chromium"]
        .into_iter()
        .find(|name| {
            Command::new("sh")
                .args(["-c", &format!("command -v {name}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// The DOM headless Chromium renders from `url`.
async fn rendered(url: String) -> anyhow::Result<String> {
    let browser = chromium().ok_or_else(|| {
        anyhow::anyhow!(
            "no headless Chromium: install Debian's `chromium-headless-shell` (.ci/run does)"
        )
    })?;
    let output = tokio::task::spawn_blocking(move || {
        Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                // Nothing but loopback may be looked up or reached.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--virtual-time-budget=3000",
                "--dump-dom",
                &url,
            ])
            .output()
    })
    .await??;
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    anyhow::ensure!(
        output.status.success() && !dom.is_empty(),
        "the browser failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(dom)
}

/// The text inside the element whose start tag holds `marker`, up to the
/// first `</tag>`, without the tags.
fn text_after(dom: &str, marker: &str, tag: &str) -> Option<String> {
    // Past the rest of the element's own start tag.
    let rest = dom.split(marker).nth(1)?.split_once('>')?.1;
    let element = rest.split(&format!("</{tag}>")).next()?;
    let mut text = String::new();
    let mut in_tag = false;
    for c in element.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    Some(text)
}

async fn a_real_browser_renders_the_dashboard_with_its_charts(
    shared: Fixture,
) -> anyhow::Result<()> {
    let gateway = Gateway::start(shared.client(), Duration::from_secs(60), None).await?;
    let dom = rendered(format!("{}/", gateway.url)).await?;
    for chart in [
        "revenue-by-category",
        "top-products",
        "orders-per-day",
        "stock-levels",
    ] {
        let svg = dom
            .split(&format!("data-chart=\"{chart}\""))
            .nth(1)
            .unwrap_or_default();
        assert!(!svg.is_empty(), "the rendered page has no {chart} chart");
        let shapes = svg.split("</svg>").next().unwrap_or_default();
        assert!(
            shapes.contains("<rect") || shapes.contains("<circle"),
            "{chart} is empty"
        );
    }
    assert!(dom.contains("id=\"summary\"") && dom.contains("data-api-reachable=\"true\""));
    Ok(())
}

async fn a_real_browser_renders_the_network_page_with_this_hosts_sockets(
    shared: Fixture,
) -> anyhow::Result<()> {
    let held = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = held.local_addr()?.port();
    let gateway = Gateway::start(shared.client(), Duration::from_secs(60), None).await?;
    let dom = rendered(format!("{}/network", gateway.url)).await?;
    let row = text_after(&dom, &format!("data-port=\"{port}\""), "tr")
        .unwrap_or_else(|| panic!("the rendered page has no row for port {port}: {dom}"));
    assert!(
        row.contains(&format!("127.0.0.1:{port}")) && row.contains("this host only (loopback)"),
        "{row}"
    );
    let lo = text_after(&dom, "data-interface=\"lo\"", "tr").expect("the rendered page lists lo");
    assert!(
        lo.contains("lo (loopback)") && lo.contains("up") && lo.contains("127.0.0.1/8"),
        "{lo}"
    );
    let verify = text_after(&dom, "id=\"verify\"", "section").expect("a verify panel");
    assert!(
        verify.contains("No verify report is configured."),
        "{verify}"
    );
    let nav = text_after(&dom, "id=\"nav\"", "nav").expect("a navigation");
    assert!(
        nav.contains("Analytics") && nav.contains("Network"),
        "{nav}"
    );
    drop(held);
    Ok(())
}
