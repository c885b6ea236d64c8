//! Request metrics in the Prometheus text format: requests by route and
//! status, a latency histogram per route, and the database pool's use. Kept
//! in atomics behind a read-mostly map, so recording costs no lock contention.
//!
//! Every label takes its value from a bounded set, so no client can grow
//! the map or the exposition: the method is one of the standard ones or
//! `other` ([`method_label`]), the route is the matched route template or
//! `unmatched`, the status one the API itself chose. (The exposition stays
//! hand-written rather than `prometheus-client`: three metric families, and
//! recording must cost the hot path no more than two atomic adds.)

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::Method;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// All request metrics.
#[derive(Default)]
pub struct Metrics {
    requests: RwLock<HashMap<(&'static str, String, u16), AtomicU64>>,
    latency: RwLock<HashMap<(&'static str, String), Histogram>>,
    /// How connections ended, counted by the listener.
    pub connections: std::sync::Arc<Connections>,
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Served HTTP until the client or the server closed it.
    Served,
    /// Ended by an error mid-request: the client went away or spoke
    /// something that is not HTTP/1.1.
    Broken,
    /// Closed by the client before it sent a byte.
    Closed,
    /// Closed at once: its side's connection cap was reached.
    OverCap,
    /// Sent nothing within the header timeout.
    SilentTimeout,
    /// A request head (or the next one) took longer than the header timeout.
    HeaderTimeout,
    /// The TLS handshake took longer than its timeout.
    HandshakeTimeout,
    /// The TLS handshake failed.
    HandshakeFailed,
    /// A TLS handshake where no certificate is configured.
    NoTls,
    /// Plain HTTP from another host, answered with 400 and closed.
    PlaintextRefused,
}

impl Outcome {
    const ALL: [Outcome; 10] = [
        Outcome::Served,
        Outcome::Broken,
        Outcome::Closed,
        Outcome::OverCap,
        Outcome::SilentTimeout,
        Outcome::HeaderTimeout,
        Outcome::HandshakeTimeout,
        Outcome::HandshakeFailed,
        Outcome::NoTls,
        Outcome::PlaintextRefused,
    ];

    fn label(self) -> &'static str {
        match self {
            Outcome::Served => "served",
            Outcome::Broken => "broken",
            Outcome::Closed => "closed-by-client",
            Outcome::OverCap => "over-cap",
            Outcome::SilentTimeout => "silent-timeout",
            Outcome::HeaderTimeout => "header-timeout",
            Outcome::HandshakeTimeout => "handshake-timeout",
            Outcome::HandshakeFailed => "handshake-failed",
            Outcome::NoTls => "no-tls",
            Outcome::PlaintextRefused => "plaintext-refused",
        }
    }
}

/// Connections by side (this host, other hosts) and how they ended.
#[derive(Default)]
pub struct Connections {
    counts: [[AtomicU64; Outcome::ALL.len()]; 2],
}

impl Connections {
    /// Counts one ended connection.
    pub fn count(&self, local: bool, outcome: Outcome) {
        let side = usize::from(!local);
        if let Some(i) = Outcome::ALL.iter().position(|o| *o == outcome) {
            self.counts[side][i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The count for one side and outcome.
    pub fn get(&self, local: bool, outcome: Outcome) -> u64 {
        let side = usize::from(!local);
        Outcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .map_or(0, |i| self.counts[side][i].load(Ordering::Relaxed))
    }

    fn render(&self, out: &mut String) {
        out.push_str("# HELP api_connections_total Connections ended, by the client's side and how they ended.\n");
        out.push_str("# TYPE api_connections_total counter\n");
        for (side, name) in [(true, "loopback"), (false, "network")] {
            for outcome in Outcome::ALL {
                let _ = writeln!(
                    out,
                    "api_connections_total{{side=\"{name}\",outcome=\"{}\"}} {}",
                    outcome.label(),
                    self.get(side, outcome)
                );
            }
        }
    }
}

/// The `method` label of a request: the standard methods by name, anything
/// else (`FOO1`, `FOO2`, ...) as `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

impl Metrics {
    /// Records one finished request. `route` is the route template
    /// (`/api/products/{id}`), never the raw path, to bound the label set.
    pub fn record(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        let method = method_label(method);
        let key = (method, route.to_owned(), status);
        if !with_entry(&self.requests, &key, |c| {
            c.fetch_add(1, Ordering::Relaxed);
        }) {
            self.requests
                .write()
                .map(|mut m| m.entry(key).or_default().fetch_add(1, Ordering::Relaxed))
                .ok();
        }
        let key = (method, route.to_owned());
        let observe = |h: &Histogram| {
            let seconds = elapsed.as_secs_f64();
            for (bucket, bound) in h.buckets.iter().zip(BUCKETS) {
                if seconds <= bound {
                    bucket.fetch_add(1, Ordering::Relaxed);
                }
            }
            h.count.fetch_add(1, Ordering::Relaxed);
            h.sum_micros
                .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        };
        if !with_entry(&self.latency, &key, observe) {
            self.latency
                .write()
                .map(|mut m| observe(m.entry(key).or_default()))
                .ok();
        }
    }

    /// The Prometheus text exposition, with the pool gauges appended.
    pub fn render(&self, pool_in_use: usize, pool_idle: usize) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP http_requests_total Requests answered, by method, route and status.\n",
        );
        out.push_str("# TYPE http_requests_total counter\n");
        if let Ok(requests) = self.requests.read() {
            let mut rows: Vec<_> = requests.iter().collect();
            rows.sort_by(|a, b| a.0.cmp(b.0));
            for ((method, route, status), count) in rows {
                let _ = writeln!(
                    out,
                    "http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
                    count.load(Ordering::Relaxed)
                );
            }
        }
        out.push_str("# HELP http_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        if let Ok(latency) = self.latency.read() {
            let mut rows: Vec<_> = latency.iter().collect();
            rows.sort_by(|a, b| a.0.cmp(b.0));
            for ((method, route), h) in rows {
                let labels = format!("method=\"{method}\",route=\"{route}\"");
                for (bucket, bound) in h.buckets.iter().zip(BUCKETS) {
                    let _ = writeln!(
                        out,
                        "http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                        bucket.load(Ordering::Relaxed)
                    );
                }
                let count = h.count.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
                );
                let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
                let _ = writeln!(out, "http_request_duration_seconds_sum{{{labels}}} {sum}");
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_count{{{labels}}} {count}"
                );
            }
        }
        out.push_str("# HELP db_pool_connections Database connections, by state.\n");
        out.push_str("# TYPE db_pool_connections gauge\n");
        let _ = writeln!(out, "db_pool_connections{{state=\"in_use\"}} {pool_in_use}");
        let _ = writeln!(out, "db_pool_connections{{state=\"idle\"}} {pool_idle}");
        self.connections.render(&mut out);
        out
    }
}

