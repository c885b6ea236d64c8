//! The 1-byte TCP request/response client: one connection to the probe's
//! echo, one byte out, the same byte back, timed one round trip at a time
//! into an HdrHistogram. Blocking sockets on a thread of its own, for the
//! same reason the probe uses them: no event loop between the kernel and
//! the clock. The first round trips warm up the path and are not recorded.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// How long one socket operation may take before the run fails.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Round-trip times of one run, in microseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latency {
    /// Round trips recorded (after the warm-up).
    pub round_trips: u64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub mean_us: f64,
    pub max_us: f64,
}

/// Measures `round_trips` round trips to the echo at `target` after
/// `warmup` unrecorded ones. Stops early, with what it has, after
/// `time_limit`.
pub fn ping_pong(
    target: SocketAddr,
    warmup: u64,
    round_trips: u64,
    time_limit: Duration,
) -> anyhow::Result<Latency> {
    let mut stream = TcpStream::connect_timeout(&target, IO_TIMEOUT)
        .with_context(|| format!("cannot connect to the probe at {target}"))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(&[crate::ECHO])?;
    // Nanoseconds, 1 ns to 10 s, three significant digits.
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3)?;
    let deadline = Instant::now() + time_limit;
    let mut byte = [0u8; 1];
    for n in 0..warmup + round_trips {
        let sent = Instant::now();
        stream.write_all(&[n as u8])?;
        stream
            .read_exact(&mut byte)
            .with_context(|| format!("the probe at {target} stopped answering"))?;
        let elapsed = sent.elapsed();
        if byte[0] != n as u8 {
            bail!(
                "the probe at {target} echoed {} instead of {}",
                byte[0],
                n as u8
            );
        }
        if n >= warmup {
            histogram.saturating_record(elapsed.as_nanos() as u64);
        }
        if n % 1024 == 0 && Instant::now() > deadline {
            break;
        }
    }
    if histogram.is_empty() {
        bail!("no round trip to {target} was recorded within {time_limit:?}");
    }
    let us = |ns: u64| ns as f64 / 1000.0;
    Ok(Latency {
        round_trips: histogram.len(),
        p50_us: us(histogram.value_at_quantile(0.50)),
        p90_us: us(histogram.value_at_quantile(0.90)),
        p99_us: us(histogram.value_at_quantile(0.99)),
        p999_us: us(histogram.value_at_quantile(0.999)),
        mean_us: histogram.mean() / 1000.0,
        max_us: us(histogram.max()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_against_a_real_probe_records_what_was_asked_in_order() {
        let server =
            crate::Server::start(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
        let latency = ping_pong(server.local_addr(), 100, 2_000, Duration::from_secs(30)).unwrap();
        assert_eq!(latency.round_trips, 2_000);
        assert!(latency.p50_us > 0.0);
        assert!(latency.p50_us <= latency.p90_us);
        assert!(latency.p90_us <= latency.p99_us);
        assert!(latency.p99_us <= latency.p999_us);
        assert!(latency.p999_us <= latency.max_us);
    }
}
