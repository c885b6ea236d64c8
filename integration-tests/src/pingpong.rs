//! Request/response latency over a line protocol: one connection per path,
//! a request line, and the time until the server's prompt comes back. The
//! paths are measured in interleaved rounds (A B, A B, ...) so that drift
//! on a shared machine does not favour one of them, and the first round
//! trips of each connection are a warm-up that is not counted. Every loop
//! is bounded by a count and a time.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use hdrhistogram::Histogram;

/// How to measure.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Sent for each round trip, e.g. `PING\r\n`.
    pub request: Vec<u8>,
    /// What the server sends when it is done answering, e.g. `shop> `.
    pub prompt: Vec<u8>,
    /// Round trips per connection that are not counted.
    pub warmup: u64,
    pub rounds: u32,
    /// Each path's turn in a round ends after this long...
    pub turn: Duration,
    /// ...or after this many round trips, whichever comes first.
    pub max_per_turn: u64,
}

/// One path's results: round-trip times in nanoseconds.
#[derive(Debug, Clone)]
pub struct PathResult {
    pub name: String,
    pub histogram: Histogram<u64>,
}

impl PathResult {
    pub fn p50_us(&self) -> f64 {
        self.histogram.value_at_quantile(0.5) as f64 / 1e3
    }
    pub fn p99_us(&self) -> f64 {
        self.histogram.value_at_quantile(0.99) as f64 / 1e3
    }
    pub fn mean_us(&self) -> f64 {
        self.histogram.mean() / 1e3
    }
}

/// A connection that has read the server's greeting up to its first prompt.
struct Session {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Session {
    fn open(addr: SocketAddr, prompt: &[u8]) -> anyhow::Result<Session> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut session = Session {
            stream,
            buffer: Vec::with_capacity(4096),
        };
        session
            .read_to(prompt, true)
            .with_context(|| format!("no prompt from {addr}"))?;
        Ok(session)
    }

    /// Sends `request` and waits for `prompt`.
    fn round_trip(&mut self, request: &[u8], prompt: &[u8]) -> anyhow::Result<()> {
        self.stream.write_all(request)?;
        self.read_to(prompt, false)
    }

    /// Reads until the data ends with `prompt` (or, for the greeting, holds
    /// it anywhere: the greeting carries Telnet negotiation bytes).
    fn read_to(&mut self, prompt: &[u8], anywhere: bool) -> anyhow::Result<()> {
        self.buffer.clear();
        let mut chunk = [0u8; 4096];
        loop {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                bail!("the server closed the connection");
            }
            self.buffer.extend_from_slice(&chunk[..n]);
            let done = if anywhere {
                self.buffer.windows(prompt.len()).any(|w| w == prompt)
            } else {
                self.buffer.ends_with(prompt)
            };
            if done {
                return Ok(());
            }
            if self.buffer.len() > 1 << 20 {
                bail!("1 MiB without a prompt");
            }
        }
    }
}

/// Measures every path of `paths` (name, address) with `plan`.
pub fn measure(paths: &[(&str, SocketAddr)], plan: &Plan) -> anyhow::Result<Vec<PathResult>> {
    let mut sessions = Vec::new();
    let mut results = Vec::new();
    for (name, addr) in paths {
        let mut session = Session::open(*addr, &plan.prompt)?;
        for _ in 0..plan.warmup {
            session.round_trip(&plan.request, &plan.prompt)?;
        }
        sessions.push(session);
        results.push(PathResult {
            name: (*name).to_owned(),
            histogram: Histogram::new_with_bounds(1, 10_000_000_000, 3)?,
        });
    }
    for _ in 0..plan.rounds {
        for (session, result) in sessions.iter_mut().zip(&mut results) {
            let end = Instant::now() + plan.turn;
            for _ in 0..plan.max_per_turn {
                let start = Instant::now();
                session.round_trip(&plan.request, &plan.prompt)?;
                let elapsed = start.elapsed();
                result
                    .histogram
                    .record(elapsed.as_nanos().clamp(1, 10_000_000_000) as u64)?;
                if start + elapsed >= end {
                    break;
                }
            }
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead as _;

    /// A line server on loopback that answers each line with `OK` and a prompt.
    fn line_server() -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(2) {
                let mut stream = stream.unwrap();
                std::thread::spawn(move || {
                    stream.write_all(b"hello\r\n> ").unwrap();
                    let reader = std::io::BufReader::new(stream.try_clone().unwrap());
                    for line in reader.lines() {
                        if line.is_err() || stream.write_all(b"OK\r\n> ").is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    #[test]
    fn each_path_gets_its_round_trips_counted_after_the_warm_up() {
        let (a, b) = (line_server(), line_server());
        let plan = Plan {
            request: b"x\r\n".to_vec(),
            prompt: b"> ".to_vec(),
            warmup: 5,
            rounds: 3,
            turn: Duration::from_secs(5),
            max_per_turn: 40,
        };
        let results = measure(&[("a", a), ("b", b)], &plan).unwrap();
        assert_eq!(results.len(), 2);
        for result in &results {
            assert_eq!(result.histogram.len(), 3 * 40, "{}", result.name);
            assert!(result.p50_us() > 0.0 && result.p99_us() >= result.p50_us());
        }
    }
}
