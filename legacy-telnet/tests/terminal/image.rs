//! The terminal's image as `stackctl build` makes it and `compose.yaml` runs
//! it: on the host network it sees the host's interfaces, reaches the API at
//! localhost from inside its container, and listens for the LAN on its port.

use stackctl::testbed::Testbed;

use crate::fixture::{Client, Fixture, Shared};

testkit::tests!(Shared; the_terminal_image_serves_the_api_over_localhost_from_its_container);

async fn the_terminal_image_serves_the_api_over_localhost_from_its_container(
    _: Fixture,
) -> anyhow::Result<()> {
    let mut bed = Testbed::new("terminal-image").await?;
    for service in ["db", "api", "legacy-telnet"] {
        bed.start(service).await?;
    }
    let (api_port, telnet_port) = (bed.port("SHOP_API_PORT")?, bed.port("SHOP_TELNET_PORT")?);
    let mut c = Client::connect(([127, 0, 0, 1], telnet_port).into()).await?;
    c.until("shop> ").await?;
    let netinfo = c.command("NETINFO").await?;
    let api_line = netinfo
        .lines()
        .find(|l| l.trim_start().starts_with("api "))
        .unwrap_or_default();
    assert!(
        api_line.contains(&format!("127.0.0.1:{api_port}")) && api_line.ends_with("reachable"),
        "{netinfo}"
    );
    assert!(netinfo.contains("running as  uid 10030"), "{netinfo}");
    let product = c.command("PRODUCT 1").await?;
    assert!(
        product.contains("AUD-001"),
        "data through the API over localhost: {product}"
    );

    let container = bed
        .docker
        .inspect_container(&bed.container("legacy-telnet"), None)
        .await?;
    let host = container.host_config.unwrap_or_default();
    assert_eq!(host.network_mode.as_deref(), Some("host"));
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    let listeners: Vec<String> = stackctl::listeners::listening()
        .into_iter()
        .filter(|l| l.addr.port() == telnet_port)
        .map(|l| l.addr.ip().to_string())
        .collect();
    assert_eq!(listeners, ["0.0.0.0"], "the terminal is for the LAN");
    Ok(())
}
