//! `stackctl bench`: what host networking gains, measured side by side with
//! the physical limit (a plain process), the bridge, the alternatives the
//! guide lists (macvlan, an overlay network, published ports, a sidecar
//! proxy, an SSH tunnel) and two of our own (ipvlan, a shared network
//! namespace).
//!
//! [`paths`] says what the paths and routes (a path with a client
//! placement) are; [`servers`] starts the probe and the real API on each,
//! with the networks, links and namespaces they need ([`net`]), pinned to
//! a CPU of their own where the machine allows ([`pin`]). The probe's
//! clients measure 1-byte TCP latency, HTTP load on the API and bulk
//! transfer, in the bench's process or in a client container ([`exec`]);
//! every round measures each metric on the routes in an order shuffled anew,
//! and [`stats`] reduces the rounds to medians and ratios to native with
//! bootstrap intervals and verdicts. [`matrix`] measures what each path
//! isolates. [`table`], [`json`] and [`svg`] show it all. Traffic goes only
//! to loopback, to the bench's own containers and to the namespaces and
//! links it made; every run is bounded in count and time; everything it made
//! is removed at the end, on an error, and on Ctrl-C or SIGTERM.

pub mod exec;
pub mod json;
pub mod matrix;
pub mod net;
pub mod paths;
pub mod pin;
pub mod servers;
pub mod stats;
pub mod svg;
pub mod table;

/// The clients live with the probe, so the same code runs in a container.
pub use probe::client::{bulk, http, latency};

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context as _;
use bollard::Docker;
use serde::Serialize;

use crate::compose::Project;
use crate::progress::Progress;
use paths::{Path, Route};
use pin::Pinning;
use servers::{Held, Ready, Runner, Target};
use stats::{Metric, Rng, Samples};

/// How much to measure.
#[derive(Debug, Clone, Serialize)]
pub struct Options {
    /// Rounds; each measures every metric on every route once.
    pub rounds: usize,
    /// Recorded round trips per route per round.
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
    /// The paths measured (native always among them: every ratio is to it).
    pub paths: BTreeSet<Path>,
    /// The seed of the order of the routes in each round.
    pub seed: u64,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Options {
    /// The full run: enough rounds for tight intervals on latency (about
    /// twenty minutes with every path and the images built).
    pub fn full() -> Options {
        Options {
            rounds: 15,
            round_trips: 10_000,
            warmup_round_trips: 1_000,
            connections: 32,
            http_warmup: Duration::from_millis(300),
            http_duration: Duration::from_secs(1),
            bulk_duration: Duration::from_millis(500),
            streams: 4,
            hold: Duration::ZERO,
            paths: Path::ALL.into_iter().collect(),
            seed: 1,
        }
    }

    /// The quick run (a few minutes with every path).
    pub fn quick() -> Options {
        Options {
            rounds: 3,
            round_trips: 5_000,
            warmup_round_trips: 500,
            connections: 32,
            http_warmup: Duration::from_millis(100),
            http_duration: Duration::from_millis(300),
            bulk_duration: Duration::from_millis(200),
            streams: 4,
            hold: Duration::ZERO,
            paths: Path::ALL.into_iter().collect(),
            seed: 1,
        }
    }
}

/// A route as measured: where its client sat and what it reached.
#[derive(Debug, Clone, Serialize)]
pub struct RouteInfo {
    pub route: Route,
    pub target: Target,
    /// `host`, `namespace NAME` or `container NAME`.
    pub client_at: String,
}

/// Everything a run found, for the table, the JSON and the chart.
#[derive(Debug, Clone)]
pub struct Report {
    pub session: String,
    pub options: Options,
    pub routes: Vec<RouteInfo>,
    /// Routes that could not run here, with why.
    pub skipped: Vec<(Route, String)>,
    /// Routes a path does not have, with why.
    pub not_applicable: Vec<(Route, String)>,
    pub userland_proxy: Option<bool>,
    pub pinning: Pinning,
    /// The macvlan/ipvlan parent link's kind, when one was made.
    pub parent_kind: Option<&'static str>,
    /// `/proc/loadavg`'s 1-minute figure before and after the measurements.
    pub load_before: Option<f64>,
    pub load_after: Option<f64>,
    /// CPUs the machine gives the bench (counted before it pins itself).
    pub cores: usize,
    pub samples: Samples,
    pub matrix: Vec<matrix::Row>,
    /// Whether the bench made a single-node swarm for the overlay path
    /// (and left it at the end).
    pub made_swarm: bool,
}

impl Report {
    /// The routes measured, in table order.
    pub fn measured(&self) -> Vec<Route> {
        let mut routes: Vec<Route> = self.routes.iter().map(|r| r.route).collect();
        routes.sort();
        routes
    }
}

/// Starts the servers, measures, and removes everything it made, also
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
    let engine_cpuset = docker
        .info()
        .await
        .ok()
        .and_then(|i| i.cpu_set)
        .unwrap_or(false);
    // Counted before the bench pins itself to one of them.
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let pinning = Pinning::plan(&pin::allowed_cpus(), engine_cpuset);
    progress.println(&format!("bench: CPUs: {}", pinning.describe()));
    let mut held = Held::default();
    let result = {
        let work = async {
            let servers = servers::start(
                docker,
                stack,
                session,
                &options.paths,
                &pinning,
                &mut held,
                progress,
            )
            .await?;
            let mut report = measure(docker, servers, session, options, &pinning, progress).await?;
            report.cores = cores;
            Ok(report)
        };
        tokio::select! {
            result = work => result,
            () = servicekit::shutdown_signal() => {
                progress.println("bench: interrupted; removing what it made");
                Err(anyhow::anyhow!("interrupted"))
            }
        }
    };
    // Containers and networks first (a link cannot go while a network uses
    // it), then the swarm session, the namespaces and the links.
    let removed = paths::remove(docker, session).await;
    let made_swarm = held.made_swarm();
    let released = held.release().await;
    match (&result, removed) {
        (_, Ok(r)) => progress.println(&format!(
            "bench: removed its {} containers and {} networks{}",
            r.containers,
            r.networks,
            if made_swarm {
                ", and left the swarm it made"
            } else {
                ""
            }
        )),
        (Ok(_), Err(err)) => return Err(err.context("the bench's containers could not be removed")),
        (Err(_), Err(err)) => progress.println(&format!(
            "bench: its containers could not all be removed ({err:#}); remove them with \
             `docker rm -f $(docker ps -aq --filter label={}={session})`",
            paths::BENCH_LABEL
        )),
    }
    let result = result.map(|mut report| {
        report.made_swarm = made_swarm;
        report
    });
    if let Err(err) = released {
        match &result {
            Ok(_) => return Err(err.context("the bench could not leave the swarm it made")),
            Err(_) => progress.println(&format!("bench: {err:#}")),
        }
    }
    result
}

