//! Running the terminal: an API that is down, a graceful shutdown, the
//! health check, and memory with 256 idle sessions.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::fixture::{Client, Fixture, Shared, Terminal, limits};

testkit::tests!(Shared;
    with_the_api_down_every_data_command_says_so_and_the_rest_work,
    shutdown_tells_connected_clients_then_closes,
    the_healthcheck_subcommand_reads_the_banner,
    two_hundred_fifty_six_idle_sessions_stay_under_32_mib,
);

async fn with_the_api_down_every_data_command_says_so_and_the_rest_work(
    _: Fixture,
) -> anyhow::Result<()> {
    let port = stackctl::testbed::free_port()?;
    let terminal = Terminal::start(&format!("http://127.0.0.1:{port}"), limits()).await?;
    let mut c = terminal.client().await?;
    c.until("shop> ").await?;
    for command in [
        "PRODUCTS",
        "PRODUCT 1",
        "PRODUCT AUD-001",
        "STOCK AUD-001",
        "ORDER 1",
    ] {
        let answer = c.command(command).await?;
        assert!(
            answer.contains(&format!(
                "the API at http://127.0.0.1:{port} is not reachable right now"
            )),
            "{command}: {answer}"
        );
    }
    assert!(c.command("PING").await?.contains("PONG"));
    assert!(c.command("HELP").await?.contains("NETINFO"));
    assert!(
        c.command("NETINFO")
            .await?
            .contains("interfaces this process sees")
    );
    Ok(())
}

async fn shutdown_tells_connected_clients_then_closes(shared: Fixture) -> anyhow::Result<()> {
    let terminal = Terminal::start(&shared.api.url, limits()).await?;
    let addr = terminal.addr;
    let mut first = terminal.client().await?;
    let mut second = terminal.client().await?;
    first.until("shop> ").await?;
    second.until("shop> ").await?;
    let stopping = tokio::spawn(terminal.shut_down());
    for client in [&mut first, &mut second] {
        let rest = client.read_until_closed().await?;
        assert!(
            rest.contains("The terminal is shutting down. Goodbye."),
            "{rest}"
        );
    }
    stopping.await??;
    assert!(Client::connect(addr).await.is_err(), "it no longer accepts");
    Ok(())
}

async fn the_healthcheck_subcommand_reads_the_banner(shared: Fixture) -> anyhow::Result<()> {
    let terminal = Terminal::start(&shared.api.url, limits()).await?;
    let bind = terminal.addr.to_string();
    let healthy = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_legacy-telnet"))
            .args(["--bind", &bind, "healthcheck"])
            .output()
    })
    .await??;
    assert!(
        healthy.status.success(),
        "{}",
        String::from_utf8_lossy(&healthy.stderr)
    );
    let port = stackctl::testbed::free_port()?;
    let down = Command::new(env!("CARGO_BIN_EXE_legacy-telnet"))
        .args(["--bind", &format!("127.0.0.1:{port}"), "healthcheck"])
        .output()?;
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("cannot connect"));
    Ok(())
}

async fn two_hundred_fifty_six_idle_sessions_stay_under_32_mib(
    shared: Fixture,
) -> anyhow::Result<()> {
    let port = stackctl::testbed::free_port()?;
    let mut server = Command::new(env!("CARGO_BIN_EXE_legacy-telnet"))
        .args([
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--api-url",
            &shared.api.url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let result = async {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut sessions = Vec::new();
        for _ in 0..256 {
            let mut c = Client::connect(addr).await?;
            c.until("shop> ").await?;
            sessions.push(c);
        }
        // They are all there and served.
        assert!(sessions[255].command("PING").await?.contains("PONG"));
        let (rss, _) = loadgen::memory_kib(server.id()).unwrap_or_default();
        anyhow::Ok(rss)
    }
    .await;
    server.kill()?;
    server.wait()?;
    let rss = result?;
    assert!(
        rss > 0 && rss < 32 * 1024,
        "{rss} KiB resident with 256 idle sessions"
    );
    Ok(())
}
