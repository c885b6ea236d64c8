//! The `probe` binary: serves the echo, sink and source modes on `--bind`
//! until SIGTERM or Ctrl-C, or runs the image's health check.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A tiny TCP server for `stackctl bench`: 1-byte echo for request/response
/// latency, a sink and a source for bulk transfer. The first byte a client
/// sends picks the mode (`e`, `k` or `s`).
#[derive(Debug, Parser)]
#[command(name = "probe", version, max_term_width = 100)]
struct Cli {
    /// The address to listen on.
    #[arg(long, env = "PROBE_BIND", default_value = "127.0.0.1:7777")]
    bind: SocketAddr,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve (the default).
    Serve,
    /// Exit 0 when the probe on --bind echoes a byte (the image's HEALTHCHECK).
    Healthcheck,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Healthcheck => servicekit::health_exit(probe::check(cli.bind)),
        Command::Serve => match serve(cli.bind) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => servicekit::fail(&err),
        },
    }
}

fn serve(bind: SocketAddr) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(bind).map_err(|e| {
        anyhow::anyhow!("cannot listen on {bind}: {e}; is another process using the port?")
    })?;
    let server = probe::Server::start(listener)?;
    eprintln!("probe: listening on {}", server.local_addr());
    // The runtime only waits for the signal; the connections are served by
    // plain threads (see the library's documentation for why).
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(servicekit::shutdown_signal());
    server.stop();
    Ok(())
}
