//! The client side of the probe's protocol, for `stackctl bench`: 1-byte
//! request/response latency ([`latency`]), bulk transfer ([`bulk`]) and HTTP
//! load on the API ([`http`]). It lives beside the server so that the same
//! client runs on the host (called by the bench in-process) and inside a
//! container (`probe client ...`, run by the bench with `docker exec`), where
//! a client container stands for a service reaching another service.

pub mod bulk;
pub mod http;
pub mod latency;

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Whether a TCP connection to `target` is accepted within `timeout`:
/// `Ok` with nothing, or the error as the kernel reported it.
pub fn connect(target: SocketAddr, timeout: Duration) -> std::io::Result<()> {
    TcpStream::connect_timeout(&target, timeout).map(drop)
}
