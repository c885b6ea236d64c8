//! A closed-loop HTTP/1.1 load generator for the project's benchmarks: a
//! fixed number of keep-alive connections, each sending its next request as
//! soon as the previous answer is read, for a fixed time after a warm-up that
//! is not counted. Latency goes into an HdrHistogram (microseconds).
//!
//! Every run is bounded by its duration and stops by itself; the target is
//! whatever address the caller gives, which in this project is always
//! loopback or one of the project's own containers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};

/// Makes request number `n` of a connection; `connection` tells connections apart.
pub type RequestFactory = Arc<dyn Fn(usize, u64) -> Request<Full<Bytes>> + Send + Sync>;

/// What to load and for how long.
#[derive(Clone)]
pub struct Load {
    pub target: SocketAddr,
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub request: RequestFactory,
}

/// The outcome of one run (also read back from JSON when a client in a
/// container ran it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Answers counted (after the warm-up).
    pub requests: u64,
    /// Answers per second over the measured time.
    pub rps: f64,
    /// Answers whose status the caller's `ok` refused, plus connections
    /// that failed.
    pub errors: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub mean_us: f64,
    pub max_us: u64,
    /// Count of each status seen, e.g. `[(200, 1000), (409, 3)]`.
    pub statuses: Vec<(u16, u64)>,
}

/// Runs `load` and reports it. Statuses for which `ok(status)` is false
/// count as errors.
pub async fn run(load: Load, ok: fn(u16) -> bool) -> anyhow::Result<Report> {
    let started = Instant::now();
    let measure_from = started + load.warmup;
    let stop_at = measure_from + load.duration;
    let mut workers = Vec::with_capacity(load.connections);
    for connection in 0..load.connections {
        let load = load.clone();
        workers.push(tokio::spawn(async move {
            connection_loop(&load, connection, measure_from, stop_at).await
        }));
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut statuses: Vec<(u16, u64)> = Vec::new();
    let mut failures = 0;
    for worker in workers {
        match worker.await? {
            Ok(result) => {
                histogram.add(&result.histogram)?;
                for (status, count) in result.statuses {
                    match statuses.iter_mut().find(|(s, _)| *s == status) {
                        Some((_, total)) => *total += count,
                        None => statuses.push((status, count)),
                    }
                }
            }
            Err(_) => failures += 1,
        }
    }
    statuses.sort_unstable();
    let requests = histogram.len();
    let errors = failures
        + statuses
            .iter()
            .filter(|(s, _)| !ok(*s))
            .map(|(_, c)| c)
            .sum::<u64>();
    Ok(Report {
        requests,
        rps: requests as f64 / load.duration.as_secs_f64(),
        errors,
        p50_us: histogram.value_at_quantile(0.50),
        p90_us: histogram.value_at_quantile(0.90),
        p99_us: histogram.value_at_quantile(0.99),
        p999_us: histogram.value_at_quantile(0.999),
        mean_us: histogram.mean(),
        max_us: histogram.max(),
        statuses,
    })
}

struct ConnectionResult {
    histogram: Histogram<u64>,
    statuses: Vec<(u16, u64)>,
}

async fn connection_loop(
    load: &Load,
    connection: usize,
    measure_from: Instant,
    stop_at: Instant,
) -> anyhow::Result<ConnectionResult> {
    let stream = tokio::net::TcpStream::connect(load.target).await?;
    stream.set_nodelay(true)?;
    let (mut sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(driver);
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut statuses: Vec<(u16, u64)> = Vec::new();
    let mut n = 0u64;
    loop {
        let sent = Instant::now();
        if sent >= stop_at {
            break;
        }
        let request = (load.request)(connection, n);
        n += 1;
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        response.into_body().collect().await?;
        if sent >= measure_from {
            histogram.record((sent.elapsed().as_micros() as u64).max(1))?;
            match statuses.iter_mut().find(|(s, _)| *s == status) {
                Some((_, count)) => *count += 1,
                None => statuses.push((status, 1)),
            }
        }
    }
    drop(sender);
    driver.abort();
    Ok(ConnectionResult {
        histogram,
        statuses,
    })
}

/// A GET request for `path` on `host`.
pub fn get(host: &str, path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header(hyper::header::HOST, host)
        .body(Full::new(Bytes::new()))
        .expect("a valid request")
}

/// A POST of a JSON body, with extra headers.
pub fn post_json(
    host: &str,
    path: &str,
    body: String,
    headers: &[(&str, String)],
) -> Request<Full<Bytes>> {
    let mut builder = Request::post(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .expect("a valid request")
}

/// Resident and peak resident memory of a process, in KiB (Linux).
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny HTTP server on loopback answering 200 to everything.
    async fn serve_ok() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from_static(b"ok"),
                        )))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_short_run_counts_answers_and_stops_by_itself() {
        let target = serve_ok().await;
        let host = target.to_string();
        let load = Load {
            target,
            connections: 4,
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(300),
            request: Arc::new(move |_, _| get(&host, "/")),
        };
        let started = Instant::now();
        let report = run(load, |s| s == 200).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(report.requests > 10, "{report:?}");
        assert_eq!(report.errors, 0);
        assert_eq!(report.statuses, [(200, report.requests)]);
        assert!(report.p50_us <= report.p99_us && report.p99_us <= report.max_us);
    }

    #[test]
    fn this_process_has_a_resident_size() {
        let (rss, peak) = memory_kib(std::process::id()).unwrap();
        assert!(rss > 0 && peak >= rss);
    }
}
