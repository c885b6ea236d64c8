//! The probes behind each service's `healthcheck` subcommand, which the
//! images' HEALTHCHECK runs: the images have no shell and no curl, so the
//! binary checks itself. Blocking std networking, bounded by timeouts.

use std::io::{Read, Write};
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
    let answer = get(target(bind), path, TIMEOUT)?;
    if answer.status == 200 {
        Ok(format!("{path}: {}", answer.body.trim()))
    } else {
        Err(format!(
            "{path} answered {}: {}",
            answer.status,
            answer.body.trim()
        ))
    }
}

/// The most [`get`] reads of an answer.
const MAX_ANSWER: u64 = 256 * 1024;

/// An HTTP answer: status code and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: String,
}

/// `GET path` over HTTP/1.1 with `Connection: close` to exactly `addr`, each
/// connect, write and read bounded by `timeout`, at most 256 KiB read; a
/// chunked body is joined. The one small HTTP client of the workspace: the
/// services' health checks and `stackctl verify` both use it ([`request`]
/// for other methods, headers and TLS).
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<HttpAnswer, String> {
    request(&Request::get(path), addr, timeout)
}

/// One request of [`request`].
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Extra header lines, e.g. `("authorization", "Bearer x")`.
    pub headers: Vec<(&'a str, &'a str)>,
    /// Speak TLS, and accept only the certificate with this SHA-256
    /// fingerprint ([`crate::tls::fingerprint`]'s form): self-signed
    /// certificates are trusted by pin, not by name.
    pub pinned_tls: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// A plain `GET path`.
    pub fn get(path: &'a str) -> Request<'a> {
        Request {
            method: "GET",
            path,
            ..Request::default()
        }
    }
}

/// Sends `req` to exactly `addr` with `Connection: close` and reads the
/// answer, as [`get`] does.
pub fn request(
    req: &Request<'_>,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<HttpAnswer, String> {
    let stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    let mut head = format!("{} {} HTTP/1.1\r\nHost: {addr}\r\n", req.method, req.path);
    for (name, value) in &req.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");
    let raw = match req.pinned_tls {
        None => exchange(stream, &head, addr)?,
        Some(pin) => {
            let conn = crate::tls::pinned_client(pin, addr.ip())
                .map_err(|e| format!("cannot start TLS to {addr}: {e}"))?;
            exchange(rustls::StreamOwned::new(conn, stream), &head, addr)?
        }
    };
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n");
    let (head, body) = match split {
        Some(at) => (&raw[..at], &raw[at + 4..]),
        None => (&raw[..], &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "not an HTTP answer: `{}`",
                head.lines().next().unwrap_or_default().trim()
            )
        })?;
    Ok(HttpAnswer {
        status,
        body: String::from_utf8_lossy(&dechunk(&head, body)).into_owned(),
    })
}

/// Writes `head` in one write (pieces sent as separate segments could be
/// reset by a server that answers after the first) and reads the answer,
/// at most [`MAX_ANSWER`] bytes. A peer that closes without TLS's
/// close_notify after sending its answer has still answered.
fn exchange(
    mut stream: impl Read + Write,
    head: &str,
    addr: SocketAddr,
) -> Result<Vec<u8>, String> {
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| format!("cannot send to {addr}: {e}"))?;
    let mut raw = Vec::new();
    match stream.take(MAX_ANSWER).read_to_end(&mut raw) {
        Ok(_) => Ok(raw),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => Ok(raw),
        Err(e) => Err(format!("no answer from {addr}: {e}")),
    }
}

/// The body of a chunked answer, joined (as bytes: a chunk may end inside
/// a character); other bodies as they are.
fn dechunk(head: &str, body: &[u8]) -> Vec<u8> {
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body.to_vec();
    }
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let after = &rest[line_end + 2..];
        let Some(size) = size.filter(|&n| n > 0 && n <= after.len()) else {
            break;
        };
        out.extend_from_slice(&after[..size]);
        rest = after[size..]
            .strip_prefix(b"\r\n")
            .unwrap_or(&after[size..]);
    }
    out
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

    #[test]
    fn chunked_bodies_are_joined() {
        let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked";
        assert_eq!(dechunk(head, b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), b"abcde");
        assert_eq!(dechunk("HTTP/1.1 200 OK", b"plain"), b"plain");
        // A chunk boundary inside a character, and sizes that lie, do not panic.
        let euro = "\u{20ac}".as_bytes();
        let split = [
            b"1\r\n",
            &euro[..1],
            b"\r\n2\r\n",
            &euro[1..],
            b"\r\n0\r\n\r\n",
        ]
        .concat();
        assert_eq!(dechunk(head, &split), euro);
        assert_eq!(dechunk(head, b"ff\r\nshort"), b"");
    }

    #[test]
    fn a_port_that_only_accepts_is_not_an_http_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && socket.read(&mut byte).unwrap() == 1 {
                request.push(byte[0]);
            }
            socket.write_all(b"hello\r\n").unwrap();
        });
        let err = get(addr, "/healthz", TIMEOUT).unwrap_err();
        assert!(err.contains("not an HTTP answer"), "{err}");
        server.join().unwrap();
    }
}
