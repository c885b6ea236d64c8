//! What each service binary of the stack (api, notebook-gateway,
//! legacy-telnet) does the same way: start a runtime, bind its address with
//! a clear error when the port is taken, log to stderr, stop on SIGTERM or
//! Ctrl-C, and answer its image's health check by probing itself ([`probe`]:
//! the images have no shell and no curl). [`sockets`] decodes the kernel's
//! TCP tables, which on the host network are the host's. What several
//! crates show or check the same way lives here once: [`money`] (cents as
//! dollars), [`secret`] (the constant-time token comparison) and [`tls`]
//! (a certificate's fingerprint as people read it).

pub mod money;
pub mod probe;
pub mod secret;
pub mod sockets;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

/// Structured logs on stderr: `RUST_LOG` filters (default `info`), and
/// `LOG_FORMAT=json` writes one JSON object per line; colors only on a terminal.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second initialization (tests) keeps the first subscriber.
    let _ = if std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
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

/// Runs a server: logs, a runtime, `bind` (a taken port is one clear
/// line), then `run` on the listener; an error becomes one message and a
/// non-zero exit code.
pub fn serve<F, Fut>(bind: SocketAddr, run: F) -> ExitCode
where
    F: FnOnce(tokio::net::TcpListener) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&anyhow::anyhow!("cannot start the async runtime: {err}")),
    };
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(bind).await.map_err(|e| {
            anyhow::anyhow!("cannot listen on {bind}: {e}; is another process using the port?")
        })?;
        run(listener).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

/// Prints an error chain as one message; the failure exit code.
pub fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("error: {err:#}");
    ExitCode::FAILURE
}

/// The exit of a `healthcheck` subcommand: 0 with what answered, 1 with why not.
pub fn health_exit(probe: Result<String, String>) -> ExitCode {
    match probe {
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
