//! The probes behind each service's `healthcheck` subcommand, which the
//! images' HEALTHCHECK runs: the images have no shell and no curl, so the
//! binary checks itself. Blocking std networking, bounded by timeouts.

use std::io::{Read as _, Write as _};
use std::net::{Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);

/// Where to connect to reach a server bound to `bind`: a wildcard bind is
/// reached on loopback.
pub fn target(bind: SocketAddr) -> SocketAddr {
    match bind.ip() {
        ip if ip.is_unspecified() && bind.is_ipv4() => {
            SocketAddr::from(([127, 0, 0, 1], bind.port()))
        }
        ip if ip.is_unspecified() => SocketAddr::from((Ipv6Addr::LOCALHOST, bind.port())),
        _ => bind,
    }
}

/// Opens a TCP connection to the server bound to `bind`.
pub fn connect(bind: SocketAddr) -> Result<TcpStream, String> {
    let target = target(bind);
    let stream = TcpStream::connect_timeout(&target, TIMEOUT)
        .map_err(|e| format!("cannot connect to {target}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    Ok(stream)
}

/// `GET path` over HTTP/1.1 on the server bound to `bind`: `Ok` with the
/// body when it answers 200, `Err` saying what happened otherwise.
pub fn http_get(bind: SocketAddr, path: &str) -> Result<String, String> {
    let target = target(bind);
    let mut stream = connect(bind)?;
    // One write: `write!` would send the pieces as separate segments, and a
    // server that answers after the first could reset the rest.
    let request = format!("GET {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_binds_are_probed_on_loopback() {
        assert_eq!(
            target("0.0.0.0:3000".parse().unwrap()),
            "127.0.0.1:3000".parse().unwrap()
        );
        assert_eq!(
            target("[::]:3000".parse().unwrap()),
            "[::1]:3000".parse().unwrap()
        );
        assert_eq!(
            target("127.0.0.1:8888".parse().unwrap()),
            "127.0.0.1:8888".parse().unwrap()
        );
    }

    #[test]
    fn a_closed_port_is_reported() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = http_get(SocketAddr::from(([127, 0, 0, 1], port)), "/healthz").unwrap_err();
        assert!(err.contains("cannot connect"), "{err}");
    }

    #[test]
    fn a_200_answer_is_healthy_and_anything_else_is_not() {
        for (answer, healthy) in [
            ("HTTP/1.1 200 OK\r\n\r\n{\"status\":\"ok\"}", true),
            ("HTTP/1.1 503 No\r\n\r\nnot ready", false),
        ] {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = std::thread::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                // The whole request, so closing does not reset unread bytes.
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                    request.push(byte[0]);
                }
                stream.write_all(answer.as_bytes()).unwrap();
            });
            assert_eq!(http_get(addr, "/healthz").is_ok(), healthy, "{answer}");
            server.join().unwrap();
        }
    }
}
