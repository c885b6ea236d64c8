//! A real browser loads the dashboard: headless Chromium from Debian's
//! packages (`.ci/run` installs it) renders the page, and the charts are in
//! what it rendered.

use std::process::Command;
use std::time::Duration;

use crate::fixture::{Fixture, Gateway, Shared};

testkit::tests!(Shared; a_real_browser_renders_the_dashboard_with_its_charts);

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

async fn a_real_browser_renders_the_dashboard_with_its_charts(
    shared: Fixture,
) -> anyhow::Result<()> {
    let browser = chromium().ok_or_else(|| {
        anyhow::anyhow!(
            "no headless Chromium: install Debian's `chromium-headless-shell` (.ci/run does)"
        )
    })?;
    let gateway = Gateway::start(shared.client(), Duration::from_secs(60), None).await?;
    let url = format!("{}/", gateway.url);
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
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && !dom.is_empty(),
        "the browser failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
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
