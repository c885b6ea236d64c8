//! Bulk TCP transfer to and from the probe, in Gbit/s of payload.
//!
//! Upload: each stream sends to the sink for the given time, shuts down its
//! sending side and waits for the sink's count, so the clock stops when the
//! last byte has arrived, not when it left the client's buffer. Several
//! streams start together and the rate is their total over the time until
//! the last one is acknowledged. Download: the source sends for the given
//! time and closes; the rate is what arrived over the time until the close.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// How long one socket operation may block before the run fails.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn connect(target: SocketAddr, mode: u8) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&target, IO_TIMEOUT)
        .with_context(|| format!("cannot connect to the probe at {target}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(&[mode])?;
    Ok(stream)
}

/// Sends to the sink at `target` over `streams` connections for `duration`;
/// returns Gbit/s.
pub fn upload(target: SocketAddr, streams: usize, duration: Duration) -> anyhow::Result<f64> {
    let connections = (0..streams.max(1))
        .map(|_| connect(target, crate::SINK))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let barrier = Barrier::new(connections.len());
    let started = std::sync::OnceLock::new();
    let results: Vec<anyhow::Result<(u64, Instant)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = connections
            .into_iter()
            .map(|mut stream| {
                let barrier = &barrier;
                let started = &started;
                scope.spawn(move || -> anyhow::Result<(u64, Instant)> {
                    let chunk = vec![0xa5_u8; crate::CHUNK];
                    barrier.wait();
                    let start = *started.get_or_init(Instant::now);
                    let until = start + duration;
                    let mut sent = 0u64;
                    while Instant::now() < until {
                        stream.write_all(&chunk)?;
                        sent += chunk.len() as u64;
                    }
                    stream.shutdown(Shutdown::Write)?;
                    let mut count = [0u8; 8];
                    stream
                        .read_exact(&mut count)
                        .context("the sink did not report its count")?;
                    let received = u64::from_le_bytes(count);
                    if received != sent {
                        bail!("the sink counted {received} bytes of the {sent} sent");
                    }
                    Ok((received, Instant::now()))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a stream panicked")))
            })
            .collect()
    });
    let mut bytes = 0u64;
    let mut last = None::<Instant>;
    for result in results {
        let (received, done) = result?;
        bytes += received;
        last = Some(last.map_or(done, |l| l.max(done)));
    }
    let start = *started.get().context("no stream started")?;
    let elapsed = last.context("no stream finished")? - start;
    Ok(gbit_per_s(bytes, elapsed))
}

/// Receives from the source at `target` for `duration`; returns Gbit/s.
pub fn download(target: SocketAddr, duration: Duration) -> anyhow::Result<f64> {
    let mut stream = connect(target, crate::SOURCE)?;
    let millis = u32::try_from(duration.as_millis()).unwrap_or(u32::MAX);
    let start = Instant::now();
    stream.write_all(&millis.to_le_bytes())?;
    let mut buf = vec![0u8; crate::CHUNK];
    let mut bytes = 0u64;
    // The source closes after `duration` (at most crate::MAX_SOURCE); the
    // read timeout bounds a source that stops without closing.
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
    }
    Ok(gbit_per_s(bytes, start.elapsed()))
}

/// Payload bits per second over `elapsed`, in units of 10⁹.
pub fn gbit_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 * 8.0 / elapsed.as_secs_f64().max(1e-9) / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> crate::Server {
        crate::Server::start(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap()
    }

    #[test]
    fn a_gigabit_is_a_billion_bits() {
        assert_eq!(gbit_per_s(125_000_000, Duration::from_secs(1)), 1.0);
        assert_eq!(gbit_per_s(250_000_000, Duration::from_secs(2)), 1.0);
    }

    #[test]
    fn uploads_over_several_streams_to_a_real_sink_report_a_rate() {
        let server = probe();
        let one = upload(server.local_addr(), 1, Duration::from_millis(200)).unwrap();
        let three = upload(server.local_addr(), 3, Duration::from_millis(200)).unwrap();
        assert!(one > 0.0 && one.is_finite(), "{one}");
        assert!(three > 0.0 && three.is_finite(), "{three}");
    }

    #[test]
    fn a_download_from_a_real_source_reports_a_rate() {
        let server = probe();
        let rate = download(server.local_addr(), Duration::from_millis(200)).unwrap();
        assert!(rate > 0.0 && rate.is_finite(), "{rate}");
    }
}
