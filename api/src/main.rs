//! The `api` binary: serves the API (the default), or runs the image's
//! health check.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The ShopDotCom REST API (catalog and orders on MariaDB).
#[derive(Debug, Parser)]
#[command(name = "api", version, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    config: api::config::Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Exit 0 when the API on --bind is ready (the image's HEALTHCHECK).
    Healthcheck {
        /// Only check that the process answers (`/healthz`), not the database.
        #[arg(long)]
        live: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Healthcheck { live } => {
            let path = if live { "/healthz" } else { "/readyz" };
            servicekit::health_exit(servicekit::probe::http_get(cli.config.bind, path))
        }
        Command::Serve => match cli.config.resolve() {
            Ok(settings) => servicekit::serve(settings.bind, |listener| {
                api::run(listener, settings, servicekit::shutdown_signal())
            }),
            Err(err) => servicekit::fail(&err),
        },
    }
}
