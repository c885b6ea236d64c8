//! The `probe` binary: serves the echo, sink and source modes on `--bind`
//! until SIGTERM or Ctrl-C, runs the image's health check, or runs one of
//! the bench's clients and prints its result as JSON (inside a container,
//! where the bench measures from a service to a service).
#![allow(
    clippy::print_stdout,
    reason = "a client's result is its JSON on stdout, read by the bench"
)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

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
    /// Serve nothing and wait for SIGTERM: the main process of a client
    /// container, in which the bench runs `probe client ...`.
    Idle,
    /// Measure against a probe or an API and print the result as JSON.
    #[command(subcommand)]
    Client(Client),
}

#[derive(Debug, Subcommand)]
enum Client {
    /// 1-byte round trips to the probe's echo (HdrHistogram percentiles, µs).
    Latency {
        #[arg(long)]
        target: SocketAddr,
        /// Round trips before the recorded ones.
        #[arg(long, default_value_t = 1000)]
        warmup: u64,
        /// Recorded round trips.
        #[arg(long, default_value_t = 10_000)]
        count: u64,
        /// Stop with what was recorded after this many seconds.
        #[arg(long, default_value_t = 60.0)]
        limit: f64,
    },
    /// Send to the probe's sink over STREAMS connections (Gbit/s).
    Upload {
        #[arg(long)]
        target: SocketAddr,
        #[arg(long, default_value_t = 1)]
        streams: usize,
        #[arg(long)]
        seconds: f64,
    },
    /// Receive from the probe's source (Gbit/s).
    Download {
        #[arg(long)]
        target: SocketAddr,
        #[arg(long)]
        seconds: f64,
    },
    /// Closed-loop HTTP load on an API's GET /healthz.
    Http {
        #[arg(long)]
        target: SocketAddr,
        #[arg(long, default_value_t = 32)]
        connections: usize,
        #[arg(long)]
        warmup: f64,
        #[arg(long)]
        seconds: f64,
    },
    /// Exit 0 when TARGET accepts a TCP connection within the timeout;
    /// print the error otherwise (exit 1).
    Connect {
        #[arg(long)]
        target: SocketAddr,
        #[arg(long, default_value_t = 2.0)]
        timeout: f64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Healthcheck => return servicekit::health_exit(probe::check(cli.bind)),
        Command::Serve => serve(cli.bind),
        Command::Idle => idle(),
        Command::Client(client) => run_client(client),
    };
    match result {
        Ok(code) => code,
        Err(err) => servicekit::fail(&err),
    }
}

fn seconds(value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| anyhow::anyhow!("{value} is not a number of seconds"))
}

fn run_client(client: Client) -> anyhow::Result<ExitCode> {
    use probe::client;
    let json = match client {
        Client::Latency {
            target,
            warmup,
            count,
            limit,
        } => serde_json::to_string(&client::latency::ping_pong(
            target,
            warmup,
            count,
            seconds(limit)?,
        )?)?,
        Client::Upload {
            target,
            streams,
            seconds: s,
        } => serde_json::to_string(&client::bulk::upload(target, streams, seconds(s)?)?)?,
        Client::Download { target, seconds: s } => {
            serde_json::to_string(&client::bulk::download(target, seconds(s)?)?)?
        }
        Client::Http {
            target,
            connections,
            warmup,
            seconds: s,
        } => {
            let (warmup, duration) = (seconds(warmup)?, seconds(s)?);
            let report = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(client::http::load(target, connections, warmup, duration))?;
            serde_json::to_string(&report)?
        }
        Client::Connect { target, timeout } => {
            return Ok(match client::connect(target, seconds(timeout)?) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    println!("{err}");
                    ExitCode::FAILURE
                }
            });
        }
    };
    println!("{json}");
    Ok(ExitCode::SUCCESS)
}

fn idle() -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(servicekit::shutdown_signal());
    Ok(ExitCode::SUCCESS)
}

fn serve(bind: SocketAddr) -> anyhow::Result<ExitCode> {
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
    Ok(ExitCode::SUCCESS)
}
