//! Real clients for the stack's protocols, just enough to tell a service
//! that answers from a port that merely accepts: an HTTP GET, a Telnet
//! command read up to the next prompt, and the MySQL server greeting. Every
//! call is bounded by a timeout; the caller picks the address, which here is
//! always loopback or a namespace the project made.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use legacy_telnet::protocol::{Event, Parser};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long one probe may take, connect to last byte.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most a probe reads from a peer.
const MAX_READ: usize = 256 * 1024;

/// The prompt of the warehouse terminal, after which it waits for a line.
pub const TELNET_PROMPT: &[u8] = b"shop> ";

pub use servicekit::probe::HttpAnswer;

/// `GET path` over HTTP/1.1 with `Connection: close`: the workspace's one
/// small HTTP client ([`servicekit::probe::get`]), on a blocking thread.
pub async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<HttpAnswer> {
    let path = path.to_owned();
    bounded(addr, async move {
        tokio::task::spawn_blocking(move || servicekit::probe::get(addr, &path, PROBE_TIMEOUT))
            .await?
            .map_err(anyhow::Error::msg)
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

/// The text of the terminal's output: Telnet commands (IAC sequences,
/// negotiations, subnegotiations) removed by the terminal's own parser, so
/// client and server read the protocol the same way; line ends as CR LF.
pub fn strip_telnet(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    Parser::default().feed(data, |event| match event {
        Event::Data(byte) => out.push(byte),
        Event::EndOfLine => out.extend_from_slice(b"\r\n"),
        Event::Negotiate { .. } | Event::EraseChar | Event::EraseLine => {}
    });
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
}
