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
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Healthcheck => servicekit::health_exit(banner(config.bind)),
        Command::Serve => match config.context() {
            Ok(context) => servicekit::serve(config.bind, |listener| {
                legacy_telnet::server::run(
                    listener,
                    context,
                    config.limits(),
                    servicekit::shutdown_signal(),
                )
            }),
            Err(err) => servicekit::fail(&err),
        },
    }
}

/// Connects and reads the first line: the banner, or the busy notice (alive all the same).
fn banner(bind: std::net::SocketAddr) -> Result<String, String> {
    let stream = servicekit::probe::connect(bind)?;
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
