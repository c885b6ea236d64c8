//! `stackctl bench`: what host networking gains, measured side by side with
//! the bridge and with the physical limit, a plain process.
//!
//! [`paths`] starts the probe and the API on the four paths; the clients
//! measure 1-byte TCP latency ([`latency`]), HTTP load on the API
//! ([`http`]) and bulk transfer ([`bulk`]); every round measures each metric
//! on the paths in the same order, and [`stats`] reduces the rounds to
//! medians, spreads and ratios to native; [`table`], [`json`] and [`svg`]
//! show them. Traffic goes only to loopback and to the bench's own
//! containers; every run is bounded in count and time; everything started is
//! removed at the end, on an error, and on Ctrl-C or SIGTERM.

pub mod bulk;
pub mod http;
pub mod json;
pub mod latency;
pub mod paths;
pub mod stats;
pub mod svg;
pub mod table;

use std::time::Duration;

use anyhow::Context as _;
use bollard::Docker;
use serde::Serialize;

use crate::compose::Project;
use crate::progress::Progress;
use paths::{Path, Servers, Target};
use stats::{Metric, Samples};

/// How much to measure.
#[derive(Debug, Clone, Serialize)]
pub struct Options {
    /// Rounds; each measures every metric on every path once.
    pub rounds: usize,
    /// Recorded round trips per path per round.
    pub round_trips: u64,
    /// Round trips before those, not recorded.
    pub warmup_round_trips: u64,
    /// HTTP keep-alive connections.
    pub connections: usize,
    #[serde(serialize_with = "seconds")]
    pub http_warmup: Duration,
    #[serde(serialize_with = "seconds")]
    pub http_duration: Duration,
    /// Measured time of each bulk transfer.
    #[serde(serialize_with = "seconds")]
    pub bulk_duration: Duration,
    /// Parallel streams of the several-stream upload.
    pub streams: usize,
    /// How long to keep the servers after measuring, for cross-checks with
    /// other tools against the same servers (zero: not at all).
    #[serde(serialize_with = "seconds")]
    pub hold: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Options {
    /// The full run (about five minutes with images built).
    pub fn full() -> Options {
        Options {
            rounds: 5,
            round_trips: 50_000,
            warmup_round_trips: 2_000,
            connections: 32,
            http_warmup: Duration::from_secs(1),
            http_duration: Duration::from_secs(3),
            bulk_duration: Duration::from_secs(2),
            streams: 4,
            hold: Duration::ZERO,
        }
    }

    /// The quick run (under a minute with images built).
    pub fn quick() -> Options {
        Options {
            rounds: 3,
            round_trips: 20_000,
            warmup_round_trips: 1_000,
            connections: 32,
            http_warmup: Duration::from_millis(250),
            http_duration: Duration::from_millis(750),
            bulk_duration: Duration::from_millis(400),
            streams: 4,
            hold: Duration::ZERO,
        }
    }
}

/// Everything a run found, for the table, the JSON and the chart.
#[derive(Debug, Clone)]
pub struct Report {
    pub session: String,
    pub options: Options,
    pub targets: Vec<(Path, Target)>,
    pub userland_proxy: Option<bool>,
    /// `/proc/loadavg`'s 1-minute figure before and after the measurements.
    pub load_before: Option<f64>,
    pub load_after: Option<f64>,
    pub cores: usize,
    pub samples: Samples,
}

/// Starts the servers, measures, and removes everything it started, also
/// when interrupted by Ctrl-C or SIGTERM (then the result is an error).
pub async fn run(
    docker: &Docker,
    stack: &Project,
    session: &str,
    options: &Options,
    progress: &Progress,
) -> anyhow::Result<Report> {
    // Checked before anything starts: the cleanup below removes everything
    // under `session`, which must not be someone else's.
    paths::check_unused(docker, session).await?;
    let work = async {
        let servers = paths::start(docker, stack, session, progress).await?;
        measure(servers, session, options, progress).await
    };
    let result = tokio::select! {
        result = work => result,
        () = servicekit::shutdown_signal() => {
            progress.println("bench: interrupted; removing what it started");
            Err(anyhow::anyhow!("interrupted"))
        }
    };
    // The native processes died with `work` (kill on drop); now the containers.
    let removed = paths::remove(docker, session).await;
    match (&result, removed) {
        (_, Ok(n)) => progress.println(&format!("bench: removed its {n} containers")),
        (Ok(_), Err(err)) => return Err(err.context("the bench's containers could not be removed")),
        (Err(_), Err(err)) => progress.println(&format!(
            "bench: its containers could not all be removed ({err:#}); remove them with \
             `docker rm -f $(docker ps -aq --filter label={}={session})`",
            paths::BENCH_LABEL
        )),
    }
    result
}

async fn measure(
    servers: Servers,
    session: &str,
    options: &Options,
    progress: &Progress,
) -> anyhow::Result<Report> {
    let load_before = load_average();
    let mut samples = Samples::default();
    let targets: Vec<(Path, Target)> = servers.targets.iter().map(|(p, t)| (*p, *t)).collect();
    for (path, target) in &targets {
        progress.println(&format!(
            "bench: {:<12} probe {}, api http://{}",
            path.name(),
            target.probe,
            target.api
        ));
    }
    for round in 1..=options.rounds {
        let tag = format!("round {round}/{}", options.rounds);
        for &(path, target) in &targets {
            let (warmup, count) = (options.warmup_round_trips, options.round_trips);
            let latency = tokio::task::spawn_blocking(move || {
                latency::ping_pong(target.probe, warmup, count, Duration::from_secs(60))
            })
            .await?
            .with_context(|| format!("latency on the {} path", path.name()))?;
            progress.println(&format!(
                "{tag} latency {:<12} p50 {:.1} µs, p99 {:.1} µs, mean {:.1} µs ({} round trips)",
                path.name(),
                latency.p50_us,
                latency.p99_us,
                latency.mean_us,
                latency.round_trips
            ));
            samples.record(Metric::LatencyP50, path, latency.p50_us);
            samples.record(Metric::LatencyP90, path, latency.p90_us);
            samples.record(Metric::LatencyP99, path, latency.p99_us);
            samples.record(Metric::LatencyP999, path, latency.p999_us);
            samples.record(Metric::LatencyMean, path, latency.mean_us);
        }
        for &(path, target) in &targets {
            let report = http::load(
                target.api,
                options.connections,
                options.http_warmup,
                options.http_duration,
            )
            .await
            .with_context(|| format!("HTTP load on the {} path", path.name()))?;
            progress.println(&format!(
                "{tag} http    {:<12} {:.0} req/s, p50 {} µs, p99 {} µs",
                path.name(),
                report.rps,
                report.p50_us,
                report.p99_us
            ));
            samples.record(Metric::HttpRps, path, report.rps);
            samples.record(Metric::HttpP50, path, report.p50_us as f64);
            samples.record(Metric::HttpP99, path, report.p99_us as f64);
        }
        for (metric, streams) in [
            (Metric::BulkOneStream, 1),
            (Metric::BulkStreams, options.streams),
            (Metric::BulkDownload, 1),
        ] {
            for &(path, target) in &targets {
                let duration = options.bulk_duration;
                let rate = tokio::task::spawn_blocking(move || match metric {
                    Metric::BulkDownload => bulk::download(target.probe, duration),
                    _ => bulk::upload(target.probe, streams, duration),
                })
                .await?
                .with_context(|| format!("bulk transfer on the {} path", path.name()))?;
                progress.println(&format!(
                    "{tag} bulk    {:<12} {}: {rate:.2} Gbit/s",
                    path.name(),
                    metric.label(options.streams)
                ));
                samples.record(metric, path, rate);
            }
        }
    }
    let load_after = load_average();
    if !options.hold.is_zero() {
        progress.println(&format!(
            "bench: measured; keeping the servers at the addresses above for {:.0} s (Ctrl-C ends it sooner)",
            options.hold.as_secs_f64()
        ));
        tokio::time::sleep(options.hold).await;
    }
    Ok(Report {
        session: session.to_owned(),
        options: options.clone(),
        targets,
        userland_proxy: servers.userland_proxy,
        load_before,
        load_after,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        samples,
    })
}

/// The 1-minute load average (Linux).
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
