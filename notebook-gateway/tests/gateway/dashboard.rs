//! The dashboard served for real: the same numbers as the JSON endpoints,
//! an API that goes away and comes back, the access token (on every page,
//! the Network page too), the bind rule, and resident memory.

use std::process::{Command, Stdio};
use std::time::Duration;

use notebook_gateway::client::ApiClient;

use crate::fixture::{ADMIN_TOKEN, Fixture, Gateway, Shared, wait_ready};

testkit::tests!(Shared;
    the_dashboard_shows_the_same_numbers_as_the_json_endpoints,
    an_api_that_is_down_is_reported_without_a_crash_and_the_gateway_recovers,
    an_access_token_guards_everything_but_health,
    serving_beyond_loopback_without_a_token_is_refused,
    serve_stays_under_32_mib_resident,
);

/// The values of `attribute="..."` in the elements that also carry `marker`.
fn values_after(html: &str, marker: &str, attribute: &str) -> Vec<String> {
    html.split(marker)
        .skip(1)
        .filter_map(|rest| {
            let start = rest.find(&format!("{attribute}=\""))? + attribute.len() + 2;
            let end = rest[start..].find('"')? + start;
            Some(rest[start..end].to_owned())
        })
        .collect()
}

async fn the_dashboard_shows_the_same_numbers_as_the_json_endpoints(
    shared: Fixture,
) -> anyhow::Result<()> {
    // One snapshot serves both requests: the cache outlives the test.
    let gateway = Gateway::start(shared.client(), Duration::from_secs(600), None).await?;
    let html = gateway.get("/").await?.text().await?;
    let summary: serde_json::Value = gateway.get("/api/summary").await?.json().await?;
    for metric in [
        "orders",
        "revenue_cents",
        "average_order_value_cents",
        "units_sold",
        "inventory_value_cents",
    ] {
        let shown = values_after(&html, &format!("data-metric=\"{metric}\""), "data-value");
        assert_eq!(shown, [summary[metric].to_string()], "{metric}");
    }
    let status: serde_json::Value = gateway.get("/api/status").await?.json().await?;
    let as_of = status["data_as_of"].as_str().unwrap();
    time::OffsetDateTime::parse(as_of, &time::format_description::well_known::Rfc3339)
        .map_err(|err| anyhow::anyhow!("data_as_of `{as_of}` is not RFC 3339: {err}"))?;
    let categories: serde_json::Value =
        gateway.get("/api/revenue/categories").await?.json().await?;
    let chart = html
        .split("data-chart=\"revenue-by-category\"")
        .nth(1)
        .unwrap()
        .split("</svg>")
        .next()
        .unwrap();
    let bars = values_after(chart, "class=\"bar\"", "data-value");
    let expected: Vec<String> = categories
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["revenue_cents"].to_string())
        .collect();
    assert_eq!(bars, expected);
    let low: serde_json::Value = gateway.get("/api/low-stock").await?.json().await?;
    let skus = values_after(
        html.split("id=\"low-stock\"").nth(1).unwrap(),
        "<tr ",
        "data-sku",
    );
    let expected: Vec<String> = low
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["sku"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(skus, expected);
    let days: serde_json::Value = gateway.get("/api/orders-per-day").await?.json().await?;
    let points = values_after(&html, "class=\"point\"", "data-value");
    let expected: Vec<String> = days
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["orders"].to_string())
        .collect();
    assert_eq!(points, expected);
    assert!(
        html.contains(&format!("<code id=\"api-url\">{}</code>", shared.api.url)),
        "the status panel names the API's URL"
    );
    Ok(())
}

