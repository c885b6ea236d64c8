//! `api healthcheck`: the image's HEALTHCHECK, run inside the container with
//! no shell and no curl. It asks the API's own `/readyz` (or `/healthz` with
//! `--live`) over loopback and exits 0 when the answer is 200.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Probes `path` on the API listening at `bind`; `Err` says what failed.
pub fn probe(bind: SocketAddr, path: &str) -> Result<String, String> {
    let target = match bind.ip() {
        ip if ip.is_unspecified() && bind.is_ipv4() => {
            SocketAddr::from(([127, 0, 0, 1], bind.port()))
        }
        ip if ip.is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, bind.port())),
        _ => bind,
    };
    let timeout = Duration::from_secs(3);
    let mut stream = TcpStream::connect_timeout(&target, timeout)
        .map_err(|e| format!("cannot connect to {target}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .take(64 * 1024)
        .read_to_end(&mut response)
        .map_err(|e| format!("no answer from {target}: {e}"))?;
    let text = String::from_utf8_lossy(&response);
    let status_line = text.lines().next().unwrap_or_default().to_owned();
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_owned();
    if status_line.split_whitespace().nth(1) == Some("200") {
        Ok(format!("{path}: {body}"))
    } else {
        Err(format!("{path} answered `{status_line}`: {body}"))
    }
}
