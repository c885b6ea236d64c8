//! The Network page served for real: a socket this test opens is in the
//! gateway's list (read from its `/proc/net/tcp`), the loopback interface
//! is there, and `stackctl verify`'s JSON report is summed up when it is
//! there and named as missing, empty or malformed when it is not usable,
//! without ever failing the page.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use stackctl::verify::{Check, Group, Outcome, Report};

use crate::fixture::{Fixture, Gateway, Shared};

testkit::tests!(Shared;
    the_network_api_lists_a_listener_of_this_host_and_the_loopback_interface,
    the_network_page_shows_the_same_sockets_and_interfaces,
    without_a_report_configured_the_page_says_how_to_make_one,
    a_verify_report_is_read_afresh_missing_malformed_empty_then_present,
    a_report_as_stackctl_serializes_it_is_summed_up,
);

/// The verify report fixture, shaped as `stackctl verify --format json`
/// writes it (seven claims: four passed, two failed, one skipped).
const FIXTURE: &str = include_str!("data/verify-report.json");

/// A directory of this test's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> anyhow::Result<Scratch> {
        let dir =
            std::env::temp_dir().join(format!("gateway-network-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The port of a URL such as `http://127.0.0.1:41234`.
fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

async fn network_json(gateway: &Gateway) -> anyhow::Result<Value> {
    let response = gateway.get("/api/network").await?;
    anyhow::ensure!(
        response.status() == 200,
        "/api/network answered {}",
        response.status()
    );
    Ok(response.json().await?)
}

/// The page, which must answer 200 whatever the report.
async fn network_page(gateway: &Gateway) -> anyhow::Result<String> {
    let response = gateway.get("/network").await?;
    anyhow::ensure!(
        response.status() == 200,
        "/network answered {}",
        response.status()
    );
    Ok(response.text().await?)
}

async fn the_network_api_lists_a_listener_of_this_host_and_the_loopback_interface(
    shared: Fixture,
) -> anyhow::Result<()> {
    // Opened by the test, not by the gateway: the gateway sees it because
    // it reads the namespace's table, not its own sockets.
    let held = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = held.local_addr()?.port();
    let gateway = Gateway::start(shared.client(), Duration::from_secs(60), None).await?;
    let network = network_json(&gateway).await?;

    let listening = network["listening"].as_array().unwrap();
    let ours = listening
        .iter()
        .find(|l| l["port"] == port)
        .unwrap_or_else(|| panic!("port {port} is not listed: {network:#}"));
    assert_eq!(ours["address"], "127.0.0.1", "{ours}");
    assert_eq!(ours["scope"], "loopback", "{ours}");
    assert_eq!(ours["this_gateway"], false, "{ours}");

    let own = listening
        .iter()
        .find(|l| l["port"] == port_of(&gateway.url))
        .expect("the gateway's own listener is listed");
    assert_eq!(own["this_gateway"], true, "{own}");
    assert_eq!(own["service"]["service"], "notebook-gateway", "{own}");
    assert_eq!(own["service"]["source"], "config", "{own}");
    let api = listening
        .iter()
        .find(|l| l["port"] == port_of(&shared.api.url))
        .expect("the API's listener is listed");
    assert_eq!(
        api["service"],
        serde_json::json!({"service": "api", "source": "config"}),
        "named from the gateway's API URL {}: {api}",
        shared.api.url
    );

    let lo = network["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "lo")
        .unwrap_or_else(|| panic!("no `lo`: {network:#}"));
    assert_eq!(lo["up"], true);
    assert_eq!(lo["loopback"], true);
    assert!(
        lo["addresses"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"address": "127.0.0.1", "prefix": 8})),
        "{lo}"
    );
    assert_eq!(network["interfaces_error"], Value::Null);
    assert_eq!(
        network["tables"][0],
        serde_json::json!({"path": "/proc/net/tcp", "rows": network["tables"][0]["rows"], "error": null})
    );
    drop(held);
    Ok(())
}

async fn the_network_page_shows_the_same_sockets_and_interfaces(
    shared: Fixture,
) -> anyhow::Result<()> {
    let held = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = held.local_addr()?.port();
    let gateway = Gateway::start(shared.client(), Duration::from_secs(60), None).await?;
    let html = network_page(&gateway).await?;
    assert!(
        html.contains(&format!(
            "<tr data-port=\"{port}\" data-scope=\"loopback\"><td><code>127.0.0.1:{port}</code>"
        )),
        "{html}"
    );
    assert!(html.contains("<tr data-interface=\"lo\" data-up=\"true\">"));
    assert!(html.contains("In its container on the host network"));
    assert!(
        html.contains("<a href=\"/\">Analytics</a>")
            && html.contains("<a href=\"/network\" class=\"current\""),
        "the navigation links both pages"
    );
    let dashboard = gateway.get("/").await?.text().await?;
    assert!(
        dashboard.contains("<a href=\"/network\">Network</a>"),
        "the dashboard links the Network page"
    );
    drop(held);
    Ok(())
}

async fn without_a_report_configured_the_page_says_how_to_make_one(
    shared: Fixture,
) -> anyhow::Result<()> {
    let gateway = Gateway::start(shared.client(), Duration::from_secs(60), None).await?;
    let network = network_json(&gateway).await?;
    assert_eq!(network["verify"]["state"], "not-configured", "{network}");
    assert!(
        network["verify"]["produce"]
            .as_str()
            .unwrap()
            .contains("stackctl verify --format json > FILE")
    );
    let html = network_page(&gateway).await?;
    assert!(html.contains("data-state=\"not-configured\""));
    assert!(html.contains("No verify report is configured."));
    assert!(html.contains("<code>stackctl verify --format json &gt; FILE</code>"));
    assert!(html.contains("<code>--verify-report FILE</code>"));
    Ok(())
}

async fn a_verify_report_is_read_afresh_missing_malformed_empty_then_present(
    shared: Fixture,
) -> anyhow::Result<()> {
    let scratch = Scratch::new("afresh")?;
    let report = scratch.path("verify.json");
    let gateway = Gateway::start_with_report(
        shared.client(),
        Duration::from_secs(60),
        None,
        Some(report.clone()),
    )
    .await?;
    let state = |network: &Value| network["verify"]["state"].as_str().unwrap_or("").to_owned();

    // Missing: named, with how to make it.
    let network = network_json(&gateway).await?;
    assert_eq!(state(&network), "missing", "{network}");
    assert_eq!(network["verify"]["path"], report.display().to_string());
    let html = network_page(&gateway).await?;
    assert!(html.contains(&format!(
        "No verify report at <code>{}</code> yet.",
        report.display()
    )));
    assert!(html.contains("stackctl verify --format json &gt; FILE"));

    // Malformed: an error on the page, and the rest of the dashboard is fine.
    std::fs::write(&report, "{\"project\": \"shopdotcom\", \"checks\": [")?;
    let network = network_json(&gateway).await?;
    assert_eq!(state(&network), "malformed", "{network}");
    let error = network["verify"]["error"].as_str().unwrap();
    assert!(
        error.contains("not a `stackctl verify --format json` report") && error.contains("line 1"),
        "{error}"
    );
    let html = network_page(&gateway).await?;
    assert!(
        html.contains("<p class=\"error\" id=\"verify-error\">Cannot use the verify report"),
        "{html}"
    );
    assert!(html.contains("id=\"interfaces\"") && html.contains("id=\"listening\""));
    assert_eq!(gateway.get("/").await?.status(), 200);

    // An outcome stackctl does not write is not quietly counted as something.
    let unknown = FIXTURE.replacen("\"outcome\": \"pass\"", "\"outcome\": \"maybe\"", 1);
    std::fs::write(&report, unknown)?;
    let network = network_json(&gateway).await?;
    assert_eq!(state(&network), "malformed", "{network}");
    assert!(
        network["verify"]["error"]
            .as_str()
            .unwrap()
            .contains("unknown variant `maybe`")
    );

    // Empty: verify stopped before its report.
    std::fs::write(&report, "")?;
    let network = network_json(&gateway).await?;
    assert_eq!(state(&network), "empty", "{network}");
    assert!(network_page(&gateway).await?.contains("is empty"));

    // Present: summed up, failures by name.
    std::fs::write(&report, FIXTURE)?;
    let network = network_json(&gateway).await?;
    let verify = &network["verify"];
    assert_eq!(state(&network), "present", "{network}");
    assert_eq!(verify["project"], "shopdotcom");
    assert_eq!(
        (
            &verify["claims"],
            &verify["passed"],
            &verify["failed"],
            &verify["skipped"]
        ),
        (&7.into(), &4.into(), &2.into(), &1.into())
    );
    let failed: Vec<(&str, &str)> = verify["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["service"].as_str().unwrap(), c["claim"].as_str().unwrap()))
        .collect();
    assert_eq!(
        failed,
        [
            (
                "legacy-telnet",
                "legacy-telnet -> api at 127.0.0.1:3000 (its NETINFO)"
            ),
            (
                "notebook-gateway",
                "kernel: no effective capabilities, no_new_privs set, non-root uid, seccomp filter on"
            ),
        ]
    );
    assert!(
        verify["written_at"]
            .as_str()
            .is_some_and(|t| t.contains('T'))
    );
    let html = network_page(&gateway).await?;
    assert!(html.contains(
        "<p id=\"verify-counts\" data-passed=\"4\" data-failed=\"2\">7 claims: <strong>4 passed, 2 failed</strong>, 1 skipped.</p>"
    ), "{html}");
    assert!(html.contains("legacy-telnet -&gt; api at 127.0.0.1:3000 (its NETINFO)"));

    // Fields this gateway does not know are no reason to refuse a report.
    let mut extended: Value = serde_json::from_str(FIXTURE)?;
    extended["generated_by"] = "a later stackctl".into();
    extended["checks"][0]["duration_ms"] = 12.into();
    std::fs::write(&report, serde_json::to_vec(&extended)?)?;
    assert_eq!(state(&network_json(&gateway).await?), "present");
    Ok(())
}

async fn a_report_as_stackctl_serializes_it_is_summed_up(shared: Fixture) -> anyhow::Result<()> {
    // stackctl's own type, serialized as `verify --format json` prints it:
    // if its fields change, this test notices.
    let check = |group, service: &str, claim: &str, outcome| Check {
        group,
        service: service.to_owned(),
        claim: claim.to_owned(),
        outcome,
        detail: "as found".to_owned(),
    };
    let report = Report {
        project: "shopdotcom-lab".to_owned(),
        checks: vec![
            check(
                Group::Reachability,
                "api",
                "host -> api at https://localhost:3000",
                Outcome::Pass,
            ),
            check(
                Group::Isolation,
                "db",
                "LAN client -> 10.213.0.1:3306 not reachable",
                Outcome::Fail,
            ),
            check(
                Group::Isolation,
                "legacy-telnet",
                "egress policed by the firewall",
                Outcome::Skip,
            ),
            check(
                Group::Hardening,
                "api",
                "no-new-privileges",
                Outcome::Accepted,
            ),
        ],
    };
    let scratch = Scratch::new("stackctl")?;
    let path = scratch.path("verify.json");
    write_report(&path, &report)?;
    let gateway =
        Gateway::start_with_report(shared.client(), Duration::from_secs(60), None, Some(path))
            .await?;
    let verify = network_json(&gateway).await?["verify"].clone();
    assert_eq!(verify["state"], "present", "{verify}");
    assert_eq!(verify["project"], "shopdotcom-lab");
    for (count, expected) in [
        ("claims", 4),
        ("passed", 1),
        ("failed", 1),
        ("skipped", 1),
        ("accepted", 1),
    ] {
        assert_eq!(verify[count], expected, "{count}: {verify}");
    }
    assert_eq!(verify["failures"][0]["group"], "isolation");
    assert_eq!(
        verify["failures"][0]["claim"],
        "LAN client -> 10.213.0.1:3306 not reachable"
    );
    Ok(())
}

/// Writes `report` as `stackctl verify --format json` prints it.
fn write_report(path: &Path, report: &Report) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(report)? + "\n")?;
    Ok(())
}