async fn measure(
    docker: &Docker,
    servers: servers::Servers,
    session: &str,
    options: &Options,
    pinning: &Pinning,
    progress: &Progress,
) -> anyhow::Result<Report> {
    for (route, why) in &servers.skipped {
        progress.println(&format!("bench: skipped {}: {why}", route.name()));
    }
    let mut ready = servers.ready.clone();
    ready.sort_by_key(|r| r.route);
    let routes: Vec<RouteInfo> = ready
        .iter()
        .map(|r| RouteInfo {
            route: r.route,
            target: r.target,
            client_at: match &r.runner {
                Runner::Local => "host".to_owned(),
                Runner::Namespace(lan) => format!("namespace {}", lan.namespace()),
                Runner::Container(name) => format!("container {name}"),
            },
        })
        .collect();
    for info in &routes {
        progress.println(&format!(
            "bench: {:<22} probe {}, api http://{} ({})",
            info.route.name(),
            info.target.probe,
            info.target.api,
            info.client_at
        ));
    }
    let skipped_paths: Vec<Path> = options
        .paths
        .iter()
        .copied()
        .filter(|p| !ready.iter().any(|r| r.route.path == *p))
        .collect();
    progress.println("bench: measuring the isolation matrix");
    let matrix = matrix::measure(docker, session, &servers.facts, &skipped_paths).await;
    if let Pinning::Pinned { client_cpu, .. } = pinning {
        pin::pin_process(0, *client_cpu)?;
    }
    let load_before = load_average();
    let mut samples = Samples::default();
    let mut rng = Rng::new(options.seed);
    for round in 1..=options.rounds {
        let tag = format!("round {round}/{}", options.rounds);
        let mut order = ready.clone();
        rng.shuffle(&mut order);
        for r in &order {
            let latency = latency(docker, r, options).await?;
            progress.println(&format!(
                "{tag} latency {:<22} p50 {:.1} µs, p99 {:.1} µs, mean {:.1} µs ({} round trips)",
                r.route.name(),
                latency.p50_us,
                latency.p99_us,
                latency.mean_us,
                latency.round_trips
            ));
            samples.record(Metric::LatencyP50, r.route, latency.p50_us);
            samples.record(Metric::LatencyP90, r.route, latency.p90_us);
            samples.record(Metric::LatencyP99, r.route, latency.p99_us);
            samples.record(Metric::LatencyP999, r.route, latency.p999_us);
            samples.record(Metric::LatencyMean, r.route, latency.mean_us);
        }
        rng.shuffle(&mut order);
        for r in &order {
            let report = http_load(docker, r, options).await?;
            progress.println(&format!(
                "{tag} http    {:<22} {:.0} req/s, p50 {} µs, p99 {} µs",
                r.route.name(),
                report.rps,
                report.p50_us,
                report.p99_us
            ));
            samples.record(Metric::HttpRps, r.route, report.rps);
            samples.record(Metric::HttpP50, r.route, report.p50_us as f64);
            samples.record(Metric::HttpP99, r.route, report.p99_us as f64);
        }
        for metric in [
            Metric::BulkOneStream,
            Metric::BulkStreams,
            Metric::BulkDownload,
        ] {
            rng.shuffle(&mut order);
            for r in &order {
                let rate = bulk(docker, r, metric, options).await?;
                progress.println(&format!(
                    "{tag} bulk    {:<22} {}: {rate:.2} Gbit/s",
                    r.route.name(),
                    metric.label(options.streams)
                ));
                samples.record(metric, r.route, rate);
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
        routes,
        skipped: servers.skipped,
        not_applicable: servers.not_applicable,
        userland_proxy: servers.userland_proxy,
        pinning: pinning.clone(),
        parent_kind: servers.parent_kind,
        load_before,
        load_after,
        cores: 0,
        samples,
        matrix,
        made_swarm: false,
    })
}

/// Runs blocking client work where the route's client sits (host or LAN
/// namespace).
async fn blocking<T: Send + 'static>(
    runner: &Runner,
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    match runner {
        Runner::Namespace(lan) => {
            let lan = lan.clone();
            tokio::task::spawn_blocking(move || lan.inside(work))
                .await?
                .context("cannot enter the LAN client's namespace")?
        }
        _ => tokio::task::spawn_blocking(work).await?,
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

async fn latency(docker: &Docker, r: &Ready, o: &Options) -> anyhow::Result<latency::Latency> {
    let (target, warmup, count) = (r.target.probe, o.warmup_round_trips, o.round_trips);
    let limit = Duration::from_secs(60);
    let result = match &r.runner {
        Runner::Container(name) => {
            let args = [
                "latency",
                "--target",
                &target.to_string(),
                "--warmup",
                &warmup.to_string(),
                "--count",
                &count.to_string(),
                "--limit",
                &secs(limit),
            ]
            .map(String::from);
            exec::probe_client(docker, name, &args).await
        }
        runner => {
            blocking(runner, move || {
                latency::ping_pong(target, warmup, count, limit)
            })
            .await
        }
    };
    result.with_context(|| format!("latency on the {} route", r.route.name()))
}

async fn http_load(docker: &Docker, r: &Ready, o: &Options) -> anyhow::Result<loadgen::Report> {
    let (target, connections, warmup, duration) =
        (r.target.api, o.connections, o.http_warmup, o.http_duration);
    let result = match &r.runner {
        Runner::Container(name) => {
            let args = [
                "http",
                "--target",
                &target.to_string(),
                "--connections",
                &connections.to_string(),
                "--warmup",
                &secs(warmup),
                "--seconds",
                &secs(duration),
            ]
            .map(String::from);
            exec::probe_client(docker, name, &args).await
        }
        Runner::Local => http::load(target, connections, warmup, duration).await,
        runner => {
            blocking(runner, move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(http::load(target, connections, warmup, duration))
            })
            .await
        }
    };
    result.with_context(|| format!("HTTP load on the {} route", r.route.name()))
}

async fn bulk(docker: &Docker, r: &Ready, metric: Metric, o: &Options) -> anyhow::Result<f64> {
    let (target, duration) = (r.target.probe, o.bulk_duration);
    let streams = if metric == Metric::BulkStreams {
        o.streams
    } else {
        1
    };
    let result = match &r.runner {
        Runner::Container(name) => {
            let mut args = vec![
                String::new(),
                "--target".into(),
                target.to_string(),
                "--seconds".into(),
                secs(duration),
            ];
            if metric == Metric::BulkDownload {
                args[0] = "download".into();
            } else {
                args[0] = "upload".into();
                args.extend(["--streams".into(), streams.to_string()]);
            }
            exec::probe_client(docker, name, &args).await
        }
        runner => {
            blocking(runner, move || match metric {
                Metric::BulkDownload => bulk::download(target, duration),
                _ => bulk::upload(target, streams, duration),
            })
            .await
        }
    };
    result.with_context(|| format!("bulk transfer on the {} route", r.route.name()))
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
