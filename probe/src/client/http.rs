//! HTTP load on the API through the project's load generator: a fixed
//! number of keep-alive connections, a warm-up, a fixed measured time.
//!
//! The route is `GET /healthz`: it answers from the API process alone, so
//! the figure is the network path plus the API's HTTP stack. A route that
//! reads the database would add MariaDB's time, which is the same on every
//! path and only dilutes the difference being measured (and the bridge
//! pods use a database of their own, see `stackctl::bench::servers`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The route measured.
pub const ROUTE: &str = "/healthz";

/// Loads `GET /healthz` on `target`; any status but 200 counts as an error.
pub async fn load(
    target: SocketAddr,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<loadgen::Report> {
    let host = target.to_string();
    let report = loadgen::run(
        loadgen::Load {
            target,
            connections,
            warmup,
            duration,
            request: Arc::new(move |_, _| loadgen::get(&host, ROUTE)),
        },
        |status| status == 200,
    )
    .await?;
    if report.errors > 0 {
        anyhow::bail!(
            "{} of the requests to {target}{ROUTE} failed (statuses {:?})",
            report.errors,
            report.statuses
        );
    }
    Ok(report)
}
