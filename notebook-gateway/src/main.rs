//! The `notebook-gateway` binary: `report` runs the analysis once, `serve`
//! shows it as a dashboard, `healthcheck` is the image's HEALTHCHECK.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use notebook_gateway::{ApiArgs, ServeSettings, read_secret, report};

/// The data scientist's notebook as a localhost client of the ShopDotCom API.
#[derive(Debug, Parser)]
#[command(name = "notebook-gateway", version, max_term_width = 100)]
struct Cli {
    /// Where `serve` listens (and `healthcheck` looks).
    #[arg(
        long,
        env = "GATEWAY_BIND",
        default_value = "127.0.0.1:8888",
        global = true
    )]
    bind: SocketAddr,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the analysis once and print it, like running the notebook's cells.
    Report {
        #[command(flatten)]
        api: ApiArgs,
        /// Output format (`csv` is long format: section,item,metric,value).
        #[arg(long, value_enum, default_value_t = report::Format::Table)]
        format: report::Format,
    },
    /// Serve the dashboard (analytics and network pages) and the JSON endpoints.
    Serve {
        #[command(flatten)]
        api: ApiArgs,
        /// File holding the access token; required to bind beyond loopback.
        #[arg(long, env = "GATEWAY_ACCESS_TOKEN_FILE")]
        access_token_file: Option<PathBuf>,
        /// Seconds fetched data is reused before the API is asked again.
        #[arg(long, env = "GATEWAY_CACHE_SECS", default_value_t = 5)]
        cache_secs: u64,
        /// JSON report of `stackctl verify --format json > FILE`, summed up on
        /// the Network page (read each time the page is shown).
        #[arg(long, env = "GATEWAY_VERIFY_REPORT")]
        verify_report: Option<PathBuf>,
    },
    /// Exit 0 when the gateway on --bind answers (the image's HEALTHCHECK).
    Healthcheck,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Healthcheck => {
            servicekit::health_exit(servicekit::probe::http_get(cli.bind, "/healthz"))
        }
        Command::Report { api, format } => {
            servicekit::init_logging();
            let result = tokio::runtime::Runtime::new()
                .map_err(anyhow::Error::from)
                .and_then(|runtime| runtime.block_on(report(api, format)));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
                Err(err) => servicekit::fail(&err),
            }
        }
        Command::Serve {
            api,
            access_token_file,
            cache_secs,
            verify_report,
        } => {
            let prepared = (|| {
                let settings = ServeSettings {
                    bind: cli.bind,
                    access_token: read_secret(access_token_file.as_ref(), None, "access token")?,
                    cache_for: Duration::from_secs(cache_secs),
                    verify_report,
                };
                notebook_gateway::check_exposure(&settings)?;
                anyhow::Ok((api.client()?, settings))
            })();
            match prepared {
                Ok((client, settings)) => servicekit::serve(settings.bind, |listener| {
                    notebook_gateway::serve(
                        listener,
                        client,
                        settings,
                        servicekit::shutdown_signal(),
                    )
                }),
                Err(err) => servicekit::fail(&err),
            }
        }
    }
}

/// Fetches everything, analyses it and prints it.
async fn report(api: ApiArgs, format: report::Format) -> anyhow::Result<()> {
    let client = api.client()?;
    let (products, orders) = tokio::try_join!(client.products(), client.orders())?;
    let analysis = notebook_gateway::analytics::analyse(
        &products,
        &orders,
        time::OffsetDateTime::now_utc(),
        Default::default(),
    );
    let mut stdout = std::io::stdout().lock();
    report::write(&analysis, format, &mut stdout)?;
    stdout.flush()?;
    Ok(())
}

/// `notebook-gateway report | head` closing the pipe early is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
