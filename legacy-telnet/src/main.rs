//! The `legacy-telnet` binary: serves the terminal (the default), or runs the
//! image's health check.

use std::io::Read as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The ShopDotCom warehouse terminal: line-mode Telnet on port 2323.
#[derive(Debug, Parser)]
#[command(name = "legacy-telnet", version, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    config: legacy_telnet::Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the terminal (the default).
    Serve,
    /// Exit 0 when the terminal on --bind answers with its banner (the image's HEALTHCHECK).
    Healthcheck,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Healthcheck => match banner(cli.config.bind) {
            Ok(line) => {
                eprintln!("healthy: {line}");
                ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("unhealthy: {why}");
                ExitCode::FAILURE
            }
        },
        Command::Serve => serve(cli.config),
    }
}

/// Connects and reads the first line: the banner, or the busy notice (alive all the same).
fn banner(bind: std::net::SocketAddr) -> Result<String, String> {
    let stream = healthprobe::connect(bind)?;
    let mut first = Vec::new();
    for byte in std::io::BufReader::new(stream).bytes() {
        let byte = byte.map_err(|e| format!("no banner: {e}"))?;
        if byte == b'\n' || first.len() > 200 {
            break;
        }
        first.push(byte);
    }
    let line = String::from_utf8_lossy(&first).trim().to_owned();
    if line.starts_with("ShopDotCom warehouse terminal") || line.starts_with("The terminal is busy")
    {
        Ok(line)
    } else {
        Err(format!("unexpected first line `{line}`"))
    }
}

fn serve(config: legacy_telnet::Config) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let context = config.context()?;
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen on {}: {e}; is another process using the port?",
                    config.bind
                )
            })?;
        legacy_telnet::server::run(listener, context, config.limits(), shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
}