async fn an_api_that_is_down_is_reported_without_a_crash_and_the_gateway_recovers(
    shared: Fixture,
) -> anyhow::Result<()> {
    let port = stackctl::testbed::free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let client =
        ApiClient::new(&url, Some(ADMIN_TOKEN.to_owned()))?.with_retries(1, Duration::ZERO);
    let gateway = Gateway::start(client, Duration::ZERO, None).await?;

    let page = gateway.get("/").await?;
    assert_eq!(page.status(), 200);
    let html = page.text().await?;
    assert!(html.contains("data-api-reachable=\"false\""), "{html}");
    assert!(
        html.contains("<strong id=\"api-state\">unreachable</strong>")
            && html.contains("connection refused")
    );
    assert!(html.contains("No data yet"));
    let summary = gateway.get("/api/summary").await?;
    assert_eq!(summary.status(), 503);
    let body: serde_json::Value = summary.json().await?;
    assert_eq!(body["api"]["reachable"], false, "{body}");
    assert_eq!(
        gateway.get("/healthz").await?.status(),
        200,
        "the gateway itself is fine"
    );

    // The API comes up on the port the gateway was told about.
    let api = api::Background::start(
        tokio::net::TcpListener::bind(("127.0.0.1", port)).await?,
        &shared.db.api_url(),
        Some(ADMIN_TOKEN),
    )?;
    wait_ready(&api.url).await?;
    let html = gateway.get("/").await?.text().await?;
    assert!(
        html.contains("data-api-reachable=\"true\""),
        "recovered: {html}"
    );
    assert!(html.contains("data-metric=\"revenue_cents\""));
    assert_eq!(gateway.get("/api/summary").await?.status(), 200);

    // And goes away again: the last data stays, marked as such.
    api.stop().await;
    let html = gateway.get("/").await?.text().await?;
    assert!(
        html.contains("data-api-reachable=\"false\"") && html.contains("last known data"),
        "{html}"
    );
    let stale = gateway.get("/api/summary").await?;
    assert_eq!(stale.headers()["x-data-fresh"], "false");
    Ok(())
}

async fn an_access_token_guards_everything_but_health(shared: Fixture) -> anyhow::Result<()> {
    let gateway = Gateway::start(
        shared.client(),
        Duration::from_secs(60),
        Some("notebook-access-token"),
    )
    .await?;
    // The Network page shows the host's sockets: it is guarded the same.
    for path in [
        "/",
        "/api/summary",
        "/api/status",
        "/network",
        "/api/network",
    ] {
        assert_eq!(gateway.get(path).await?.status(), 401, "{path}");
    }
    assert_eq!(gateway.get("/?token=wrong").await?.status(), 401);
    assert_eq!(gateway.get("/network?token=wrong").await?.status(), 401);
    let page = gateway.get("/?token=notebook-access-token").await?;
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await?
            .contains("<a href=\"/network?token=notebook-access-token\">Network</a>"),
        "the navigation keeps the token the page was opened with"
    );
    assert_eq!(
        gateway
            .get("/network?token=notebook-access-token")
            .await?
            .status(),
        200
    );
    let with_header = reqwest::Client::new()
        .get(format!("{}/api/summary", gateway.url))
        .bearer_auth("notebook-access-token")
        .send()
        .await?;
    assert_eq!(with_header.status(), 200);
    assert_eq!(
        gateway.get("/healthz").await?.status(),
        200,
        "the container's health check needs no token"
    );
    Ok(())
}

async fn serving_beyond_loopback_without_a_token_is_refused(_: Fixture) -> anyhow::Result<()> {
    // Refused before it binds anything.
    let output = Command::new(env!("CARGO_BIN_EXE_notebook-gateway"))
        .args(["serve", "--bind", "0.0.0.0:8888"])
        .env("GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to serve on 0.0.0.0:8888 without an access token"),
        "{stderr}"
    );
    Ok(())
}

async fn serve_stays_under_32_mib_resident(shared: Fixture) -> anyhow::Result<()> {
    let port = stackctl::testbed::free_port()?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_notebook-gateway"))
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--cache-secs",
            "0",
        ])
        .env("GATEWAY_API_URL", &shared.api.url)
        .env("GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    let result = async {
        for _ in 0..100 {
            if reqwest::get(format!("{base}/healthz")).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Every request re-reads all products and orders (no cache).
        for round in 0..20 {
            let path = if round % 2 == 0 { "/" } else { "/api/analysis" };
            assert_eq!(reqwest::get(format!("{base}{path}")).await?.status(), 200);
        }
        let (rss, peak) = loadgen::memory_kib(child.id()).unwrap_or_default();
        anyhow::Ok((rss, peak))
    }
    .await;
    child.kill()?;
    child.wait()?;
    let (rss, peak) = result?;
    assert!(
        peak > 0 && peak < 32 * 1024,
        "resident {rss} KiB, peak {peak} KiB"
    );
    Ok(())
}
