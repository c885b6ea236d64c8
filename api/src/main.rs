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
            match healthprobe::http_get(cli.config.bind, path) {
                Ok(answer) => {
                    eprintln!("healthy: {answer}");
                    ExitCode::SUCCESS
                }
                Err(why) => {
                    eprintln!("unhealthy: {why}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve => serve(cli.config),
    }
}

fn serve(config: api::config::Config) -> ExitCode {
    api::telemetry::init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let settings = config.resolve()?;
        let listener = tokio::net::TcpListener::bind(settings.bind)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen on {}: {e}; is another process using the port?",
                    settings.bind
                )
            })?;
        api::run(listener, settings, api::shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
