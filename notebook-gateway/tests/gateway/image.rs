//! The gateway's image as `stackctl build` makes it and `compose.yaml` runs
//! it: beside the API on the host network, it reaches the API at
//! `http://localhost:PORT` from inside its own container.

use bollard::Docker;
use stackctl::testbed::Testbed;

use crate::fixture::{Fixture, Shared};

testkit::tests!(Shared; the_gateway_image_reaches_the_api_over_localhost_from_its_container);

async fn the_gateway_image_reaches_the_api_over_localhost_from_its_container(
    _: Fixture,
) -> anyhow::Result<()> {
    let mut bed = Testbed::new("gateway-image").await?;
    for service in ["db", "api", "notebook-gateway"] {
        bed.start(service).await?;
    }
    let (api_port, gateway_port) = (bed.port("SHOP_API_PORT")?, bed.port("SHOP_GATEWAY_PORT")?);
    let status: serde_json::Value =
        reqwest::get(format!("http://127.0.0.1:{gateway_port}/api/status"))
            .await?
            .json()
            .await?;
    assert_eq!(
        status["api"]["url"],
        format!("http://localhost:{api_port}"),
        "{status}"
    );
    assert_eq!(status["api"]["reachable"], true, "{status}");
    let summary: serde_json::Value =
        reqwest::get(format!("http://127.0.0.1:{gateway_port}/api/summary"))
            .await?
            .json()
            .await?;
    assert!(
        summary["orders"].as_u64().is_some_and(|n| n > 0),
        "{summary}"
    );

    let docker: &Docker = &bed.docker;
    let container = docker
        .inspect_container(&bed.container("notebook-gateway"), None)
        .await?;
    let config = container.config.unwrap_or_default();
    let host = container.host_config.unwrap_or_default();
    assert_eq!(config.user.as_deref(), Some("10020:10020"));
    assert_eq!(host.network_mode.as_deref(), Some("host"));
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    let listeners: Vec<String> = stackctl::listeners::listening()
        .into_iter()
        .filter(|l| l.addr.port() == gateway_port)
        .map(|l| l.addr.ip().to_string())
        .collect();
    assert_eq!(
        listeners,
        ["127.0.0.1"],
        "the gateway listens on loopback only"
    );
    Ok(())
}
