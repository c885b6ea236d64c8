//! The host-network gain, measured: the same server (the warehouse terminal,
//! answering `PING` with `PONG`) in a container on the host network and in
//! a container on the default bridge reached through a port published on
//! `127.0.0.1` (Docker's userland proxy, the default path). A few seconds
//! per path, interleaved; the host path's median round trip must be the
//! lower one, which on these machines it is by a wide margin (the proxy
//! copies every byte through a second process and a second connection).

#![allow(clippy::print_stdout, reason = "the test prints its measurement table")]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bollard::models::PortBinding;
use integration_tests::pingpong::{self, Plan};
use testcontainers::core::{ContainerPort, Healthcheck, WaitFor};
use testcontainers::runners::AsyncRunner as _;
use testcontainers::{ContainerAsync, GenericImage, ImageExt as _};

/// A uid of the measurement's own, which no stack's firewall polices.
const MEASURING_UID: u32 = 10099;

/// The terminal's port inside the bridge container.
const TERMINAL_PORT: u16 = 2323;

/// The terminal's image as `stackctl build` makes it, run hardened like
/// `compose.yaml` runs it, waiting on the image's own health check.
fn terminal(image: &str, bind: SocketAddr) -> testcontainers::ContainerRequest<GenericImage> {
    let (name, tag) = image.split_once(':').unwrap_or((image, "latest"));
    GenericImage::new(name, tag)
        .with_wait_for(WaitFor::healthcheck())
        .with_env_var("TELNET_BIND", bind.to_string())
        // The terminal closes a session after 1 MiB of output; a measured
        // session sends ~18 bytes per round trip, up to 120,000 of them.
        .with_env_var("TELNET_MAX_OUTPUT_BYTES", (16 << 20).to_string())
        // Not the terminal's uid 10030: a running stack's firewall polices
        // that uid on the host network and would refuse it the test's port.
        .with_user(format!("{MEASURING_UID}:{MEASURING_UID}"))
        .with_cap_drop("ALL")
        .with_readonly_rootfs(true)
        .with_security_opt("no-new-privileges:true")
        .with_label("dev.shopdotcom.test", "integration-tests-gain")
        .with_health_check(
            Healthcheck::cmd(["/usr/local/bin/legacy-telnet", "healthcheck"])
                .with_interval(Duration::from_millis(500))
                .with_timeout(Duration::from_secs(3))
                .with_retries(20),
        )
        .with_startup_timeout(Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_network_path_has_a_lower_median_latency_than_the_bridge_proxy_path()
-> anyhow::Result<()> {
    let docker = stackctl::engine::connect().await?;
    let built = stackctl::testbed::build(&docker, &["legacy-telnet"]).await?;
    let image = &built[0].image;

    let host_port = stackctl::testbed::free_port()?;
    let host_addr = SocketAddr::from(([127, 0, 0, 1], host_port));
    let on_host: ContainerAsync<GenericImage> = terminal(image, host_addr)
        .with_network("host")
        .start()
        .await?;

    let published = stackctl::testbed::free_port()?;
    let on_bridge: ContainerAsync<GenericImage> =
        terminal(image, SocketAddr::from(([0, 0, 0, 0], TERMINAL_PORT)))
            .with_mapped_port(published, ContainerPort::Tcp(TERMINAL_PORT))
            // Publish on loopback only, not on every address of the host.
            .with_host_config_modifier(move |host_config| {
                host_config.port_bindings = Some(HashMap::from([(
                    format!("{TERMINAL_PORT}/tcp"),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some(published.to_string()),
                    }]),
                )]));
            })
            .start()
            .await?;
    let bridge_addr = SocketAddr::from(([127, 0, 0, 1], published));

    // Both containers really are where the test says they are.
    let inspect = |id: String| {
        let docker = docker.clone();
        async move { docker.inspect_container(&id, None).await }
    };
    let host_mode = inspect(on_host.id().to_owned()).await?.host_config.unwrap();
    assert_eq!(host_mode.network_mode.as_deref(), Some("host"));
    let bridge_mode = inspect(on_bridge.id().to_owned())
        .await?
        .host_config
        .unwrap();
    assert!(
        matches!(
            bridge_mode.network_mode.as_deref(),
            Some("default" | "bridge")
        ),
        "{:?}",
        bridge_mode.network_mode
    );

    let plan = Plan {
        request: b"PING\r\n".to_vec(),
        prompt: stackctl::verify::probe::TELNET_PROMPT.to_vec(),
        warmup: 500,
        rounds: 6,
        turn: Duration::from_millis(500),
        max_per_turn: 20_000,
    };
    let paths = [
        ("host network", host_addr),
        ("bridge, published 127.0.0.1 port", bridge_addr),
    ];
    let results = tokio::task::spawn_blocking(move || pingpong::measure(&paths, &plan)).await??;
    let (host, bridge) = (&results[0], &results[1]);

    println!(
        "\n{:<34} {:>9} {:>10} {:>10} {:>10}",
        "path", "trips", "p50 µs", "p99 µs", "mean µs"
    );
    for r in &results {
        println!(
            "{:<34} {:>9} {:>10.1} {:>10.1} {:>10.1}",
            r.name,
            r.histogram.len(),
            r.p50_us(),
            r.p99_us(),
            r.mean_us()
        );
    }
    println!(
        "bridge / host: p50 {:.2}x, mean {:.2}x\n",
        bridge.p50_us() / host.p50_us(),
        bridge.mean_us() / host.mean_us()
    );

    assert!(host.histogram.len() >= 1_000 && bridge.histogram.len() >= 1_000);
    assert!(
        host.p50_us() < bridge.p50_us(),
        "the host path's p50 ({:.1} µs) should be below the bridge path's ({:.1} µs)",
        host.p50_us(),
        bridge.p50_us()
    );
    Ok(())
}
