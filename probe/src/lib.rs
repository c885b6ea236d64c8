//! probe: the server side of `stackctl bench`, as small as a server can be
//! so that what the bench measures is the network path, not the server.
//!
//! One listening port, three modes, chosen by the first byte a client sends:
//! - [`ECHO`]: every byte that arrives is sent back at once (1-byte
//!   request/response latency);
//! - [`SINK`]: everything is read and counted until the client shuts down
//!   its sending side; then the count goes back as a little-endian `u64`, so
//!   the client times the transfer up to the moment the last byte arrived;
//! - [`SOURCE`]: after a little-endian `u32` of milliseconds (capped at
//!   [`MAX_SOURCE`]), bytes are sent for that long, then the connection is
//!   closed.
//!
//! Why plain threads and blocking sockets rather than an async runtime: a
//! thread blocked in `read` is woken by the kernel the moment a byte lands
//! and answers from that same thread, while an event loop adds an `epoll`
//! wake-up and a task hand-off to every round trip. The bench opens a few
//! connections at a time, so a thread per connection costs nothing here and
//! gives the lowest, most honest latency. Connections are capped at
//! [`MAX_CONNECTIONS`]; each one ends after [`IDLE_TIMEOUT`] without traffic.

pub mod client;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// First byte of an echo connection.
pub const ECHO: u8 = b'e';
/// First byte of a sink connection.
pub const SINK: u8 = b'k';
/// First byte of a source connection.
pub const SOURCE: u8 = b's';

/// The most connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 64;
/// The longest a source sends, whatever the client asks.
pub const MAX_SOURCE: Duration = Duration::from_secs(60);
/// A connection with no traffic for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The size of each write of the source and each read of the sink.
pub const CHUNK: usize = 128 * 1024;

/// A running probe server: an accept thread and a thread per connection.
pub struct Server {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serves `listener` from a thread of its own until [`Server::stop`].
    pub fn start(listener: TcpListener) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let flag = stopping.clone();
        let acceptor = std::thread::Builder::new()
            .name("probe-accept".into())
            .spawn(move || accept_loop(&listener, &flag))?;
        Ok(Server {
            addr,
            stopping,
            acceptor: Some(acceptor),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and returns once the accept thread has ended. Open
    /// connections finish on their own (the client closes, or the idle
    /// timeout ends them).
    pub fn stop(mut self) {
        self.stop_accepting();
    }

    fn stop_accepting(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the blocked `accept` with a connection of our own.
        let _ = TcpStream::connect_timeout(&servicekit::probe::target(self.addr), IDLE_TIMEOUT);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.acceptor.is_some() {
            self.stop_accepting();
        }
    }
}

fn accept_loop(listener: &TcpListener, stopping: &AtomicBool) {
    let slots = Slots::new(MAX_CONNECTIONS);
    let mut failures = 0u32;
    while !stopping.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _)) => {
                failures = 0;
                stream
            }
            Err(err) => {
                // Out of descriptors and the like: back off, never spin.
                failures = (failures + 1).min(10);
                eprintln!("probe: accept failed: {err}");
                std::thread::sleep(Duration::from_millis(10 << failures.min(6)));
                continue;
            }
        };
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        dispatch(stream, &slots, spawn_thread);
    }
}

/// Starts a named connection thread.
fn spawn_thread(work: Box<dyn FnOnce() + Send>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("probe-conn".into())
        .spawn(work)
        .map(drop)
}

/// Serves `stream` on a thread of its own (started by `spawn`) when a
/// slot is free; closes it otherwise.
fn dispatch(
    stream: TcpStream,
    slots: &Slots,
    spawn: impl FnOnce(Box<dyn FnOnce() + Send>) -> io::Result<()>,
) {
    let Some(slot) = slots.take() else {
        return;
    };
    let work = Box::new(move || {
        if let Err(err) = serve_connection(stream) {
            // One connection's failure is never the server's.
            if !matches!(
                err.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::UnexpectedEof
            ) {
                eprintln!("probe: connection ended: {err}");
            }
        }
        drop(slot);
    });
    if spawn(work).is_err() {
        eprintln!("probe: cannot start a connection thread");
    }
}

/// The connection slots: at most `max` connections are served at once.
struct Slots {
    open: Arc<AtomicUsize>,
    max: usize,
}

/// One taken slot, given back when dropped: by the connection's thread
/// when it ends, or with the thread's work when the thread cannot start.
struct Slot(Arc<AtomicUsize>);

impl Slots {
    fn new(max: usize) -> Slots {
        Slots {
            open: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// A slot, or `None` when all are taken.
    fn take(&self) -> Option<Slot> {
        if self.open.fetch_add(1, Ordering::SeqCst) >= self.max {
            self.open.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Slot(self.open.clone()))
    }

    /// How many are taken.
    #[cfg(test)]
    fn taken(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Reads the mode byte and serves the connection in that mode.
pub fn serve_connection(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_write_timeout(Some(IDLE_TIMEOUT))?;
    let mut mode = [0u8; 1];
    stream.read_exact(&mut mode)?;
    match mode[0] {
        ECHO => echo(stream),
        SINK => sink(stream),
        SOURCE => {
            let mut millis = [0u8; 4];
            stream.read_exact(&mut millis)?;
            let asked = Duration::from_millis(u64::from(u32::from_le_bytes(millis)));
            source(stream, asked.min(MAX_SOURCE))
        }
        // Not ours (a port scan, a stray health check): close.
        _ => Ok(()),
    }
}

fn echo(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
    }
}

fn sink(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut total: u64 = 0;
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    stream.write_all(&total.to_le_bytes())?;
    stream.shutdown(Shutdown::Write)
}

fn source(mut stream: TcpStream, duration: Duration) -> io::Result<()> {
    let buf = vec![0x5a_u8; CHUNK];
    let until = Instant::now() + duration;
    while Instant::now() < until {
        stream.write_all(&buf)?;
    }
    stream.shutdown(Shutdown::Write)
}

/// The health check: connects to the probe bound to `bind`, echoes one byte.
pub fn check(bind: SocketAddr) -> Result<String, String> {
    let mut stream = servicekit::probe::connect(bind)?;
    let target = servicekit::probe::target(bind);
    stream
        .write_all(&[ECHO, b'?'])
        .map_err(|e| format!("cannot send to {target}: {e}"))?;
    let mut answer = [0u8; 1];
    stream
        .read_exact(&mut answer)
        .map_err(|e| format!("no echo from {target}: {e}"))?;
    if answer[0] == b'?' {
        Ok(format!("{target} echoes"))
    } else {
        Err(format!(
            "{target} answered {:?} instead of the echo",
            answer[0]
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connected pair on loopback: the server's end is what `dispatch` gets.
    fn accepted(listener: &TcpListener) -> TcpStream {
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        listener.accept().unwrap().0
    }

    #[test]
    fn a_thread_that_cannot_start_gives_its_slot_back() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let slots = Slots::new(MAX_CONNECTIONS);
        for _ in 0..MAX_CONNECTIONS + 1 {
            dispatch(accepted(&listener), &slots, |_| {
                Err(io::Error::other("no more threads"))
            });
        }
        assert_eq!(slots.taken(), 0, "failed spawns must not hold slots");
        let mut started = false;
        dispatch(accepted(&listener), &slots, |work| {
            started = true;
            drop(work);
            Ok(())
        });
        assert!(started, "a connection after the failures is served");
    }
}
