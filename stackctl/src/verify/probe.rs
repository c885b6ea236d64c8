//! Real clients for the stack's protocols, just enough to tell a service
//! that answers from a port that merely accepts: an HTTP GET, a Telnet
//! command read up to the next prompt, and the MySQL server greeting. Every
//! call is bounded by a timeout; the caller picks the address, which here is
//! always loopback or a namespace the project made.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long one probe may take, connect to last byte.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most a probe reads from a peer.
const MAX_READ: usize = 256 * 1024;

/// The prompt of the warehouse terminal, after which it waits for a line.
pub const TELNET_PROMPT: &[u8] = b"shop> ";

/// An HTTP answer: status code and body.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: String,
}

/// `GET path` over HTTP/1.1 with `Connection: close`.
pub async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<HttpAnswer> {
    bounded(addr, async {
        let mut stream = TcpStream::connect(addr).await?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.take(MAX_READ as u64).read_to_end(&mut raw).await?;
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
            .with_context(|| format!("not an HTTP answer: `{}`", first_line(&head)))?;
        Ok(HttpAnswer {
            status,
            body: String::from_utf8_lossy(&dechunk(&head, body)).into_owned(),
        })
    })
    .await
}

/// Sends `command` to the Telnet terminal and returns its answer as text
/// (Telnet commands stripped), the banner and prompts removed.
pub async fn telnet_command(addr: SocketAddr, command: &str) -> anyhow::Result<String> {
    bounded(addr, async {
        let mut stream = TcpStream::connect(addr).await?;
        read_to_prompt(&mut stream).await?;
        stream
            .write_all(format!("{command}\r\n").as_bytes())
            .await?;
        let answer = read_to_prompt(&mut stream).await?;
        let _ = stream.write_all(b"QUIT\r\n").await;
        Ok(answer)
    })
    .await
}

/// The first line the Telnet terminal sends (its banner).
pub async fn telnet_banner(addr: SocketAddr) -> anyhow::Result<String> {
    bounded(addr, async {
        let mut stream = TcpStream::connect(addr).await?;
        let greeting = read_to_prompt(&mut stream).await?;
        let _ = stream.write_all(b"QUIT\r\n").await;
        Ok(first_line(greeting.trim_start()).to_owned())
    })
    .await
}

/// The server version from a MySQL/MariaDB greeting (protocol 10), read
/// without logging in.
pub async fn mysql_greeting(addr: SocketAddr) -> anyhow::Result<String> {
    bounded(addr, async {
        let mut stream = TcpStream::connect(addr).await?;
        let mut header = [0u8; 4];
        stream.read_exact(&mut header).await?;
        let length = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
        let mut payload = vec![0u8; length.min(1024)];
        stream.read_exact(&mut payload).await?;
        match payload.first() {
            Some(10) => {
                let version = payload[1..].split(|b| *b == 0).next().unwrap_or_default();
                Ok(String::from_utf8_lossy(version).into_owned())
            }
            // An error packet: the server refuses this client (e.g. too many connections).
            Some(0xff) => bail!(
                "the server sent an error instead of its greeting: {}",
                String::from_utf8_lossy(payload.get(3..).unwrap_or_default())
            ),
            _ => bail!("not a MySQL greeting"),
        }
    })
    .await
}

/// Reads from the terminal until its prompt, returning the text before it
/// with Telnet commands removed.
async fn read_to_prompt(stream: &mut TcpStream) -> anyhow::Result<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            bail!(
                "the terminal closed the connection (it said `{}`)",
                String::from_utf8_lossy(&strip_telnet(&data)).trim()
            );
        }
        data.extend_from_slice(&buf[..n]);
        let text = strip_telnet(&data);
        if text.ends_with(TELNET_PROMPT) {
            let text = &text[..text.len() - TELNET_PROMPT.len()];
            return Ok(String::from_utf8_lossy(text).into_owned());
        }
        if data.len() > MAX_READ {
            bail!("the terminal sent {MAX_READ} bytes without a prompt");
        }
    }
}

/// Removes Telnet commands (IAC sequences, subnegotiations) from `data`.
pub fn strip_telnet(data: &[u8]) -> Vec<u8> {
    const IAC: u8 = 255;
    const SB: u8 = 250;
    const SE: u8 = 240;
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        match (data[i], data.get(i + 1)) {
            (IAC, Some(&IAC)) => {
                out.push(IAC);
                i += 2;
            }
            (IAC, Some(&SB)) => {
                let end = data[i..]
                    .windows(2)
                    .position(|w| w == [IAC, SE])
                    .map_or(data.len(), |p| i + p + 2);
                i = end;
            }
            (IAC, Some(&(251..=254))) => i += 3,
            (IAC, _) => i += 2,
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
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

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default().trim()
}

/// Runs a probe of `addr` within [`PROBE_TIMEOUT`], naming the address in errors.
async fn bounded<T>(
    addr: SocketAddr,
    probe: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    match timeout(PROBE_TIMEOUT, probe).await {
        Ok(result) => result.with_context(|| format!("{addr}")),
        Err(_) => bail!("{addr}: no answer within {PROBE_TIMEOUT:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telnet_commands_are_stripped_and_doubled_iac_is_data() {
        let data = [
            &[255, 251, 1][..],
            b"hi",
            &[255, 255],
            &[255, 250, 24, 1, 255, 240],
            b"!",
        ]
        .concat();
        assert_eq!(strip_telnet(&data), [&b"hi"[..], &[255], b"!"].concat());
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

    #[tokio::test]
    async fn a_port_that_only_accepts_is_not_an_http_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            // Read the request first: closing with unread data would reset.
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await;
            socket.write_all(b"hello\r\n").await.unwrap();
            socket.shutdown().await.unwrap();
        });
        let err = http_get(addr, "/healthz").await.unwrap_err();
        assert!(format!("{err:#}").contains("not an HTTP answer"), "{err:#}");
    }
}