/// Runs `f` on the entry for `key` under the read lock; false if absent.
fn with_entry<K: std::hash::Hash + Eq, V>(
    map: &RwLock<HashMap<K, V>>,
    key: &K,
    f: impl FnOnce(&V),
) -> bool {
    match map.read().ok().as_ref().and_then(|m| m.get(key)) {
        Some(value) => {
            f(value);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_latency_are_counted_per_route() {
        let metrics = Metrics::default();
        let get = Method::GET;
        metrics.record(&get, "/api/products/{id}", 200, Duration::from_millis(3));
        metrics.record(&get, "/api/products/{id}", 200, Duration::from_millis(30));
        metrics.record(&get, "/api/products/{id}", 404, Duration::from_millis(1));
        let text = metrics.render(2, 5);
        assert!(text.contains(
            "http_requests_total{method=\"GET\",route=\"/api/products/{id}\",status=\"200\"} 2"
        ));
        assert!(text.contains("status=\"404\"} 1"));
        assert!(
            text.contains("route=\"/api/products/{id}\",le=\"0.005\"} 2"),
            "{text}"
        );
        assert!(text.contains("route=\"/api/products/{id}\",le=\"+Inf\"} 3"));
        assert!(text.contains("db_pool_connections{state=\"in_use\"} 2"));
        assert!(text.contains("db_pool_connections{state=\"idle\"} 5"));
    }
}
